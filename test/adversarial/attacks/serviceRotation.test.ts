/**
 * Attacks on service key rotation (issue 10): a rotation from a writer who may not rotate, a
 * record naming a service key nobody was given, a rotation box sealed to the wrong peer, a
 * rotation changed by a follower on the way, and restarts. Every reading peer and every follower
 * decides alike, and nothing crashes or grows without bound.
 */
import { describe, expect, it } from 'vitest'
import { planRotation } from '../../../src/acl/rotation.js'
import type { AclState } from '../../../src/acl/aclProjection.js'
import { encodeCommand } from '../../../src/core/command.js'
import { generateLogKey, sealTo, type LogKey } from '../../../src/core/keys.js'
import { createRecord, recordBlocks } from '../../../src/core/record.js'
import { createServiceRotation } from '../../../src/core/serviceRotation.js'
import { getCrypto } from '../../../src/core/crypto/index.js'
import type { ThreadsError } from '../../../src/core/errors.js'
import * as dagCbor from '@ipld/dag-cbor'
import { encrypt } from '../../../src/core/keys.js'
import type { TestEngine } from '../../support/engines.js'
import { exportThreadCarBytes } from '../../../src/store/car.js'
import { ACL, aclWorld, headOf, type World } from './fixture.js'

/** A world of an owner (0), a writer (1) and a reader (2), with a follower (its own identity) that holds every record. */
async function world(): Promise<{ w: World; follower: TestEngine; fid: LogKey; mal: TestEngine; mid: LogKey }> {
  const w = await aclWorld(3)
  const fid = generateLogKey()
  const mid = generateLogKey()
  w.cmd(0, `${ACL}grant`, { peer: w.keys[1]!.id, roles: ['write'] })
  w.cmd(0, `${ACL}grant`, { peer: w.keys[2]!.id, roles: ['read'] })
  w.cmd(0, `${ACL}grant`, { peer: fid.id, roles: ['follow'] })
  w.cmd(0, `${ACL}grant`, { peer: mid.id, roles: ['follow'] })
  const follower = await w.open({ key: { service: w.thread.key.service }, engine: { identity: fid } })
  const mal = await w.open({ key: { service: w.thread.key.service }, engine: { identity: mid } })
  return { w, follower, fid, mal, mid }
}

/** The owner revokes `peer`'s follow and rotates, as its peer does after the revocation. */
async function revokeAndRotate(w: World, peer: string): Promise<void> {
  w.cmd(0, `${ACL}revoke`, { peer, roles: ['follow'], lastSeq: 0 })
  const owner = w.peers[0]!.engine
  const plan = planRotation(owner.system as AclState, owner.serviceKeys().newest().key)
  expect(plan?.service).toBeDefined()
  const { record } = owner.command({ type: `${ACL}rotate`, payload: plan!.payload }, undefined, { service: plan!.service!.box })
  w.sent.push({ logId: w.keys[0]!.id, blocks: recordBlocks(record) })
  await owner.addServiceKey(plan!.service!.epoch, plan!.service!.key)
}

function rejections(t: TestEngine): ThreadsError[] {
  const out: ThreadsError[] = []
  t.engine.events.on('rejected', (e) => out.push(e))
  return out
}

describe('service key rotation under attack', () => {
  it('the owner’s rotation reaches readers and followers alike; the revoked follower gets no key and opens nothing after', async () => {
    const { w, follower, mal, mid } = await world()
    await revokeAndRotate(w, mid.id)
    w.cmd(0, 'test/added', 'after')
    for (const t of [w.peers[1]!, w.peers[2]!, follower, mal]) await w.deliver(t)
    for (const t of [w.peers[0]!, w.peers[1]!, w.peers[2]!, follower]) expect(t.engine.serviceKeys().newest().epoch).toBe(1)
    expect(mal.engine.serviceKeys().newest().epoch).toBe(0)
    // The reader folds it; Mal stops at the first record sealed under the new key.
    expect(w.peers[2]!.engine.state).toEqual(['after'])
    expect(headOf(follower, w.keys[0]!.id)?.seq).toBe(w.sent.length)
    expect(headOf(mal, w.keys[0]!.id)?.seq).toBe(w.sent.length - 1)
    const acl = w.peers[2]!.engine.system as AclState
    expect(acl.rotations.service.map((r) => r.epoch)).toEqual([1])
    expect(Object.keys(acl.serviceHolders)).not.toContain(mid.id)
    // The writer seals under the new key once it has it; the follower takes that too.
    const { record } = w.peers[1]!.engine.command({ type: 'test/added', payload: 'from writer' })
    expect(record.serviceEpoch).toBe(1)
    await w.deliver(follower, [{ logId: w.keys[1]!.id, blocks: recordBlocks(record) }])
    expect(headOf(follower, w.keys[1]!.id)?.seq).toBe(1)
  })

  it('a rotation from a writer who may not rotate is ignored by every reading peer and by followers', async () => {
    const { w, follower, fid } = await world()
    const writer = w.keys[1]!
    // It knows the owner's salt (it read the init) and signs a rotation of its own, by hand.
    const { key, box } = createServiceRotation({ members: [w.keys[2]!.id, fid.id, writer.id], epoch: 1, salt: w.salt, sealingKey: w.thread.key.service })
    const forged = createRecord({
      logKey: writer,
      threadKey: w.thread.key,
      thread: w.thread.threadId,
      body: encodeCommand({ type: `${ACL}rotate`, payload: { rotate: { service: { epoch: 1, peers: [w.keys[2]!.id, fid.id] } } } }),
      clock: 100,
      time: 0,
      service: box
    })
    const sent = { logId: writer.id, blocks: recordBlocks(forged) }
    // Records it then seals under its own key: nobody holds it.
    const next = createRecord({
      logKey: writer,
      threadKey: { service: key, read: w.thread.key.read },
      serviceEpoch: 1,
      thread: w.thread.threadId,
      body: encodeCommand({ type: 'test/added', payload: 'sealed under a key nobody admitted' }),
      clock: 101,
      time: 0,
      prev: { id: forged.id, seq: 1 }
    })
    const reader = w.peers[2]!
    const seen = [rejections(reader), rejections(follower)]
    await w.deliver(reader)
    await w.deliver(follower)
    for (const t of [reader, follower]) {
      await t.engine.ingest(writer.id, [sent.blocks])
      await t.engine.ingest(writer.id, [recordBlocks(next)])
      expect(t.engine.serviceKeys().newest().epoch).toBe(0)
      expect(headOf(t, writer.id)?.seq).toBe(1)
    }
    expect((reader.engine.system as AclState).rotations.service).toEqual([])
    for (const errors of seen) {
      expect(errors.map((e) => e.name)).toContain('AccessDeniedError')
      expect(errors.map((e) => e.name)).toContain('UnknownServiceKeyError')
    }
    expect(reader.engine.state).toEqual([])
  })

  it('a record naming an unknown service key ID is refused by name, never held, whatever arrives', async () => {
    const { w, follower } = await world()
    const stranger = getCrypto().randomBytes(32)
    const errors = rejections(follower)
    const writer = w.keys[1]!
    let prev: { id: ReturnType<typeof createRecord>['id']; seq: number } | undefined
    const blocks = []
    for (let seq = 1; seq <= 50; seq++) {
      const r = createRecord({ logKey: writer, threadKey: { service: stranger, read: w.thread.key.read }, serviceEpoch: 7, thread: w.thread.threadId, body: encodeCommand({ type: 'test/added', payload: seq }), clock: seq, time: 0, ...(prev === undefined ? {} : { prev }) })
      prev = { id: r.id, seq }
      blocks.push(recordBlocks(r))
    }
    // Out of order, so that an engine that held unopened records would hold them.
    const result = await follower.engine.ingest(writer.id, blocks.reverse())
    expect(result.stored).toBe(0)
    expect(follower.engine.held).toBe(0)
    expect(follower.engine.heldBytes).toBe(0)
    expect(errors.length).toBe(50)
    expect(new Set(errors.map((e) => e.name))).toEqual(new Set(['UnknownServiceKeyError']))
  })

  it('a box named for a peer but sealed to another: that peer reports it and takes no key', async () => {
    const { w, follower, fid } = await world()
    const other = generateLogKey()
    const key = getCrypto().randomBytes(32)
    // The owner's own rotation (signed on its log), but the box under the follower's name is sealed to someone else.
    const sealed = { [fid.id]: sealTo(other.publicKey, key) }
    const box = encrypt(w.thread.key.service, dagCbor.encode({ epoch: 1, salt: w.salt, sealed }))
    const { record } = w.peers[0]!.engine.command({ type: `${ACL}rotate`, payload: { rotate: { service: { epoch: 1, peers: [fid.id] } } } }, undefined, { service: box })
    const errors = rejections(follower)
    await w.deliver(follower)
    await follower.engine.ingest(w.keys[0]!.id, [recordBlocks(record)])
    expect(follower.engine.serviceKeys().newest().epoch).toBe(0)
    expect(errors.map((e) => e.name)).toContain('DecryptionError')
    // The record itself is the owner's and verifies: it is stored and served.
    expect(headOf(follower, w.keys[0]!.id)?.seq).toBe(w.sent.length + 1)
  })

  it('a follower that changes the rotation on the way (re-sealed event node) breaks the signed link: refused', async () => {
    const { w, follower, fid, mid } = await world()
    await revokeAndRotate(w, mid.id)
    const rotation = w.sent.at(-1)!
    await w.deliver(follower, w.sent.slice(0, -1))
    // Mallory holds the old service key: she swaps the rotation for one of her own, same length.
    const mine = createServiceRotation({ members: [fid.id], epoch: 1, salt: w.salt, sealingKey: w.thread.key.service })
    const event = Uint8Array.from(rotation.blocks.event)
    const at = event.length - mine.box.length
    if (at > 0) event.set(mine.box, at)
    const errors = rejections(follower)
    await follower.engine.ingest(rotation.logId, [{ ...rotation.blocks, event }])
    expect(errors.length).toBeGreaterThan(0)
    expect(['CidMismatchError', 'MalformedRecordError']).toContain(errors[0]!.name)
    expect(follower.engine.serviceKeys().newest().epoch).toBe(0)
    // The real one still comes through.
    await follower.engine.ingest(rotation.logId, [rotation.blocks])
    expect(follower.engine.serviceKeys().newest().epoch).toBe(1)
  })

  it('keys survive a restart: a follower reopened from its storage opens and serves records of both epochs', async () => {
    const { w, follower, fid, mid } = await world()
    await revokeAndRotate(w, mid.id)
    w.cmd(0, 'test/added', 'after')
    await w.deliver(follower)
    const again = await w.open({ storage: follower.storage, engine: { identity: fid } })
    expect(again.engine.serviceKeys().newest().epoch).toBe(1)
    const served = await again.engine.records(w.keys[0]!.id, 1, 100)
    expect(served.length).toBe(w.sent.length)
    expect(served.at(-1)?.serviceEpoch).toBe(1)
    expect(served[0]?.serviceEpoch ?? 0).toBe(0)
    // A CAR of the thread carries both record block forms; a peer holding the keys imports it whole.
    const car = await exportThreadCarBytes(again.store, w.thread.threadId)
    const fresh = await w.open({ key: { service: w.thread.key.service }, engine: { identity: fid } })
    await fresh.store.logstore.addServiceKey(w.thread.threadId, 1, again.store.logstore.thread(w.thread.threadId)!.serviceKeys.get(1)!)
    const imported = await fresh.engine.importCar(car)
    expect(imported.rejected).toEqual([])
    expect(headOf(fresh, w.keys[0]!.id)?.seq).toBe(w.sent.length)
    // And a reader reopened from storage folds the same state.
    await w.deliver(w.peers[2]!)
    const reader = await w.open({ storage: w.peers[2]!.storage, logKey: w.keys[2]! })
    expect(reader.engine.state).toEqual(['after'])
  })
})
