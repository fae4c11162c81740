import type { CID } from 'multiformats/cid'
import { cidOfDigest } from './block.js'
import { MalformedRecordError, UnsupportedFormatError, type ErrorContext } from './errors.js'
import { RECORD_FORMAT, recordIdOfDigest } from './recordId.js'

/**
 * Hand-written dag-cbor for the two fixed-shape nodes of a record, the event node
 * `{ body, header }` and the record node `{ v, seq, sig, prev?, block }` (format 2: `prev` is the
 * previous record's identity, a raw CID; `block` the event block's dag-cbor CID).
 *
 * @remarks
 * Their bytes are signed and hashed, so they must be exactly dag-cbor's canonical encoding; a
 * generic decode plus re-encode to prove that was half the cost of verifying a record. These
 * functions write and accept only the canonical bytes (keys sorted by length, then bytewise;
 * minimal integer heads; links as tag 42 over `0x00 ‖ CID`), and the tests hold them to
 * `@ipld/dag-cbor`'s output byte for byte.
 */

const LINK_HEAD = Uint8Array.of(0xd8, 0x2a, 0x58, 0x25, 0x00)
const CID_PREFIX = Uint8Array.of(0x01, 0x71, 0x12, 0x20)
/** CIDv1, raw, sha2-256, 32 bytes: a record identity. */
const RAW_CID_PREFIX = Uint8Array.of(0x01, 0x55, 0x12, 0x20)
const KEY_V = Uint8Array.of(0x61, 0x76) // "v"
const LINK_BYTES = LINK_HEAD.length + CID_PREFIX.length + 32 // 41
const KEY_BODY = Uint8Array.of(0x64, 0x62, 0x6f, 0x64, 0x79) // "body"
const KEY_EPOCH = Uint8Array.of(0x65, 0x65, 0x70, 0x6f, 0x63, 0x68) // "epoch"
const KEY_HEADER = Uint8Array.of(0x66, 0x68, 0x65, 0x61, 0x64, 0x65, 0x72) // "header"
const KEY_SERVICE = Uint8Array.of(0x67, 0x73, 0x65, 0x72, 0x76, 0x69, 0x63, 0x65) // "service"
const KEY_SEQ = Uint8Array.of(0x63, 0x73, 0x65, 0x71) // "seq"
const KEY_SIG = Uint8Array.of(0x63, 0x73, 0x69, 0x67, 0x58, 0x40) // "sig" + bytes(64) head
const KEY_PREV = Uint8Array.of(0x64, 0x70, 0x72, 0x65, 0x76) // "prev"
const KEY_BLOCK = Uint8Array.of(0x65, 0x62, 0x6c, 0x6f, 0x63, 0x6b) // "block"

function uintLength(n: number): number {
  return n < 24 ? 1 : n < 0x100 ? 2 : n < 0x10000 ? 3 : n < 0x100000000 ? 5 : 9
}

function writeUint(out: Uint8Array, at: number, n: number): number {
  if (n < 24) {
    out[at] = n
    return at + 1
  }
  if (n < 0x100) {
    out[at] = 0x18
    out[at + 1] = n
    return at + 2
  }
  if (n < 0x10000) {
    out[at] = 0x19
    out[at + 1] = n >>> 8
    out[at + 2] = n & 0xff
    return at + 3
  }
  if (n < 0x100000000) {
    out[at] = 0x1a
    new DataView(out.buffer, out.byteOffset).setUint32(at + 1, n)
    return at + 5
  }
  out[at] = 0x1b
  new DataView(out.buffer, out.byteOffset).setBigUint64(at + 1, BigInt(n))
  return at + 9
}

function writeLink(out: Uint8Array, at: number, cid: CID): number {
  // Every link here is a 36-byte CIDv1 sha2-256 (dag-cbor block, or raw record identity).
  if (cid.bytes.length !== 36) throw new MalformedRecordError('a record links only CIDv1 sha2-256 blocks')
  out.set(LINK_HEAD, at)
  out.set(cid.bytes, at + LINK_HEAD.length)
  return at + LINK_BYTES
}

function put(out: Uint8Array, at: number, bytes: Uint8Array): number {
  out.set(bytes, at)
  return at + bytes.length
}

/**
 * dag-cbor bytes of the event node `{ body, epoch?, header, service? }`. `epoch` names the read
 * key the header is sealed under (absent for the thread's first key, 0): it is plaintext, so a
 * reader knows which key to use, and part of the signed event CID, so nobody can change it.
 * `service` is a service key rotation (`serviceRotation.ts`), sealed under the service key of
 * the record block: signed with the event, and readable by followers, who hold no read key.
 */
export function encodeEventNode(header: CID, body: CID, epoch = 0, service?: Uint8Array): Uint8Array {
  const epochBytes = epoch === 0 ? 0 : KEY_EPOCH.length + uintLength(epoch)
  const serviceBytes = service === undefined ? 0 : KEY_SERVICE.length + uintLength(service.length) + service.length
  const out = new Uint8Array(1 + KEY_BODY.length + KEY_HEADER.length + 2 * LINK_BYTES + epochBytes + serviceBytes)
  let at = 0
  out[at++] = 0xa2 + (epoch === 0 ? 0 : 1) + (service === undefined ? 0 : 1)
  at = put(out, at, KEY_BODY)
  at = writeLink(out, at, body)
  if (epoch !== 0) {
    at = put(out, at, KEY_EPOCH)
    at = writeUint(out, at, epoch)
  }
  at = put(out, at, KEY_HEADER)
  at = writeLink(out, at, header)
  if (service !== undefined) {
    at = put(out, at, KEY_SERVICE)
    const head = at
    at = writeUint(out, at, service.length)
    out[head] = (out[head] as number) | 0x40 // major type 2: a byte string
    put(out, at, service)
  }
  return out
}

/** dag-cbor bytes of the record node `{ v: 2, seq, sig, prev?, block }` (keys in canonical order). */
export function encodeRecordNode(block: CID, sig: Uint8Array, prev: CID | undefined, seq: number): Uint8Array {
  const size = 1 + KEY_V.length + 1 + KEY_SEQ.length + uintLength(seq) + KEY_SIG.length + 64 + (prev === undefined ? 0 : KEY_PREV.length + LINK_BYTES) + KEY_BLOCK.length + LINK_BYTES
  const out = new Uint8Array(size)
  let at = 0
  out[at++] = prev === undefined ? 0xa4 : 0xa5
  at = put(out, at, KEY_V)
  out[at++] = RECORD_FORMAT
  at = put(out, at, KEY_SEQ)
  at = writeUint(out, at, seq)
  at = put(out, at, KEY_SIG)
  at = put(out, at, sig)
  if (prev !== undefined) {
    at = put(out, at, KEY_PREV)
    at = writeLink(out, at, prev)
  }
  at = put(out, at, KEY_BLOCK)
  writeLink(out, at, block)
  return out
}

class Reader {
  at = 0
  constructor(
    readonly bytes: Uint8Array,
    readonly ctx: ErrorContext,
    readonly what: string
  ) {}

  fail(why: string): never {
    throw new MalformedRecordError(`${this.what} is not canonical: ${why}`, this.ctx)
  }

  expect(expected: Uint8Array, what: string): void {
    const { bytes } = this
    if (this.at + expected.length > bytes.length) this.fail(`truncated at ${what}`)
    for (let i = 0; i < expected.length; i++) if (bytes[this.at + i] !== expected[i]) this.fail(`unexpected bytes at ${what}`)
    this.at += expected.length
  }

  take(n: number, what: string): Uint8Array {
    if (this.at + n > this.bytes.length) this.fail(`truncated at ${what}`)
    const out = this.bytes.subarray(this.at, this.at + n)
    this.at += n
    return out
  }

  link(what: string): CID {
    this.expect(LINK_HEAD, what)
    this.expect(CID_PREFIX, `${what} (must be a CIDv1 dag-cbor sha2-256 link)`)
    return cidOfDigest(this.take(32, what))
  }

  recordId(what: string): CID {
    this.expect(LINK_HEAD, what)
    this.expect(RAW_CID_PREFIX, `${what} (must be a record identity: a CIDv1 raw sha2-256 link)`)
    return recordIdOfDigest(this.take(32, what))
  }

  /** An unsigned integer, or (with `major` 2) the length of a byte string. */
  uint(what: string, major = 0): number {
    const first = this.take(1, what)[0] as number
    if (first >> 5 !== major) this.fail(`${what} is not ${major === 0 ? 'an unsigned integer' : 'a byte string'}`)
    const info = first & 0x1f
    if (info < 24) return info
    const len = info === 24 ? 1 : info === 25 ? 2 : info === 26 ? 4 : info === 27 ? 8 : 0
    if (len === 0) this.fail(`${what} has an invalid length`)
    const b = this.take(len, what)
    let n = 0
    for (const x of b) n = n * 256 + x
    if (!Number.isSafeInteger(n)) this.fail(`${what} is beyond 2^53`)
    if (uintLength(n) !== 1 + len) this.fail(`${what} is not minimally encoded`)
    return n
  }

  end(): void {
    if (this.at !== this.bytes.length) this.fail('trailing bytes')
  }
}

/**
 * Parse the event node, accepting only its canonical bytes (an `epoch` of 0 is written by leaving
 * it out; `service`, when present, is a non-empty byte string).
 */
export function decodeEventNode(bytes: Uint8Array, ctx: ErrorContext): { header: CID; body: CID; epoch: number; service?: Uint8Array } {
  const r = new Reader(bytes, ctx, 'event node')
  const head = r.take(1, 'map head')[0] as number
  if (head < 0xa2 || head > 0xa4) r.fail('not a map of 2 to 4 fields')
  r.expect(KEY_BODY, '"body"')
  const body = r.link('body link')
  let epoch = 0
  let fields = 2
  if (bytes[r.at] === KEY_EPOCH[0] && bytes[r.at + 1] === KEY_EPOCH[1]) {
    r.expect(KEY_EPOCH, '"epoch"')
    epoch = r.uint('epoch')
    if (epoch === 0) r.fail('epoch 0 is written by leaving it out')
    fields++
  }
  r.expect(KEY_HEADER, '"header"')
  const header = r.link('header link')
  let service: Uint8Array | undefined
  if (r.at < bytes.length) {
    r.expect(KEY_SERVICE, '"service"')
    const len = r.uint('service length', 2)
    service = r.take(len, 'service')
    if (len === 0) r.fail('an empty "service"')
    fields++
  }
  if (fields !== head - 0xa0) r.fail('the map head does not count its fields')
  r.end()
  return service === undefined ? { header, body, epoch } : { header, body, epoch, service }
}

/**
 * Parse the record node, accepting only its canonical bytes.
 *
 * @throws {@link UnsupportedFormatError} for a record node of another format version (the first
 * format had no `v` field), {@link MalformedRecordError} for anything else that is not canonical.
 */
export function decodeRecordNode(bytes: Uint8Array, ctx: ErrorContext): { block: CID; sig: Uint8Array; prev: CID | undefined; seq: number } {
  const r = new Reader(bytes, ctx, 'record node')
  const head = r.take(1, 'map head')[0]
  if ((head === 0xa3 || head === 0xa4) && bytes[1] === KEY_SEQ[0] && bytes[2] === KEY_SEQ[1]) {
    throw new UnsupportedFormatError(`record node of format 1 (no \`v\`); this peer reads format ${RECORD_FORMAT}`, ctx)
  }
  if (head !== 0xa4 && head !== 0xa5) r.fail('not a map of 4 or 5 fields')
  r.expect(KEY_V, '"v"')
  const v = r.uint('v')
  if (v !== RECORD_FORMAT) throw new UnsupportedFormatError(`record node of format ${v}; this peer reads format ${RECORD_FORMAT}`, ctx)
  r.expect(KEY_SEQ, '"seq"')
  const seq = r.uint('seq')
  r.expect(KEY_SIG, '"sig"')
  const sig = r.take(64, 'sig')
  const prev = head === 0xa5 ? (r.expect(KEY_PREV, '"prev"'), r.recordId('prev link')) : undefined
  r.expect(KEY_BLOCK, '"block"')
  const block = r.link('block link')
  r.end()
  return { block, sig, prev, seq }
}
