import { describe, it, expect } from 'vitest'
import { varint } from 'multiformats'
import { boxOf } from '../../../src/core/block.js'
import { encodeCommand, decodeCommand } from '../../../src/core/command.js'
import { BadSignatureError, CorruptStoreError, ThreadsError, UnsupportedFormatError } from '../../../src/core/errors.js'
import { createThreadKey, generateLogKey } from '../../../src/core/keys.js'
import { createRecord, openEvent, recordBlocks, signatureHolds, verifyChain, verifyRecord, type LogRecord } from '../../../src/core/record.js'
import { checkStored, decodeStoredRecord, encodeStoredRecord, rebuildRecord, type StoredAt } from '../../../src/core/storedRecord.js'
import { ThreadId } from '../../../src/core/threadId.js'
import { catchTyped, flip, headOf, hex, KNOWN_ERROR_NAMES, makeChain, reseal } from './fixtures.js'

const logKey = generateLogKey()
const threadKey = createThreadKey()
const thread = ThreadId.create()
const chain = makeChain(logKey, threadKey, thread, 4)
const ctx = { thread, logId: logKey.id, serviceKey: threadKey.service }

/** The layout: 0x02 ‖ nonce(12) ‖ sig(64) ‖ idDigest(32) ‖ varint(len) ‖ headerBox ‖ bodyBox. */
const NONCE_AT = 1
const SIG_AT = 13
const ID_AT = 77
const LEN_AT = 109

type Overrides = Partial<{ seq: number; prev: LogRecord['prev']; serviceKey: Uint8Array; logId: string; thread: ThreadId }>

function at(r: LogRecord, overrides: Overrides = {}): StoredAt & { serviceKey: Uint8Array } {
  return { thread, logId: logKey.id, seq: r.seq, prev: r.prev, serviceKey: threadKey.service, ...overrides }
}

function roundTrip(stored: Uint8Array, r: LogRecord, overrides: Overrides = {}): LogRecord {
  return rebuildRecord(decodeStoredRecord(stored, { logId: logKey.id, seq: r.seq }), at(r, overrides))
}

/** A command that encodes to exactly `n` bytes. */
function commandOfSize(n: number): Uint8Array {
  for (let len = 0; len < n; len++) {
    const bytes = encodeCommand({ type: 'todos/added', payload: { text: 'x'.repeat(len) } })
    if (bytes.length === n) return bytes
  }
  throw new Error(`no command encodes to ${n} bytes`)
}

describe('stored records', () => {
  it('encode → decode → rebuild gives identical identities, CIDs and bytes for all four blocks', () => {
    for (const r of chain) {
      const rebuilt = roundTrip(encodeStoredRecord(r), r)
      expect(rebuilt.id.equals(r.id)).toBe(true)
      expect(rebuilt.cid.equals(r.cid)).toBe(true)
      expect(rebuilt.eventCid.equals(r.eventCid)).toBe(true)
      expect(rebuilt.seq).toBe(r.seq)
      expect(rebuilt.prev?.toString()).toBe(r.prev?.toString())
      expect(hex(rebuilt.sig)).toBe(hex(r.sig))
      expect(rebuilt.logId).toBe(logKey.id)
      for (const k of ['record', 'event', 'header', 'body'] as const) {
        expect(rebuilt.blocks[k].cid.equals(r.blocks[k].cid)).toBe(true)
        expect(hex(rebuilt.blocks[k].bytes)).toBe(hex(r.blocks[k].bytes))
      }
    }
  })

  it('rebuilds records that still verify and open', () => {
    const r = chain[2] as LogRecord
    const rebuilt = roundTrip(encodeStoredRecord(r), r)
    const verified = verifyRecord(ctx, recordBlocks(rebuilt), { after: headOf(chain[1] as LogRecord) })
    expect(decodeCommand(openEvent(threadKey.read, verified).body)).toEqual({ type: 'todos/added', payload: { id: 3, text: 'item 3' } })
    const all = chain.map((x) => roundTrip(encodeStoredRecord(x), x))
    expect(verifyChain(ctx, all.map(recordBlocks)).map((x) => x.id.toString())).toEqual(chain.map((x) => x.id.toString()))
  })

  it('a re-sealed copy is stored with its own nonce and served as it was given, with the same identity', () => {
    const r = chain[1] as LogRecord
    const copy = verifyRecord(ctx, reseal(threadKey.service, recordBlocks(r)), { after: headOf(chain[0] as LogRecord) })
    const stored = encodeStoredRecord(copy)
    const rebuilt = roundTrip(stored, r)
    expect(rebuilt.id.equals(r.id)).toBe(true)
    expect(rebuilt.cid.equals(copy.cid)).toBe(true)
    expect(rebuilt.cid.equals(r.cid)).toBe(false)
    expect(hex(rebuilt.blocks.record.bytes)).toBe(hex(copy.blocks.record.bytes))
    // The two stored forms differ only in the nonce.
    const original = encodeStoredRecord(r)
    const diff = [...stored].flatMap((b, i) => (b === original[i] ? [] : [i]))
    expect(diff.length).toBeGreaterThan(0)
    expect(diff.every((i) => i >= NONCE_AT && i < SIG_AT)).toBe(true)
  })

  it('has the layout 0x02 ‖ nonce(12) ‖ sig(64) ‖ idDigest(32) ‖ varint(epoch) ‖ varint(len) ‖ headerBox ‖ bodyBox', () => {
    const r = chain[1] as LogRecord
    const bytes = encodeStoredRecord(r)
    const headerBox = boxOf(r.blocks.header.bytes, {})
    const bodyBox = boxOf(r.blocks.body.bytes, {})
    const recordBox = boxOf(r.blocks.record.bytes, {})
    expect(bytes[0]).toBe(0x02)
    expect(hex(bytes.subarray(NONCE_AT, SIG_AT))).toBe(hex(recordBox.subarray(0, 12)))
    expect(hex(bytes.subarray(SIG_AT, ID_AT))).toBe(hex(r.sig))
    expect(hex(bytes.subarray(ID_AT, LEN_AT))).toBe(hex(r.id.multihash.digest))
    // The read key epoch (0 here: one byte), then the header box's length.
    expect(bytes[LEN_AT]).toBe(0)
    const [len, lenBytes] = varint.decode(bytes, LEN_AT + 1)
    expect(len).toBe(headerBox.length)
    const boxesAt = LEN_AT + 1 + lenBytes
    expect(hex(bytes.subarray(boxesAt, boxesAt + len))).toBe(hex(headerBox))
    expect(hex(bytes.subarray(boxesAt + len))).toBe(hex(bodyBox))
    expect(bytes.length).toBe(LEN_AT + 1 + lenBytes + headerBox.length + bodyBox.length)
  })

  it('splits the stored form into its parts', () => {
    const r = chain[1] as LogRecord
    const stored = decodeStoredRecord(encodeStoredRecord(r), {})
    expect(hex(stored.idDigest)).toBe(hex(r.id.multihash.digest))
    expect(hex(stored.sig)).toBe(hex(r.sig))
    expect(stored.recordNonce.length).toBe(12)
    expect(hex(stored.headerBox)).toBe(hex(boxOf(r.blocks.header.bytes, {})))
    expect(hex(stored.bodyBox)).toBe(hex(boxOf(r.blocks.body.bytes, {})))
  })

  it('stores a 50-byte command, padded to 64, in under 300 bytes (the four blocks take more)', () => {
    const body = commandOfSize(50)
    expect(body.length).toBe(50)
    const r = createRecord({ logKey, threadKey, thread, body, clock: 123456, time: 1_700_000_000_000, prev: headOf(chain[3] as LogRecord) })
    expect(boxOf(r.blocks.body.bytes, {}).length).toBe(12 + 64 + 16)
    const stored = encodeStoredRecord(r)
    expect(stored.length).toBeLessThan(300)
    const wire = Object.values(recordBlocks(r)).reduce((n, b) => n + b.length, 0)
    expect(stored.length).toBeLessThan(wire)
    expect(roundTrip(stored, r).id.equals(r.id)).toBe(true)
  })

  it('checkStored recomputes the identity: the event CID and identity of the record', () => {
    for (const r of chain) {
      const checked = checkStored(decodeStoredRecord(encodeStoredRecord(r), {}), at(r))
      expect(checked.id.equals(r.id)).toBe(true)
      expect(checked.eventCid.equals(r.eventCid)).toBe(true)
      expect(hex(checked.event.bytes)).toBe(hex(r.blocks.event.bytes))
      expect(checked.header.cid.equals(r.blocks.header.cid)).toBe(true)
      expect(checked.body.cid.equals(r.blocks.body.cid)).toBe(true)
    }
  })

  it.each([
    // At LEN_AT the epoch (one byte, 0), then the header box's length (one byte), then the boxes.
    ['header box', (_s: Uint8Array) => LEN_AT + 2 + 3, 'first bytes'],
    ['header box', (s: Uint8Array) => LEN_AT + 2 + (s[LEN_AT + 1] as number) - 1, 'last byte'],
    ['body box', (s: Uint8Array) => LEN_AT + 2 + (s[LEN_AT + 1] as number) + 20, 'a middle byte'],
    ['body box', (s: Uint8Array) => s.length - 1, 'last byte (tag)'],
    ['id digest', (_s: Uint8Array) => ID_AT, 'first byte'],
    ['id digest', (_s: Uint8Array) => LEN_AT - 1, 'last byte']
  ])('checkStored finds a flipped byte in the %s (%s): CorruptStoreError', (_where, index, _which) => {
    const r = chain[2] as LogRecord
    const stored = encodeStoredRecord(r)
    expect(stored[LEN_AT]).toBe(0) // epoch 0, one byte
    expect(stored[LEN_AT + 1]).toBeLessThan(0x80) // a one-byte varint: the header box is small
    const i = index(stored)
    for (const mask of [0x01, 0x80, 0xff]) {
      const bad = decodeStoredRecord(flip(stored, i, mask), {})
      const e = catchTyped(() => checkStored(bad, at(r)), CorruptStoreError)
      expect(e.threadId).toBe(thread.toString())
      expect(e.logId).toBe(logKey.id)
      expect(e.seq).toBe(3)
      catchTyped(() => rebuildRecord(bad, at(r)), CorruptStoreError)
    }
  })

  it('every flipped byte of the boxes, the identity or the length: CorruptStoreError', () => {
    const r = chain[1] as LogRecord
    const stored = encodeStoredRecord(r)
    for (let i = ID_AT; i < stored.length; i++) {
      for (const mask of [0x01, 0x80]) {
        let thrown: unknown
        try {
          roundTrip(flip(stored, i, mask), r)
        } catch (e) {
          thrown = e
        }
        expect([i, mask, (thrown as ThreadsError | undefined)?.name]).toEqual([i, mask, 'CorruptStoreError'])
      }
    }
  })

  it('a flipped nonce byte rebuilds the same record sealed with another nonce: it verifies, same id, other cid', () => {
    const r = chain[1] as LogRecord
    const stored = encodeStoredRecord(r)
    for (let i = NONCE_AT; i < SIG_AT; i++) {
      const rebuilt = roundTrip(flip(stored, i, 0x10), r)
      expect(rebuilt.id.equals(r.id)).toBe(true)
      expect(rebuilt.cid.equals(r.cid)).toBe(false)
      expect(verifyRecord(ctx, recordBlocks(rebuilt), { after: headOf(chain[0] as LogRecord) }).id.equals(r.id)).toBe(true)
    }
  })

  it('a flipped signature byte is not part of the identity: the rebuilt record fails its signature (BadSignatureError), never another record', () => {
    const r = chain[1] as LogRecord
    const stored = encodeStoredRecord(r)
    for (let i = SIG_AT; i < ID_AT; i++) {
      const rebuilt = roundTrip(flip(stored, i, 0x04), r)
      expect(rebuilt.id.equals(r.id)).toBe(true)
      expect(signatureHolds(thread, rebuilt)).toBe(false)
      catchTyped(() => verifyRecord(ctx, recordBlocks(rebuilt)), BadSignatureError)
    }
  })

  it('a flipped byte anywhere: a typed error, or the same identity', () => {
    const r = chain[1] as LogRecord
    const stored = encodeStoredRecord(r)
    const seen = new Set<string>()
    for (let i = 0; i < stored.length; i++) {
      for (const mask of [0x01, 0x80]) {
        let thrown: unknown
        let rebuilt: LogRecord | undefined
        try {
          rebuilt = roundTrip(flip(stored, i, mask), r)
        } catch (e) {
          thrown = e
        }
        if (rebuilt !== undefined) {
          expect(i < ID_AT).toBe(true) // the nonce or the signature
          expect(rebuilt.id.equals(r.id)).toBe(true)
          continue
        }
        expect(thrown).toBeInstanceOf(ThreadsError)
        const name = (thrown as ThreadsError).name
        expect(KNOWN_ERROR_NAMES.has(name)).toBe(true)
        seen.add(name)
      }
    }
    expect([...seen].sort()).toEqual(['CorruptStoreError', 'UnsupportedFormatError'])
  })

  it('truncated or extended stored forms give CorruptStoreError', () => {
    const r = chain[0] as LogRecord
    const stored = encodeStoredRecord(r)
    for (let n = 0; n < stored.length; n++) catchTyped(() => roundTrip(stored.subarray(0, n), r), CorruptStoreError)
    catchTyped(() => roundTrip(Uint8Array.from([...stored, 0]), r), CorruptStoreError)
  })

  it('a stored record of another layout version: UnsupportedFormatError', () => {
    const r = chain[0] as LogRecord
    const stored = encodeStoredRecord(r)
    for (const v of [0, 1, 4, 0xff]) {
      const other = Uint8Array.from(stored)
      other[0] = v
      const e = catchTyped(() => roundTrip(other, r), UnsupportedFormatError)
      expect(e.message).toContain(`layout ${v}`)
    }
  })

  it('a damaged length gives CorruptStoreError', () => {
    const r = chain[0] as LogRecord
    const stored = encodeStoredRecord(r)
    const unterminated = Uint8Array.from(stored.subarray(0, LEN_AT + 1))
    unterminated[LEN_AT] = 0xff
    catchTyped(() => decodeStoredRecord(unterminated, {}), CorruptStoreError)
    // (LEN_AT holds the epoch, one byte here; the header box's length follows it.)
    const huge = Uint8Array.from([...stored.subarray(0, LEN_AT + 1), 0xff, 0xff, 0xff, 0xff, 0x0f, ...stored.subarray(LEN_AT + 2)])
    catchTyped(() => decodeStoredRecord(huge, {}), CorruptStoreError)
    for (const v of [undefined, null, 'stored', [2, 1]]) catchTyped(() => decodeStoredRecord(v as unknown as Uint8Array, {}), CorruptStoreError)
  })

  it('rebuilding with the wrong prev, seq, thread or service key gives CorruptStoreError', () => {
    const r = chain[2] as LogRecord
    const stored = encodeStoredRecord(r)
    const e = catchTyped(() => roundTrip(stored, r, { prev: (chain[0] as LogRecord).id }), CorruptStoreError)
    expect(e.logId).toBe(logKey.id)
    expect(e.seq).toBe(3)
    catchTyped(() => roundTrip(stored, r, { prev: undefined }), CorruptStoreError)
    catchTyped(() => roundTrip(stored, r, { prev: (chain[1] as LogRecord).cid }), CorruptStoreError) // the record block CID is not the identity
    catchTyped(() => roundTrip(stored, r, { seq: 4 }), CorruptStoreError)
    catchTyped(() => roundTrip(stored, r, { thread: ThreadId.create() }), CorruptStoreError)
    // The service key only seals the record block: not part of the identity. The record rebuilt
    // under another key is the same record, which does not open here.
    const other = createThreadKey().service
    const moved = roundTrip(stored, r, { serviceKey: other })
    expect(moved.id.equals(r.id)).toBe(true)
    expect(moved.cid.equals(r.cid)).toBe(false)
    // The log ID is not part of the rebuilt bytes, but a first record rebuilt as a later one is.
    const first = chain[0] as LogRecord
    catchTyped(() => roundTrip(encodeStoredRecord(first), first, { prev: r.id, seq: 2 }), CorruptStoreError)
  })

  it('a stored form of another record does not rebuild at this position', () => {
    const a = chain[1] as LogRecord
    const b = chain[2] as LogRecord
    catchTyped(() => roundTrip(encodeStoredRecord(b), a), CorruptStoreError)
  })
})
