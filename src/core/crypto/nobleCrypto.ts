import { gcm } from '@noble/ciphers/aes.js'
import { ed25519 } from '@noble/curves/ed25519.js'
import { bytesToNumberLE } from '@noble/curves/utils.js'
import { hmac } from '@noble/hashes/hmac.js'
import { sha256, sha512 } from '@noble/hashes/sha2.js'
import { concatBytes, randomBytes } from '@noble/hashes/utils.js'
import type { CryptoProvider } from './cryptoProvider.js'
import { prefetchedCount, takePrefetched } from './webCryptoPrefetch.js'

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
      // Exactly what OpenSSL checks, so both providers accept the same set (peers on Node and in
      // browsers must fold the same records): strict RFC 8032 decoding and the cofactorless
      // equation [S]B = R + [k]A. noble's ed25519.verify is cofactored and refuses small-order
      // keys, so it disagrees with OpenSSL when R or the key has a small-order part.
      verify: (message, signature) => {
        try {
          if (signature.length !== 64) return false
          const { Point } = ed25519
          const A = Point.fromBytes(key)
          const R = Point.fromBytes(signature.subarray(0, 32))
          const s = bytesToNumberLE(signature.subarray(32))
          if (s >= Point.Fn.ORDER) return false
          const k = Point.Fn.create(bytesToNumberLE(sha512(concatBytes(signature.subarray(0, 32), key, message))))
          return Point.BASE.multiplyUnsafe(s).equals(R.add(A.multiplyUnsafe(k)))
        } catch {
          return false
        }
      }
    }
  },
  aesGcmEncrypt: (key, nonce, plaintext) => gcm(key, nonce).encrypt(plaintext),
  aesGcmDecrypt(key, nonce, sealed) {
    // A box the engine had WebCrypto open ahead of this call (webCryptoPrefetch.ts): same bytes, same answer.
    if (prefetchedCount() > 0) {
      const hit = takePrefetched(key, nonce, sealed)
      if (hit !== undefined) return hit
    }
    try {
      return gcm(key, nonce).decrypt(sealed)
    } catch {
      return undefined
    }
  }
}
