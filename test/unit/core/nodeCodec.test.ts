import { describe, it, expect } from 'vitest'
import fc from 'fast-check'
import * as dagCbor from '@ipld/dag-cbor'
import { CID } from 'multiformats/cid'
import { cidOfDigest } from '../../../src/core/block.js'
import { MalformedRecordError, ThreadsError } from '../../../src/core/errors.js'
import { decodeEventNode, decodeRecordNode, encodeEventNode, encodeRecordNode } from '../../../src/core/nodeCodec.js'
import { bytesEqual, catchTyped, hex } from './fixtures.js'

const SEED = 406

const cidArb = fc.uint8Array({ minLength: 32, maxLength: 32 }).map((d) => cidOfDigest(d))
const sigArb = fc.uint8Array({ minLength: 64, maxLength: 64 })
const seqArb = fc.oneof(
  fc.constantFrom(0, 1, 23, 24, 255, 256, 65535, 65536, 2 ** 32 - 1, 2 ** 32, Number.MAX_SAFE_INTEGER),
  fc.nat(),
  fc.integer({ min: 0, max: Number.MAX_SAFE_INTEGER })
)

function dagRecordNode(block: CID, sig: Uint8Array, prev: CID | undefined, seq: number): Uint8Array {
  return dagCbor.encode(prev === undefined ? { block, sig, seq } : { block, sig, prev, seq })
}

type RecordNode = ReturnType<typeof decodeRecordNode>

function sameNode(a: RecordNode, b: { block: CID; sig: Uint8Array; prev: CID | undefined; seq: number }): boolean {
  return a.block.equals(b.block) && bytesEqual(a.sig, b.sig) && a.seq === b.seq && (a.prev === undefined ? b.prev === undefined : b.prev !== undefined && a.prev.equals(b.prev))
}

describe('node codec: byte for byte what @ipld/dag-cbor writes', () => {
  it('event nodes', () => {
    fc.assert(
      fc.property(cidArb, cidArb, (header, body) => {
        const bytes = encodeEventNode(header, body)
        expect(hex(bytes)).toBe(hex(dagCbor.encode({ header, body })))
        const back = decodeEventNode(bytes, {})
        expect(back.header.equals(header)).toBe(true)
        expect(back.body.equals(body)).toBe(true)
      }),
      { numRuns: 200, seed: SEED }
    )
  })

  it('record nodes, with and without prev, across every integer width of seq', () => {
    fc.assert(
      fc.property(cidArb, sigArb, fc.option(cidArb, { nil: undefined }), seqArb, (block, sig, prev, seq) => {
        const bytes = encodeRecordNode(block, sig, prev, seq)
        expect(hex(bytes)).toBe(hex(dagRecordNode(block, sig, prev, seq)))
        expect(sameNode(decodeRecordNode(bytes, {}), { block, sig, prev, seq })).toBe(true)
      }),
      { numRuns: 400, seed: SEED }
    )
  })
})

describe('node codec: accepts only canonical bytes', () => {
  const header = cidOfDigest(new Uint8Array(32).fill(1))
  const body = cidOfDigest(new Uint8Array(32).fill(2))
  const sig = new Uint8Array(64).fill(3)

  it('a decoded node re-encodes to exactly the bytes it came from (any single-byte change)', () => {
    fc.assert(
      fc.property(cidArb, sigArb, fc.option(cidArb, { nil: undefined }), seqArb, fc.nat(), fc.integer({ min: 1, max: 255 }), (block, s, prev, seq, at, mask) => {
        const bytes = Uint8Array.from(encodeRecordNode(block, s, prev, seq))
        const i = at % bytes.length
        bytes[i] = (bytes[i] as number) ^ mask
        let node: RecordNode | undefined
        try {
          node = decodeRecordNode(bytes, {})
        } catch (e) {
          expect(e).toBeInstanceOf(MalformedRecordError)
          return
        }
        // Only a change inside the seq value, sig or a digest can still decode: then it is canonical.
        expect(hex(encodeRecordNode(node.block, node.sig, node.prev, node.seq))).toBe(hex(bytes))
        expect(hex(dagRecordNode(node.block, node.sig, node.prev, node.seq))).toBe(hex(bytes))
      }),
      { numRuns: 1000, seed: SEED }
    )
  })

  it('the same for event nodes', () => {
    fc.assert(
      fc.property(cidArb, cidArb, fc.nat(), fc.integer({ min: 1, max: 255 }), (h, b, at, mask) => {
        const bytes = Uint8Array.from(encodeEventNode(h, b))
        const i = at % bytes.length
        bytes[i] = (bytes[i] as number) ^ mask
        let node: { header: CID; body: CID } | undefined
        try {
          node = decodeEventNode(bytes, {})
        } catch (e) {
          expect(e).toBeInstanceOf(MalformedRecordError)
          return
        }
        expect(hex(dagCbor.encode({ header: node.header, body: node.body }))).toBe(hex(bytes))
      }),
      { numRuns: 500, seed: SEED }
    )
  })

  it('refuses truncation and trailing bytes', () => {
    const bytes = encodeRecordNode(header, sig, body, 300)
    for (let n = 0; n < bytes.length; n++) catchTyped(() => decodeRecordNode(bytes.subarray(0, n), {}), MalformedRecordError)
    catchTyped(() => decodeRecordNode(Uint8Array.from([...bytes, 0]), {}), MalformedRecordError)
    const event = encodeEventNode(header, body)
    for (let n = 0; n < event.length; n++) catchTyped(() => decodeEventNode(event.subarray(0, n), {}), MalformedRecordError)
    catchTyped(() => decodeEventNode(Uint8Array.from([...event, 0xf6]), {}), MalformedRecordError)
  })

  it('refuses non-minimal integers for seq', () => {
    const canonical = encodeRecordNode(header, sig, undefined, 5)
    // a3 63 "seq" 05 → a3 63 "seq" 18 05
    expect(hex(canonical.subarray(0, 6))).toBe('a363736571' + '05')
    const long = Uint8Array.from([...canonical.subarray(0, 5), 0x18, 0x05, ...canonical.subarray(6)])
    const e = catchTyped(() => decodeRecordNode(long, {}), MalformedRecordError)
    expect(e.message).toContain('minimal')
    expect(() => dagCbor.decode(long)).toThrow()
  })

  it('refuses seq beyond 2^53, negative seq and non-integer heads', () => {
    const canonical = encodeRecordNode(header, sig, undefined, 5)
    const withSeq = (seqBytes: number[]): Uint8Array => Uint8Array.from([...canonical.subarray(0, 5), ...seqBytes, ...canonical.subarray(6)])
    catchTyped(() => decodeRecordNode(withSeq([0x1b, 0x00, 0x40, 0, 0, 0, 0, 0, 0]), {}), MalformedRecordError) // 2^54
    catchTyped(() => decodeRecordNode(withSeq([0x20]), {}), MalformedRecordError) // -1
    catchTyped(() => decodeRecordNode(withSeq([0xf9, 0x3c, 0x00]), {}), MalformedRecordError) // 1.0 as a half float
    catchTyped(() => decodeRecordNode(withSeq([0x1c]), {}), MalformedRecordError) // reserved additional info
    catchTyped(() => decodeRecordNode(withSeq([0x61, 0x31]), {}), MalformedRecordError) // "1"
  })

  it('refuses links that are not CIDv1 dag-cbor sha2-256', () => {
    const raw = CID.createV1(0x55, header.multihash)
    catchTyped(() => decodeEventNode(dagCbor.encode({ header: raw, body }), {}), MalformedRecordError)
    catchTyped(() => decodeRecordNode(dagCbor.encode({ block: raw, sig, seq: 1 }), {}), MalformedRecordError)
    catchTyped(() => decodeEventNode(dagCbor.encode({ header: header.bytes, body }), {}), MalformedRecordError)
  })

  it('refuses other shapes dag-cbor would accept: key order, extra or missing fields, other sig sizes', () => {
    const event = encodeEventNode(header, body)
    const headerFirst = Uint8Array.from([0xa2, ...dagCbor.encode({ header }).subarray(1), ...dagCbor.encode({ body }).subarray(1)])
    catchTyped(() => decodeEventNode(headerFirst, {}), MalformedRecordError)
    catchTyped(() => decodeEventNode(dagCbor.encode({ header, body, x: 1 }), {}), MalformedRecordError)
    catchTyped(() => decodeEventNode(dagCbor.encode({ header }), {}), MalformedRecordError)
    catchTyped(() => decodeEventNode(Uint8Array.from([0xb8, 0x02, ...event.subarray(1)]), {}), MalformedRecordError)
    catchTyped(() => decodeRecordNode(dagCbor.encode({ block: header, sig: sig.subarray(0, 63), seq: 1 }), {}), MalformedRecordError)
    catchTyped(() => decodeRecordNode(dagCbor.encode({ block: header, sig, seq: 1, x: 1 }), {}), MalformedRecordError)
    catchTyped(() => decodeRecordNode(dagCbor.encode({ block: header, seq: 1 }), {}), MalformedRecordError)
    catchTyped(() => decodeRecordNode(dagCbor.encode([header, sig, 1]), {}), MalformedRecordError)
    catchTyped(() => decodeRecordNode(new Uint8Array(0), {}), MalformedRecordError)
  })

  it('throws only MalformedRecordError on arbitrary bytes, and accepts only canonical ones', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 200 }), (bytes) => {
        for (const decode of [decodeEventNode, decodeRecordNode] as const) {
          try {
            decode(bytes, {})
            // Accepted: dag-cbor must agree the bytes are canonical.
            expect(hex(dagCbor.encode(dagCbor.decode(bytes)))).toBe(hex(bytes))
          } catch (e) {
            expect(e).toBeInstanceOf(ThreadsError)
          }
        }
      }),
      { numRuns: 500, seed: SEED }
    )
  })

  it('keeps the error context', () => {
    const e = catchTyped(() => decodeEventNode(Uint8Array.of(0xa2), { logId: 'log-1', seq: 4 }), MalformedRecordError)
    expect(e.logId).toBe('log-1')
    expect(e.seq).toBe(4)
    expect(e.message).toContain('event node')
  })
})
