import type { CryptoProvider } from './cryptoProvider.js'

type NodeCrypto = typeof import('node:crypto')

/**
 * The `node:crypto` module, as {@link createNodeCrypto} takes it: the members it calls, typed
 * loosely, so these declarations type-check without Node's types (`@types/node`) in a browser app.
 */
export interface NodeCryptoModule {
  readonly randomBytes: unknown
  readonly randomFillSync: unknown
  readonly createHash: unknown
  readonly createHmac: unknown
  readonly createPrivateKey: unknown
  readonly createPublicKey: unknown
  readonly createCipheriv: unknown
  readonly createDecipheriv: unknown
  readonly sign: unknown
  readonly verify: unknown
}

// DER prefixes that wrap a raw Ed25519 seed (PKCS#8) and public key (SPKI), RFC 8410.
const PKCS8_PREFIX = Uint8Array.from([0x30, 0x2e, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x04, 0x22, 0x04, 0x20])
const SPKI_PREFIX = Uint8Array.from([0x30, 0x2a, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x03, 0x21, 0x00])

function der(prefix: Uint8Array, raw: Uint8Array): Uint8Array {
  const out = new Uint8Array(prefix.length + raw.length)
  out.set(prefix)
  out.set(raw, prefix.length)
  return out
}

function view(b: Uint8Array): Uint8Array {
  // Buffers from node:crypto may share a pooled ArrayBuffer: hand out exact-length views.
  return new Uint8Array(b.buffer, b.byteOffset, b.byteLength)
}

/**
 * Random bytes from a pool refilled 16 KiB at a time: node's per-call overhead is most of the
 * cost of the 68 random bytes a record needs. Each byte is handed out once.
 */
function pooledRandom(c: NodeCrypto): (length: number) => Uint8Array {
  const POOL = 16 * 1024
  let pool = new Uint8Array(0)
  let at = 0
  return (length) => {
    if (length > 1024) return view(c.randomBytes(length))
    if (at + length > pool.length) {
      pool = new Uint8Array(POOL)
      c.randomFillSync(pool)
      at = 0
    }
    const out = pool.slice(at, at + length)
    // Wipe what was handed out, so no copy of a key stays in the pool.
    pool.fill(0, at, at + length)
    at += length
    return out
  }
}

/**
 * node:crypto behind {@link CryptoProvider}: key objects are built once per key and reused,
 * which is what makes Ed25519 signing about 20x faster than pure JS.
 */
export function createNodeCrypto(module: NodeCryptoModule): CryptoProvider {
  const c = module as NodeCrypto
  return {
    name: 'node',
    randomBytes: pooledRandom(c),
    // crypto.hash (Node >= 20.12) is a one-shot without a Hash object per call.
    sha256: typeof c.hash === 'function'
      ? (data) => view(c.hash('sha256', data, 'buffer') as unknown as Uint8Array)
      : (data) => view(c.createHash('sha256').update(data).digest()),
    hmacSha256: (key, data) => view(c.createHmac('sha256', key).update(data).digest()),
    signingKey(seed) {
      const key = c.createPrivateKey({ key: Buffer.from(der(PKCS8_PREFIX, seed)), format: 'der', type: 'pkcs8' })
      const spki = c.createPublicKey(key).export({ format: 'der', type: 'spki' })
      return {
        publicKey: Uint8Array.from(spki.subarray(SPKI_PREFIX.length)),
        sign: (message) => view(c.sign(null, message, key))
      }
    },
    verifyingKey(publicKey) {
      const key = c.createPublicKey({ key: Buffer.from(der(SPKI_PREFIX, publicKey)), format: 'der', type: 'spki' })
      return {
        publicKey: Uint8Array.from(publicKey),
        verify: (message, signature) => {
          if (signature.length !== 64) return false
          try {
            return c.verify(null, message, key, signature)
          } catch {
            return false
          }
        }
      }
    },
    aesGcmEncrypt(key, nonce, plaintext) {
      const cipher = c.createCipheriv('aes-256-gcm', key, nonce)
      const head = cipher.update(plaintext)
      const tail = cipher.final()
      const tag = cipher.getAuthTag()
      const out = new Uint8Array(head.length + tail.length + tag.length)
      out.set(head)
      out.set(tail, head.length)
      out.set(tag, head.length + tail.length)
      return out
    },
    aesGcmDecrypt(key, nonce, sealed) {
      if (sealed.length < 16) return undefined
      try {
        const decipher = c.createDecipheriv('aes-256-gcm', key, nonce)
        decipher.setAuthTag(sealed.subarray(sealed.length - 16))
        const head = decipher.update(sealed.subarray(0, sealed.length - 16))
        const tail = decipher.final()
        if (tail.length === 0) return view(head)
        const out = new Uint8Array(head.length + tail.length)
        out.set(head)
        out.set(tail, head.length)
        return out
      } catch {
        return undefined
      }
    }
  }
}
