import * as dagCbor from '@ipld/dag-cbor'
import type { CID } from 'multiformats/cid'
import { concat } from 'uint8arrays/concat'
import { equals } from 'uint8arrays/equals'
import { blockOf, boxOf, checkCid, cidOfDigest, encryptBlock, openBox, type Block } from './block.js'
import { decodeEventNode, decodeRecordNode, encodeEventNode, encodeRecordNode } from './nodeCodec.js'
import { getCrypto } from './crypto/index.js'
import {
  BadSignatureError,
  BrokenChainError,
  DecryptionError,
  EquivocationError,
  MalformedRecordError,
  TooLargeError,
  type ErrorContext
} from './errors.js'
import { KEY_BYTES, NONCE_BYTES, verifierForLog, type LogKey, type ThreadKey } from './keys.js'

/** Largest body block accepted (the encrypted command). */
export const MAX_BODY_BYTES = 1 << 20
/** Largest header, event or record block accepted: they hold keys, links and small integers. */
export const MAX_NODE_BYTES = 4096

/**
 * The four blocks of one record as they travel and as a CAR file holds them
 * (DESIGN.md section 3): record (service key) → event (plaintext links) → header (read key)
 * and body (content key).
 */
export interface RecordBlocks {
  readonly record: Uint8Array
  readonly event: Uint8Array
  readonly header: Uint8Array
  readonly body: Uint8Array
}

/** A verified record of a log, with its blocks and the fields of its record node. */
export interface LogRecord {
  /** The CID of the record block: what `prev` and heads point at. */
  readonly cid: CID
  readonly logId: string
  readonly seq: number
  readonly prev: CID | undefined
  readonly sig: Uint8Array
  /** The CID of the event block (signed). */
  readonly eventCid: CID
  readonly blocks: { readonly record: Block; readonly event: Block; readonly header: Block; readonly body: Block }
}

/** The decrypted header of an event. */
export interface EventHeader {
  /** The content key of the body. */
  readonly key: Uint8Array
  /** The logical clock that orders the event in its thread (DESIGN.md section 4). */
  readonly clock: number
  /** The author's wall clock at creation, milliseconds since the epoch. Informational only. */
  readonly time: number
}

/** The head of a log: its newest record. */
export interface LogHead {
  readonly cid: CID
  readonly seq: number
}

/** What a new record needs. */
export interface NewRecord {
  readonly logKey: LogKey
  readonly threadKey: ThreadKey
  /** The command as dag-cbor bytes (see `encodeCommand`). */
  readonly body: Uint8Array
  readonly clock: number
  readonly time: number
  /** The log's current head, absent for its first record. */
  readonly prev?: LogHead
}

/** The bytes a record's signature covers: `CID(event) ‖ CID(prev)`, or `CID(event)` for seq 1. */
export function signedBytes(eventCid: CID, prev: CID | undefined): Uint8Array {
  return prev === undefined ? eventCid.bytes : concat([eventCid.bytes, prev.bytes])
}

/**
 * Build, sign and encrypt one record: a fresh content key, three AES-256-GCM layers, one
 * Ed25519 signature over `CID(event) ‖ CID(prev)`.
 *
 * @example
 * ```ts
 * import { createRecord, encodeCommand, generateLogKey, createThreadKey } from 'redux-threads'
 * const record = createRecord({
 *   logKey: generateLogKey(), threadKey: createThreadKey(),
 *   body: encodeCommand({ type: 'todos/added', payload: { text: 'milk' } }),
 *   clock: 1, time: Date.now()
 * })
 * record.seq // 1
 * ```
 */
export function createRecord(input: NewRecord): LogRecord {
  const { logKey, threadKey, body, clock, time, prev } = input
  if (threadKey.read === undefined) throw new DecryptionError('writing needs the read key; this peer only follows the thread')
  if (body.length > MAX_BODY_BYTES - 64) throw new TooLargeError(`a command encodes to at most ${MAX_BODY_BYTES - 64} bytes, got ${body.length}`)
  // One call for every random byte of the record: the content key and three nonces.
  const rnd = getCrypto().randomBytes(KEY_BYTES + 3 * NONCE_BYTES)
  const contentKey = rnd.subarray(0, KEY_BYTES)
  const nonce = (i: number): Uint8Array => rnd.subarray(KEY_BYTES + i * NONCE_BYTES, KEY_BYTES + (i + 1) * NONCE_BYTES)
  const bodyBlock = encryptBlock(contentKey, body, nonce(0))
  const headerBlock = encryptBlock(threadKey.read, dagCbor.encode({ key: contentKey, clock, time }), nonce(1))
  const eventBlock = blockOf(encodeEventNode(headerBlock.cid, bodyBlock.cid))
  const sig = logKey.signer.sign(signedBytes(eventBlock.cid, prev?.cid))
  const seq = prev === undefined ? 1 : prev.seq + 1
  const recordBlock = encryptBlock(threadKey.service, encodeRecordNode(eventBlock.cid, sig, prev?.cid, seq), nonce(2))
  return {
    cid: recordBlock.cid,
    logId: logKey.id,
    seq,
    prev: prev?.cid,
    sig,
    eventCid: eventBlock.cid,
    blocks: { record: recordBlock, event: eventBlock, header: headerBlock, body: bodyBlock }
  }
}

interface RecordNode {
  readonly block: CID
  readonly sig: Uint8Array
  readonly prev: CID | undefined
  readonly seq: number
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !(v instanceof Uint8Array) && !Array.isArray(v)
}

function checkSize(bytes: Uint8Array, max: number, ctx: ErrorContext, what: string): void {
  if (!(bytes instanceof Uint8Array)) throw new MalformedRecordError(`${what} is not bytes`, ctx)
  if (bytes.length > max) throw new TooLargeError(`${what} has ${bytes.length} bytes, the limit is ${max}`, ctx)
}

/** Decrypt and decode a record block with the service key; checks the node's shape. */
export function openRecordNode(serviceKey: Uint8Array, recordBytes: Uint8Array, ctx: ErrorContext): RecordNode {
  checkSize(recordBytes, MAX_NODE_BYTES, ctx, 'record block')
  const plain = openBox(serviceKey, boxOf(recordBytes, ctx))
  if (plain === undefined) throw new DecryptionError('record block does not open with the thread service key', ctx)
  const node = decodeRecordNode(plain, ctx)
  if (node.seq < 1) throw new MalformedRecordError('record node `seq` is not a positive integer', ctx)
  if ((node.seq === 1) !== (node.prev === undefined)) throw new BrokenChainError('only the first record (seq 1) has no `prev`', { ...ctx, seq: node.seq })
  return node
}

/** What a receiver knows of the log before a record: its head, or nothing for a new log. */
export interface VerifyOptions {
  readonly threadId?: string
  /** The record before this one. When given, `prev` and `seq` must continue it. */
  readonly after?: LogHead
  /** Skip the signature: the caller verifies the newest record of a hash-linked run instead. */
  readonly skipSignature?: boolean
  /** The sha2-256 of `blocks.record`, when the caller has just computed it (saves hashing it twice). */
  readonly recordDigest?: Uint8Array
}

/**
 * Check one record received from the network or a file: every CID against its bytes, the shape
 * of every node, the signature of the log key over `CID(event) ‖ CID(prev)`, and (with `after`)
 * that it continues the log. Needs only the service key: followers verify too.
 *
 * @throws one of the typed errors of `errors.ts`, never anything else.
 *
 * @example
 * ```ts
 * import { verifyRecord } from 'redux-threads'
 * const record = verifyRecord(logId, threadKey.service, blocks, { after: head })
 * ```
 */
export function verifyRecord(logId: string, serviceKey: Uint8Array, blocks: RecordBlocks, options: VerifyOptions = {}): LogRecord {
  const ctx: ErrorContext = options.threadId === undefined ? { logId } : { threadId: options.threadId, logId }
  if (!isPlainObject(blocks)) throw new MalformedRecordError('record blocks are not an object', ctx)
  checkSize(blocks.record, MAX_NODE_BYTES, ctx, 'record block')
  checkSize(blocks.event, MAX_NODE_BYTES, ctx, 'event block')
  checkSize(blocks.header, MAX_NODE_BYTES, ctx, 'header block')
  checkSize(blocks.body, MAX_BODY_BYTES, ctx, 'body block')
  const recordBlock =
    options.recordDigest === undefined ? blockOf(blocks.record) : { cid: cidOfDigest(options.recordDigest), bytes: blocks.record }
  const rctx: ErrorContext = { ...ctx, cid: recordBlock.cid }
  const node = openRecordNode(serviceKey, blocks.record, rctx)
  const seqCtx = { ...rctx, seq: node.seq }
  const eventBlock = checkCid(node.block, blocks.event, seqCtx, 'event')
  checkSize(blocks.event, MAX_NODE_BYTES, seqCtx, 'event block')
  const links = decodeEventNode(blocks.event, seqCtx)
  const headerBlock = checkCid(links.header, blocks.header, seqCtx, 'header')
  const bodyBlock = checkCid(links.body, blocks.body, seqCtx, 'body')
  boxOf(blocks.header, seqCtx)
  boxOf(blocks.body, seqCtx)
  const { after } = options
  if (after !== undefined) {
    if (node.seq !== after.seq + 1) throw new BrokenChainError(`expected seq ${after.seq + 1}`, seqCtx)
    if (node.prev === undefined || !node.prev.equals(after.cid)) throw new BrokenChainError(`prev does not link the head ${after.cid.toString()}`, seqCtx)
  }
  if (options.skipSignature !== true && !verifierForLog(logId).verify(signedBytes(node.block, node.prev), node.sig)) {
    throw new BadSignatureError('record signature does not verify with the log key (forged writer?)', seqCtx)
  }
  return {
    cid: recordBlock.cid,
    logId,
    seq: node.seq,
    prev: node.prev,
    sig: node.sig,
    eventCid: node.block,
    blocks: { record: recordBlock, event: eventBlock, header: headerBlock, body: bodyBlock }
  }
}

/**
 * Verify a contiguous run of one log, oldest first, with one signature: the newest record's
 * signature plus the hash links authenticate every record before it (DESIGN.md section 3).
 *
 * @example
 * ```ts
 * import { verifyChain } from 'redux-threads'
 * const records = verifyChain(logId, threadKey.service, pulledBlocks, { after: localHead })
 * ```
 */
export function verifyChain(logId: string, serviceKey: Uint8Array, run: readonly RecordBlocks[], options: VerifyOptions = {}): LogRecord[] {
  const out: LogRecord[] = []
  let after = options.after
  for (let i = 0; i < run.length; i++) {
    const blocks = run[i] as RecordBlocks
    const record = verifyRecord(logId, serviceKey, blocks, {
      ...(options.threadId === undefined ? {} : { threadId: options.threadId }),
      ...(after === undefined ? {} : { after }),
      skipSignature: i < run.length - 1 || options.skipSignature === true
    })
    out.push(record)
    after = { cid: record.cid, seq: record.seq }
  }
  return out
}

/**
 * Decrypt a record's header (read key) and body (content key from the header).
 *
 * @throws {@link DecryptionError} when the read key is missing or wrong, {@link MalformedRecordError}
 * when a decrypted node has the wrong shape.
 */
export function openEvent(readKey: Uint8Array | undefined, record: Pick<LogRecord, 'logId' | 'seq' | 'cid' | 'blocks'>): { header: EventHeader; body: Uint8Array } {
  const ctx: ErrorContext = { logId: record.logId, seq: record.seq, cid: record.cid.toString() }
  if (readKey === undefined) throw new DecryptionError('this peer has no read key for the thread', ctx)
  return openEventBoxes(readKey, boxOf(record.blocks.header.bytes, ctx), boxOf(record.blocks.body.bytes, ctx), ctx)
}

/** {@link openEvent} on the boxes alone, as the event store keeps them. */
export function openEventBoxes(readKey: Uint8Array, headerBox: Uint8Array, bodyBox: Uint8Array, ctx: ErrorContext): { header: EventHeader; body: Uint8Array } {
  const headerPlain = openBox(readKey, headerBox)
  if (headerPlain === undefined) throw new DecryptionError('header does not open with the read key', ctx)
  let node: unknown
  try {
    node = dagCbor.decode(headerPlain)
  } catch (cause) {
    throw new MalformedRecordError('header is not valid dag-cbor', ctx, { cause })
  }
  if (!isPlainObject(node)) throw new MalformedRecordError('header is not a map', ctx)
  const { key, clock, time } = node
  if (!(key instanceof Uint8Array) || key.length !== KEY_BYTES) throw new MalformedRecordError('header `key` is not a 32-byte key', ctx)
  if (typeof clock !== 'number' || !Number.isSafeInteger(clock) || clock < 0) throw new MalformedRecordError('header `clock` is not a non-negative integer', ctx)
  if (typeof time !== 'number' || !Number.isSafeInteger(time)) throw new MalformedRecordError('header `time` is not an integer', ctx)
  const body = openBox(key, bodyBox)
  if (body === undefined) throw new DecryptionError('body does not open with the content key of its header', ctx)
  return { header: { key, clock, time }, body }
}

/** The four blocks of a record, for the wire or a CAR file. */
export function recordBlocks(record: LogRecord): RecordBlocks {
  const b = record.blocks
  return { record: b.record.bytes, event: b.event.bytes, header: b.header.bytes, body: b.body.bytes }
}

/** True when two records are the same bytes (a duplicate). */
export function sameRecord(a: Pick<LogRecord, 'cid'>, b: Pick<LogRecord, 'cid'>): boolean {
  return equals(a.cid.multihash.digest, b.cid.multihash.digest)
}

/**
 * Compare a record that arrived with the one this peer already has at the same `seq`: a copy is
 * a duplicate (`false`: nothing to do); a different record is an equivocation by the log's
 * writer, so the first is kept and {@link EquivocationError} names both.
 */
export function checkDuplicate(kept: Pick<LogRecord, 'cid' | 'seq' | 'logId'>, incoming: Pick<LogRecord, 'cid'>, threadId?: string): false {
  if (sameRecord(kept, incoming)) return false
  throw new EquivocationError(
    `two different records claim seq ${kept.seq}: kept ${kept.cid.toString()}, rejected ${incoming.cid.toString()}`,
    { ...(threadId === undefined ? {} : { threadId }), logId: kept.logId, seq: kept.seq, cid: incoming.cid.toString() }
  )
}
