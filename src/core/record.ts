import * as dagCbor from '@ipld/dag-cbor'
import type { CID } from 'multiformats/cid'
import { blockOf, boxOf, checkCid, cidOfDigest, encryptBlock, openBox, type Block } from './block.js'
import { asKeyring, keyForRecordBlock, sealRecordBlock, serviceKeyId, type ServiceKeyring } from './serviceKey.js'
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
import { MAX_COMMAND_BYTES } from './command.js'
import { pad, unpad } from './padding.js'
import { isRecordId, recordIdOfDigest, sameId, statementBytes } from './recordId.js'
import type { ThreadId } from './threadId.js'

/** Largest body block accepted (the encrypted command). */
export const MAX_BODY_BYTES = 1 << 20
/** Largest header, event or record block accepted: they hold keys, links and small integers. */
export const MAX_NODE_BYTES = 4096
/**
 * Largest event block accepted: an event node that carries a service key rotation (the new key
 * sealed to every member) is larger than other nodes.
 */
export const MAX_EVENT_BYTES = 512 * 1024

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

/**
 * A verified record of a log, with its blocks and the fields of its record node.
 *
 * `id` is what the record *is* (its signed statement: thread, seq, event, previous identity);
 * `cid` only names the record block as this copy was sealed. Peers link, deduplicate and find
 * forks by `id`, never by `cid` (DESIGN.md section 3).
 */
export interface LogRecord {
  /** The record's identity: CID (raw) of its signed statement. The same on every peer. */
  readonly id: CID
  /** The CID of the record block as sealed (service key, nonce): may differ between copies. */
  readonly cid: CID
  readonly logId: string
  readonly seq: number
  /** Identity of the record before it; `undefined` for seq 1. */
  readonly prev: CID | undefined
  readonly sig: Uint8Array
  /** The CID of the event block (signed). */
  readonly eventCid: CID
  /** The read key epoch its header is sealed under (0: the thread's first read key). */
  readonly epoch: number
  /** The service key epoch its record block is sealed under (absent or 0: the thread's first). */
  readonly serviceEpoch?: number
  /** A service key rotation the event node carries (sealed under the record block's service key). */
  readonly service?: Uint8Array
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
  /** The first seq of the transaction the record belongs to, when it is part of one. */
  readonly txn?: number
}

/** The head of a log: its newest record, by identity. */
export interface LogHead {
  /** The record's identity ({@link LogRecord.id}). */
  readonly id: CID
  readonly seq: number
}

/**
 * Where a record belongs: its thread and log, and the service keys that may seal its record block
 * (one key: the thread's first; a keyring: every epoch held, by the ID a block names).
 */
export interface RecordContext {
  readonly thread: ThreadId
  readonly logId: string
  readonly serviceKey: Uint8Array | ServiceKeyring
}

/** What a new record needs. */
export interface NewRecord {
  readonly logKey: LogKey
  readonly threadKey: ThreadKey
  /** The thread the record is signed into. */
  readonly thread: ThreadId
  /** The command as dag-cbor bytes (see `encodeCommand`); padded to its size bucket here. */
  readonly body: Uint8Array
  readonly clock: number
  readonly time: number
  /** The log's current head, absent for its first record. */
  readonly prev?: LogHead
  /** Mark the record as part of the transaction that starts at this seq (see `TxnGate`). */
  readonly txn?: number
  /** The epoch of `threadKey.read` (default 0): a rotated read key has a later one. */
  readonly epoch?: number
  /** The epoch of `threadKey.service` (default 0): a rotated service key's record block names its ID. */
  readonly serviceEpoch?: number
  /** A sealed service key rotation for the event node (`createServiceRotation`). */
  readonly service?: Uint8Array
}

/**
 * Build, sign and encrypt one record (DESIGN.md section 3, format 2): the command padded to its
 * size bucket, a fresh content key, three AES-256-GCM layers, one Ed25519 signature over the
 * record's statement (thread, seq, event CID, previous identity).
 *
 * @throws {@link DecryptionError} without the read key, {@link TooLargeError} for a body over
 * the limit.
 *
 * @example
 * ```ts
 * import { createRecord, encodeCommand, generateLogKey, createThreadKey, ThreadId } from 'redux-p2p-threads/advanced'
 * const record = createRecord({
 *   logKey: generateLogKey(), threadKey: createThreadKey(), thread: ThreadId.create(),
 *   body: encodeCommand({ type: 'todos/added', payload: { text: 'milk' } }),
 *   clock: 1, time: Date.now()
 * })
 * record.seq // 1
 * ```
 */
export function createRecord(input: NewRecord): LogRecord {
  const { logKey, threadKey, thread, body, clock, time, prev } = input
  if (threadKey.read === undefined) throw new DecryptionError('writing needs the read key; this peer only follows the thread')
  if (body.length > MAX_COMMAND_BYTES) throw new TooLargeError(`a command encodes to at most ${MAX_COMMAND_BYTES} bytes, got ${body.length}`)
  if (prev !== undefined && !isRecordId(prev.id)) {
    throw new MalformedRecordError('prev names the head by its identity (LogRecord.id), not its record block CID', { logId: logKey.id, seq: prev.seq + 1 })
  }
  // One call for every random byte of the record: the content key and three nonces.
  const rnd = getCrypto().randomBytes(KEY_BYTES + 3 * NONCE_BYTES)
  const contentKey = rnd.subarray(0, KEY_BYTES)
  const nonce = (i: number): Uint8Array => rnd.subarray(KEY_BYTES + i * NONCE_BYTES, KEY_BYTES + (i + 1) * NONCE_BYTES)
  const bodyBlock = encryptBlock(contentKey, pad(body), nonce(0))
  const header = input.txn === undefined ? { key: contentKey, clock, time } : { key: contentKey, clock, time, txn: input.txn }
  const headerBlock = encryptBlock(threadKey.read, dagCbor.encode(header), nonce(1))
  const epoch = input.epoch ?? 0
  const eventBlock = blockOf(encodeEventNode(headerBlock.cid, bodyBlock.cid, epoch, input.service))
  const seq = prev === undefined ? 1 : prev.seq + 1
  const statement = statementBytes({ thread: thread.bytes, seq, event: eventBlock.cid, prev: prev?.id })
  const sig = logKey.signer.sign(statement)
  const serviceEpoch = input.serviceEpoch ?? 0
  const recordBlock = sealRecordBlock({ epoch: serviceEpoch, key: threadKey.service, id: serviceKeyId(threadKey.service) }, encodeRecordNode(eventBlock.cid, sig, prev?.id, seq), nonce(2))
  return {
    id: recordIdOfDigest(getCrypto().sha256(statement)),
    cid: recordBlock.cid,
    logId: logKey.id,
    seq,
    prev: prev?.id,
    sig,
    eventCid: eventBlock.cid,
    epoch,
    ...(serviceEpoch === 0 ? {} : { serviceEpoch }),
    ...(input.service === undefined ? {} : { service: input.service }),
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

/**
 * Decrypt and decode a record block with the service key it names (the thread's first key for the
 * plain form, a rotated key by its ID); checks the node's shape.
 *
 * @throws {@link UnknownServiceKeyError} when no key held has the ID the block names,
 * {@link DecryptionError} when the key does not open it, {@link MalformedRecordError}.
 */
export function openRecordNode(serviceKey: Uint8Array | ServiceKeyring, recordBytes: Uint8Array, ctx: ErrorContext): RecordNode & { serviceEpoch: number } {
  checkSize(recordBytes, MAX_NODE_BYTES, ctx, 'record block')
  const { key, box } = keyForRecordBlock(asKeyring(serviceKey), recordBytes, ctx)
  const plain = openBox(key.key, box)
  if (plain === undefined) throw new DecryptionError('record block does not open with the thread service key', ctx)
  const node = decodeRecordNode(plain, ctx)
  if (node.seq < 1) throw new MalformedRecordError('record node `seq` is not a positive integer', ctx)
  if ((node.seq === 1) !== (node.prev === undefined)) throw new BrokenChainError('only the first record (seq 1) has no `prev`', { ...ctx, seq: node.seq })
  return { ...node, serviceEpoch: key.epoch }
}

/** What a receiver knows of the log before a record, and how much to check. */
export interface VerifyOptions {
  /** The record before this one. When given, `prev` and `seq` must continue it. */
  readonly after?: LogHead
  /** Skip the signature: the caller verifies the newest record of a hash-linked run instead. */
  readonly skipSignature?: boolean
  /** The sha2-256 of `blocks.record`, when the caller has just computed it (saves hashing it twice). */
  readonly recordDigest?: Uint8Array
}

/**
 * Check one record received from the network or a file: every CID against its bytes, the shape
 * of every node, the log key's signature over the record's statement (its thread, seq, event and
 * previous identity), and (with `after`) that it continues the log. Needs only the service key:
 * followers verify too.
 *
 * @throws one of the typed errors of `errors.ts`, never anything else.
 *
 * @example
 * ```ts
 * import { verifyRecord } from 'redux-p2p-threads/advanced'
 * const record = verifyRecord({ thread, logId, serviceKey: threadKey.service }, blocks, { after: head })
 * ```
 */
export function verifyRecord(at: RecordContext, blocks: RecordBlocks, options: VerifyOptions = {}): LogRecord {
  const { logId } = at
  const ctx: ErrorContext = { threadId: at.thread.toString(), logId }
  if (!isPlainObject(blocks)) throw new MalformedRecordError('record blocks are not an object', ctx)
  checkSize(blocks.record, MAX_NODE_BYTES, ctx, 'record block')
  checkSize(blocks.event, MAX_EVENT_BYTES, ctx, 'event block')
  checkSize(blocks.header, MAX_NODE_BYTES, ctx, 'header block')
  checkSize(blocks.body, MAX_BODY_BYTES, ctx, 'body block')
  const recordBlock =
    options.recordDigest === undefined ? blockOf(blocks.record) : { cid: cidOfDigest(options.recordDigest), bytes: blocks.record }
  const rctx: ErrorContext = { ...ctx, cid: recordBlock.cid }
  const node = openRecordNode(at.serviceKey, blocks.record, rctx)
  const seqCtx = { ...rctx, seq: node.seq }
  const eventBlock = checkCid(node.block, blocks.event, seqCtx, 'event')
  const links = decodeEventNode(blocks.event, seqCtx)
  const headerBlock = checkCid(links.header, blocks.header, seqCtx, 'header')
  const bodyBlock = checkCid(links.body, blocks.body, seqCtx, 'body')
  boxOf(blocks.header, seqCtx)
  boxOf(blocks.body, seqCtx)
  const { after } = options
  if (after !== undefined) {
    if (node.seq !== after.seq + 1) throw new BrokenChainError(`expected seq ${after.seq + 1}`, seqCtx)
    if (node.prev === undefined || !sameId(node.prev, after.id)) throw new BrokenChainError(`prev does not link the head ${after.id.toString()}`, seqCtx)
  }
  const statement = statementBytes({ thread: at.thread.bytes, seq: node.seq, event: node.block, prev: node.prev })
  if (options.skipSignature !== true && !verifierForLog(logId).verify(statement, node.sig)) {
    throw new BadSignatureError('record signature does not verify with the log key (forged writer?)', seqCtx)
  }
  return {
    id: recordIdOfDigest(getCrypto().sha256(statement)),
    cid: recordBlock.cid,
    logId,
    seq: node.seq,
    prev: node.prev,
    sig: node.sig,
    eventCid: node.block,
    epoch: links.epoch,
    ...(node.serviceEpoch === 0 ? {} : { serviceEpoch: node.serviceEpoch }),
    ...(links.service === undefined ? {} : { service: links.service }),
    blocks: { record: recordBlock, event: eventBlock, header: headerBlock, body: bodyBlock }
  }
}

/** True when `record` continues `head` (or starts the log when there is none): seq and identity link. */
export function linksHead(record: Pick<LogRecord, 'seq' | 'prev'>, head: LogHead | undefined): boolean {
  if (head === undefined) return record.seq === 1 && record.prev === undefined
  return record.seq === head.seq + 1 && record.prev !== undefined && sameId(record.prev, head.id)
}

/** True when the log key signed this record (its statement is recomputed from the record's fields). */
export function signatureHolds(thread: ThreadId, record: Pick<LogRecord, 'logId' | 'seq' | 'eventCid' | 'prev' | 'sig'>): boolean {
  return verifierForLog(record.logId).verify(statementBytes({ thread: thread.bytes, seq: record.seq, event: record.eventCid, prev: record.prev }), record.sig)
}

/**
 * Verify a contiguous run of one log, oldest first, with one signature: identities chain (each
 * holds the one before), so the newest record's signature authenticates every record before it
 * (DESIGN.md section 3).
 *
 * @throws {@link BrokenChainError} when the run does not chain, or the errors of {@link verifyRecord}.
 *
 * @example
 * ```ts
 * import { verifyChain } from 'redux-p2p-threads/advanced'
 * const records = verifyChain({ thread, logId, serviceKey }, pulledBlocks, { after: localHead })
 * ```
 */
export function verifyChain(at: RecordContext, run: readonly RecordBlocks[], options: VerifyOptions = {}): LogRecord[] {
  const out: LogRecord[] = []
  let after = options.after
  for (let i = 0; i < run.length; i++) {
    const record = verifyRecord(at, run[i] as RecordBlocks, {
      ...(after === undefined ? {} : { after }),
      skipSignature: i < run.length - 1 || options.skipSignature === true
    })
    out.push(record)
    after = { id: record.id, seq: record.seq }
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

/** {@link openEvent} on the boxes alone, as the event store keeps them. The body comes back unpadded. */
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
  const { key, clock, time, txn } = node
  if (!(key instanceof Uint8Array) || key.length !== KEY_BYTES) throw new MalformedRecordError('header `key` is not a 32-byte key', ctx)
  if (typeof clock !== 'number' || !Number.isSafeInteger(clock) || clock < 0) throw new MalformedRecordError('header `clock` is not a non-negative integer', ctx)
  if (typeof time !== 'number' || !Number.isSafeInteger(time)) throw new MalformedRecordError('header `time` is not an integer', ctx)
  if (txn !== undefined && (typeof txn !== 'number' || !Number.isSafeInteger(txn) || txn < 1)) throw new MalformedRecordError('header `txn` is not a positive integer', ctx)
  const body = openBox(key, bodyBox)
  if (body === undefined) throw new DecryptionError('body does not open with the content key of its header', ctx)
  return { header: txn === undefined ? { key, clock, time } : { key, clock, time, txn }, body: unpad(body, ctx) }
}

/** The four blocks of a record, for the wire or a CAR file. */
export function recordBlocks(record: LogRecord): RecordBlocks {
  const b = record.blocks
  return { record: b.record.bytes, event: b.event.bytes, header: b.header.bytes, body: b.body.bytes }
}

/**
 * Compare a record that arrived with the identity this peer already has at the same `seq`: the
 * same identity is the same record, however it was sealed (`undefined`: nothing to do); another
 * identity is an equivocation by the log's writer, named by the error returned.
 */
export function equivocationBetween(kept: LogHead & { logId: string }, incoming: Pick<LogRecord, 'id'>, threadId?: string): EquivocationError | undefined {
  if (sameId(kept.id, incoming.id)) return undefined
  return new EquivocationError(`two different records claim seq ${kept.seq}: kept ${kept.id.toString()}, also signed ${incoming.id.toString()}`, {
    ...(threadId === undefined ? {} : { threadId }),
    logId: kept.logId,
    seq: kept.seq,
    cid: incoming.id.toString()
  })
}
