import { logIdFromPublicKey, publicKeyFromLogId } from '../../../src/core/keys.js'
import { describe, it, expect, afterEach } from 'vitest'
import { createNodeCrypto } from '../../../src/core/crypto/nodeCrypto.js'
import { nobleCrypto } from '../../../src/core/crypto/nobleCrypto.js'
import { getCrypto, setCrypto, type CryptoProvider } from '../../../src/core/crypto/index.js'
import { encodeCommand, decodeCommand } from '../../../src/core/command.js'
import { createThreadKey, logKeyFromSeed } from '../../../src/core/keys.js'
import { createRecord, openEvent, recordBlocks, verifyChain, verifyRecord, type LogRecord } from '../../../src/core/record.js'
import { ThreadId } from '../../../src/core/threadId.js'
import { ed25519 } from '@noble/curves/ed25519.js'
import { bytesEqual, flip, fromHex, hex } from './fixtures.js'

const nodeCryptoModule = await import('node:crypto')
const nodeCrypto = createNodeCrypto(nodeCryptoModule)
const providers: readonly CryptoProvider[] = [nodeCrypto, nobleCrypto]

const text = (s: string): Uint8Array => new TextEncoder().encode(s)

/** Deterministic bytes (sha256 counter mode), so failures reproduce. */
function detBytes(label: string, n: number): Uint8Array {
  const out = new Uint8Array(n)
  let at = 0
  for (let i = 0; at < n; i++) {
    const block = nobleCrypto.sha256(text(`${label}/${i}`))
    out.set(block.subarray(0, Math.min(32, n - at)), at)
    at += 32
  }
  return out
}

const SEEDS: readonly Uint8Array[] = [
  new Uint8Array(32),
  new Uint8Array(32).fill(0xff),
  fromHex('9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60'),
  ...Array.from({ length: 5 }, (_, i) => detBytes(`seed${i}`, 32))
]
const MESSAGES: readonly Uint8Array[] = [new Uint8Array(0), Uint8Array.of(0x72), detBytes('m100', 100), detBytes('m10k', 10_000)]

// Order of the Ed25519 group, little-endian, to build a non-canonical S = S + L.
const L = 2n ** 252n + 27742317777372353535851937790883648493n
function leToBig(b: Uint8Array): bigint {
  let n = 0n
  for (let i = b.length - 1; i >= 0; i--) n = (n << 8n) | BigInt(b[i] as number)
  return n
}
function bigToLe(n: bigint, len: number): Uint8Array {
  const out = new Uint8Array(len)
  for (let i = 0; i < len; i++) {
    out[i] = Number(n & 0xffn)
    n >>= 8n
  }
  return out
}

describe('nodeCrypto and nobleCrypto give identical bytes', () => {
  it('are named', () => {
    expect(nodeCrypto.name).toBe('node')
    expect(nobleCrypto.name).toBe('noble')
  })

  it('Ed25519 public keys from seeds', () => {
    for (const seed of SEEDS) {
      expect(hex(nodeCrypto.signingKey(seed).publicKey)).toBe(hex(nobleCrypto.signingKey(seed).publicKey))
    }
    expect(hex(nodeCrypto.signingKey(SEEDS[2] as Uint8Array).publicKey)).toBe('d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a')
  })

  it('Ed25519 signatures (deterministic), matching RFC 8032 test 1', () => {
    for (const seed of SEEDS) {
      const a = nodeCrypto.signingKey(seed)
      const b = nobleCrypto.signingKey(seed)
      for (const m of MESSAGES) {
        const sa = a.sign(m)
        expect(sa.length).toBe(64)
        expect(hex(sa)).toBe(hex(b.sign(m)))
        expect(hex(a.sign(m))).toBe(hex(sa))
      }
    }
    const rfc = nodeCrypto.signingKey(SEEDS[2] as Uint8Array).sign(new Uint8Array(0))
    expect(hex(rfc)).toBe(
      'e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b'
    )
  })

  it('verify each other’s signatures', () => {
    for (const seed of SEEDS.slice(2, 5)) {
      for (const m of MESSAGES) {
        for (const signer of providers) {
          const sk = signer.signingKey(seed)
          const sig = sk.sign(m)
          for (const verifier of providers) {
            const vk = verifier.verifyingKey(sk.publicKey)
            expect(hex(vk.publicKey)).toBe(hex(sk.publicKey))
            expect(vk.verify(m, sig)).toBe(true)
          }
        }
      }
    }
  })

  it('both reject bad signatures with false, never a throw', () => {
    const sk = nodeCrypto.signingKey(SEEDS[3] as Uint8Array)
    const m = MESSAGES[2] as Uint8Array
    const sig = sk.sign(m)
    const s = leToBig(sig.subarray(32))
    const nonCanonical = Uint8Array.from([...sig.subarray(0, 32), ...bigToLe(s + L, 32)])
    const other = nodeCrypto.signingKey(SEEDS[4] as Uint8Array)
    const bad: readonly [string, Uint8Array, Uint8Array][] = [
      ['flipped first byte', m, flip(sig, 0)],
      ['flipped last byte', m, flip(sig, 63, 0x10)],
      ['other message', flip(m, 5), sig],
      ['63 bytes', m, sig.subarray(0, 63)],
      ['65 bytes', m, Uint8Array.from([...sig, 0])],
      ['empty', m, new Uint8Array(0)],
      ['zeros', m, new Uint8Array(64)],
      ['S + L (malleated)', m, nonCanonical],
      ['other key', m, other.sign(m)]
    ]
    for (const p of providers) {
      const vk = p.verifyingKey(sk.publicKey)
      for (const [what, msg, s2] of bad) expect([p.name, what, vk.verify(msg, s2)]).toEqual([p.name, what, false])
    }
  })

  it('both answer false (no throw) for a public key that is not a curve point', () => {
    let notAPoint: Uint8Array | undefined
    for (let y = 2; y < 64 && notAPoint === undefined; y++) {
      const candidate = new Uint8Array(32)
      candidate[0] = y
      try {
        ed25519.Point.fromHex(hex(candidate))
      } catch {
        notAPoint = candidate
      }
    }
    expect(notAPoint).toBeDefined()
    const sig = nodeCrypto.signingKey(SEEDS[3] as Uint8Array).sign(text('m'))
    for (const p of providers) expect(p.verifyingKey(notAPoint as Uint8Array).verify(text('m'), sig)).toBe(false)
  })

  it('AES-256-GCM ciphertexts, including empty and 1 MB plaintexts', () => {
    const key = detBytes('aes-key', 32)
    const nonce = detBytes('aes-nonce', 12)
    for (const n of [0, 1, 15, 16, 17, 1000, 1 << 20]) {
      const plain = detBytes(`plain${n}`, n)
      const a = nodeCrypto.aesGcmEncrypt(key, nonce, plain)
      const b = nobleCrypto.aesGcmEncrypt(key, nonce, plain)
      expect(a.length).toBe(n + 16)
      expect(a.length).toBe(b.length)
      expect(hex(nodeCrypto.sha256(a))).toBe(hex(nodeCrypto.sha256(b)))
      expect(bytesEqual(a, b)).toBe(true)
      // Each opens the other's ciphertext.
      expect(hex(nobleCrypto.sha256(nodeCrypto.aesGcmDecrypt(key, nonce, b) ?? Uint8Array.of(1, 2, 3)))).toBe(hex(nobleCrypto.sha256(plain)))
      expect(hex(nobleCrypto.sha256(nobleCrypto.aesGcmDecrypt(key, nonce, a) ?? Uint8Array.of(1, 2, 3)))).toBe(hex(nobleCrypto.sha256(plain)))
    }
  })

  it('AES-256-GCM known answer (NIST test case 13: zero key, zero nonce, empty plaintext)', () => {
    for (const p of providers) {
      expect(hex(p.aesGcmEncrypt(new Uint8Array(32), new Uint8Array(12), new Uint8Array(0)))).toBe('530f8afbc74536b9a963b4f1c4cb738b')
    }
  })

  it('both reject a wrong tag, a wrong key, a wrong nonce and a short box with undefined', () => {
    const key = detBytes('k', 32)
    const nonce = detBytes('n', 12)
    const sealed = nodeCrypto.aesGcmEncrypt(key, nonce, text('attack at dawn'))
    for (const p of providers) {
      expect(p.aesGcmDecrypt(key, nonce, sealed)).toEqual(text('attack at dawn'))
      expect(p.aesGcmDecrypt(key, nonce, flip(sealed, sealed.length - 1))).toBeUndefined()
      expect(p.aesGcmDecrypt(key, nonce, flip(sealed, 0))).toBeUndefined()
      expect(p.aesGcmDecrypt(flip(key, 3), nonce, sealed)).toBeUndefined()
      expect(p.aesGcmDecrypt(key, flip(nonce, 11), sealed)).toBeUndefined()
      expect(p.aesGcmDecrypt(key, nonce, sealed.subarray(0, 15))).toBeUndefined()
      expect(p.aesGcmDecrypt(key, nonce, new Uint8Array(0))).toBeUndefined()
      expect(p.aesGcmDecrypt(key, nonce, sealed.subarray(0, sealed.length - 1))).toBeUndefined()
    }
  })

  it('sha256, with the FIPS 180-2 vectors', () => {
    for (const p of providers) {
      expect(hex(p.sha256(new Uint8Array(0)))).toBe('e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855')
      expect(hex(p.sha256(text('abc')))).toBe('ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad')
    }
    for (const n of [1, 55, 56, 63, 64, 65, 1000, 1 << 20]) {
      const data = detBytes(`sha${n}`, n)
      expect(hex(nodeCrypto.sha256(data))).toBe(hex(nobleCrypto.sha256(data)))
    }
    // Views into a larger buffer hash only their own bytes.
    const big = detBytes('view', 100)
    expect(hex(nodeCrypto.sha256(big.subarray(10, 20)))).toBe(hex(nobleCrypto.sha256(Uint8Array.from(big.subarray(10, 20)))))
  })

  it('hmacSha256, with RFC 4231 test case 1', () => {
    for (const p of providers) {
      expect(hex(p.hmacSha256(new Uint8Array(20).fill(0x0b), text('Hi There')))).toBe(
        'b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7'
      )
    }
    for (const keyLen of [0, 1, 32, 64, 65, 200]) {
      for (const n of [0, 10, 1000]) {
        const key = detBytes(`hk${keyLen}`, keyLen)
        const data = detBytes(`hd${n}`, n)
        expect(hex(nodeCrypto.hmacSha256(key, data))).toBe(hex(nobleCrypto.hmacSha256(key, data)))
      }
    }
  })

  it('randomBytes gives the length asked for, different each time', () => {
    for (const p of providers) {
      const a = p.randomBytes(32)
      expect(a.length).toBe(32)
      expect(a.byteLength).toBe(32)
      expect(hex(p.randomBytes(32))).not.toBe(hex(a))
      expect(p.randomBytes(0).length).toBe(0)
    }
  })
})

/**
 * Signatures a hostile signer builds by hand: a small-order component in R or in the key. OpenSSL
 * (node:crypto) checks the cofactorless equation [S]B = R + [k]A; noble the cofactored one
 * [8][S]B = [8]R + [8][k]A, and it refuses small-order keys. They disagree on exactly these
 * signatures, so a writer can make Node peers and browser peers fold different records.
 * The noble provider now checks OpenSSL's equation, and log IDs with a small-order part are
 * refused outright (keys.ts), so both decide alike on every one of them.
 */
describe('hostile signatures: both providers must decide alike', () => {
  const L_ORDER = 2n ** 252n + 27742317777372353535851937790883648493n
  // A point of order 8.
  const T8 = ed25519.Point.fromBytes(fromHex('c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac037a'))
  const a = leToBig(detBytes('hostile/a', 32)) % L_ORDER
  const sha512 = (bytes: Uint8Array): Uint8Array => new Uint8Array(nodeCryptoModule.createHash('sha512').update(bytes).digest())

  /** A signature by the secret scalar `a` of A' = aB, for the key `key` (A' plus any torsion), with R's torsion part `t`. */
  function sign(key: Uint8Array, message: Uint8Array, i: number, t = ed25519.Point.ZERO): Uint8Array {
    const r = leToBig(detBytes(`hostile/r/${i}`, 64)) % L_ORDER
    const R = ed25519.Point.BASE.multiply(r).add(t).toBytes()
    const k = leToBig(sha512(Uint8Array.from([...R, ...key, ...message]))) % L_ORDER
    return Uint8Array.from([...R, ...bigToLe((r + k * a) % L_ORDER, 32)])
  }

  function verdicts(key: Uint8Array, sigFor: (m: Uint8Array, i: number) => Uint8Array): { node: number; noble: number } {
    const out = { node: 0, noble: 0 }
    const vn = nodeCrypto.verifyingKey(key)
    const vb = nobleCrypto.verifyingKey(key)
    for (let i = 0; i < 32; i++) {
      const m = detBytes(`hostile/m/${i}`, 131)
      const sig = sigFor(m, i)
      if (vn.verify(m, sig)) out.node++
      if (vb.verify(m, sig)) out.noble++
    }
    return out
  }

  it('agree on signatures made the honest way by the same scalar', () => {
    const key = ed25519.Point.BASE.multiply(a).toBytes()
    expect(verdicts(key, (m, i) => sign(key, m, i))).toEqual({ node: 32, noble: 32 })
  })

  it('agree when R has a small-order component (any writer can make one)', () => {
    const key = ed25519.Point.BASE.multiply(a).toBytes()
    const v = verdicts(key, (m, i) => sign(key, m, i, T8))
    expect(v.node).toBe(v.noble)
  })

  it('agree when the log key has a small-order component, and such a key is no log ID', () => {
    const key = ed25519.Point.BASE.multiply(a).add(T8).toBytes()
    const v = verdicts(key, (m, i) => sign(key, m, i))
    expect(v.node).toBe(v.noble)
    expect(() => publicKeyFromLogId(logIdFromPublicKey(key))).toThrow(expect.objectContaining({ name: 'InvalidKeyError' }))
  })

  it('agree on the all-zero signature under the all-zero (small-order) key', () => {
    const v = verdicts(new Uint8Array(32), () => new Uint8Array(64))
    expect(v.node).toBe(v.noble)
  })
})

describe('whole records across providers', () => {
  const original = getCrypto()
  afterEach(() => setCrypto(original))

  /** A thread ID from fixed bytes, so records built twice are byte-identical. */
  const thread = ThreadId.fromBytes(Uint8Array.from([1, 0x55, ...detBytes('thread', 32)]))

  function build(provider: CryptoProvider, seed: Uint8Array, n: number, threadKey = createThreadKey()): { records: LogRecord[]; threadKey: typeof threadKey; logId: string } {
    setCrypto(provider)
    const logKey = logKeyFromSeed(seed)
    const records: LogRecord[] = []
    for (let i = 0; i < n; i++) {
      const prev = records[i - 1]
      records.push(
        createRecord({
          logKey,
          threadKey,
          thread,
          body: encodeCommand({ type: 'todos/added', payload: { i, text: `item ${i}` } }),
          clock: i + 1,
          time: 1_700_000_000_000 + i,
          ...(prev === undefined ? {} : { prev: { id: prev.id, seq: prev.seq } })
        })
      )
    }
    return { records, threadKey, logId: logKey.id }
  }

  const ctx = (logId: string, threadKey: { service: Uint8Array }) => ({ thread, logId, serviceKey: threadKey.service })

  it('the auto-detected provider in Node is node:crypto', () => {
    expect(original.name).toBe('node')
  })

  it('records built with noble verify and open under node:crypto', () => {
    const { records, threadKey, logId } = build(nobleCrypto, detBytes('noble-writer', 32), 4)
    setCrypto(nodeCrypto)
    const verified = verifyChain(ctx(logId, threadKey), records.map(recordBlocks))
    expect(verified.map((r) => r.cid.toString())).toEqual(records.map((r) => r.cid.toString()))
    expect(verified.map((r) => r.id.toString())).toEqual(records.map((r) => r.id.toString()))
    for (const r of records) {
      const single = verifyRecord(ctx(logId, threadKey), recordBlocks(r))
      const { header, body } = openEvent(threadKey.read, single)
      expect(header.clock).toBe(r.seq)
      expect(decodeCommand(body)).toEqual({ type: 'todos/added', payload: { i: r.seq - 1, text: `item ${r.seq - 1}` } })
    }
  })

  it('records built with node:crypto verify and open under noble', () => {
    const { records, threadKey, logId } = build(nodeCrypto, detBytes('node-writer', 32), 4)
    setCrypto(nobleCrypto)
    const verified = verifyChain(ctx(logId, threadKey), records.map(recordBlocks))
    expect(verified).toHaveLength(4)
    for (const r of records) {
      const single = verifyRecord(ctx(logId, threadKey), recordBlocks(r))
      expect(single.cid.equals(r.cid)).toBe(true)
      expect(single.id.equals(r.id)).toBe(true)
      expect(openEvent(threadKey.read, single).header.time).toBe(1_700_000_000_000 + r.seq - 1)
    }
  })

  it('the same keys and random bytes give byte-identical records under both providers', () => {
    const fixedRandom = (p: CryptoProvider): CryptoProvider => {
      let counter = 0
      return { ...p, randomBytes: (n) => detBytes(`random/${counter++}`, n) }
    }
    const threadKey = { service: detBytes('svc', 32), read: detBytes('read', 32) }
    const seed = detBytes('same-writer', 32)
    const a = build(fixedRandom(nodeCrypto), seed, 3, threadKey)
    const b = build(fixedRandom(nobleCrypto), seed, 3, threadKey)
    expect(a.logId).toBe(b.logId)
    for (let i = 0; i < 3; i++) {
      expect((a.records[i] as LogRecord).id.equals((b.records[i] as LogRecord).id)).toBe(true)
      const ra = recordBlocks(a.records[i] as LogRecord)
      const rb = recordBlocks(b.records[i] as LogRecord)
      expect(hex(ra.record)).toBe(hex(rb.record))
      expect(hex(ra.event)).toBe(hex(rb.event))
      expect(hex(ra.header)).toBe(hex(rb.header))
      expect(hex(ra.body)).toBe(hex(rb.body))
    }
    // Pinned: a change to the statement, the node codec or the padding changes these.
    expect(a.records.map((r) => r.id.toString())).toEqual(PINNED_IDS)
    expect(a.records.map((r) => r.cid.toString())).toEqual(PINNED_CIDS)
  })
})

// Format 2 records of the fixed writer, thread, keys and random bytes above (node:crypto and noble agree).
const PINNED_IDS = [
  'bafkreidnpcodaemhh5iqmmiyws3pnnkitd463ygw4r35bkdm2ebp7cza2i',
  'bafkreiarm2zg32z5vhdbxsiauz7kkyo3atqzogdrtpnhblds5qqtts2awu',
  'bafkreibh7yr4shjf7js3x5jzm2ut6jflgry46vof5pf7fqmqbzzlk5cx5e'
]
const PINNED_CIDS = [
  'bafyreibwkkejitf2fokwrn5riu3kvftyth3i5tf5ldbjnx5qg2bx5eyymm',
  'bafyreih6kqceslv7iyjnnk5husmijpff7saerkaa6plrgzxelujebnxe7m',
  'bafyreibtbjjnqvn3endvalshrkcmwapcqstuvgvwbq7t63ht326dmnzbva'
]
