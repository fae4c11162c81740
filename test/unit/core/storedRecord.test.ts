import { describe, it, expect } from 'vitest'
import { encodeCommand, decodeCommand } from '../../../src/core/command.js'
import { CorruptStoreError, ThreadsError } from '../../../src/core/errors.js'
import { createThreadKey, generateLogKey } from '../../../src/core/keys.js'
import { createRecord, openEvent, recordBlocks, verifyRecord, type LogRecord } from '../../../src/core/record.js'
import { decodeStoredRecord, encodeStoredRecord, rebuildRecord } from '../../../src/core/storedRecord.js'
import { catchTyped, flip, hex, KNOWN_ERROR_NAMES, makeChain } from './fixtures.js'

const logKey = generateLogKey()
const threadKey = createThreadKey()
const chain = makeChain(logKey, threadKey, 4)

function at(r: LogRecord, overrides: Partial<{ seq: number; prev: LogRecord['prev']; serviceKey: Uint8Array; logId: string }> = {}) {
  return { logId: logKey.id, seq: r.seq, prev: r.prev, serviceKey: threadKey.service, ...overrides }
}

function roundTrip(stored: Uint8Array, r: LogRecord, overrides: Parameters<typeof at>[1] = {}): LogRecord {
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
  it('encode → decode → rebuild gives identical CIDs and bytes for all four blocks', () => {
    for (const r of chain) {
      const rebuilt = roundTrip(encodeStoredRecord(r), r)
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
    const verified = verifyRecord(logKey.id, threadKey.service, recordBlocks(rebuilt), { after: { cid: (chain[1] as LogRecord).cid, seq: 2 } })
    expect(decodeCommand(openEvent(threadKey.read, verified).body)).toEqual({ type: 'todos/added', payload: { id: 3, text: 'item 3' } })
  })

  it('splits the stored form into its parts', () => {
    const r = chain[1] as LogRecord
    const stored = decodeStoredRecord(encodeStoredRecord(r), {})
    expect(hex(stored.digest)).toBe(hex(r.cid.multihash.digest))
    expect(hex(stored.sig)).toBe(hex(r.sig))
    expect(stored.recordNonce.length).toBe(12)
    expect(stored.headerBox.length).toBeGreaterThan(28)
    expect(stored.bodyBox.length).toBeGreaterThan(28)
  })

  it('stores a 50-byte command in under 300 bytes (the four blocks take more)', () => {
    const body = commandOfSize(50)
    expect(body.length).toBe(50)
    const r = createRecord({ logKey, threadKey, body, clock: 123456, time: 1_700_000_000_000, prev: { cid: (chain[3] as LogRecord).cid, seq: 4 } })
    const stored = encodeStoredRecord(r)
    expect(stored.length).toBeLessThan(300)
    const wire = Object.values(recordBlocks(r)).reduce((n, b) => n + b.length, 0)
    expect(stored.length).toBeLessThan(wire)
    expect(roundTrip(stored, r).cid.equals(r.cid)).toBe(true)
  })

  it('a flipped byte anywhere gives CorruptStoreError (or another of our typed errors)', () => {
    const r = chain[1] as LogRecord
    const stored = encodeStoredRecord(r)
    const seen = new Set<string>()
    for (let i = 0; i < stored.length; i++) {
      for (const mask of [0x01, 0x80]) {
        let thrown: unknown
        try {
          roundTrip(flip(stored, i, mask), r)
        } catch (e) {
          thrown = e
        }
        expect(thrown).toBeInstanceOf(ThreadsError)
        const name = (thrown as ThreadsError).name
        expect(KNOWN_ERROR_NAMES.has(name)).toBe(true)
        seen.add(name)
      }
    }
    expect([...seen]).toEqual(['CorruptStoreError'])
  })

  it('truncated or extended stored forms give CorruptStoreError', () => {
    const r = chain[0] as LogRecord
    const stored = encodeStoredRecord(r)
    for (let n = 0; n < stored.length; n++) catchTyped(() => roundTrip(stored.subarray(0, n), r), CorruptStoreError)
    catchTyped(() => roundTrip(Uint8Array.from([...stored, 0]), r), CorruptStoreError)
  })

  it('an unknown layout version or a damaged length gives CorruptStoreError', () => {
    const r = chain[0] as LogRecord
    const stored = encodeStoredRecord(r)
    const v2 = Uint8Array.from(stored)
    v2[0] = 2
    catchTyped(() => roundTrip(v2, r), CorruptStoreError)
    const lenAt = 1 + 12 + 64 + 32
    const unterminated = Uint8Array.from(stored.subarray(0, lenAt + 1))
    unterminated[lenAt] = 0xff
    catchTyped(() => decodeStoredRecord(unterminated, {}), CorruptStoreError)
    const huge = Uint8Array.from([...stored.subarray(0, lenAt), 0xff, 0xff, 0xff, 0xff, 0x0f, ...stored.subarray(lenAt + 1)])
    catchTyped(() => decodeStoredRecord(huge, {}), CorruptStoreError)
  })

  it('rebuilding with the wrong prev, seq, service key or log gives CorruptStoreError', () => {
    const r = chain[2] as LogRecord
    const stored = encodeStoredRecord(r)
    const e = catchTyped(() => roundTrip(stored, r, { prev: (chain[0] as LogRecord).cid }), CorruptStoreError)
    expect(e.logId).toBe(logKey.id)
    expect(e.seq).toBe(3)
    catchTyped(() => roundTrip(stored, r, { prev: undefined }), CorruptStoreError)
    catchTyped(() => roundTrip(stored, r, { seq: 4 }), CorruptStoreError)
    catchTyped(() => roundTrip(stored, r, { serviceKey: createThreadKey().service }), CorruptStoreError)
    // The log ID is not part of the rebuilt bytes, but a first record rebuilt as a later one is.
    const first = chain[0] as LogRecord
    catchTyped(() => roundTrip(encodeStoredRecord(first), first, { prev: r.cid, seq: 2 }), CorruptStoreError)
  })

  it('a stored form of another record does not rebuild at this position', () => {
    const a = chain[1] as LogRecord
    const b = chain[2] as LogRecord
    catchTyped(() => roundTrip(encodeStoredRecord(b), a), CorruptStoreError)
  })
})
