/**
 * Peer ID strings, as far as the core needs them: an Ed25519 key's log ID (the identity multihash
 * of its protobuf public key, in base58btc, as libp2p writes it: `12D3KooW…`), and whether a string
 * is a peer ID of any key type (relays in invites). Written here rather than taken from
 * `@libp2p/peer-id` and `@libp2p/crypto`: those bring RSA, secp256k1 and protobuf code to every
 * browser bundle (about 16 KiB gzip; docs/PACKAGING.md) for what is a fixed 6-byte prefix.
 *
 * @packageDocumentation
 */
import { base36 } from 'multiformats/bases/base36'
import { base58btc } from 'multiformats/bases/base58'
import { CID } from 'multiformats/cid'
import * as Digest from 'multiformats/hashes/digest'

/** identity multihash (0x00, 36 bytes) of protobuf PublicKey { Type: Ed25519 (1), Data: 32 bytes }. */
const ED25519_PREFIX = Uint8Array.of(0x00, 0x24, 0x08, 0x01, 0x12, 0x20)
const IDENTITY = 0x00
const SHA2_256 = 0x12
const LIBP2P_KEY = 0x72
/** libp2p inlines public keys of up to 42 bytes in an identity multihash. */
const MAX_INLINE_KEY = 42

/** The peer ID string of a 32-byte Ed25519 public key, in its one standard form. */
export function ed25519PeerId(publicKey: Uint8Array): string {
  const bytes = new Uint8Array(ED25519_PREFIX.length + publicKey.length)
  bytes.set(ED25519_PREFIX)
  bytes.set(publicKey, ED25519_PREFIX.length)
  return base58btc.baseEncode(bytes)
}

/**
 * The Ed25519 key of a peer ID written in its one standard form (what {@link ed25519PeerId}
 * writes), or undefined: another key type, a CID spelling, another encoding of the key's protobuf
 * (fields reordered or repeated) or no peer ID at all. One key, one string.
 */
export function ed25519FromPeerId(id: string): Uint8Array | undefined {
  if (typeof id !== 'string' || id.length === 0 || id.length > 64) return undefined
  let bytes: Uint8Array
  try {
    bytes = base58btc.baseDecode(id)
  } catch {
    return undefined
  }
  if (bytes.length !== ED25519_PREFIX.length + 32 || !ED25519_PREFIX.every((b, i) => bytes[i] === b)) return undefined
  const key = bytes.slice(ED25519_PREFIX.length)
  // base58 has one spelling per byte string but for leading zeros: compare the strings.
  return ed25519PeerId(key) === id ? key : undefined
}

/**
 * True for a peer ID of any key type: a multihash (an identity one inlining a key, or the
 * sha2-256 of an RSA key) in base58btc (`1…`, `Qm…`), or a CIDv1 of codec libp2p-key.
 */
export function isPeerId(id: string): boolean {
  if (typeof id !== 'string' || id.length === 0 || id.length > 512) return false
  try {
    let multihash: Uint8Array
    if (id.startsWith('1') || id.startsWith('Q')) multihash = base58btc.baseDecode(id)
    else {
      const cid = id.startsWith('k') ? CID.parse(id, base36) : CID.parse(id)
      if (cid.version !== 1 || cid.code !== LIBP2P_KEY) return false
      multihash = cid.multihash.bytes
    }
    const digest = Digest.decode(multihash)
    return (digest.code === IDENTITY && digest.size <= MAX_INLINE_KEY && isPublicKeyProtobuf(digest.digest)) || (digest.code === SHA2_256 && digest.size === 32)
  } catch {
    return false
  }
}

/**
 * An inlined key is a protobuf `PublicKey { Type = 1 (varint: RSA, Ed25519, secp256k1, ECDSA),
 * Data = 2 (bytes) }`. Fields in any order, as protobuf allows (a non-standard order is still a
 * peer ID to libp2p; `ed25519FromPeerId` is what refuses it as a log ID), but nothing else: an
 * inlined key is at most 42 bytes, so every length is one varint byte.
 */
function isPublicKeyProtobuf(bytes: Uint8Array): boolean {
  let type = false
  let data = false
  for (let i = 0; i < bytes.length; ) {
    const tag = bytes[i++]
    if (tag === 0x08) {
      if (i >= bytes.length || (bytes[i] as number) > 3) return false
      i++
      type = true
    } else if (tag === 0x12) {
      if (i >= bytes.length) return false
      const length = bytes[i++] as number
      if (length >= 0x80 || i + length > bytes.length) return false
      i += length
      data = true
    } else return false
  }
  return type && data
}
