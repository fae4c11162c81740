import { describe, it, expect } from 'vitest'
import fc from 'fast-check'
import * as dagCbor from '@ipld/dag-cbor'
import { decodeCommand, encodeCommand } from '../../../src/core/command.js'
import { ThreadsError } from '../../../src/core/errors.js'
import { createThreadKey, generateLogKey } from '../../../src/core/keys.js'
import {
  createRecord,
  linksHead,
  openEvent,
  recordBlocks,
  signatureHolds,
  verifyChain,
  verifyRecord,
  type LogHead,
  type LogRecord,
  type RecordBlocks
} from '../../../src/core/record.js'
import { decodeStoredRecord, encodeStoredRecord, rebuildRecord } from '../../../src/core/storedRecord.js'
import { ThreadId } from '../../../src/core/threadId.js'
import { blocksEqual, bytesEqual, headOf, identityOf, KNOWN_ERROR_NAMES, makeChain, reseal, statementOf } from './fixtures.js'

const logKey = generateLogKey()
const threadKey = createThreadKey()
const thread = ThreadId.create()
const at = { thread, logId: logKey.id, serviceKey: threadKey.service }
const SEED = 20240611

/** True when a value holds -0 anywhere: dag-cbor stores it as the integer 0 (see record.test.ts). */
function hasNegativeZero(v: unknown): boolean {
  if (Object.is(v, -0)) return true
  if (typeof v === 'object' && v !== null) return Object.values(v).some(hasNegativeZero)
  return false
}

/** JSON values dag-cbor holds exactly: no undefined, NaN or ±Infinity (jsonValue has none), and no -0. */
const payload = fc.jsonValue().filter((v) => !hasNegativeZero(v))
/** The same with any well-formed Unicode in strings and keys. */
const unicodePayload = fc.jsonValue({ stringUnit: 'grapheme' }).filter((v) => !hasNegativeZero(v))

const commandArb = fc.record(
  {
    type: fc.string({ minLength: 1, maxLength: 40 }),
    payload,
    meta: fc.option(fc.dictionary(fc.string(), payload, { maxKeys: 3, noNullPrototype: true }), { nil: undefined })
  },
  { requiredKeys: ['type', 'payload'] }
)

function expected(command: { type: string; payload: unknown; meta?: unknown }): Record<string, unknown> {
  const out: Record<string, unknown> = { type: command.type, payload: command.payload }
  if (command.meta !== undefined) out.meta = command.meta
  return out
}

describe('record properties', () => {
  it('create → verify → open round trips any JSON-like command exactly', () => {
    fc.assert(
      fc.property(commandArb, fc.nat({ max: 2 ** 40 }), fc.integer({ min: -(2 ** 45), max: 2 ** 45 }), (command, clock, time) => {
        const r = createRecord({ logKey, threadKey, thread, body: encodeCommand(command), clock, time })
        const verified = verifyRecord(at, recordBlocks(r))
        expect(verified.cid.equals(r.cid)).toBe(true)
        expect(verified.id.equals(r.id)).toBe(true)
        const { header, body } = openEvent(threadKey.read, verified)
        expect(header.clock).toBe(clock)
        expect(header.time).toBe(time)
        expect(decodeCommand(body)).toStrictEqual(expected(command))
      }),
      { numRuns: 300, seed: SEED }
    )
  })

  it('round trips well-formed Unicode payloads exactly', () => {
    fc.assert(
      fc.property(unicodePayload, (p) => {
        const r = createRecord({ logKey, threadKey, thread, body: encodeCommand({ type: 'u', payload: p }), clock: 1, time: 1 })
        const { body } = openEvent(threadKey.read, verifyRecord(at, recordBlocks(r)))
        expect(decodeCommand(body)).toStrictEqual({ type: 'u', payload: p })
      }),
      { numRuns: 150, seed: SEED }
    )
  })

  it('encodeCommand is canonical: equal commands encode to equal bytes, whatever the key order', () => {
    fc.assert(
      fc.property(fc.dictionary(fc.string(), payload, { maxKeys: 8, noNullPrototype: true }), (p) => {
        const reversed = Object.fromEntries(Object.entries(p).reverse())
        expect(bytesEqual(encodeCommand({ type: 't', payload: p }), encodeCommand({ type: 't', payload: reversed }))).toBe(true)
      }),
      { numRuns: 200, seed: SEED }
    )
  })
})

describe('chain properties', () => {
  /** A log of up to `max` records with arbitrary commands; some first records of another thread or log mixed in by the tests. */
  const chainArb = (max: number) =>
    fc.array(fc.record({ text: fc.string({ maxLength: 200 }), clock: fc.nat({ max: 2 ** 40 }) }), { minLength: 1, maxLength: max }).map((entries) => {
      const out: LogRecord[] = []
      let prev: LogHead | undefined
      for (const e of entries) {
        const r = createRecord({ logKey, threadKey, thread, body: encodeCommand({ type: 'p/added', payload: e.text }), clock: e.clock, time: 0, ...(prev === undefined ? {} : { prev }) })
        out.push(r)
        prev = headOf(r)
      }
      return out
    })

  it('any chain verifies with verifyChain (one signature), and one by one, to the same identities', () => {
    fc.assert(
      fc.property(chainArb(12), (chain) => {
        const run = chain.map(recordBlocks)
        const verified = verifyChain(at, run)
        expect(verified.map((r) => r.id.toString())).toEqual(chain.map((r) => r.id.toString()))
        let head: LogHead | undefined
        for (const [i, blocks] of run.entries()) {
          const r = verifyRecord(at, blocks, head === undefined ? {} : { after: head })
          expect(linksHead(r, head)).toBe(true)
          expect(signatureHolds(thread, r)).toBe(true)
          // The identity is the hash of the statement, written by hand.
          expect(r.id.equals(identityOf(statementOf(thread, i + 1, r.eventCid, head?.id)))).toBe(true)
          head = headOf(r)
        }
      }),
      { numRuns: 60, seed: SEED }
    )
  })

  it('any split of a chain into runs verifies run after run with `after`', () => {
    fc.assert(
      fc.property(
        chainArb(12).chain((chain) => fc.tuple(fc.constant(chain), fc.uniqueArray(fc.integer({ min: 1, max: chain.length }), { maxLength: 4 }))),
        ([chain, cuts]) => {
          const bounds = [0, ...[...cuts].sort((a, b) => a - b), chain.length]
          let after: LogHead | undefined
          const ids: string[] = []
          for (let k = 0; k + 1 < bounds.length; k++) {
            const run = chain.slice(bounds[k], bounds[k + 1]).map(recordBlocks)
            const out = verifyChain(at, run, after === undefined ? {} : { after })
            ids.push(...out.map((r) => r.id.toString()))
            const last = out.at(-1)
            if (last !== undefined) after = headOf(last)
          }
          expect(ids).toEqual(chain.map((r) => r.id.toString()))
        }
      ),
      { numRuns: 40, seed: SEED }
    )
  })

  it('any chain with any of its records re-sealed verifies to the same identities', () => {
    fc.assert(
      fc.property(chainArb(8), fc.array(fc.boolean(), { minLength: 8, maxLength: 8 }), (chain, which) => {
        const run = chain.map((r, i) => (which[i] === true ? reseal(threadKey.service, recordBlocks(r)) : recordBlocks(r)))
        expect(verifyChain(at, run).map((r) => r.id.toString())).toEqual(chain.map((r) => r.id.toString()))
      }),
      { numRuns: 40, seed: SEED }
    )
  })

  it('a chain does not verify in another thread or log', () => {
    const other = ThreadId.create()
    const otherLog = generateLogKey()
    fc.assert(
      fc.property(chainArb(6), fc.boolean(), (chain, wrongThread) => {
        const ctx = wrongThread ? { ...at, thread: other } : { ...at, logId: otherLog.id }
        let thrown: unknown
        try {
          verifyChain(ctx, chain.map(recordBlocks))
        } catch (e) {
          thrown = e
        }
        expect(thrown).toBeInstanceOf(ThreadsError)
        expect(['BadSignatureError', 'BrokenChainError']).toContain((thrown as ThreadsError).name)
      }),
      { numRuns: 30, seed: SEED }
    )
  })
})

describe('mutation properties', () => {
  const chain = makeChain(logKey, threadKey, thread, 3)
  const target = chain[1] as LogRecord
  const after = headOf(chain[0] as LogRecord)
  const original = recordBlocks(target)
  const names = ['record', 'event', 'header', 'body'] as const
  type Name = (typeof names)[number]

  type Mutation =
    | { kind: 'xor'; block: Name; at: number; mask: number }
    | { kind: 'truncate'; block: Name; keep: number }
    | { kind: 'extend'; block: Name; extra: Uint8Array }
    | { kind: 'splice'; block: Name; from: number }

  const mutation: fc.Arbitrary<Mutation> = fc.oneof(
    fc.record({ kind: fc.constant('xor' as const), block: fc.constantFrom(...names), at: fc.nat(), mask: fc.integer({ min: 1, max: 255 }) }),
    fc.record({ kind: fc.constant('truncate' as const), block: fc.constantFrom(...names), keep: fc.nat() }),
    fc.record({ kind: fc.constant('extend' as const), block: fc.constantFrom(...names), extra: fc.uint8Array({ minLength: 1, maxLength: 8 }) }),
    fc.record({ kind: fc.constant('splice' as const), block: fc.constantFrom(...names), from: fc.constantFrom(0, 2) })
  )

  function apply(m: Mutation): RecordBlocks {
    const bytes = original[m.block]
    let next: Uint8Array
    switch (m.kind) {
      case 'xor': {
        next = Uint8Array.from(bytes)
        const i = m.at % bytes.length
        next[i] = (next[i] as number) ^ m.mask
        break
      }
      case 'truncate':
        next = bytes.subarray(0, m.keep % bytes.length)
        break
      case 'extend':
        next = Uint8Array.from([...bytes, ...m.extra])
        break
      case 'splice':
        next = recordBlocks(chain[m.from] as LogRecord)[m.block]
        break
    }
    return { ...original, [m.block]: next }
  }

  /** Run `fn`: it must throw one of our typed errors, or return with the blocks unchanged. */
  function rejectsOrUnchanged(blocks: RecordBlocks, fn: () => unknown): void {
    let thrown: unknown
    let returned = false
    let result: unknown
    try {
      result = fn()
      returned = true
    } catch (e) {
      thrown = e
    }
    if (returned) {
      expect(blocksEqual(blocks, original)).toBe(true)
      // And what it returned is the original record.
      const r = (Array.isArray(result) ? result[1] : result) as Partial<LogRecord> | undefined
      if (r?.id !== undefined) expect(r.id.equals(target.id)).toBe(true)
      return
    }
    expect(thrown).toBeInstanceOf(ThreadsError)
    expect(KNOWN_ERROR_NAMES.has((thrown as ThreadsError).name)).toBe(true)
  }

  it('verifyRecord never accepts a mutated block, and throws only typed errors', () => {
    fc.assert(
      fc.property(mutation, fc.boolean(), (m, withAfter) => {
        const blocks = apply(m)
        expect(blocksEqual(blocks, original)).toBe(false)
        rejectsOrUnchanged(blocks, () => verifyRecord(at, blocks, withAfter ? { after } : {}))
      }),
      { numRuns: 600, seed: SEED }
    )
  })

  it('verifyChain never accepts a run with a mutated record', () => {
    fc.assert(
      fc.property(mutation, (m) => {
        const blocks = apply(m)
        const run = [recordBlocks(chain[0] as LogRecord), blocks, recordBlocks(chain[2] as LogRecord)]
        rejectsOrUnchanged(blocks, () => verifyChain(at, run))
      }),
      { numRuns: 300, seed: SEED }
    )
  })

  it('openEvent never opens a mutated header or body', () => {
    const verified = verifyRecord(at, original)
    fc.assert(
      fc.property(
        mutation.filter((m) => m.block === 'header' || m.block === 'body'),
        (m) => {
          const blocks = apply(m)
          const record = {
            ...verified,
            blocks: { ...verified.blocks, header: { cid: verified.blocks.header.cid, bytes: blocks.header }, body: { cid: verified.blocks.body.cid, bytes: blocks.body } }
          }
          rejectsOrUnchanged(blocks, () => openEvent(threadKey.read, record))
        }
      ),
      { numRuns: 300, seed: SEED }
    )
  })

  it('a single flipped byte in any block is refused, or gives a record equal to the original', () => {
    const names = ['record', 'event', 'header', 'body'] as const
    fc.assert(
      fc.property(fc.constantFrom(...names), fc.nat(), fc.integer({ min: 1, max: 255 }), fc.boolean(), (name, pos, mask, withAfter) => {
        const bytes = Uint8Array.from(original[name])
        bytes[pos % bytes.length] = (bytes[pos % bytes.length] as number) ^ mask
        const blocks = { ...original, [name]: bytes }
        let r: LogRecord
        try {
          r = verifyRecord(at, blocks, withAfter ? { after } : {})
        } catch (e) {
          expect(e).toBeInstanceOf(ThreadsError)
          expect(KNOWN_ERROR_NAMES.has((e as ThreadsError).name)).toBe(true)
          return
        }
        // (AES-GCM and sha2-256 make this branch unreachable; the property says what must hold if it were not.)
        expect(r.id.equals(target.id)).toBe(true)
        expect(openEvent(threadKey.read, r).body).toEqual(openEvent(threadKey.read, target).body)
      }),
      { numRuns: 600, seed: SEED }
    )
  })

  it('a stored record with a flipped byte is refused, or rebuilds the same record (only the nonce or signature can change)', () => {
    const stored = encodeStoredRecord(target)
    fc.assert(
      fc.property(fc.nat(), fc.integer({ min: 1, max: 255 }), (pos, mask) => {
        const bad = Uint8Array.from(stored)
        const i = pos % bad.length
        bad[i] = (bad[i] as number) ^ mask
        let rebuilt: LogRecord
        try {
          rebuilt = rebuildRecord(decodeStoredRecord(bad, {}), { thread, logId: logKey.id, seq: 2, prev: after.id, serviceKey: threadKey.service })
        } catch (e) {
          expect(e).toBeInstanceOf(ThreadsError)
          expect(['CorruptStoreError', 'UnsupportedFormatError']).toContain((e as ThreadsError).name)
          return
        }
        // 1 + 12 bytes of nonce, then 64 of signature: neither is part of the identity.
        expect(i >= 1 && i < 77).toBe(true)
        expect(rebuilt.id.equals(target.id)).toBe(true)
        expect(bytesEqual(rebuilt.blocks.header.bytes, target.blocks.header.bytes)).toBe(true)
        expect(bytesEqual(rebuilt.blocks.body.bytes, target.blocks.body.bytes)).toBe(true)
        // A changed nonce is a re-sealed copy, which verifies; a changed signature does not hold.
        expect(signatureHolds(thread, rebuilt)).toBe(i < 13)
      }),
      { numRuns: 300, seed: SEED }
    )
  })

  it('decodeCommand throws only typed errors on arbitrary bytes and CBOR values', () => {
    const cborValue = fc.jsonValue().map((v) => dagCbor.encode(hasNegativeZero(v) ? null : v))
    fc.assert(
      fc.property(fc.oneof(fc.uint8Array({ maxLength: 64 }), cborValue), (bytes) => {
        try {
          const command = decodeCommand(bytes)
          expect(typeof command.type).toBe('string')
        } catch (e) {
          expect(e).toBeInstanceOf(ThreadsError)
        }
      }),
      { numRuns: 500, seed: SEED }
    )
  })
})
