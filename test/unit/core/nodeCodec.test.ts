import { describe, it, expect } from 'vitest'
import fc from 'fast-check'
import * as dagCbor from '@ipld/dag-cbor'
import { CID } from 'multiformats/cid'
import { cidOfDigest } from '../../../src/core/block.js'
import { MalformedRecordError, ThreadsError, UnsupportedFormatError } from '../../../src/core/errors.js'
import { decodeEventNode, decodeRecordNode, encodeEventNode, encodeRecordNode } from '../../../src/core/nodeCodec.js'
import { recordIdOfDigest } from '../../../src/core/recordId.js'
import { bytesEqual, catchTyped, formatOneNode, hex, nodeValue } from './fixtures.js'

const SEED = 406

const cidArb = fc.uint8Array({ minLength: 32, maxLength: 32 }).map((d) => cidOfDigest(d))
/** A record identity: CIDv1 raw sha2-256 (what `prev` holds in format 2). */
const idArb = fc.uint8Array({ minLength: 32, maxLength: 32 }).map((d) => recordIdOfDigest(d))
const sigArb = fc.uint8Array({ minLength: 64, maxLength: 64 })
const seqArb = fc.oneof(
  fc.constantFrom(0, 1, 23, 24, 255, 256, 65535, 65536, 2 ** 32 - 1, 2 ** 32, Number.MAX_SAFE_INTEGER),
  fc.nat(),
  fc.integer({ min: 0, max: Number.MAX_SAFE_INTEGER })
)

/** What @ipld/dag-cbor writes for a format-2 record node. */
function dagRecordNode(block: CID, sig: Uint8Array, prev: CID | undefined, seq: number, v = 2): Uint8Array {
  return dagCbor.encode(nodeValue({ v, block, sig, prev, seq }))
}

/** Format 2 refuses with one of two typed errors: a node of another version, or bytes that are not canonical. */
function expectRefusal(e: unknown): void {
  expect(e).toBeInstanceOf(ThreadsError)
  expect(['MalformedRecordError', 'UnsupportedFormatError']).toContain((e as ThreadsError).name)
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
      fc.property(cidArb, sigArb, fc.option(idArb, { nil: undefined }), seqArb, (block, sig, prev, seq) => {
        const bytes = encodeRecordNode(block, sig, prev, seq)
        expect(hex(bytes)).toBe(hex(dagRecordNode(block, sig, prev, seq)))
        expect(sameNode(decodeRecordNode(bytes, {}), { block, sig, prev, seq })).toBe(true)
      }),
      { numRuns: 400, seed: SEED }
    )
  })

  it('a record node starts { v: 2 } and links prev as a raw CID (test vector)', () => {
    const block = cidOfDigest(new Uint8Array(32).fill(0xbb))
    const prev = recordIdOfDigest(new Uint8Array(32).fill(0xcc))
    const sig = new Uint8Array(64).fill(0xdd)
    const bytes = encodeRecordNode(block, sig, prev, 300)
    expect(hex(bytes)).toBe(
      'a5' + // map(5)
        '6176' + '02' + // "v": 2
        '63736571' + '19012c' + // "seq": 300
        '63736967' + '5840' + 'dd'.repeat(64) + // "sig": bytes(64)
        '6470726576' + 'd82a5825' + '00' + '01551220' + 'cc'.repeat(32) + // "prev": tag 42, raw identity
        '65626c6f636b' + 'd82a5825' + '00' + '01711220' + 'bb'.repeat(32) // "block": tag 42, dag-cbor CID
    )
    const firstNode = encodeRecordNode(block, sig, undefined, 1)
    expect(hex(firstNode.subarray(0, 9))).toBe('a4' + '6176' + '02' + '63736571' + '01') // map(4): no prev
    expect(hex(firstNode)).toBe(hex(dagRecordNode(block, sig, undefined, 1)))
  })
})

describe('node codec: accepts only canonical bytes', () => {
  const header = cidOfDigest(new Uint8Array(32).fill(1))
  const body = cidOfDigest(new Uint8Array(32).fill(2))
  const sig = new Uint8Array(64).fill(3)

  it('a decoded node re-encodes to exactly the bytes it came from (any single-byte change)', () => {
    fc.assert(
      fc.property(cidArb, sigArb, fc.option(idArb, { nil: undefined }), seqArb, fc.nat(), fc.integer({ min: 1, max: 255 }), (block, s, prev, seq, at, mask) => {
        const bytes = Uint8Array.from(encodeRecordNode(block, s, prev, seq))
        const i = at % bytes.length
        bytes[i] = (bytes[i] as number) ^ mask
        let node: RecordNode | undefined
        try {
          node = decodeRecordNode(bytes, {})
        } catch (e) {
          expectRefusal(e)
          // The version byte is the only one whose change reads as another format.
          if (e instanceof UnsupportedFormatError) expect(i === 0 || i === 3).toBe(true)
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

  it('refuses non-minimal integers for seq and v', () => {
    const canonical = encodeRecordNode(header, sig, undefined, 5)
    // a4 61 "v" 02 63 "seq" 05 → a4 61 "v" 02 63 "seq" 18 05
    expect(hex(canonical.subarray(0, 9))).toBe('a4617602' + '63736571' + '05')
    const long = Uint8Array.from([...canonical.subarray(0, 8), 0x18, 0x05, ...canonical.subarray(9)])
    const e = catchTyped(() => decodeRecordNode(long, {}), MalformedRecordError)
    expect(e.message).toContain('minimal')
    expect(() => dagCbor.decode(long)).toThrow()
    const longV = Uint8Array.from([...canonical.subarray(0, 3), 0x18, 0x02, ...canonical.subarray(4)])
    catchTyped(() => decodeRecordNode(longV, {}), MalformedRecordError)
  })

  it('refuses seq beyond 2^53, negative seq and non-integer heads', () => {
    const canonical = encodeRecordNode(header, sig, undefined, 5)
    const withSeq = (seqBytes: number[]): Uint8Array => Uint8Array.from([...canonical.subarray(0, 8), ...seqBytes, ...canonical.subarray(9)])
    catchTyped(() => decodeRecordNode(withSeq([0x1b, 0x00, 0x40, 0, 0, 0, 0, 0, 0]), {}), MalformedRecordError) // 2^54
    catchTyped(() => decodeRecordNode(withSeq([0x20]), {}), MalformedRecordError) // -1
    catchTyped(() => decodeRecordNode(withSeq([0xf9, 0x3c, 0x00]), {}), MalformedRecordError) // 1.0 as a half float
    catchTyped(() => decodeRecordNode(withSeq([0x1c]), {}), MalformedRecordError) // reserved additional info
    catchTyped(() => decodeRecordNode(withSeq([0x61, 0x31]), {}), MalformedRecordError) // "1"
  })

  it('refuses links that are not CIDv1 dag-cbor sha2-256, and a prev that is not a record identity', () => {
    const raw = CID.createV1(0x55, header.multihash)
    catchTyped(() => decodeEventNode(dagCbor.encode({ header: raw, body }), {}), MalformedRecordError)
    catchTyped(() => decodeRecordNode(dagRecordNode(raw, sig, undefined, 1), {}), MalformedRecordError)
    catchTyped(() => decodeEventNode(dagCbor.encode({ header: header.bytes, body }), {}), MalformedRecordError)
    // prev must be raw (an identity): a dag-cbor CID there is format 1's link to a record block.
    const e = catchTyped(() => decodeRecordNode(dagRecordNode(header, sig, body, 2), {}), MalformedRecordError)
    expect(e.message).toContain('record identity')
    expect(decodeRecordNode(dagRecordNode(header, sig, raw, 2), {}).prev?.equals(raw)).toBe(true)
    const sha512 = CID.createV1(0x55, { code: 0x13, size: 32, digest: new Uint8Array(32), bytes: Uint8Array.from([0x13, 0x20, ...new Uint8Array(32)]) })
    catchTyped(() => decodeRecordNode(dagRecordNode(header, sig, sha512, 2), {}), MalformedRecordError)
  })

  it('refuses a format-1 node ({ seq, sig, prev?, block }, no v): UnsupportedFormatError', () => {
    const prev = header // format 1 linked the previous record block: a dag-cbor CID
    for (const node of [formatOneNode({ block: body, sig, prev: undefined, seq: 1 }), formatOneNode({ block: body, sig, prev, seq: 2 }), formatOneNode({ block: body, sig, prev, seq: 300 })]) {
      expect(hex(node.subarray(1, 5))).toBe('63736571') // "seq" first
      const e = catchTyped(() => decodeRecordNode(node, { logId: 'log-1', seq: 2 }), UnsupportedFormatError)
      expect(e.message).toContain('format 1')
      expect(e.logId).toBe('log-1')
    }
  })

  it('refuses a node of another version: UnsupportedFormatError', () => {
    for (const v of [0, 1, 3, 23, 24, 1000, 2 ** 32]) {
      const e = catchTyped(() => decodeRecordNode(dagRecordNode(header, sig, undefined, 1, v), {}), UnsupportedFormatError)
      expect(e.message).toContain(`format ${v}`)
    }
    // A version that is not an unsigned integer is not a version.
    for (const v of [-2, '2', 2.5]) catchTyped(() => decodeRecordNode(dagCbor.encode({ ...nodeValue({ block: header, sig, prev: undefined, seq: 1 }), v }), {}), MalformedRecordError)
    catchTyped(() => decodeRecordNode(dagCbor.encode(nodeValue({ block: header, sig, prev: undefined, seq: 1 })), {}), UnsupportedFormatError) // no v, 3 fields: format 1's shape
  })

  it('refuses other shapes dag-cbor would accept: key order, extra or missing fields, other sig sizes', () => {
    const event = encodeEventNode(header, body)
    const headerFirst = Uint8Array.from([0xa2, ...dagCbor.encode({ header }).subarray(1), ...dagCbor.encode({ body }).subarray(1)])
    catchTyped(() => decodeEventNode(headerFirst, {}), MalformedRecordError)
    catchTyped(() => decodeEventNode(dagCbor.encode({ header, body, x: 1 }), {}), MalformedRecordError)
    catchTyped(() => decodeEventNode(dagCbor.encode({ header }), {}), MalformedRecordError)
    catchTyped(() => decodeEventNode(Uint8Array.from([0xb8, 0x02, ...event.subarray(1)]), {}), MalformedRecordError)
    catchTyped(() => decodeRecordNode(dagCbor.encode({ v: 2, block: header, sig: sig.subarray(0, 63), seq: 1 }), {}), MalformedRecordError)
    catchTyped(() => decodeRecordNode(dagCbor.encode({ v: 2, block: header, sig, seq: 1, x: 1 }), {}), MalformedRecordError)
    catchTyped(() => decodeRecordNode(dagCbor.encode({ v: 2, block: header, seq: 1 }), {}), MalformedRecordError)
    catchTyped(() => decodeRecordNode(dagCbor.encode({ v: 2, block: header, sig, seq: 1, prev: null }), {}), MalformedRecordError)
    catchTyped(() => decodeRecordNode(dagCbor.encode([2, header, sig, 1]), {}), MalformedRecordError)
    catchTyped(() => decodeRecordNode(new Uint8Array(0), {}), MalformedRecordError)
    catchTyped(() => decodeRecordNode(Uint8Array.of(0xa4), {}), MalformedRecordError)
    catchTyped(() => decodeRecordNode(Uint8Array.of(0xa3), {}), MalformedRecordError)
    // Keys out of canonical order ("block" before "v").
    const node = encodeRecordNode(header, sig, undefined, 1)
    const unsorted = Uint8Array.from([0xa4, ...dagCbor.encode({ block: header }).subarray(1), ...node.subarray(1, node.length - 47)])
    catchTyped(() => decodeRecordNode(unsorted, {}), MalformedRecordError)
  })

  it('throws only MalformedRecordError (or UnsupportedFormatError) on arbitrary bytes, and accepts only canonical ones', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 200 }), (bytes) => {
        for (const decode of [decodeEventNode, decodeRecordNode] as const) {
          try {
            decode(bytes, {})
            // Accepted: dag-cbor must agree the bytes are canonical.
            expect(hex(dagCbor.encode(dagCbor.decode(bytes)))).toBe(hex(bytes))
          } catch (e) {
            if (decode === decodeEventNode) expect(e).toBeInstanceOf(MalformedRecordError)
            else expectRefusal(e)
          }
        }
      }),
      { numRuns: 500, seed: SEED }
    )
  })

  it('throws only typed errors on format-1 and format-2 nodes with arbitrary changes', () => {
    fc.assert(
      fc.property(cidArb, sigArb, fc.option(cidArb, { nil: undefined }), seqArb.filter((n) => n >= 1), fc.nat(), fc.integer({ min: 1, max: 255 }), (block, s, prev, seq, at, mask) => {
        const v1 = formatOneNode({ block, sig: s, prev: seq === 1 ? undefined : prev, seq })
        // A format-1 node as written: refused as such.
        catchTyped(() => decodeRecordNode(v1, {}), UnsupportedFormatError)
        const bytes = Uint8Array.from(v1)
        bytes[at % bytes.length] = (bytes[at % bytes.length] as number) ^ mask
        try {
          const node = decodeRecordNode(bytes, {})
          expect(hex(encodeRecordNode(node.block, node.sig, node.prev, node.seq))).toBe(hex(bytes))
        } catch (e) {
          expectRefusal(e)
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
