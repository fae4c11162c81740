import { x25519, ed25519 } from '@noble/curves/ed25519.js'
import { ed25519FromPeerId, ed25519PeerId, isPeerId } from './peerId.js'
import { hkdf } from '@noble/hashes/hkdf.js'
import { sha256 } from '@noble/hashes/sha2.js'
import { base32 } from 'multiformats/bases/base32'
import { concat } from 'uint8arrays/concat'
import { getCrypto, type SigningKey, type VerifyingKey } from './crypto/index.js'
import { DecryptionError, InvalidKeyError } from './errors.js'
import { anyBase } from './multibase.js'

/** Bytes in every symmetric key: service, read and content keys (AES-256). */
export const KEY_BYTES = 32
/** Bytes of the random nonce in front of every AES-256-GCM ciphertext. */
export const NONCE_BYTES = 12
/** Bytes of the GCM authentication tag at the end of every ciphertext. */
export const TAG_BYTES = 16

/**
 * A log's identity: an Ed25519 key pair. The log ID is the libp2p peer ID of its public key,
 * so anyone holding the ID can verify the log's records with no other lookup.
 */
export interface LogKey {
  /** The log ID: a libp2p peer ID string (`12D3KooW…`). */
  readonly id: string
  /** The 32-byte Ed25519 seed. Never leaves this peer. */
  readonly seed: Uint8Array
  readonly publicKey: Uint8Array
  /** Prepared once: signing reuses it for every record. */
  readonly signer: SigningKey
}

/**
 * Create a new log key.
 *
 * @example
 * ```ts
 * import { generateLogKey } from 'redux-p2p-threads/advanced'
 * const key = generateLogKey()
 * key.id // '12D3KooW…'
 * ```
 */
export function generateLogKey(): LogKey {
  return logKeyFromSeed(getCrypto().randomBytes(32))
}

/** Rebuild a log key from its 32-byte seed. */
export function logKeyFromSeed(seed: Uint8Array): LogKey {
  if (seed.length !== 32) throw new InvalidKeyError(`a log key seed has 32 bytes, got ${seed.length}`)
  const signer = getCrypto().signingKey(seed)
  return { id: logIdFromPublicKey(signer.publicKey), seed: Uint8Array.from(seed), publicKey: signer.publicKey, signer }
}

/** The log ID (peer ID string) of an Ed25519 public key. */
export function logIdFromPublicKey(publicKey: Uint8Array): string {
  if (publicKey.length !== 32) throw new InvalidKeyError(`an Ed25519 public key has 32 bytes, got ${publicKey.length}`)
  return ed25519PeerId(publicKey)
}

/** Log IDs that passed {@link publicKeyFromLogId}, with their keys. */
const checkedLogIds = new Map<string, Uint8Array>()

/** The Ed25519 public key inside a log ID; throws {@link InvalidKeyError} for anything else. */
export function publicKeyFromLogId(logId: string): Uint8Array {
  const known = checkedLogIds.get(logId)
  if (known !== undefined) return known
  if (typeof logId !== 'string') throw new InvalidKeyError('a log ID is a string')
  const raw = ed25519FromPeerId(logId)
  if (raw === undefined) {
    // One key, one log ID: the CID spelling of a peer ID (`bafz…`), or another encoding of the
    // key inside it, would give a writer's key a second log in which anyone could replay its
    // records (the signed statement does not name the log).
    if (isPeerId(logId)) throw new InvalidKeyError('log IDs are Ed25519 peer IDs, written in their canonical form (base58btc of the standard encoding of the key)', { logId })
    throw new InvalidKeyError(`not a peer ID: ${JSON.stringify(logId.slice(0, 80))}`)
  }
  // A key with a small-order part signs nothing an honest writer would, and is where signature
  // checks of different libraries disagree: no such key is a log.
  let weak: boolean
  try {
    const point = ed25519.Point.fromBytes(raw)
    weak = point.isSmallOrder() || !point.isTorsionFree()
  } catch (cause) {
    throw new InvalidKeyError('the log ID is not a point of Ed25519', { logId }, { cause })
  }
  if (weak) throw new InvalidKeyError('the log ID is a weak Ed25519 key (it has a small-order part)', { logId })
  // The torsion check costs ~1.5 ms: each log ID is checked once (bounded).
  if (checkedLogIds.size >= 10_000) checkedLogIds.clear()
  checkedLogIds.set(logId, raw)
  return raw
}

const verifiers = new Map<string, VerifyingKey>()

/** A cached verifier for a log ID: parsing the ID and preparing the key happen once per log. */
export function verifierForLog(logId: string): VerifyingKey {
  let v = verifiers.get(logId)
  if (v === undefined) {
    v = getCrypto().verifyingKey(publicKeyFromLogId(logId))
    if (verifiers.size > 10_000) verifiers.clear()
    verifiers.set(logId, v)
  }
  return v
}

/**
 * A thread's shared keys: the service key (the paper's follow key) lets a peer verify, store and
 * forward records; the read key lets it read them. A follower holds only `service`.
 */
export interface ThreadKey {
  readonly service: Uint8Array
  readonly read?: Uint8Array
}

/**
 * Create the keys of a new thread.
 *
 * @example
 * ```ts
 * import { createThreadKey, threadKeyToString } from 'redux-p2p-threads/advanced'
 * const key = createThreadKey()
 * threadKeyToString(key) // 'b…' (service ‖ read, base32)
 * ```
 */
export function createThreadKey(): Required<ThreadKey> {
  const c = getCrypto()
  return { service: c.randomBytes(KEY_BYTES), read: c.randomBytes(KEY_BYTES) }
}

/** Bytes of a thread key: service ‖ read (64), or service alone (32) for a follow-only key. */
export function threadKeyToBytes(key: ThreadKey): Uint8Array {
  return key.read === undefined ? Uint8Array.from(key.service) : concat([key.service, key.read])
}

/** Parse {@link threadKeyToBytes} output. */
export function threadKeyFromBytes(bytes: Uint8Array): ThreadKey {
  if (bytes.length === KEY_BYTES) return { service: Uint8Array.from(bytes) }
  if (bytes.length === 2 * KEY_BYTES) return { service: bytes.slice(0, KEY_BYTES), read: bytes.slice(KEY_BYTES) }
  throw new InvalidKeyError(`a thread key has 32 or 64 bytes, got ${bytes.length}`)
}

/** The multibase base32 string form of a thread key. */
export function threadKeyToString(key: ThreadKey): string {
  return base32.encode(threadKeyToBytes(key))
}

/** Parse a thread key from any multibase string. */
export function parseThreadKey(text: string): ThreadKey {
  let bytes: Uint8Array
  try {
    bytes = anyBase.decode(text)
  } catch (cause) {
    throw new InvalidKeyError('a thread key is a multibase string', {}, { cause })
  }
  return threadKeyFromBytes(bytes)
}

/** The follow-only part of a thread key, for a follower. */
export function followKey(key: ThreadKey): ThreadKey {
  return { service: key.service }
}

/** AES-256-GCM under `key` with a fresh random nonce: `nonce ‖ ciphertext ‖ tag`. */
export function encrypt(key: Uint8Array, plaintext: Uint8Array, nonce: Uint8Array = getCrypto().randomBytes(NONCE_BYTES)): Uint8Array {
  const sealed = getCrypto().aesGcmEncrypt(key, nonce, plaintext)
  const out = new Uint8Array(NONCE_BYTES + sealed.length)
  out.set(nonce)
  out.set(sealed, NONCE_BYTES)
  return out
}

/** Open {@link encrypt} output; `undefined` if the key is wrong or the bytes were changed. */
export function decrypt(key: Uint8Array, box: Uint8Array): Uint8Array | undefined {
  if (box.length < NONCE_BYTES + TAG_BYTES) return undefined
  return getCrypto().aesGcmDecrypt(key, box.subarray(0, NONCE_BYTES), box.subarray(NONCE_BYTES))
}

const SEAL_VERSION = 1
const SEAL_INFO = new TextEncoder().encode('redux-threads/seal/v1')

function sealKey(shared: Uint8Array, ephemeral: Uint8Array, recipient: Uint8Array): Uint8Array {
  return hkdf(sha256, shared, concat([ephemeral, recipient]), SEAL_INFO, KEY_BYTES)
}

/**
 * Seal bytes (a key set) to the holder of an Ed25519 public key, via X25519 on the matching
 * Montgomery key: `1 ‖ ephemeral X25519 key(32) ‖ nonce ‖ ciphertext ‖ tag`. Only the holder of
 * the Ed25519 seed can open it; the sender stays anonymous.
 *
 * @example
 * ```ts
 * import { generateLogKey, sealTo, openSealed } from 'redux-p2p-threads/advanced'
 * const bob = generateLogKey()
 * const box = sealTo(bob.publicKey, new TextEncoder().encode('hi'))
 * openSealed(bob, box) // Uint8Array of 'hi'
 * ```
 */
export function sealTo(recipientPublicKey: Uint8Array, plaintext: Uint8Array): Uint8Array {
  if (recipientPublicKey.length !== 32) throw new InvalidKeyError('sealTo needs a 32-byte Ed25519 public key')
  const recipient = ed25519.utils.toMontgomery(recipientPublicKey)
  const secret = x25519.utils.randomSecretKey()
  const ephemeral = x25519.getPublicKey(secret)
  const key = sealKey(x25519.getSharedSecret(secret, recipient), ephemeral, recipient)
  return concat([Uint8Array.of(SEAL_VERSION), ephemeral, encrypt(key, plaintext)])
}

/** Open a {@link sealTo} box with the recipient's log key; throws {@link DecryptionError}. */
export function openSealed(recipient: Pick<LogKey, 'seed' | 'id'>, box: Uint8Array): Uint8Array {
  if (box.length < 1 + 32 + NONCE_BYTES + TAG_BYTES || box[0] !== SEAL_VERSION) {
    throw new DecryptionError('not a sealed box of version 1', { logId: recipient.id })
  }
  const ephemeral = box.subarray(1, 33)
  const secret = ed25519.utils.toMontgomerySecret(recipient.seed)
  const mine = x25519.getPublicKey(secret)
  let shared: Uint8Array
  try {
    shared = x25519.getSharedSecret(secret, ephemeral)
  } catch (cause) {
    throw new DecryptionError('sealed box has an invalid ephemeral key', { logId: recipient.id }, { cause })
  }
  const plain = decrypt(sealKey(shared, ephemeral, mine), box.subarray(33))
  if (plain === undefined) throw new DecryptionError('sealed box is not for this key, or was changed', { logId: recipient.id })
  return plain
}
