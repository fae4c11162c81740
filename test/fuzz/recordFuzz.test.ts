import { describe, it, expect } from 'vitest'
import { createNodeCrypto } from '../../src/core/crypto/nodeCrypto.js'
import { nobleCrypto } from '../../src/core/crypto/nobleCrypto.js'
import { getCrypto, type CryptoProvider } from '../../src/core/crypto/index.js'
import { KNOWN_ERROR_NAMES } from '../unit/core/fixtures.js'
import { fuzzCar } from './carFuzz.js'
import { fuzzRecords, FuzzFailure, Rng } from './recordFuzz.js'

// The record run and the CAR run together take about 4-5 s on a 2-core machine.
const ITERATIONS = 12_000
const CAR_ITERATIONS = 300
const SEED = 0x5eed_2019

const TARGETS = [
  'verifyRecord/random',
  'verifyRecord/mutated',
  'verifyRecord/resealed',
  'verifyRecord/wrongLog',
  'verifyRecord/wrongKey',
  'verifyRecord/wrongThread',
  'verifyRecord/wrongTypes',
  'verifyRecord/craftedRecordNode',
  'verifyRecord/craftedEvent',
  'openEvent/craftedHeader',
  'openEvent/craftedBody',
  'openEvent/mutated',
  'verifyChain',
  'storedRecord',
  'checkStored',
  'decodeCommand',
  'ThreadId.fromBytes',
  'ThreadId.parse',
  'parseThreadKey',
  'openSealed',
  'decodeEventNode',
  'decodeRecordNode',
  'decodeRecordNode/format1',
  'decodeForkProof',
  'checkForkProof',
  'unpad'
]

/** Targets that must also accept inputs (honest ones, or mutations that change nothing). */
const ACCEPTING = ['verifyRecord/mutated', 'verifyRecord/resealed', 'verifyChain', 'storedRecord', 'checkStored', 'decodeRecordNode', 'decodeForkProof', 'checkForkProof', 'unpad', 'openEvent/craftedBody']

const CAR_TARGETS = [
  'parseThreadCar/mutated',
  'parseThreadCar/random',
  'parseThreadCar/crafted',
  'importThreadCar/wrongKey',
  'importThreadCar/noKey',
  'importThreadCar/forked'
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
    for (const name of [
      'MalformedRecordError',
      'CidMismatchError',
      'DecryptionError',
      'BadSignatureError',
      'BrokenChainError',
      'CorruptStoreError',
      'InvalidThreadIdError',
      'InvalidKeyError',
      'TooLargeError',
      'UnsupportedFormatError'
    ]) {
      expect([name, (summary.rejectedByName[name] ?? 0) > 0]).toEqual([name, true])
    }
    // Every function under test was reached, and each refused something.
    for (const target of TARGETS) expect([target, (summary.byTarget[target]?.rejected ?? 0) > 0]).toEqual([target, true])
    for (const target of ACCEPTING) expect([target, (summary.byTarget[target]?.accepted ?? 0) > 0]).toEqual([target, true])
    // Honest inputs are part of the mix, and were accepted.
    expect(summary.accepted).toBeGreaterThan(ITERATIONS / 20)
  })

  it(`survives ${CAR_ITERATIONS} CAR files from a fixed seed: only typed errors, no mutated CAR read as another thread`, async () => {
    const before = getCrypto()
    const summary = await fuzzCar({ iterations: CAR_ITERATIONS, seed: SEED })
    expect(getCrypto()).toBe(before)
    expect(summary.iterations).toBe(CAR_ITERATIONS)
    const rejected = Object.values(summary.rejectedByName).reduce((n, k) => n + k, 0)
    expect(summary.accepted + rejected).toBe(CAR_ITERATIONS)
    for (const name of Object.keys(summary.rejectedByName)) expect(KNOWN_ERROR_NAMES.has(name)).toBe(true)
    for (const name of ['MalformedRecordError', 'EquivocationError', 'NotFoundError']) expect([name, (summary.rejectedByName[name] ?? 0) > 0]).toEqual([name, true])
    for (const target of CAR_TARGETS) expect([target, (summary.byTarget[target]?.rejected ?? 0) > 0]).toEqual([target, true])
    for (const target of ['parseThreadCar/honest', 'importThreadCar/fresh', 'importThreadCar/prefix', 'importThreadCar/follow']) {
      expect([target, (summary.byTarget[target]?.accepted ?? 0) > 0]).toEqual([target, true])
    }
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
