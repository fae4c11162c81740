/**
 * The machine's own limits, measured in the same run with the provider the core uses
 * (`getCrypto()`): the primitives a record costs, and the record rates they allow.
 */

import { getCrypto, nobleCrypto, type CryptoProvider } from '../src/core/crypto/index.js'
import { once, sig, time, type Bench, type Limit, type Reporter, type Timing } from './harness.js'

/**
 * Bytes signed per record (format 2): the statement `"redux-threads/record/v2"` (23) ‖ thread ID
 * (34) ‖ uvarint(seq) (2 for seq 128..16383) ‖ CID(event) (36) ‖ previous identity (36).
 */
const SIGNED_BYTES = 131
/** Plaintext size of the AES and SHA-256 figures. */
const BLOCK_BYTES = 200

function inputs(c: CryptoProvider) {
  const seed = c.randomBytes(32)
  const signer = c.signingKey(seed)
  const message = c.randomBytes(SIGNED_BYTES)
  const key = c.randomBytes(32)
  const nonce = c.randomBytes(12)
  const plain = c.randomBytes(BLOCK_BYTES)
  return { signer, verifier: c.verifyingKey(signer.publicKey), message, signature: signer.sign(message), key, nonce, plain, sealed: c.aesGcmEncrypt(key, nonce, plain) }
}

const fixed = once(async () => inputs(getCrypto()))

/** Keep results alive so no call can be optimised away. */
let sink = 0

export const signTiming = once(async (): Promise<Timing> => {
  const { signer, message } = await fixed()
  return time({ n: 5000 }, (_, n) => {
    for (let i = 0; i < n; i++) sink += signer.sign(message)[0] as number
  })
})

export const verifyTiming = once(async (): Promise<Timing> => {
  const { verifier, message, signature } = await fixed()
  return time({ n: 2000 }, (_, n) => {
    for (let i = 0; i < n; i++) if (!verifier.verify(message, signature)) throw new Error('verify failed')
  })
})

export const aesEncryptTiming = once(async (): Promise<Timing> => {
  const c = getCrypto()
  const { key, nonce, plain } = await fixed()
  return time({ n: 20000 }, (_, n) => {
    for (let i = 0; i < n; i++) sink += c.aesGcmEncrypt(key, nonce, plain).length
  })
})

export const aesDecryptTiming = once(async (): Promise<Timing> => {
  const c = getCrypto()
  const { key, nonce, sealed } = await fixed()
  return time({ n: 20000 }, (_, n) => {
    for (let i = 0; i < n; i++) if (c.aesGcmDecrypt(key, nonce, sealed) === undefined) throw new Error('decrypt failed')
  })
})

export const shaTiming = once(async (): Promise<Timing> => {
  const c = getCrypto()
  const { plain } = await fixed()
  return time({ n: 50000 }, (_, n) => {
    for (let i = 0; i < n; i++) sink += c.sha256(plain)[0] as number
  })
})

/** Seconds per operation of each primitive. */
export interface RawTimes {
  readonly sign: number
  readonly verify: number
  readonly aesEncrypt: number
  readonly aesDecrypt: number
  readonly sha: number
}

export const rawTimes = once(async (): Promise<RawTimes> => ({
  sign: (await signTiming()).secPerOp,
  verify: (await verifyTiming()).secPerOp,
  aesEncrypt: (await aesEncryptTiming()).secPerOp,
  aesDecrypt: (await aesDecryptTiming()).secPerOp,
  sha: (await shaTiming()).secPerOp
}))

/**
 * Records per second the primitives alone allow for creation: 1 sign, 3 AES, 5 SHA-256 (the
 * four blocks, and the statement for the record's identity).
 */
export async function rawCreateLimit(): Promise<Limit> {
  const t = await rawTimes()
  return { name: 'raw sign+3xAES+5xSHA256', value: 1 / (t.sign + 3 * t.aesEncrypt + 5 * t.sha) }
}

/** Records per second for verify and open: 1 verify, 3 AES decrypt, 5 SHA-256 (four CIDs and the identity). */
export async function rawVerifyLimit(): Promise<Limit> {
  const t = await rawTimes()
  return { name: 'raw verify+3xAESdec+5xSHA256', value: 1 / (t.verify + 3 * t.aesDecrypt + 5 * t.sha) }
}

/**
 * The primitives `verifyRecord` itself runs (it opens only the record block): 1 verify, 1 AES
 * decrypt, 5 SHA-256 (four blocks and the statement); with `signatures` < 1 for a chain, where one
 * signature covers a run.
 */
export async function rawWorkLimit(signatures = 1): Promise<Limit> {
  const t = await rawTimes()
  const name = signatures === 1 ? 'raw verify+1xAESdec+5xSHA256' : `raw verify/${Math.round(1 / signatures)}+1xAESdec+5xSHA256`
  return { name, value: 1 / (signatures * t.verify + t.aesDecrypt + 5 * t.sha) }
}

const nobleSignTiming = once(async (): Promise<Timing> => {
  const signer = nobleCrypto.signingKey(nobleCrypto.randomBytes(32))
  const message = nobleCrypto.randomBytes(SIGNED_BYTES)
  return time({ n: 100, runs: 3 }, (_, n) => {
    for (let i = 0; i < n; i++) sink += signer.sign(message)[0] as number
  })
})

function primitive(name: string, unit: string, timing: () => Promise<Timing>, extra: Record<string, unknown> = {}): Bench {
  return {
    name,
    async run(r: Reporter) {
      r.rate(name, unit, await timing(), { provider: getCrypto().name, ...extra })
    }
  }
}

export const rawBenches: Bench[] = [
  primitive('raw.ed25519.sign', 'signs/s', signTiming, { bytes: SIGNED_BYTES, note: 'prepared key' }),
  primitive('raw.ed25519.verify', 'verifies/s', verifyTiming, { bytes: SIGNED_BYTES, note: 'prepared key' }),
  primitive('raw.aes256gcm.encrypt', 'ops/s', aesEncryptTiming, { bytes: BLOCK_BYTES }),
  primitive('raw.aes256gcm.decrypt', 'ops/s', aesDecryptTiming, { bytes: BLOCK_BYTES }),
  primitive('raw.sha256', 'ops/s', shaTiming, { bytes: BLOCK_BYTES }),
  {
    name: 'raw.limit.create',
    async run(r) {
      const limit = await rawCreateLimit()
      r.emit({ bench: 'raw.limit.create', unit: 'records/s', value: Math.round(limit.value), formula: `1/(t_sign+3*t_aes+5*t_sha) [${limit.name}]`, provider: getCrypto().name })
    }
  },
  {
    name: 'raw.limit.verify',
    async run(r) {
      const limit = await rawVerifyLimit()
      r.emit({ bench: 'raw.limit.verify', unit: 'records/s', value: Math.round(limit.value), formula: `1/(t_verify+3*t_aesdec+5*t_sha) [${limit.name}]`, provider: getCrypto().name })
    }
  },
  {
    name: 'raw.noble.ed25519.sign',
    async run(r) {
      const noble = await nobleSignTiming()
      const native = getCrypto().name === 'noble' ? undefined : await signTiming()
      r.rate('raw.noble.ed25519.sign', 'signs/s', noble, {
        provider: 'noble',
        note: 'reference only: the browser path',
        ...(native === undefined ? {} : { slower_than_provider: sig(native.opsPerSec / noble.opsPerSec, 3) })
      })
    }
  }
]

/** Read so the sink is not dead code. */
export function rawSink(): number {
  return sink
}
