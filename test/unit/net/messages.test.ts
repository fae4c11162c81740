/**
 * The sync protocol's wire format, version 2 (DESIGN.md section 6): every message round-trips;
 * every malformed shape is refused with MalformedMessageError, another version with
 * UnsupportedFormatError, anything over the limit with TooLargeError; and no input whatsoever makes
 * decodeMessage throw anything else.
 */
import * as dagCbor from '@ipld/dag-cbor'
import { peerIdFromString } from '@libp2p/peer-id'
import { describe, expect, it } from 'vitest'
import { encodeCommand } from '../../../src/core/command.js'
import { signedStatementOf } from '../../../src/core/forkProof.js'
import { createThreadKey, generateLogKey } from '../../../src/core/keys.js'
import { createRecord, recordBlocks, type RecordBlocks } from '../../../src/core/record.js'
import { ThreadId } from '../../../src/core/threadId.js'
import {
  MAX_ADDR_PEERS,
  MAX_ADDRS_PER_PEER,
  MAX_LOGS,
  MAX_MESSAGE_BYTES,
  MAX_RECORDS_PER_MESSAGE,
  NONCE_BYTES,
  TAG_BYTES,
  WIRE_VERSION,
  decodeMessage,
  encodeMessage,
  type SyncMessage
} from '../../../src/net/messages.js'
import { seededRandom } from '../../support/random.js'

const threadId = ThreadId.create()
const thread = threadId.bytes
const logKey = generateLogKey()
const other = generateLogKey()
const threadKey = createThreadKey()
const first = createRecord({ logKey, threadKey, thread: threadId, body: encodeCommand({ type: 't/a', payload: 1 }), clock: 1, time: 1 })
const second = createRecord({ logKey, threadKey, thread: threadId, body: encodeCommand({ type: 't/b', payload: 'x' }), clock: 2, time: 2, prev: { id: first.id, seq: 1 } })
const fork = createRecord({ logKey, threadKey, thread: threadId, body: encodeCommand({ type: 't/c', payload: 'y' }), clock: 2, time: 3, prev: { id: first.id, seq: 1 } })
/** Plain Uint8Arrays (a record block may be a Node Buffer view; the wire gives Uint8Arrays). */
const plain = (b: RecordBlocks): RecordBlocks => ({ record: Uint8Array.from(b.record), event: Uint8Array.from(b.event), header: Uint8Array.from(b.header), body: Uint8Array.from(b.body) })
const blocks: RecordBlocks[] = [plain(recordBlocks(first)), plain(recordBlocks(second))]
const addr = (peer: string, port = 4001): string => `/ip4/127.0.0.1/tcp/${port}/p2p/${peer}`

const bytesOf = (n: number, fill = 7): Uint8Array => new Uint8Array(n).fill(fill)

/** One valid message of every type (and the edge values of each field). */
const valid: SyncMessage[] = [
  { t: 'hello', nonce: bytesOf(NONCE_BYTES) },
  { t: 'auth', tag: bytesOf(TAG_BYTES, 1), nonce: bytesOf(NONCE_BYTES, 2) },
  { t: 'heads', thread, heads: [], addrs: [], reply: false },
  {
    t: 'heads',
    thread,
    heads: [
      [logKey.id, 2, second.id],
      [other.id, 1, first.id]
    ],
    addrs: [
      [logKey.id, [`/memory/x/p2p/${logKey.id}`, addr(logKey.id)]],
      [other.id, []]
    ],
    reply: true
  },
  { t: 'pull', thread, log: logKey.id, from: 1, limit: 1 },
  { t: 'pull', thread, log: logKey.id, from: Number.MAX_SAFE_INTEGER, limit: MAX_RECORDS_PER_MESSAGE },
  { t: 'records', thread, log: logKey.id, records: blocks, more: true, push: false },
  { t: 'records', thread, log: logKey.id, records: [], more: false, push: true },
  { t: 'fork', thread, proof: { logId: logKey.id, a: signedStatementOf(second), b: signedStatementOf(fork) } }
]

function expectRefused(bytes: Uint8Array, name: string, why?: RegExp): void {
  let caught: unknown
  try {
    decodeMessage(bytes)
  } catch (e) {
    caught = e
  }
  expect(caught, 'decodeMessage should refuse').toBeInstanceOf(Error)
  expect((caught as Error).name).toBe(name)
  if (why !== undefined) expect((caught as Error).message).toMatch(why)
}

const expectMalformed = (bytes: Uint8Array, why?: RegExp): void => expectRefused(bytes, 'MalformedMessageError', why)

const wire = (value: unknown): Uint8Array => dagCbor.encode(value)
/** A valid message of type `t` (the `n`th of that type) with some fields replaced (undefined: removed). */
function variant(t: SyncMessage['t'], patch: Record<string, unknown>, n = 0): Uint8Array {
  const base = valid.filter((m) => m.t === t)[n] as SyncMessage
  const obj = dagCbor.decode(encodeMessage(base)) as Record<string, unknown>
  for (const [k, v] of Object.entries(patch)) {
    if (v === undefined) delete obj[k]
    else obj[k] = v
  }
  return wire(obj)
}

describe('encodeMessage / decodeMessage', () => {
  it('round-trips every message type, canonically, with the version on the wire', () => {
    const types = new Set<string>()
    for (const m of valid) {
      const bytes = encodeMessage(m)
      const back = decodeMessage(bytes)
      expect(back).toEqual(m)
      expect(encodeMessage(back)).toEqual(bytes)
      expect((dagCbor.decode(bytes) as { v: number }).v).toBe(WIRE_VERSION)
      types.add(m.t)
    }
    expect([...types].sort()).toEqual(['auth', 'fork', 'heads', 'hello', 'pull', 'records'])
  })

  it('keeps `t` the first key on the wire (bench and taps read it without decoding)', () => {
    for (const m of valid) {
      const bytes = encodeMessage(m)
      expect([bytes[1], bytes[2]]).toEqual([0x61, 0x74])
    }
  })

  it('carries record blocks byte for byte', () => {
    const back = decodeMessage(encodeMessage(valid[6] as SyncMessage))
    if (back.t !== 'records') throw new Error('expected records')
    expect(back.records).toHaveLength(2)
    expect(back.records[1]?.record).toEqual(blocks[1]?.record)
    expect(back.records[1]?.body).toEqual(blocks[1]?.body)
  })

  it('hello and auth name no thread: nothing in them depends on the threads a peer holds', () => {
    for (const m of valid.filter((x) => x.t === 'hello' || x.t === 'auth')) {
      const fields = Object.keys(dagCbor.decode(encodeMessage(m)) as object).sort()
      expect(fields).not.toContain('thread')
    }
  })

  it('refuses bytes that are not dag-cbor or not a map', () => {
    expectMalformed(new Uint8Array(0), /dag-cbor/)
    expectMalformed(Uint8Array.of(0xff, 0x00), /dag-cbor/)
    expectMalformed(new TextEncoder().encode('{"t":"auth"}'), /dag-cbor/)
    expectMalformed(Uint8Array.of(0xbf, 0xff), /dag-cbor/)
    const trailing = new Uint8Array([...encodeMessage(valid[0] as SyncMessage), 0x00])
    expectMalformed(trailing, /dag-cbor/)
    for (const v of [null, 1, 'auth', true, [], [thread], thread]) expectMalformed(wire(v), /not a map/)
    expectMalformed('not bytes' as unknown as Uint8Array, /not bytes/)
  })

  it('refuses another version, or none, with UnsupportedFormatError', () => {
    expectRefused(variant('hello', { v: 1 }), 'UnsupportedFormatError', /version 1/)
    expectRefused(variant('hello', { v: 3 }), 'UnsupportedFormatError', /version 3/)
    expectRefused(variant('pull', { v: undefined }), 'UnsupportedFormatError')
    expectRefused(variant('pull', { v: '2' }), 'UnsupportedFormatError')
    // Version 1's messages, as a version 1 peer sent them.
    expectRefused(wire({ t: 'auth', thread, nonce: bytesOf(16) }), 'UnsupportedFormatError')
  })

  it('refuses a missing, short, long or mistyped thread ID in thread messages', () => {
    expectMalformed(variant('pull', { thread: undefined }), /thread/)
    expectMalformed(variant('pull', { thread: bytesOf(17) }), /thread/)
    expectMalformed(variant('pull', { thread: bytesOf(81) }), /thread/)
    expectMalformed(variant('pull', { thread: 'bafk…' }), /thread/)
    expectMalformed(variant('heads', { thread: [1, 2, 3] }), /thread/)
  })

  it('refuses unknown or mistyped message types, whatever `t` holds', () => {
    for (const t of ['nack', 'auth-reply', 'auth-done', 'hi', undefined, 7, ['auth'], thread, { toString: 1 }, { valueOf: 'x', toString: null }]) {
      expectMalformed(variant('pull', { t }), /unknown type/)
    }
  })

  it('refuses bad hello and auth fields', () => {
    expectMalformed(variant('hello', { nonce: undefined }), /nonce/)
    expectMalformed(variant('hello', { nonce: bytesOf(NONCE_BYTES - 1) }), /nonce/)
    expectMalformed(variant('hello', { nonce: bytesOf(NONCE_BYTES + 1) }), /nonce/)
    expectMalformed(variant('auth', { tag: bytesOf(TAG_BYTES - 1) }), /tag/)
    expectMalformed(variant('auth', { tag: 'n' }), /tag/)
    expectMalformed(variant('auth', { nonce: undefined }), /nonce/)
  })

  it('refuses bad heads: log IDs must be Ed25519 peer IDs, ids record identities, seqs positive', () => {
    expectMalformed(variant('heads', { heads: undefined }), /heads/)
    expectMalformed(variant('heads', { heads: { a: 1 } }), /heads/)
    expectMalformed(variant('heads', { heads: [[logKey.id, 1]] }), /head is/)
    expectMalformed(variant('heads', { heads: [[42, 1, first.id]] }), /log ID/)
    expectMalformed(variant('heads', { heads: [['x'.repeat(201), 1, first.id]] }), /log ID/)
    expectMalformed(variant('heads', { heads: [['12D3KooWnotapeerid', 1, first.id]] }), /Ed25519/)
    // The same key as a CID string: another name for the same log, refused.
    expectMalformed(variant('heads', { heads: [[peerIdFromString(logKey.id).toCID().toString(), 1, first.id]] }), /base58btc/)
    // A valid peer ID of another key type (secp256k1, 16Uiu2…) is not a log ID.
    expectMalformed(variant('heads', { heads: [['16Uiu2HAmLhLvBoYaoZfaMUKuibM6u4yUTRKBAdfv3uvh4G1HgB2Q', 1, first.id]] }), /Ed25519/)
    expectMalformed(variant('heads', { heads: [[logKey.id, 0, first.id]] }), /seq/)
    expectMalformed(variant('heads', { heads: [[logKey.id, 1.5, first.id]] }), /seq/)
    expectMalformed(variant('heads', { heads: [[logKey.id, 2 ** 60, first.id]] }), /seq/)
    expectMalformed(variant('heads', { heads: [[logKey.id, 1, first.cid]] }), /identity/)
    expectMalformed(variant('heads', { heads: [[logKey.id, 1, bytesOf(36)]] }), /identity/)
    expectMalformed(variant('heads', { heads: [[logKey.id, 1, first.id], [logKey.id, 2, second.id]] }), /twice/)
    const tooMany = Array.from({ length: MAX_LOGS + 1 }, () => [logKey.id, 1, first.id])
    expectMalformed(variant('heads', { heads: tooMany }), /heads/)
    expectMalformed(variant('heads', { reply: undefined }), /reply/)
    expectMalformed(variant('heads', { reply: 1 }), /reply/)
  })

  it('refuses bad addresses: each a multiaddr that ends in its own peer\'s /p2p/, a bounded number', () => {
    expectMalformed(variant('heads', { addrs: 'x' }), /addrs/)
    expectMalformed(variant('heads', { addrs: Array.from({ length: MAX_ADDR_PEERS + 1 }, () => [logKey.id, []]) }), /addrs/)
    expectMalformed(variant('heads', { addrs: [[logKey.id]] }), /addrs entry/)
    expectMalformed(variant('heads', { addrs: [[7, []]] }), /peer ID/)
    expectMalformed(variant('heads', { addrs: [[logKey.id, []], [logKey.id, []]] }), /twice/)
    expectMalformed(variant('heads', { addrs: [[logKey.id, addr(logKey.id)]] }), /addresses/)
    expectMalformed(variant('heads', { addrs: [[logKey.id, [1]]] }), /address/)
    expectMalformed(variant('heads', { addrs: [[logKey.id, ['x'.repeat(1001)]]] }), /address/)
    expectMalformed(variant('heads', { addrs: [[logKey.id, ['/not/a/multiaddr']]] }), /multiaddr/)
    // No /p2p/, another peer's /p2p/, or something after the /p2p/: each would dial someone else.
    expectMalformed(variant('heads', { addrs: [[logKey.id, ['/ip4/1.2.3.4/tcp/1']]] }), /p2p/)
    expectMalformed(variant('heads', { addrs: [[logKey.id, [addr(other.id)]]] }), /p2p/)
    expectMalformed(variant('heads', { addrs: [[logKey.id, [`${addr(logKey.id)}/p2p-circuit`]]] }), /p2p/)
    expectMalformed(variant('heads', { addrs: [[logKey.id, Array.from({ length: MAX_ADDRS_PER_PEER + 1 }, (_, i) => addr(logKey.id, 1000 + i))]] }), /addresses/)
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
    expectMalformed(variant('pull', { log: 'QmNotAnEd25519Key' }), /Ed25519/)
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

  it('refuses bad fork proofs', () => {
    expectMalformed(variant('fork', { proof: undefined }), /proof/)
    expectMalformed(variant('fork', { proof: 'p' }), /proof/)
    const wireProof = (dagCbor.decode(encodeMessage(valid[8] as SyncMessage)) as { proof: Record<string, unknown> }).proof
    expectMalformed(variant('fork', { proof: { ...wireProof, log: 'not a peer' } }), /proof/)
    expectMalformed(variant('fork', { proof: { ...wireProof, a: { seq: 0 } } }), /proof/)
    const { b: _b, ...onlyA } = wireProof
    expectMalformed(variant('fork', { proof: onlyA }), /proof/)
  })

  it('refuses oversize input with TooLargeError, both ways', () => {
    const big = new Uint8Array(MAX_MESSAGE_BYTES + 1)
    expect(() => decodeMessage(big)).toThrow(expect.objectContaining({ name: 'TooLargeError' }))
    expectMalformed(new Uint8Array(MAX_MESSAGE_BYTES))
    const huge = bytesOf(MAX_MESSAGE_BYTES)
    const tooBig: SyncMessage = { t: 'records', thread, log: logKey.id, records: [{ record: huge, event: bytesOf(1), header: bytesOf(1), body: bytesOf(1) }], more: false, push: true }
    expect(() => encodeMessage(tooBig)).toThrow(expect.objectContaining({ name: 'TooLargeError' }))
  })
})

/** Seeded: a failing case replays exactly. */
const prng = seededRandom

describe('decodeMessage fuzz', () => {
  it('lets only MalformedMessageError, UnsupportedFormatError or TooLargeError escape, and what it accepts re-encodes to itself', () => {
    const random = prng(0x5eed_1234)
    const int = (n: number): number => Math.floor(random() * n)
    const randomBytes = (n: number): Uint8Array => Uint8Array.from({ length: n }, () => int(256))
    const seeds = valid.map(encodeMessage)
    const odd: unknown[] = [null, true, false, 0, -1, 1, 2, 1.5, 2 ** 53, '', 'x', 'hello', 'records', [], {}, new Uint8Array(0), bytesOf(16), bytesOf(32), thread, logKey.id, first.id, [[logKey.id, 1, first.id]], { toString: 1 }]
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
    const allowed = new Set(['MalformedMessageError', 'UnsupportedFormatError', 'TooLargeError'])
    const counts = { accepted: 0, refused: 0, inputs: 0 }
    const started = Date.now()
    while (Date.now() - started < 2000) {
      const r = random()
      const input = r < 0.25 ? randomBytes(int(64)) : r < 0.6 ? mutate(seeds[int(seeds.length)] as Uint8Array) : structured()
      counts.inputs++
      try {
        const m = decodeMessage(input)
        counts.accepted++
        expect(decodeMessage(encodeMessage(m))).toEqual(m)
      } catch (e) {
        const name = (e as Error).name
        if (allowed.has(name)) counts.refused++
        else throw new Error(`decodeMessage let ${name} escape: ${(e as Error).message}; input ${Buffer.from(input).toString('hex')}`)
      }
    }
    expect(counts.inputs).toBeGreaterThan(1000)
    expect(counts.refused).toBeGreaterThan(counts.inputs / 4)
    expect(counts.accepted).toBeGreaterThan(0)
  })
})
