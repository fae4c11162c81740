import { gcm } from '@noble/ciphers/aes.js'
import { ed25519 } from '@noble/curves/ed25519.js'
import { hmac } from '@noble/hashes/hmac.js'
import { sha256 } from '@noble/hashes/sha2.js'
import { randomBytes } from '@noble/hashes/utils.js'
import type { CryptoProvider } from './cryptoProvider.js'

/**
 * Pure-JS crypto from the audited noble libraries: the browser implementation, and the
 * reference that {@link nodeCrypto} is tested against byte for byte.
 */
export const nobleCrypto: CryptoProvider = {
  name: 'noble',
  randomBytes: (length) => randomBytes(length),
  sha256: (data) => sha256(data),
  hmacSha256: (key, data) => hmac(sha256, key, data),
  signingKey(seed) {
    const secret = Uint8Array.from(seed)
    return {
      publicKey: ed25519.getPublicKey(secret),
      sign: (message) => ed25519.sign(message, secret)
    }
  },
  verifyingKey(publicKey) {
    const key = Uint8Array.from(publicKey)
    return {
      publicKey: key,
      // RFC 8032 strict (not ZIP-215), the rule OpenSSL applies: both providers accept the same set.
      verify: (message, signature) => {
        try {
          return ed25519.verify(signature, message, key, { zip215: false })
        } catch {
          return false
        }
      }
    }
  },
  aesGcmEncrypt: (key, nonce, plaintext) => gcm(key, nonce).encrypt(plaintext),
  aesGcmDecrypt(key, nonce, sealed) {
    try {
      return gcm(key, nonce).decrypt(sealed)
    } catch {
      return undefined
    }
  }
}
