/**
 * Service key epochs (issue 10: "revoking follow rotates the service key"): a record sealed under
 * a rotated service key names the key's ID in the clear, opens only with that key, keeps its
 * identity, is stored (layout 3) and rebuilt byte for byte; the rotation a record's event node
 * carries opens with the old key, only for the members it names, and only from the owner's log.
 */
import { describe, expect, it } from 'vitest'
import { encodeCommand } from '../../../src/core/command.js'
import { DecryptionError, MalformedRecordError, UnknownServiceKeyError } from '../../../src/core/errors.js'
import { createThreadKey, generateLogKey } from '../../../src/core/keys.js'
import { createRecord, openRecordNode, recordBlocks, verifyChain, verifyRecord, type LogRecord } from '../../../src/core/record.js'
import { decodeEventNode } from '../../../src/core/nodeCodec.js'
import { parseRecordBlock, serviceKeyId, serviceKeyring, SERVICE_KEY_ID_BYTES } from '../../../src/core/serviceKey.js'
import { createServiceRotation, isOwnerLog, openServiceRotation, ownerCommitment, serviceKeyFor } from '../../../src/core/serviceRotation.js'
import { decodeStoredRecord, encodeStoredRecord, rebuildRecord } from '../../../src/core/storedRecord.js'
import { ThreadId } from '../../../src/core/threadId.js'
import { getCrypto } from '../../../src/core/crypto/index.js'
import { catchTyped } from './fixtures.js'

const owner = generateLogKey()
const member = generateLogKey()
const revoked = generateLogKey()
const threadKey = createThreadKey()
const salt = getCrypto().randomBytes(16)
const thread = ThreadId.fromBytes(Uint8Array.from([1, 0x70, ...ownerCommitment(owner.id, salt)]))
const newKey = getCrypto().randomBytes(32)
const later = new Map([[1, newKey]])
const body = encodeCommand({ type: 'x', payload: 1 })

function chain(): LogRecord[] {
  const first = createRecord({ logKey: owner, threadKey, thread, body, clock: 1, time: 1 })
  const second = createRecord({ logKey: owner, threadKey: { service: newKey, read: threadKey.read }, serviceEpoch: 1, thread, body, clock: 2, time: 2, prev: { id: first.id, seq: 1 } })
  return [first, second]
}

describe('service key epochs in the record block', () => {
  it('a rotated record names its key ID in the clear, and epoch 0 keeps the plain form', () => {
    const [first, second] = chain() as [LogRecord, LogRecord]
    expect(parseRecordBlock(first.blocks.record.bytes, {}).id).toBeUndefined()
    const named = parseRecordBlock(second.blocks.record.bytes, {}).id
    expect(named?.length).toBe(SERVICE_KEY_ID_BYTES)
    expect(Uint8Array.from(named as Uint8Array)).toEqual(Uint8Array.from(serviceKeyId(newKey)))
    expect(second.serviceEpoch).toBe(1)
  })

  it('opens with a keyring holding the key, in a chain across epochs', () => {
    const run = chain()
    const keys = serviceKeyring(threadKey.service, later)
    const verified = verifyChain({ thread, logId: owner.id, serviceKey: keys }, run.map(recordBlocks))
    expect(verified.map((r) => r.serviceEpoch ?? 0)).toEqual([0, 1])
    expect(verified.map((r) => r.id.toString())).toEqual(run.map((r) => r.id.toString()))
  })

  it('a peer without the new key: UnknownServiceKeyError, named, for the new record only', () => {
    const [first, second] = chain() as [LogRecord, LogRecord]
    verifyRecord({ thread, logId: owner.id, serviceKey: threadKey.service }, recordBlocks(first))
    catchTyped(() => verifyRecord({ thread, logId: owner.id, serviceKey: threadKey.service }, recordBlocks(second)), UnknownServiceKeyError)
  })

  it('a block naming a held key ID but sealed under another key: DecryptionError', () => {
    const [, second] = chain() as [LogRecord, LogRecord]
    const other = getCrypto().randomBytes(32)
    const bytes = Uint8Array.from(second.blocks.record.bytes)
    bytes.set(serviceKeyId(other), 2)
    catchTyped(() => openRecordNode(serviceKeyring(threadKey.service, new Map([...later, [2, other]])), bytes, {}), DecryptionError)
    catchTyped(() => openRecordNode(threadKey.service, Uint8Array.of(0x82, 0x41, 1), {}), MalformedRecordError)
  })

  it('the array form naming the first key is refused: one encoding per record (MalformedRecordError)', () => {
    const [, second] = chain() as [LogRecord, LogRecord]
    const bytes = Uint8Array.from(second.blocks.record.bytes)
    bytes.set(serviceKeyId(threadKey.service), 2)
    catchTyped(() => openRecordNode(serviceKeyring(threadKey.service, later), bytes, {}), MalformedRecordError)
  })

  it('a keyring given the ACL-admitted rotations seals under the newest admitted key it holds, not the newest held', () => {
    const planted = getCrypto().randomBytes(32)
    const held = new Map([[1, newKey], [900, planted]])
    expect(serviceKeyring(threadKey.service, held).newest().epoch).toBe(900)
    expect(serviceKeyring(threadKey.service, held, []).newest().epoch).toBe(0)
    expect(serviceKeyring(threadKey.service, held, [{ epoch: 1, id: serviceKeyId(newKey) }]).newest().key).toEqual(newKey)
    // An admitted epoch whose held key has another ID is not used.
    expect(serviceKeyring(threadKey.service, held, [{ epoch: 900, id: serviceKeyId(newKey) }]).newest().epoch).toBe(0)
    // Lookups by ID see keys added later (the map grows).
    const ring = serviceKeyring(threadKey.service, held)
    const more = getCrypto().randomBytes(32)
    held.set(901, more)
    expect(ring.byId(serviceKeyId(more))?.epoch).toBe(901)
  })

  it('stored in layout 3 and rebuilt to the same bytes', () => {
    const [first, second] = chain() as [LogRecord, LogRecord]
    const stored = encodeStoredRecord(second)
    expect(stored[0]).toBe(3)
    expect(encodeStoredRecord(first)[0]).toBe(2)
    const back = rebuildRecord(decodeStoredRecord(stored, {}), { thread, logId: owner.id, seq: 2, prev: first.id, serviceKey: serviceKeyring(threadKey.service, later) })
    expect(Uint8Array.from(back.blocks.record.bytes)).toEqual(Uint8Array.from(second.blocks.record.bytes))
    expect(back.serviceEpoch).toBe(1)
  })
})

describe('service rotations in the event node', () => {
  it('open with the old key for the members named, not for the revoked', () => {
    const { key, box } = createServiceRotation({ members: [owner.id, member.id], epoch: 1, salt, sealingKey: threadKey.service })
    const r = createRecord({ logKey: owner, threadKey, thread, body, clock: 1, time: 1, service: box })
    expect(Uint8Array.from(decodeEventNode(r.blocks.event.bytes, {}).service as Uint8Array)).toEqual(Uint8Array.from(box))
    const verified = verifyRecord({ thread, logId: owner.id, serviceKey: threadKey.service }, recordBlocks(r))
    const rotation = openServiceRotation(threadKey.service, verified.service as Uint8Array, {})
    expect(rotation.epoch).toBe(1)
    expect(isOwnerLog(thread, verified.logId, rotation.salt)).toBe(true)
    expect(isOwnerLog(thread, member.id, rotation.salt)).toBe(false)
    expect(Uint8Array.from(serviceKeyFor(rotation, member) as Uint8Array)).toEqual(Uint8Array.from(key))
    expect(serviceKeyFor(rotation, revoked)).toBeUndefined()
    // A box named for one peer but sealed to another does not open.
    const swapped = { ...rotation, sealed: { [revoked.id]: rotation.sealed[member.id] as Uint8Array } }
    catchTyped(() => serviceKeyFor(swapped, revoked), DecryptionError)
    // Stored and rebuilt with its rotation.
    const back = rebuildRecord(decodeStoredRecord(encodeStoredRecord(verified), {}), { thread, logId: owner.id, seq: 1, prev: undefined, serviceKey: threadKey.service })
    expect(back.eventCid.toString()).toBe(r.eventCid.toString())
  })

  it('the rotation is signed with the event: changing it breaks the CID link', () => {
    const { box } = createServiceRotation({ members: [member.id], epoch: 1, salt, sealingKey: threadKey.service })
    const r = createRecord({ logKey: owner, threadKey, thread, body, clock: 1, time: 1, service: box })
    const event = Uint8Array.from(r.blocks.event.bytes)
    event[event.length - 1] = (event[event.length - 1] as number) ^ 1
    expect(() => verifyRecord({ thread, logId: owner.id, serviceKey: threadKey.service }, { ...recordBlocks(r), event })).toThrow(/hash/)
  })

  it('refuses a rotation under another key, or not a rotation', () => {
    const { box } = createServiceRotation({ members: [member.id], epoch: 1, salt, sealingKey: newKey })
    catchTyped(() => openServiceRotation(threadKey.service, box, {}), DecryptionError)
    const { box: zero } = createServiceRotation({ members: [member.id], epoch: 0, salt, sealingKey: newKey })
    catchTyped(() => openServiceRotation(newKey, zero, {}), MalformedRecordError)
  })
})
