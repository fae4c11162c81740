import * as dagCbor from '@ipld/dag-cbor'
import { CID } from 'multiformats/cid'
import * as Digest from 'multiformats/hashes/digest'
import { equals } from 'uint8arrays/equals'
import { getCrypto } from './crypto/index.js'
import { decrypt, encrypt } from './keys.js'
import { CidMismatchError, MalformedRecordError, type ErrorContext } from './errors.js'

/** The multicodec of dag-cbor. Every block of a record is dag-cbor. */
export const DAG_CBOR = 0x71
/** The multihash code of sha2-256. */
export const SHA2_256 = 0x12

/** An IPLD block: bytes and the CID that names them. */
export interface Block {
  readonly cid: CID
  readonly bytes: Uint8Array
}

/** The CIDv1 (dag-cbor, sha2-256) of a digest. */
export function cidOfDigest(digest: Uint8Array): CID {
  return CID.createV1(DAG_CBOR, Digest.create(SHA2_256, digest))
}

/** Hash bytes into a block. */
export function blockOf(bytes: Uint8Array): Block {
  return { cid: cidOfDigest(getCrypto().sha256(bytes)), bytes }
}

/** dag-cbor encode a value and name it. */
export function encodeBlock(value: unknown): Block {
  return blockOf(dagCbor.encode(value))
}

/**
 * An encrypted block: the dag-cbor byte string of `nonce ‖ ciphertext ‖ tag`, so its CID is
 * over ciphertext and a follower can store and check it without reading it.
 */
export function encryptBlock(key: Uint8Array, plaintext: Uint8Array, nonce?: Uint8Array): Block {
  return encodeBlock(encrypt(key, plaintext, nonce))
}

/**
 * The box (`nonce ‖ ciphertext ‖ tag`) inside an encrypted block's bytes, without copying.
 *
 * @remarks
 * Parsed by hand: an encrypted block is one CBOR byte string, and insisting on the minimal
 * length header is exactly dag-cbor's canonical form, at a fraction of a decode and re-encode.
 */
export function boxOf(blockBytes: Uint8Array, ctx: ErrorContext): Uint8Array {
  const first = blockBytes[0]
  if (first === undefined || first >> 5 !== 2) throw new MalformedRecordError('an encrypted block is a CBOR byte string', ctx)
  const info = first & 0x1f
  let len: number
  let at: number
  if (info < 24) {
    len = info
    at = 1
  } else if (info === 24) {
    len = blockBytes[1] ?? -1
    at = 2
    if (len < 24) throw new MalformedRecordError('encrypted block length is not minimally encoded', ctx)
  } else if (info === 25) {
    len = ((blockBytes[1] ?? 0) << 8) | (blockBytes[2] ?? 0)
    at = 3
    if (len < 0x100) throw new MalformedRecordError('encrypted block length is not minimally encoded', ctx)
  } else if (info === 26) {
    len = (((blockBytes[1] ?? 0) << 24) >>> 0) + (((blockBytes[2] ?? 0) << 16) | ((blockBytes[3] ?? 0) << 8) | (blockBytes[4] ?? 0))
    at = 5
    if (len < 0x10000) throw new MalformedRecordError('encrypted block length is not minimally encoded', ctx)
  } else {
    throw new MalformedRecordError('encrypted block length is not a canonical CBOR length', ctx)
  }
  if (at + len !== blockBytes.length) throw new MalformedRecordError('encrypted block length does not match its bytes', ctx)
  return blockBytes.subarray(at)
}

/** Decrypt an encrypted block's box; `undefined` when the key does not open it. */
export function openBox(key: Uint8Array, box: Uint8Array): Uint8Array | undefined {
  return decrypt(key, box)
}

/** True for a CIDv1 dag-cbor sha2-256 link, the only kind a record may hold. */
export function isRecordLink(value: unknown): value is CID {
  const cid = CID.asCID(value)
  return (
    cid !== null &&
    cid.version === 1 &&
    cid.code === DAG_CBOR &&
    cid.multihash.code === SHA2_256 &&
    cid.multihash.digest.length === 32
  )
}

/** Throw {@link CidMismatchError} unless `bytes` hash to `cid`. */
export function checkCid(cid: CID, bytes: Uint8Array, ctx: ErrorContext, what: string): Block {
  // Compare digests directly: building a CID object per block costs more than the hash.
  if (!equals(getCrypto().sha256(bytes), cid.multihash.digest)) {
    throw new CidMismatchError(`${what} bytes do not hash to the CID that links them`, { ...ctx, cid: cid.toString() })
  }
  return { cid, bytes }
}
