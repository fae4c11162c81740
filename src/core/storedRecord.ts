import { varint } from 'multiformats'
import type { CID } from 'multiformats/cid'
import { concat } from 'uint8arrays/concat'
import { equals } from 'uint8arrays/equals'
import { blockOf, boxOf, encodeBlock, type Block } from './block.js'
import { getCrypto } from './crypto/index.js'
import { CorruptStoreError, UnsupportedFormatError, type ErrorContext } from './errors.js'
import { NONCE_BYTES } from './keys.js'
import { asKeyring, parseRecordBlock, recordBlockOfBox, serviceKeyId, type ServiceKeyring } from './serviceKey.js'
import { encodeEventNode, encodeRecordNode } from './nodeCodec.js'
import type { LogRecord } from './record.js'
import { recordIdOfDigest, statementBytes } from './recordId.js'
import type { ThreadId } from './threadId.js'

/** The layout version of a stored record (format 2 records) under the thread's first service key. */
const VERSION = 2
/** The layout that also names the record block's service key epoch and the event's `service`. */
const VERSION_SERVICE = 3
const SIG = 64
const DIGEST = 32

/**
 * A record as the event store keeps it: only the bytes that cannot be recomputed.
 *
 * @remarks
 * Of a record's four blocks, the event block is a pure function of the header and body CIDs,
 * and the record block is a pure function of the service key, its nonce and its node
 * (`{ v, seq, sig, prev?, block }`), all of which are known or stored. Keeping `nonce ‖ sig ‖
 * identity ‖ header box ‖ body box` and rebuilding the rest on read stores about 300 bytes for a
 * 50-byte command instead of about 500. The stored identity is recomputed from the boxes and the
 * previous record's identity on every read, so a damaged box, identity or chain is found where
 * it is read ({@link CorruptStoreError}), never served or folded.
 */
export interface StoredRecord {
  /** sha2-256 digest of the record's statement: its identity. */
  readonly idDigest: Uint8Array
  readonly sig: Uint8Array
  readonly recordNonce: Uint8Array
  /** The read key epoch of the header. */
  readonly epoch: number
  /** The service key epoch of the record block (0: the thread's first key). */
  readonly serviceEpoch: number
  /** The event node's sealed service key rotation, if it carries one. */
  readonly service: Uint8Array | undefined
  /** `nonce ‖ ciphertext ‖ tag` of the header (read key). */
  readonly headerBox: Uint8Array
  /** `nonce ‖ ciphertext ‖ tag` of the body (content key). */
  readonly bodyBox: Uint8Array
}

/**
 * The compact stored form of a verified record: layout 2, `0x02 ‖ record nonce(12) ‖ sig(64) ‖
 * identity digest(32) ‖ uvarint(epoch) ‖ uvarint(len) ‖ header box ‖ body box`, or, for a record
 * sealed under a rotated service key or carrying a rotation, layout 3, which adds
 * `uvarint(service epoch) ‖ uvarint(service length) ‖ service` after the epoch.
 */
export function encodeStoredRecord(record: LogRecord): Uint8Array {
  const ctx: ErrorContext = { logId: record.logId, seq: record.seq }
  const headerBox = boxOf(record.blocks.header.bytes, ctx)
  const serviceEpoch = record.serviceEpoch ?? 0
  const service = record.service ?? new Uint8Array(0)
  const layout3 = serviceEpoch !== 0 || record.service !== undefined
  const v = (n: number): Uint8Array => varint.encodeTo(n, new Uint8Array(varint.encodingLength(n)))
  return concat([
    Uint8Array.of(layout3 ? VERSION_SERVICE : VERSION),
    parseRecordBlock(record.blocks.record.bytes, ctx).box.subarray(0, NONCE_BYTES),
    record.sig,
    record.id.multihash.digest,
    v(record.epoch),
    ...(layout3 ? [v(serviceEpoch), v(service.length), service] : []),
    v(headerBox.length),
    headerBox,
    boxOf(record.blocks.body.bytes, ctx)
  ])
}

/**
 * Split the stored form into its parts (views, no copies).
 *
 * @throws {@link UnsupportedFormatError} for a record stored by another format version,
 * {@link CorruptStoreError} for damaged bytes.
 */
export function decodeStoredRecord(bytes: Uint8Array, ctx: ErrorContext): StoredRecord {
  const fixed = 1 + NONCE_BYTES + SIG + DIGEST
  if (!(bytes instanceof Uint8Array) || bytes.length < fixed + 1) throw new CorruptStoreError('stored record is truncated', ctx)
  if (bytes[0] !== VERSION && bytes[0] !== VERSION_SERVICE) {
    throw new UnsupportedFormatError(`stored record of layout ${String(bytes[0])}; this version reads layouts ${VERSION} and ${VERSION_SERVICE} (open the data with the version that wrote it, or start a new store)`, ctx)
  }
  let at = 1
  const recordNonce = bytes.subarray(at, (at += NONCE_BYTES))
  const sig = bytes.subarray(at, (at += SIG))
  const idDigest = bytes.subarray(at, (at += DIGEST))
  let len: number, lenBytes: number, epoch: number, epochBytes: number
  let serviceEpoch = 0
  let service: Uint8Array | undefined
  try {
    ;[epoch, epochBytes] = varint.decode(bytes, at)
    at += epochBytes
    if (bytes[0] === VERSION_SERVICE) {
      let n: number
      ;[serviceEpoch, n] = varint.decode(bytes, at)
      at += n
      let serviceLen: number
      ;[serviceLen, n] = varint.decode(bytes, at)
      at += n
      if (at + serviceLen > bytes.length) throw new Error('truncated')
      if (serviceLen > 0) service = bytes.subarray(at, at + serviceLen)
      at += serviceLen
    }
    ;[len, lenBytes] = varint.decode(bytes, at)
  } catch (cause) {
    throw new CorruptStoreError('stored record has a damaged length', ctx, { cause })
  }
  at += lenBytes
  if (at + len > bytes.length) throw new CorruptStoreError('stored record is truncated', ctx)
  return { idDigest, sig, recordNonce, epoch, serviceEpoch, service, headerBox: bytes.subarray(at, at + len), bodyBox: bytes.subarray(at + len) }
}

/** Where a stored record sits: what its identity is computed from. */
export interface StoredAt {
  readonly thread: ThreadId
  readonly logId: string
  readonly seq: number
  /** Identity of the record before it (`undefined` for seq 1). */
  readonly prev: CID | undefined
}

/**
 * Recompute a stored record's event CID and identity from its boxes and the previous identity,
 * and check the identity against the stored one. Three hashes of the boxes and one of the
 * statement: cheap enough for every read.
 *
 * @throws {@link CorruptStoreError} when the record is not the one that was stored (a damaged
 * box, identity, or a chain that does not hold).
 */
export function checkStored(stored: StoredRecord, at: StoredAt): { id: CID; eventCid: CID; event: Block; header: Block; body: Block } {
  const header = encodeBlock(stored.headerBox)
  const body = encodeBlock(stored.bodyBox)
  const event = blockOf(encodeEventNode(header.cid, body.cid, stored.epoch, stored.service))
  const digest = getCrypto().sha256(statementBytes({ thread: at.thread.bytes, seq: at.seq, event: event.cid, prev: at.prev }))
  if (!equals(digest, stored.idDigest)) {
    throw new CorruptStoreError('stored record does not hash to its identity (damaged in storage)', {
      threadId: at.thread.toString(),
      logId: at.logId,
      seq: at.seq
    })
  }
  return { id: recordIdOfDigest(digest), eventCid: event.cid, event, header, body }
}

/**
 * Rebuild the four blocks of a stored record, after {@link checkStored}. The record block is
 * sealed again with the stored nonce under the service key of its stored epoch, so a peer serves
 * the bytes it was given.
 *
 * @throws {@link CorruptStoreError} when the rebuilt record is not the one that was stored, or
 * the service key of its epoch is not held.
 */
export function rebuildRecord(stored: StoredRecord, at: StoredAt & { serviceKey: Uint8Array | ServiceKeyring }): LogRecord {
  const { id, eventCid, event, header, body } = checkStored(stored, at)
  const key = asKeyring(at.serviceKey).byEpoch(stored.serviceEpoch)
  if (key === undefined) {
    throw new CorruptStoreError(`no service key of epoch ${stored.serviceEpoch} (damaged storage)`, { threadId: at.thread.toString(), logId: at.logId, seq: at.seq })
  }
  const plain = encodeRecordNode(eventCid, stored.sig, at.prev, at.seq)
  const sealed = getCrypto().aesGcmEncrypt(key, stored.recordNonce, plain)
  const box = new Uint8Array(NONCE_BYTES + sealed.length)
  box.set(stored.recordNonce)
  box.set(sealed, NONCE_BYTES)
  const record = recordBlockOfBox({ epoch: stored.serviceEpoch, key, id: serviceKeyId(key) }, box)
  return {
    id,
    cid: record.cid,
    logId: at.logId,
    seq: at.seq,
    prev: at.prev,
    sig: stored.sig,
    eventCid,
    epoch: stored.epoch,
    ...(stored.serviceEpoch === 0 ? {} : { serviceEpoch: stored.serviceEpoch }),
    ...(stored.service === undefined ? {} : { service: stored.service }),
    blocks: { record, event, header, body }
  }
}
