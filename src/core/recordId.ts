import { varint } from 'multiformats'
import { CID } from 'multiformats/cid'
import * as Digest from 'multiformats/hashes/digest'
import { getCrypto } from './crypto/index.js'
import { SHA2_256 } from './block.js'
import { verifierForLog } from './keys.js'

/**
 * The record format version: the `v` field of every record node, and the version named in the
 * signature's domain string. Records of another version are refused with
 * `UnsupportedFormatError`.
 */
export const RECORD_FORMAT = 2

/** The multicodec of raw bytes: a record's identity names its signed statement as a raw block. */
export const RAW = 0x55

const DOMAIN = new TextEncoder().encode(`redux-threads/record/v${RECORD_FORMAT}`)

/**
 * What a record's writer signs, and all that identifies the record (DESIGN.md section 3, as
 * revised): the thread, the record's place in its log, its event and the identity of the record
 * before it. Nothing that depends on how the record was sealed.
 */
export interface RecordStatement {
  /** The binary thread ID: a record of one thread cannot be replayed into another. */
  readonly thread: Uint8Array
  /** Position in the log, from 1. */
  readonly seq: number
  /** CID of the event block (dag-cbor `{ header, body }`). */
  readonly event: CID
  /** Identity of the record at `seq - 1`; absent exactly when `seq` is 1. */
  readonly prev: CID | undefined
}

/**
 * The signed bytes of a record:
 * `"redux-threads/record/v2" ‖ threadId ‖ uvarint(seq) ‖ CID(event) ‖ prevId?`.
 *
 * @remarks
 * The first format signed `CID(event) ‖ CID(prev record block)`. A record block is sealed with
 * the service key and a random nonce, so any follower could seal a writer's record again and
 * make peers that saw that copy first refuse the writer's next record. These bytes hold nothing
 * that depends on sealing.
 *
 * @example
 * ```ts
 * const bytes = statementBytes({ thread: threadId.bytes, seq: 1, event: eventCid, prev: undefined })
 * ```
 */
export function statementBytes(s: RecordStatement): Uint8Array {
  const event = s.event.bytes
  const prev = s.prev?.bytes
  const out = new Uint8Array(DOMAIN.length + s.thread.length + varint.encodingLength(s.seq) + event.length + (prev?.length ?? 0))
  let at = 0
  out.set(DOMAIN, at)
  at += DOMAIN.length
  out.set(s.thread, at)
  at += s.thread.length
  varint.encodeTo(s.seq, out, at)
  at += varint.encodingLength(s.seq)
  out.set(event, at)
  at += event.length
  if (prev !== undefined) out.set(prev, at)
  return out
}

/** The identity CID of a digest of statement bytes (CIDv1, raw, sha2-256). */
export function recordIdOfDigest(digest: Uint8Array): CID {
  return CID.createV1(RAW, Digest.create(SHA2_256, digest))
}

/**
 * A record's identity: the CID (raw, sha2-256) of its statement bytes.
 *
 * @remarks
 * DESIGN.md section 3 names the event CID as the identity. We hash the whole statement instead,
 * which holds the event CID *and* the previous identity: identities then chain like hash links,
 * so the newest record's signature authenticates a whole contiguous run (one verification per
 * run), which event CIDs alone, not linked to each other, could not. Two records with one
 * identity are one record however they were sealed; two signed identities for one `seq` of a log
 * prove that its writer forked it.
 *
 * @example
 * ```ts
 * const id = recordIdOf({ thread: threadId.bytes, seq: 2, event: eventCid, prev: firstId })
 * id.toString() // 'bafkrei…'
 * ```
 */
export function recordIdOf(s: RecordStatement): CID {
  return recordIdOfDigest(getCrypto().sha256(statementBytes(s)))
}

/** True when two identities (or any two CIDs) are the same bytes. */
export function sameId(a: CID, b: CID): boolean {
  const x = a.bytes
  const y = b.bytes
  if (x.length !== y.length) return false
  for (let i = x.length - 1; i >= 0; i--) if (x[i] !== y[i]) return false
  return true
}

/** True when `sig` is the log key's Ed25519 signature of the statement. */
export function verifyStatement(logId: string, s: RecordStatement, sig: Uint8Array): boolean {
  return verifierForLog(logId).verify(statementBytes(s), sig)
}

/** True for a CIDv1 raw sha2-256 link with a 32-byte digest: the only form of a record identity. */
export function isRecordId(value: unknown): value is CID {
  const cid = CID.asCID(value)
  return cid !== null && cid.version === 1 && cid.code === RAW && cid.multihash.code === SHA2_256 && cid.multihash.digest.length === 32
}
