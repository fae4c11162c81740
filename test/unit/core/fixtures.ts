/**
 * Shared helpers for the core tests and the fuzz harness: hex, byte mutation, typed-error
 * assertions, an independent writer of record statements (format 2), and a "key holder" record
 * builder that can put any value in any node (the attacker who holds the service and read keys
 * but not the log key, or the log writer itself).
 */
import { parseRecordBlock } from '../../../src/core/serviceKey.js'
import * as dagCbor from '@ipld/dag-cbor'
import { varint } from 'multiformats'
import { CID } from 'multiformats/cid'
import * as Digest from 'multiformats/hashes/digest'
import { concat } from 'uint8arrays/concat'
import { blockOf, boxOf, encodeBlock, encryptBlock, type Block } from '../../../src/core/block.js'
import { getCrypto } from '../../../src/core/crypto/index.js'
import * as errors from '../../../src/core/errors.js'
import { ThreadsError } from '../../../src/core/errors.js'
import { decrypt, type LogKey, type ThreadKey } from '../../../src/core/keys.js'
import { encodeCommand } from '../../../src/core/command.js'
import { createRecord, type LogHead, type LogRecord, type RecordBlocks } from '../../../src/core/record.js'
import type { ThreadId } from '../../../src/core/threadId.js'

export function hex(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('hex')
}

export function fromHex(text: string): Uint8Array {
  return Uint8Array.from(Buffer.from(text, 'hex'))
}

/** A copy of `bytes` with byte `index` XORed with `mask` (non-zero, so the byte changes). */
export function flip(bytes: Uint8Array, index: number, mask = 0x01): Uint8Array {
  const out = Uint8Array.from(bytes)
  out[index] = (out[index] as number) ^ (mask === 0 ? 1 : mask)
  return out
}

export function bytesEqual(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false
  return true
}

export function blocksEqual(a: RecordBlocks, b: RecordBlocks): boolean {
  return bytesEqual(a.record, b.record) && bytesEqual(a.event, b.event) && bytesEqual(a.header, b.header) && bytesEqual(a.body, b.body)
}

/** Every error class of errors.ts, by name (ThreadsError and its subclasses). */
export const KNOWN_ERROR_NAMES: ReadonlySet<string> = new Set(
  Object.values(errors)
    .filter((v): v is typeof ThreadsError => typeof v === 'function' && (v === ThreadsError || v.prototype instanceof ThreadsError))
    .map((c) => c.NAME)
)

type ErrorClass = typeof ThreadsError

/** Run `fn`, which must throw an instance of `cls` whose `.name` is the class name. */
export function catchTyped(fn: () => unknown, cls: ErrorClass): ThreadsError {
  let thrown: unknown
  try {
    fn()
  } catch (e) {
    thrown = e
  }
  if (thrown === undefined) throw new Error(`expected ${cls.NAME} but nothing was thrown`)
  if (!(thrown instanceof cls)) {
    const got = thrown instanceof Error ? `${thrown.name}: ${thrown.message}` : String(thrown)
    throw new Error(`expected ${cls.NAME}, got ${got}`)
  }
  if (thrown.name !== cls.NAME) throw new Error(`expected .name ${cls.NAME}, got ${thrown.name}`)
  return thrown
}

/** Run `fn`, which must throw some ThreadsError; returns its name. */
export function typedErrorName(fn: () => unknown): string {
  try {
    fn()
  } catch (e) {
    if (e instanceof ThreadsError) return e.name
    throw new Error(`expected a ThreadsError, got ${e instanceof Error ? `${e.name}: ${e.message}` : String(e)}`)
  }
  throw new Error('expected a ThreadsError, but nothing was thrown')
}

// ---------------------------------------------------------------------------------------------
// Format 2, written again here from DESIGN.md section 3, independently of src/core/recordId.ts

/** The domain string every format-2 statement starts with. */
export const STATEMENT_DOMAIN = new TextEncoder().encode('redux-threads/record/v2')

/** `"redux-threads/record/v2" ‖ threadId ‖ uvarint(seq) ‖ CID(event) ‖ prevId?`, by hand. */
export function statementOf(thread: ThreadId | Uint8Array, seq: number, event: CID, prev: CID | undefined): Uint8Array {
  const threadBytes = thread instanceof Uint8Array ? thread : thread.bytes
  const parts = [STATEMENT_DOMAIN, threadBytes, varint.encodeTo(seq, new Uint8Array(varint.encodingLength(seq))), event.bytes]
  if (prev !== undefined) parts.push(prev.bytes)
  return concat(parts)
}

/** CIDv1 raw sha2-256 of a statement: a record's identity, by hand. */
export function identityOf(statement: Uint8Array): CID {
  return CID.createV1(0x55, Digest.create(0x12, getCrypto().sha256(statement)))
}

/** The head a record makes: its identity and seq. */
export function headOf(r: Pick<LogRecord, 'id' | 'seq'>): LogHead {
  return { id: r.id, seq: r.seq }
}

/** The honest fields of a format-2 record node. */
export interface HonestNode {
  readonly v: number
  readonly block: CID
  readonly sig: Uint8Array
  readonly prev: CID | undefined
  readonly seq: number
}

/** A node value as dag-cbor would hold it: `prev` left out when absent. */
export function nodeValue(h: Omit<HonestNode, 'v'> & { v?: number }): Record<string, unknown> {
  const out: Record<string, unknown> = {}
  if (h.v !== undefined) out.v = h.v
  out.seq = h.seq
  out.sig = h.sig
  if (h.prev !== undefined) out.prev = h.prev
  out.block = h.block
  return out
}

/** Canonical dag-cbor of a format-1 record node `{ seq, sig, prev?, block }` (no `v`). */
export function formatOneNode(h: { block: CID; sig: Uint8Array; prev: CID | undefined; seq: number }): Uint8Array {
  return dagCbor.encode(h.prev === undefined ? { block: h.block, sig: h.sig, seq: h.seq } : { block: h.block, sig: h.sig, prev: h.prev, seq: h.seq })
}

/** What the key holder puts in each node; anything left out is the honest value. */
export interface Craft {
  /** Plaintext bytes of the body before padding (default: dag-cbor `{ type: 'test/crafted' }`). */
  readonly bodyPlain?: Uint8Array
  /** The exact bytes encrypted as the body, no padding added (overrides `bodyPlain`). */
  readonly bodyPadded?: Uint8Array
  /** The content key (default: random). */
  readonly contentKey?: Uint8Array
  /** The key the body is encrypted with (default: the content key). */
  readonly bodyKey?: Uint8Array
  /** The header node value (default: `{ key: contentKey, clock: 1, time: 1 }`). */
  readonly header?: unknown
  /** Raw header plaintext (overrides `header`). */
  readonly headerPlain?: Uint8Array
  /** Rewrite the header / body block bytes (the event then links the rewritten bytes). */
  readonly headerBlock?: (honest: Uint8Array) => Uint8Array
  readonly bodyBlock?: (honest: Uint8Array) => Uint8Array
  /** Raw event block bytes (default: dag-cbor of `{ header, body }` links). */
  readonly eventBytes?: (links: { header: CID; body: CID }) => Uint8Array
  /** The record node value (default: `{ v: 2, seq, sig, prev?, block }`, honestly signed). */
  readonly recordNode?: (honest: HonestNode) => unknown
  /** Raw record node plaintext (overrides `recordNode`). */
  readonly recordPlain?: (honest: HonestNode) => Uint8Array
  /** The thread whose statement is signed (default: the record's thread). */
  readonly signThread?: ThreadId
  /** The bytes signed (default: the honest statement). */
  readonly signed?: (statement: Uint8Array) => Uint8Array
  readonly prev?: LogHead
}

export interface Crafted {
  readonly blocks: RecordBlocks
  readonly record: Block
  readonly event: Block
  readonly header: Block
  readonly body: Block
  /** The identity of the honest statement (what an accepted record must have). */
  readonly id: CID
}

/** ISO/IEC 7816-4 padding to the library's buckets, by hand (64-byte minimum, powers of two to 4 KiB). */
export function padByHand(plain: Uint8Array): Uint8Array {
  let size = 64
  while (size < plain.length + 1) size *= 2
  if (size > 4096) throw new Error('padByHand covers bodies of up to 4 KiB')
  const out = new Uint8Array(size)
  out.set(plain)
  out[plain.length] = 0x80
  return out
}

/** Build a record's four blocks by hand, with the real keys, putting `craft` values in. */
export function craftRecord(logKey: LogKey, threadKey: Required<ThreadKey>, thread: ThreadId, craft: Craft = {}): Crafted {
  const contentKey = craft.contentKey ?? getCrypto().randomBytes(32)
  const bodyBytes = craft.bodyPadded ?? padByHand(craft.bodyPlain ?? dagCbor.encode({ type: 'test/crafted' }))
  const honestBody = encryptBlock(craft.bodyKey ?? contentKey, bodyBytes)
  const honestHeader = encryptBlock(threadKey.read, craft.headerPlain ?? dagCbor.encode(craft.header ?? { key: contentKey, clock: 1, time: 1 }))
  const body = craft.bodyBlock === undefined ? honestBody : blockOf(craft.bodyBlock(honestBody.bytes))
  const header = craft.headerBlock === undefined ? honestHeader : blockOf(craft.headerBlock(honestHeader.bytes))
  const links = { header: header.cid, body: body.cid }
  const event = craft.eventBytes === undefined ? encodeBlock(links) : blockOf(craft.eventBytes(links))
  const prev = craft.prev?.id
  const seq = craft.prev === undefined ? 1 : craft.prev.seq + 1
  const statement = statementOf(craft.signThread ?? thread, seq, event.cid, prev)
  const sig = logKey.signer.sign(craft.signed === undefined ? statement : craft.signed(statement))
  const honest: HonestNode = { v: 2, block: event.cid, sig, prev, seq }
  const plain =
    craft.recordPlain !== undefined
      ? craft.recordPlain(honest)
      : dagCbor.encode(craft.recordNode === undefined ? nodeValue(honest) : craft.recordNode(honest))
  const record = encryptBlock(threadKey.service, plain)
  return {
    blocks: { record: record.bytes, event: event.bytes, header: header.bytes, body: body.bytes },
    record,
    event,
    header,
    body,
    id: identityOf(statementOf(thread, seq, event.cid, prev))
  }
}

/** Seal any value as a record block under the service key. */
export function sealRecordNode(serviceKey: Uint8Array, node: unknown): Uint8Array {
  return encryptBlock(serviceKey, dagCbor.encode(node)).bytes
}

/** The plaintext record node inside a record block. */
export function recordPlainOf(serviceKey: Uint8Array, recordBytes: Uint8Array): Uint8Array {
  // Either form of record block: the plain box, or [key ID, box] under a rotated service key.
  const plain = decrypt(serviceKey, parseRecordBlock(recordBytes, {}).box)
  if (plain === undefined) throw new Error('test setup: record does not open')
  return plain
}

/** The decoded record node of a record block. */
export function recordNodeOf(serviceKey: Uint8Array, recordBytes: Uint8Array): Record<string, unknown> {
  return dagCbor.decode(recordPlainOf(serviceKey, recordBytes))
}

/**
 * The same record node sealed again, under `serviceKey` (default: the one it opens with) and a
 * fresh nonce: what any follower can do to a writer's record.
 */
export function reseal(serviceKey: Uint8Array, blocks: RecordBlocks, into: Uint8Array = serviceKey): RecordBlocks {
  return { ...blocks, record: encryptBlock(into, recordPlainOf(serviceKey, blocks.record)).bytes }
}

/** A log of `n` honest records of `thread`, oldest first, each with a small todo command. */
export function makeChain(logKey: LogKey, threadKey: ThreadKey, thread: ThreadId, n: number, first?: LogHead, tag = ''): LogRecord[] {
  const out: LogRecord[] = []
  let prev = first
  for (let i = 0; i < n; i++) {
    const seq = prev === undefined ? 1 : prev.seq + 1
    const record = createRecord({
      logKey,
      threadKey,
      thread,
      body: encodeCommand({ type: 'todos/added', payload: tag === '' ? { id: seq, text: `item ${seq}` } : { id: seq, text: `item ${seq}`, tag } }),
      clock: seq * 10,
      time: 1_700_000_000_000 + seq,
      ...(prev === undefined ? {} : { prev })
    })
    out.push(record)
    prev = headOf(record)
  }
  return out
}
