/**
 * The sync protocol's wire format (DESIGN.md section 6): every message round-trips; every
 * malformed shape is refused with MalformedMessageError, anything over the limit with
 * TooLargeError; and no input whatsoever makes decodeMessage throw anything else.
 */
import * as dagCbor from '@ipld/dag-cbor'
import { describe, expect, it } from 'vitest'
import { encodeCommand } from '../../../src/core/command.js'
import { createThreadKey, generateLogKey } from '../../../src/core/keys.js'
import { createRecord, recordBlocks, type RecordBlocks } from '../../../src/core/record.js'
import { ThreadId } from '../../../src/core/threadId.js'
import {
  MAC_BYTES,
  MAX_ADDR_PEERS,
  MAX_ADDRS_PER_PEER,
  MAX_LOGS,
  MAX_MESSAGE_BYTES,
  MAX_RECORDS_PER_MESSAGE,
  NONCE_BYTES,
  decodeMessage,
  encodeMessage,
  type SyncMessage
} from '../../../src/net/messages.js'
import { seededRandom } from '../../support/random.js'

const thread = ThreadId.create().bytes
const logKey = generateLogKey()
const threadKey = createThreadKey()
const first = createRecord({ logKey, threadKey, body: encodeCommand({ type: 't/a', payload: 1 }), clock: 1, time: 1 })
const second = createRecord({ logKey, threadKey, body: encodeCommand({ type: 't/b', payload: 'x' }), clock: 2, time: 2, prev: { cid: first.cid, seq: 1 } })
/** Plain Uint8Arrays (a record block may be a Node Buffer view; the wire gives Uint8Arrays). */
const plain = (b: RecordBlocks): RecordBlocks => ({ record: Uint8Array.from(b.record), event: Uint8Array.from(b.event), header: Uint8Array.from(b.header), body: Uint8Array.from(b.body) })
const blocks: RecordBlocks[] = [plain(recordBlocks(first)), plain(recordBlocks(second))]

const bytesOf = (n: number, fill = 7): Uint8Array => new Uint8Array(n).fill(fill)

/** One valid message of every type (and the edge values of each field). */
const valid: SyncMessage[] = [
  { t: 'auth', thread, nonce: bytesOf(NONCE_BYTES) },
  { t: 'auth-reply', thread, mac: bytesOf(MAC_BYTES), nonce: bytesOf(NONCE_BYTES, 9) },
  { t: 'auth-done', thread, mac: bytesOf(MAC_BYTES, 1) },
  { t: 'nack', thread, reason: 'unknown thread' },
  { t: 'heads', thread, heads: [], addrs: [] },
  {
    t: 'heads',
    thread,
    heads: [
      [logKey.id, 2],
      [generateLogKey().id, 0]
    ],
    addrs: [
      [logKey.id, ['/memory/x/p2p/y', '/ip4/127.0.0.1/tcp/4001']],
      [generateLogKey().id, []]
    ]
  },
  { t: 'pull', thread, log: logKey.id, from: 1, limit: 1 },
  { t: 'pull', thread, log: logKey.id, from: Number.MAX_SAFE_INTEGER, limit: MAX_RECORDS_PER_MESSAGE },
  { t: 'records', thread, log: logKey.id, records: blocks, more: true, push: false },
  { t: 'records', thread, log: logKey.id, records: [], more: false, push: true }
]

function expectMalformed(bytes: Uint8Array, why?: RegExp): void {
  let caught: unknown
  try {
    decodeMessage(bytes)
  } catch (e) {
    caught = e
  }
  expect(caught, 'decodeMessage should refuse').toBeInstanceOf(Error)
  expect((caught as Error).name).toBe('MalformedMessageError')
  if (why !== undefined) expect((caught as Error).message).toMatch(why)
}

const wire = (value: unknown): Uint8Array => dagCbor.encode(value)
/** A valid message of type `t` with some fields replaced (undefined: removed). */
function variant(t: SyncMessage['t'], patch: Record<string, unknown>): Uint8Array {
  const base = valid.find((m) => m.t === t) as SyncMessage
  const obj: Record<string, unknown> = base.t === 'records' ? { ...base, records: base.records.map((r) => [r.record, r.event, r.header, r.body]) } : { ...base }
  for (const [k, v] of Object.entries(patch)) {
    if (v === undefined) delete obj[k]
    else obj[k] = v
  }
  return wire(obj)
}

describe('encodeMessage / decodeMessage', () => {
  it('round-trips every message type', () => {
    const types = new Set<string>()
    for (const m of valid) {
      const bytes = encodeMessage(m)
      const back = decodeMessage(bytes)
      expect(back).toEqual(m)
      // Canonical: encoding the decoded message gives the same bytes.
      expect(encodeMessage(back)).toEqual(bytes)
      types.add(m.t)
    }
    expect([...types].sort()).toEqual(['auth', 'auth-done', 'auth-reply', 'heads', 'nack', 'pull', 'records'])
  })

  it('carries record blocks byte for byte', () => {
    const back = decodeMessage(encodeMessage(valid[8] as SyncMessage))
    if (back.t !== 'records') throw new Error('expected records')
    expect(back.records).toHaveLength(2)
    expect(back.records[1]?.record).toEqual(blocks[1]?.record)
    expect(back.records[1]?.body).toEqual(blocks[1]?.body)
  })

  it('decodes a heads message without addrs (older peers) as an empty list', () => {
    const m = decodeMessage(wire({ t: 'heads', thread, heads: [[logKey.id, 3]] }))
    expect(m).toEqual({ t: 'heads', thread, heads: [[logKey.id, 3]], addrs: [] })
  })

  it('refuses bytes that are not dag-cbor or not a map', () => {
    expectMalformed(new Uint8Array(0), /dag-cbor/)
    expectMalformed(Uint8Array.of(0xff, 0x00), /dag-cbor/)
    expectMalformed(new TextEncoder().encode('{"t":"auth"}'), /dag-cbor/)
    // Valid CBOR but not dag-cbor: an indefinite-length map, and trailing bytes after a value.
    expectMalformed(Uint8Array.of(0xbf, 0xff), /dag-cbor/)
    const trailing = new Uint8Array([...encodeMessage(valid[0] as SyncMessage), 0x00])
    expectMalformed(trailing, /dag-cbor/)
    for (const v of [null, 1, 'auth', true, [], [thread], thread]) expectMalformed(wire(v), /not a map/)
    expectMalformed('not bytes' as unknown as Uint8Array, /not bytes/)
  })

  it('refuses a missing, short, long or mistyped thread ID', () => {
    expectMalformed(variant('auth', { thread: undefined }), /thread/)
    expectMalformed(variant('auth', { thread: bytesOf(17) }), /thread/)
    expectMalformed(variant('auth', { thread: bytesOf(81) }), /thread/)
    expectMalformed(variant('auth', { thread: 'bafk…' }), /thread/)
    expectMalformed(variant('auth', { thread: [1, 2, 3] }), /thread/)
  })

  it('refuses unknown or mistyped message types, whatever `t` holds', () => {
    expectMalformed(variant('auth', { t: 'hello' }), /unknown type/)
    expectMalformed(variant('auth', { t: undefined }), /unknown type/)
    expectMalformed(variant('auth', { t: 7 }), /unknown type/)
    expectMalformed(variant('auth', { t: ['auth'] }), /unknown type/)
    expectMalformed(variant('auth', { t: thread }), /unknown type/)
    // A map with its own `toString`/`valueOf` must not turn the refusal into a TypeError.
    expectMalformed(variant('auth', { t: { toString: 1 } }), /unknown type/)
    expectMalformed(variant('auth', { t: { valueOf: 'x', toString: null } }), /unknown type/)
  })

  it('refuses bad auth fields', () => {
    expectMalformed(variant('auth', { nonce: undefined }), /nonce/)
    expectMalformed(variant('auth', { nonce: bytesOf(NONCE_BYTES - 1) }), /nonce/)
    expectMalformed(variant('auth', { nonce: bytesOf(NONCE_BYTES + 1) }), /nonce/)
    expectMalformed(variant('auth-reply', { mac: bytesOf(MAC_BYTES - 1) }), /mac/)
    expectMalformed(variant('auth-reply', { nonce: 'n' }), /nonce/)
    expectMalformed(variant('auth-done', { mac: undefined }), /mac/)
    expectMalformed(variant('auth-done', { mac: bytesOf(MAC_BYTES + 1) }), /mac/)
    expectMalformed(variant('nack', { reason: '' }), /reason/)
    expectMalformed(variant('nack', { reason: 'x'.repeat(201) }), /reason/)
    expectMalformed(variant('nack', { reason: 42 }), /reason/)
  })

  it('refuses bad heads', () => {
    expectMalformed(variant('heads', { heads: undefined }), /heads/)
    expectMalformed(variant('heads', { heads: { a: 1 } }), /heads/)
    expectMalformed(variant('heads', { heads: [[logKey.id]] }), /head/)
    expectMalformed(variant('heads', { heads: [[logKey.id, 1, 2]] }), /head/)
    expectMalformed(variant('heads', { heads: [[42, 1]] }), /head/)
    expectMalformed(variant('heads', { heads: [['x'.repeat(201), 1]] }), /head/)
    expectMalformed(variant('heads', { heads: [[logKey.id, -1]] }), /seq/)
    expectMalformed(variant('heads', { heads: [[logKey.id, 1.5]] }), /seq/)
    expectMalformed(variant('heads', { heads: [[logKey.id, '1']] }), /seq/)
    expectMalformed(variant('heads', { heads: [[logKey.id, 2 ** 60]] }), /seq/)
    const tooMany = Array.from({ length: MAX_LOGS + 1 }, (_, i) => [`l${i}`, 1])
    expectMalformed(variant('heads', { heads: tooMany }), /heads/)
    expectMalformed(variant('heads', { addrs: 'x' }), /addrs/)
    expectMalformed(variant('heads', { addrs: Array.from({ length: MAX_ADDR_PEERS + 1 }, (_, i) => [`p${i}`, []]) }), /addrs/)
    expectMalformed(variant('heads', { addrs: [[logKey.id]] }), /addrs entry/)
    expectMalformed(variant('heads', { addrs: [[7, []]] }), /addrs entry/)
    expectMalformed(variant('heads', { addrs: [[logKey.id, '/ip4/1.2.3.4']] }), /addresses/)
    expectMalformed(variant('heads', { addrs: [[logKey.id, [1]]] }), /addresses/)
    expectMalformed(variant('heads', { addrs: [[logKey.id, ['x'.repeat(1001)]]] }), /addresses/)
    expectMalformed(variant('heads', { addrs: [[logKey.id, Array.from({ length: MAX_ADDRS_PER_PEER + 1 }, () => '/a')]] }), /addresses/)
  })

  it('refuses bad pulls', () => {
    expectMalformed(variant('pull', { limit: 0 }), /limit/)
    expectMalformed(variant('pull', { limit: MAX_RECORDS_PER_MESSAGE + 1 }), /limit/)
    expectMalformed(variant('pull', { limit: -5 }), /limit/)
    expectMalformed(variant('pull', { limit: undefined }), /limit/)
    expectMalformed(variant('pull', { from: 0 }), /from/)
    expectMalformed(variant('pull', { from: 1.25 }), /from/)
    expectMalformed(variant('pull', { from: '1' }), /from/)
    expectMalformed(variant('pull', { log: '' }), /log/)
    expectMalformed(variant('pull', { log: undefined }), /log/)
    expectMalformed(variant('pull', { log: 'x'.repeat(201) }), /log/)
  })

  it('refuses bad records messages', () => {
    expectMalformed(variant('records', { more: undefined }), /more/)
    expectMalformed(variant('records', { push: 1 }), /push/)
    expectMalformed(variant('records', { log: 3 }), /log/)
    expectMalformed(variant('records', { records: undefined }), /records/)
    expectMalformed(variant('records', { records: 'r' }), /records/)
    expectMalformed(variant('records', { records: [[bytesOf(1), bytesOf(1), bytesOf(1)]] }), /four byte strings/)
    expectMalformed(variant('records', { records: [[bytesOf(1), bytesOf(1), bytesOf(1), 'x']] }), /four byte strings/)
    expectMalformed(variant('records', { records: [{ record: bytesOf(1), event: bytesOf(1), header: bytesOf(1), body: bytesOf(1) }] }), /four byte strings/)
    const four = [bytesOf(1), bytesOf(1), bytesOf(1), bytesOf(1)]
    expectMalformed(variant('records', { records: Array.from({ length: MAX_RECORDS_PER_MESSAGE + 1 }, () => four) }), /records/)
  })

  it('refuses oversize input with TooLargeError, both ways', () => {
    const big = new Uint8Array(MAX_MESSAGE_BYTES + 1)
    expect(() => decodeMessage(big)).toThrow(expect.objectContaining({ name: 'TooLargeError' }))
    // Exactly at the limit is not refused for its size (it is refused as bad dag-cbor).
    expectMalformed(new Uint8Array(MAX_MESSAGE_BYTES))
    const huge = bytesOf(MAX_MESSAGE_BYTES)
    const tooBig: SyncMessage = { t: 'records', thread, log: logKey.id, records: [{ record: huge, event: bytesOf(1), header: bytesOf(1), body: bytesOf(1) }], more: false, push: true }
    expect(() => encodeMessage(tooBig)).toThrow(expect.objectContaining({ name: 'TooLargeError' }))
  })
})

/** Seeded: a failing case replays exactly. */
const prng = seededRandom

describe('decodeMessage fuzz', () => {
  it('lets only MalformedMessageError or TooLargeError escape, and what it accepts re-encodes to itself', () => {
    const random = prng(0x5eed_1234)
    const int = (n: number): number => Math.floor(random() * n)
    const randomBytes = (n: number): Uint8Array => Uint8Array.from({ length: n }, () => int(256))
    const seeds = valid.map(encodeMessage)
    const odd: unknown[] = [null, true, false, 0, -1, 1.5, 2 ** 53, '', 'x', 'auth', 'records', [], {}, new Uint8Array(0), bytesOf(16), bytesOf(32), thread, [[logKey.id, 1]], { toString: 1 }]
    const values = (): unknown => odd[int(odd.length)]
    /** Structured mutation: decode a valid message, change one field or nested value, re-encode. */
    const structured = (): Uint8Array => {
      const m = dagCbor.decode(seeds[int(seeds.length)] as Uint8Array) as Record<string, unknown>
      const keys = Object.keys(m)
      const r = random()
      if (r < 0.5) m[keys[int(keys.length)] as string] = values()
      else if (r < 0.7) delete m[keys[int(keys.length)] as string]
      else if (r < 0.8) m[`k${int(5)}`] = values()
      else {
        const list = Object.values(m).find(Array.isArray) as unknown[] | undefined
        if (list !== undefined && list.length > 0) {
          const i = int(list.length)
          const inner = list[i]
          if (Array.isArray(inner) && inner.length > 0 && random() < 0.6) inner[int(inner.length)] = values()
          else list[i] = values()
        }
      }
      return wire(m)
    }
    const mutate = (bytes: Uint8Array): Uint8Array => {
      const out = Uint8Array.from(bytes)
      const r = random()
      if (r < 0.4) {
        for (let k = 1 + int(4); k > 0; k--) {
          const at = int(out.length)
          out[at] = (out[at] as number) ^ (1 << int(8))
        }
        return out
      }
      if (r < 0.6) return out.subarray(0, int(out.length))
      if (r < 0.8) {
        const at = int(out.length + 1)
        return new Uint8Array([...out.subarray(0, at), ...randomBytes(1 + int(8)), ...out.subarray(at)])
      }
      const at = int(out.length)
      out[at] = int(256)
      return out
    }
    const counts = { accepted: 0, malformed: 0, tooLarge: 0, inputs: 0 }
    const started = Date.now()
    while (Date.now() - started < 2000) {
      const r = random()
      const input =
        r < 0.25 ? randomBytes(int(64)) : r < 0.6 ? mutate(seeds[int(seeds.length)] as Uint8Array) : structured()
      counts.inputs++
      try {
        const m = decodeMessage(input)
        counts.accepted++
        expect(decodeMessage(encodeMessage(m))).toEqual(m)
      } catch (e) {
        const name = (e as Error).name
        if (name === 'MalformedMessageError') counts.malformed++
        else if (name === 'TooLargeError') counts.tooLarge++
        else throw new Error(`decodeMessage let ${name} escape: ${(e as Error).message}; input ${Buffer.from(input).toString('hex')}`)
      }
    }
    expect(counts.inputs).toBeGreaterThan(1000)
    expect(counts.malformed).toBeGreaterThan(counts.inputs / 4)
    // Mutations that keep a valid shape (a changed byte inside a nonce, say) are accepted.
    expect(counts.accepted).toBeGreaterThan(0)
  })
})
