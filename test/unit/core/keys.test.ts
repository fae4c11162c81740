import { describe, it, expect } from 'vitest'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import { base32 } from 'multiformats/bases/base32'
import { base58btc } from 'multiformats/bases/base58'
import { DecryptionError, InvalidKeyError } from '../../../src/core/errors.js'
import {
  createThreadKey,
  decrypt,
  encrypt,
  followKey,
  generateLogKey,
  logIdFromPublicKey,
  logKeyFromSeed,
  openSealed,
  parseThreadKey,
  publicKeyFromLogId,
  sealTo,
  threadKeyFromBytes,
  threadKeyToBytes,
  threadKeyToString,
  NONCE_BYTES,
  TAG_BYTES
} from '../../../src/core/keys.js'
import { catchTyped, flip, fromHex, hex } from './fixtures.js'

// RFC 8032 section 7.1, test 1.
const RFC_SEED = fromHex('9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60')
const RFC_PUBLIC = 'd75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a'

const text = (s: string): Uint8Array => new TextEncoder().encode(s)

describe('log keys', () => {
  it('have a 12D3KooW peer ID for an id, a 32-byte seed and public key', () => {
    const key = generateLogKey()
    expect(key.id).toMatch(/^12D3KooW[1-9A-HJ-NP-Za-km-z]{44}$/)
    expect(key.seed.length).toBe(32)
    expect(key.publicKey.length).toBe(32)
    expect(key.signer.publicKey).toEqual(key.publicKey)
    expect(generateLogKey().id).not.toBe(key.id)
  })

  it('logKeyFromSeed is deterministic and matches RFC 8032', () => {
    const a = logKeyFromSeed(RFC_SEED)
    const b = logKeyFromSeed(Uint8Array.from(RFC_SEED))
    expect(hex(a.publicKey)).toBe(RFC_PUBLIC)
    expect(a.id).toBe(b.id)
    expect(hex(a.signer.sign(text('m')))).toBe(hex(b.signer.sign(text('m'))))
    const fresh = generateLogKey()
    expect(logKeyFromSeed(fresh.seed).id).toBe(fresh.id)
  })

  it('logKeyFromSeed copies the seed', () => {
    const seed = Uint8Array.from(RFC_SEED)
    const key = logKeyFromSeed(seed)
    seed.fill(0)
    expect(hex(key.seed)).toBe(hex(RFC_SEED))
  })

  it('logKeyFromSeed refuses a seed that is not 32 bytes', () => {
    catchTyped(() => logKeyFromSeed(new Uint8Array(31)), InvalidKeyError)
    catchTyped(() => logKeyFromSeed(new Uint8Array(64)), InvalidKeyError)
  })

  it('publicKeyFromLogId and logIdFromPublicKey round trip', () => {
    for (let i = 0; i < 5; i++) {
      const key = generateLogKey()
      expect(hex(publicKeyFromLogId(key.id))).toBe(hex(key.publicKey))
      expect(logIdFromPublicKey(key.publicKey)).toBe(key.id)
    }
    expect(hex(publicKeyFromLogId(logKeyFromSeed(RFC_SEED).id))).toBe(RFC_PUBLIC)
  })

  it('logIdFromPublicKey refuses a key that is not 32 bytes', () => {
    catchTyped(() => logIdFromPublicKey(new Uint8Array(33)), InvalidKeyError)
  })

  it('publicKeyFromLogId refuses garbage', () => {
    for (const id of ['', 'garbage', '12D3KooW', generateLogKey().id.slice(0, -2), 'bafkxd5bjgi6k4zivuoyxo4ua4mzyy']) {
      catchTyped(() => publicKeyFromLogId(id), InvalidKeyError)
    }
  })

  it('publicKeyFromLogId refuses non-Ed25519 peer IDs', async () => {
    const secp = peerIdFromPrivateKey(await generateKeyPair('secp256k1')).toString()
    expect(secp.startsWith('16Uiu2')).toBe(true)
    const e = catchTyped(() => publicKeyFromLogId(secp), InvalidKeyError)
    expect(e.message).toContain('Ed25519')
    // An RSA peer ID (an identity-less sha2-256 multihash): there is no key inside at all.
    catchTyped(() => publicKeyFromLogId('QmYyQSo1c1Ym7orWxLYvCrM2EmxFTANf8wXmmE7DWjhx5N'), InvalidKeyError)
  })
})

describe('thread keys', () => {
  it('round trip through the string form (64 bytes: service ‖ read)', () => {
    const key = createThreadKey()
    expect(key.service.length).toBe(32)
    expect(key.read.length).toBe(32)
    const bytes = threadKeyToBytes(key)
    expect(bytes.length).toBe(64)
    expect(hex(bytes)).toBe(hex(key.service) + hex(key.read))
    const s = threadKeyToString(key)
    expect(s.startsWith('b')).toBe(true)
    expect(hex(base32.decode(s))).toBe(hex(bytes))
    const parsed = parseThreadKey(s)
    expect(hex(parsed.service)).toBe(hex(key.service))
    expect(parsed.read === undefined ? '' : hex(parsed.read)).toBe(hex(key.read))
  })

  it('round trip a follow-only key (32 bytes: service alone)', () => {
    const key = createThreadKey()
    const follow = followKey(key)
    expect(follow.read).toBeUndefined()
    expect(threadKeyToBytes(follow).length).toBe(32)
    const parsed = parseThreadKey(threadKeyToString(follow))
    expect(hex(parsed.service)).toBe(hex(key.service))
    expect(parsed.read).toBeUndefined()
  })

  it('parses any multibase', () => {
    const key = createThreadKey()
    const parsed = parseThreadKey(base58btc.encode(threadKeyToBytes(key)))
    expect(hex(threadKeyToBytes(parsed))).toBe(hex(threadKeyToBytes(key)))
  })

  it('refuses 31, 33, 63 and 65 bytes', () => {
    for (const n of [0, 31, 33, 63, 65]) {
      const e = catchTyped(() => threadKeyFromBytes(new Uint8Array(n)), InvalidKeyError)
      expect(e.message).toContain(`got ${n}`)
      catchTyped(() => parseThreadKey(base32.encode(new Uint8Array(n))), InvalidKeyError)
    }
  })

  it('refuses strings that are not multibase', () => {
    for (const s of ['', 'garbage!', 'b!!!!', '\u0000']) catchTyped(() => parseThreadKey(s), InvalidKeyError)
  })

  it('makes fresh keys every time', () => {
    expect(hex(threadKeyToBytes(createThreadKey()))).not.toBe(hex(threadKeyToBytes(createThreadKey())))
  })
})

describe('encrypt / decrypt', () => {
  it('round trips, with a random nonce in front and a tag at the end', () => {
    const key = createThreadKey().read
    const box = encrypt(key, text('hello'))
    expect(box.length).toBe(NONCE_BYTES + 5 + TAG_BYTES)
    expect(decrypt(key, box)).toEqual(text('hello'))
    expect(hex(encrypt(key, text('hello')))).not.toBe(hex(box))
  })

  it('returns undefined for a wrong key, a changed byte or a short box', () => {
    const key = createThreadKey().read
    const box = encrypt(key, text('hello'))
    expect(decrypt(createThreadKey().read, box)).toBeUndefined()
    for (let i = 0; i < box.length; i++) expect(decrypt(key, flip(box, i))).toBeUndefined()
    expect(decrypt(key, box.subarray(0, NONCE_BYTES + TAG_BYTES - 1))).toBeUndefined()
  })
})

describe('sealTo / openSealed', () => {
  const secret = text('service ‖ read keys for a new member')

  it('opens for the recipient', () => {
    const bob = generateLogKey()
    const box = sealTo(bob.publicKey, secret)
    expect(box[0]).toBe(1)
    expect(box.length).toBe(1 + 32 + NONCE_BYTES + secret.length + TAG_BYTES)
    expect(openSealed(bob, box)).toEqual(secret)
    // Only the seed and id are needed.
    expect(openSealed({ seed: bob.seed, id: bob.id }, box)).toEqual(secret)
  })

  it('uses a fresh ephemeral key every time', () => {
    const bob = generateLogKey()
    const a = sealTo(bob.publicKey, secret)
    const b = sealTo(bob.publicKey, secret)
    expect(hex(a.subarray(1, 33))).not.toBe(hex(b.subarray(1, 33)))
    expect(openSealed(bob, a)).toEqual(openSealed(bob, b))
  })

  it('seals the empty message', () => {
    const bob = generateLogKey()
    expect(openSealed(bob, sealTo(bob.publicKey, new Uint8Array(0))).length).toBe(0)
  })

  it('fails with DecryptionError for another key', () => {
    const bob = generateLogKey()
    const eve = generateLogKey()
    const e = catchTyped(() => openSealed(eve, sealTo(bob.publicKey, secret)), DecryptionError)
    expect(e.logId).toBe(eve.id)
  })

  it('fails with DecryptionError for a flipped byte anywhere', () => {
    const bob = generateLogKey()
    const box = sealTo(bob.publicKey, secret)
    for (let i = 0; i < box.length; i++) {
      for (const mask of [0x01, 0x80]) catchTyped(() => openSealed(bob, flip(box, i, mask)), DecryptionError)
    }
  })

  it('fails with DecryptionError for a truncated or extended box', () => {
    const bob = generateLogKey()
    const box = sealTo(bob.publicKey, secret)
    for (let n = 0; n < box.length; n++) catchTyped(() => openSealed(bob, box.subarray(0, n)), DecryptionError)
    catchTyped(() => openSealed(bob, Uint8Array.from([...box, 0])), DecryptionError)
  })

  it('fails with DecryptionError for a low-order ephemeral key', () => {
    const bob = generateLogKey()
    const box = sealTo(bob.publicKey, secret)
    box.fill(0, 1, 33)
    catchTyped(() => openSealed(bob, box), DecryptionError)
  })

  it('sealTo refuses a public key that is not 32 bytes', () => {
    catchTyped(() => sealTo(new Uint8Array(31), secret), InvalidKeyError)
  })
})
