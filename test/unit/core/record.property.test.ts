import { describe, it, expect } from 'vitest'
import fc from 'fast-check'
import * as dagCbor from '@ipld/dag-cbor'
import { decodeCommand, encodeCommand } from '../../../src/core/command.js'
import { ThreadsError } from '../../../src/core/errors.js'
import { createThreadKey, generateLogKey } from '../../../src/core/keys.js'
import { createRecord, openEvent, recordBlocks, verifyChain, verifyRecord, type LogRecord, type RecordBlocks } from '../../../src/core/record.js'
import { decodeStoredRecord, encodeStoredRecord, rebuildRecord } from '../../../src/core/storedRecord.js'
import { blocksEqual, bytesEqual, KNOWN_ERROR_NAMES, makeChain } from './fixtures.js'

const logKey = generateLogKey()
const threadKey = createThreadKey()
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
        const r = createRecord({ logKey, threadKey, body: encodeCommand(command), clock, time })
        const verified = verifyRecord(logKey.id, threadKey.service, recordBlocks(r))
        expect(verified.cid.equals(r.cid)).toBe(true)
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
        const r = createRecord({ logKey, threadKey, body: encodeCommand({ type: 'u', payload: p }), clock: 1, time: 1 })
        const { body } = openEvent(threadKey.read, verifyRecord(logKey.id, threadKey.service, recordBlocks(r)))
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

describe('mutation properties', () => {
  const chain = makeChain(logKey, threadKey, 3)
  const target = chain[1] as LogRecord
  const after = { cid: (chain[0] as LogRecord).cid, seq: 1 }
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
    try {
      fn()
      returned = true
    } catch (e) {
      thrown = e
    }
    if (returned) {
      expect(blocksEqual(blocks, original)).toBe(true)
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
        rejectsOrUnchanged(blocks, () => verifyRecord(logKey.id, threadKey.service, blocks, withAfter ? { after } : {}))
      }),
      { numRuns: 600, seed: SEED }
    )
  })

  it('verifyChain never accepts a run with a mutated record', () => {
    fc.assert(
      fc.property(mutation, (m) => {
        const blocks = apply(m)
        const run = [recordBlocks(chain[0] as LogRecord), blocks, recordBlocks(chain[2] as LogRecord)]
        rejectsOrUnchanged(blocks, () => verifyChain(logKey.id, threadKey.service, run))
      }),
      { numRuns: 300, seed: SEED }
    )
  })

  it('openEvent never opens a mutated header or body', () => {
    const verified = verifyRecord(logKey.id, threadKey.service, original)
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

  it('a stored record never rebuilds after a mutation', () => {
    const stored = encodeStoredRecord(target)
    fc.assert(
      fc.property(fc.nat(), fc.integer({ min: 1, max: 255 }), (at, mask) => {
        const bad = Uint8Array.from(stored)
        const i = at % bad.length
        bad[i] = (bad[i] as number) ^ mask
        let thrown: unknown
        try {
          rebuildRecord(decodeStoredRecord(bad, {}), { logId: logKey.id, seq: 2, prev: after.cid, serviceKey: threadKey.service })
        } catch (e) {
          thrown = e
        }
        expect(thrown).toBeInstanceOf(ThreadsError)
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
