/**
 * The small, synchronous crypto interface the protocol core runs on.
 *
 * Two implementations produce identical bytes: `nodeCrypto` (node:crypto, about 20x faster for
 * Ed25519 signing) and `nobleCrypto` (pure JS, for browsers). Synchronous on purpose: a local
 * command is ordered and applied synchronously, and WebCrypto's per-call promise costs more than
 * the work itself for 200-byte events.
 */

/** An Ed25519 private key, prepared once for repeated signing. */
export interface SigningKey {
  /** The 32-byte Ed25519 public key. */
  readonly publicKey: Uint8Array
  /** The 64-byte Ed25519 signature of `message`. */
  sign(message: Uint8Array): Uint8Array
}

/** An Ed25519 public key, prepared once for repeated verification. */
export interface VerifyingKey {
  readonly publicKey: Uint8Array
  verify(message: Uint8Array, signature: Uint8Array): boolean
}

export interface CryptoProvider {
  /** `'node'` or `'noble'`, for figures and diagnostics. */
  readonly name: string
  randomBytes(length: number): Uint8Array
  sha256(data: Uint8Array): Uint8Array
  hmacSha256(key: Uint8Array, data: Uint8Array): Uint8Array
  /** Prepare an Ed25519 key from its 32-byte seed. */
  signingKey(seed: Uint8Array): SigningKey
  /** Prepare an Ed25519 public key (32 bytes). */
  verifyingKey(publicKey: Uint8Array): VerifyingKey
  /** AES-256-GCM: returns `ciphertext ‖ tag(16)`. */
  aesGcmEncrypt(key: Uint8Array, nonce: Uint8Array, plaintext: Uint8Array): Uint8Array
  /** AES-256-GCM: the plaintext, or `undefined` when the tag does not authenticate. */
  aesGcmDecrypt(key: Uint8Array, nonce: Uint8Array, sealed: Uint8Array): Uint8Array | undefined
}
