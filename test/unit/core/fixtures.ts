/**
 * Shared helpers for the core tests and the fuzz harness: hex, byte mutation, typed-error
 * assertions, and a "key holder" record builder that can put any value in any node (the
 * attacker who holds the service and read keys but not the log key, or the log writer itself).
 */
import * as dagCbor from '@ipld/dag-cbor'
import type { CID } from 'multiformats/cid'
import { concat } from 'uint8arrays/concat'
import { blockOf, encodeBlock, encryptBlock, type Block } from '../../../src/core/block.js'
import { getCrypto } from '../../../src/core/crypto/index.js'
import * as errors from '../../../src/core/errors.js'
import { ThreadsError } from '../../../src/core/errors.js'
import type { LogKey, ThreadKey } from '../../../src/core/keys.js'
import { encodeCommand } from '../../../src/core/command.js'
import { createRecord, type LogRecord, type RecordBlocks } from '../../../src/core/record.js'

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

/** What the key holder puts in each node; anything left out is the honest value. */
export interface Craft {
  /** Plaintext bytes of the body (default: dag-cbor `{ type: 'test/crafted' }`). */
  readonly bodyPlain?: Uint8Array
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
  /** The record node value (default: `{ block, sig, seq, prev? }`, honestly signed). */
  readonly recordNode?: (honest: { block: CID; sig: Uint8Array; prev: CID | undefined; seq: number }) => unknown
  readonly prev?: { cid: CID; seq: number }
}

export interface Crafted {
  readonly blocks: RecordBlocks
  readonly record: Block
  readonly event: Block
  readonly header: Block
  readonly body: Block
}

/** Build a record's four blocks by hand, with the real keys, putting `craft` values in. */
export function craftRecord(logKey: LogKey, threadKey: Required<ThreadKey>, craft: Craft = {}): Crafted {
  const contentKey = craft.contentKey ?? getCrypto().randomBytes(32)
  const honestBody = encryptBlock(craft.bodyKey ?? contentKey, craft.bodyPlain ?? dagCbor.encode({ type: 'test/crafted' }))
  const honestHeader = encryptBlock(threadKey.read, craft.headerPlain ?? dagCbor.encode(craft.header ?? { key: contentKey, clock: 1, time: 1 }))
  const body = craft.bodyBlock === undefined ? honestBody : blockOf(craft.bodyBlock(honestBody.bytes))
  const header = craft.headerBlock === undefined ? honestHeader : blockOf(craft.headerBlock(honestHeader.bytes))
  const links = { header: header.cid, body: body.cid }
  const event = craft.eventBytes === undefined ? encodeBlock(links) : blockOf(craft.eventBytes(links))
  const prev = craft.prev?.cid
  const sig = logKey.signer.sign(prev === undefined ? event.cid.bytes : concat([event.cid.bytes, prev.bytes]))
  const seq = craft.prev === undefined ? 1 : craft.prev.seq + 1
  const honest = { block: event.cid, sig, prev, seq }
  const node = craft.recordNode === undefined ? (prev === undefined ? { block: event.cid, sig, seq } : honest) : craft.recordNode(honest)
  const record = encryptBlock(threadKey.service, dagCbor.encode(node))
  return {
    blocks: { record: record.bytes, event: event.bytes, header: header.bytes, body: body.bytes },
    record,
    event,
    header,
    body
  }
}

/** Seal any value as a record block under the service key. */
export function sealRecordNode(serviceKey: Uint8Array, node: unknown): Uint8Array {
  return encryptBlock(serviceKey, dagCbor.encode(node)).bytes
}

/** A log of `n` honest records, oldest first, each with a small todo command. */
export function makeChain(logKey: LogKey, threadKey: ThreadKey, n: number, first?: { cid: CID; seq: number }): LogRecord[] {
  const out: LogRecord[] = []
  let prev = first
  for (let i = 0; i < n; i++) {
    const seq = prev === undefined ? 1 : prev.seq + 1
    const record = createRecord({
      logKey,
      threadKey,
      body: encodeCommand({ type: 'todos/added', payload: { id: seq, text: `item ${seq}` } }),
      clock: seq * 10,
      time: 1_700_000_000_000 + seq,
      ...(prev === undefined ? {} : { prev })
    })
    out.push(record)
    prev = { cid: record.cid, seq: record.seq }
  }
  return out
}
