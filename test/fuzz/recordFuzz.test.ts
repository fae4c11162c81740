import { describe, it, expect } from 'vitest'
import { createNodeCrypto } from '../../src/core/crypto/nodeCrypto.js'
import { nobleCrypto } from '../../src/core/crypto/nobleCrypto.js'
import { getCrypto, type CryptoProvider } from '../../src/core/crypto/index.js'
import { KNOWN_ERROR_NAMES } from '../unit/core/fixtures.js'
import { fuzzRecords, FuzzFailure, Rng } from './recordFuzz.js'

// About 2-4 s on a 2-core machine at ~5-6k cases/s.
const ITERATIONS = 15_000
const SEED = 0x5eed_2019

const TARGETS = [
  'verifyRecord/random',
  'verifyRecord/mutated',
  'verifyRecord/wrongLog',
  'verifyRecord/wrongKey',
  'verifyRecord/wrongTypes',
  'verifyRecord/craftedRecordNode',
  'verifyRecord/craftedEvent',
  'openEvent/craftedHeader',
  'openEvent/mutated',
  'verifyChain',
  'storedRecord',
  'decodeCommand',
  'ThreadId.fromBytes',
  'ThreadId.parse',
  'parseThreadKey',
  'openSealed',
  'decodeEventNode',
  'decodeRecordNode'
]

describe('record fuzzing', () => {
  it(`survives ${ITERATIONS} cases from a fixed seed: only typed errors, no mutated input accepted`, () => {
    const before = getCrypto()
    const summary = fuzzRecords({ iterations: ITERATIONS, seed: SEED })
    expect(getCrypto()).toBe(before)
    expect(summary.iterations).toBe(ITERATIONS)
    const rejected = Object.values(summary.rejectedByName).reduce((n, k) => n + k, 0)
    expect(summary.accepted + rejected).toBe(ITERATIONS)
    for (const name of Object.keys(summary.rejectedByName)) expect(KNOWN_ERROR_NAMES.has(name)).toBe(true)
    // Every check of the core fired.
    for (const name of ['MalformedRecordError', 'CidMismatchError', 'DecryptionError', 'BadSignatureError', 'BrokenChainError', 'CorruptStoreError', 'InvalidThreadIdError', 'InvalidKeyError', 'TooLargeError']) {
      expect([name, (summary.rejectedByName[name] ?? 0) > 0]).toEqual([name, true])
    }
    // Every function under test was reached, and each refused something.
    for (const target of TARGETS) expect([target, (summary.byTarget[target]?.rejected ?? 0) > 0]).toEqual([target, true])
    // Honest inputs are part of the mix, and were accepted.
    expect(summary.accepted).toBeGreaterThan(ITERATIONS / 20)
  })

  it('is deterministic for a seed', () => {
    const a = fuzzRecords({ iterations: 1500, seed: 42 })
    const b = fuzzRecords({ iterations: 1500, seed: 42 })
    expect(b).toEqual(a)
    expect(fuzzRecords({ iterations: 1500, seed: 43 })).not.toEqual(a)
  })

  it('runs under the noble provider too', () => {
    const summary = fuzzRecords({ iterations: 400, seed: 7, crypto: nobleCrypto })
    expect(summary.iterations).toBe(400)
    for (const name of Object.keys(summary.rejectedByName)) expect(KNOWN_ERROR_NAMES.has(name)).toBe(true)
  })

  it('catches a broken verifier: a provider that accepts every signature fails the run', async () => {
    const node = createNodeCrypto(await import('node:crypto'))
    const gullible: CryptoProvider = { ...node, verifyingKey: (publicKey) => ({ publicKey, verify: () => true }) }
    let thrown: unknown
    try {
      // A seed no other run in this file uses: its logs are new, so no real verifier is cached for them.
      fuzzRecords({ iterations: 5000, seed: 0xbad, crypto: gullible })
    } catch (e) {
      thrown = e
    }
    expect(thrown).toBeInstanceOf(FuzzFailure)
    expect((thrown as FuzzFailure).message).toMatch(/accepted/)
  })

  it('uses a deterministic generator', () => {
    const a = new Rng(1)
    const b = new Rng(1)
    const xs = Array.from({ length: 100 }, () => a.int(1000))
    expect(Array.from({ length: 100 }, () => b.int(1000))).toEqual(xs)
    expect(new Set(xs).size).toBeGreaterThan(80)
    expect(xs.every((x) => x >= 0 && x < 1000)).toBe(true)
  })
})
