/**
 * The WebCrypto prefetch (src/core/crypto/webCryptoPrefetch.ts): with the pure-JS provider, boxes
 * opened ahead through `crypto.subtle` (Node 20 has it) answer the synchronous decryptions, and
 * only for exactly the same key, nonce and sealed bytes; everything else is noble's answer, as
 * if there were no prefetch.
 */
import { gcm } from '@noble/ciphers/aes.js'
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest'
import { getCrypto, nobleCrypto, prefetchActive, prefetchDecrypt, setCrypto, type CryptoProvider } from '../../../src/core/crypto/index.js'
import { createNodeCrypto } from '../../../src/core/crypto/nodeCrypto.js'
import {
  MAX_PER_BUCKET,
  MAX_PREFETCHED,
  prefetchDecrypts,
  prefetchedCount,
  takePrefetched,
  type DecryptJob
} from '../../../src/core/crypto/webCryptoPrefetch.js'
import { boxOf } from '../../../src/core/block.js'
import { decrypt, encrypt } from '../../../src/core/keys.js'
import { openEvent, openRecordNode } from '../../../src/core/record.js'
import { newThread, openEngine, openWriter, write } from '../../support/engines.js'

const nodeCrypto = createNodeCrypto(await import('node:crypto'))
let before: CryptoProvider

beforeEach(() => {
  before = getCrypto()
  setCrypto(nobleCrypto)
})
afterEach(() => {
  setCrypto(before)
  vi.restoreAllMocks()
  expect(prefetchedCount()).toBe(0)
})

const bytes = (n: number, fill = 0): Uint8Array => new Uint8Array(n).map((_, i) => (i * 31 + fill) & 0xff)
const key = bytes(32, 1)
const text = (s: string): Uint8Array => new TextEncoder().encode(s)

/** What plain noble answers, with no memo in the way. */
function noble(k: Uint8Array, box: Uint8Array): Uint8Array | undefined {
  if (box.length < 28) return undefined
  try {
    return gcm(k, box.subarray(0, 12)).decrypt(box.subarray(12))
  } catch {
    return undefined
  }
}

/** Decrypt each box the synchronous way, and count the memo hits on the way. */
function openAll(jobs: readonly DecryptJob[]): { out: (Uint8Array | undefined)[]; hits: number } {
  let hits = 0
  const out = jobs.map((j) => {
    const waiting = prefetchedCount()
    const plain = decrypt(j.key, j.box)
    if (prefetchedCount() < waiting) hits++
    return plain
  })
  return { out, hits }
}

describe('WebCrypto prefetch', () => {
  it('answers good boxes with exactly noble’s plaintext, from the memo, and leaves it empty', async () => {
    const jobs = [text(''), text('a'), bytes(15), bytes(16), bytes(200), bytes(5000)].map((p) => ({ key, box: encrypt(key, p) }))
    const { plains, release } = await prefetchDecrypts(jobs)
    expect(prefetchedCount()).toBe(jobs.length)
    expect(plains.map((p) => p !== undefined)).toEqual(jobs.map(() => true))
    const { out, hits } = openAll(jobs)
    release()
    expect(hits).toBe(jobs.length)
    expect(out).toEqual(jobs.map((j) => noble(j.key, j.box)))
    expect(out[4]).toEqual(bytes(200))
  })

  it('the three layers of real records come from the memo, identical to node:crypto', async () => {
    const thread = newThread()
    const writer = await openWriter(thread)
    const blocks = await write(writer, 'one', 'two', 'three')
    const records = await writer.store.records(thread.threadId, writer.logKey!.id, { from: 1 })
    const outer = blocks.map((b) => ({ key: thread.key.service, box: boxOf(b.record, {}) }))
    const headers = blocks.map((b) => ({ key: thread.key.read, box: boxOf(b.header, {}) }))
    const first = await prefetchDecrypts([...outer, ...headers])
    expect(openAll(outer).hits).toBe(3)
    expect(openAll(headers).hits).toBe(3)
    first.release()
    const bodies = records.map((r) => ({ key: nodeCrypto.aesGcmDecrypt(thread.key.read, boxOf(r.blocks.header.bytes, {}).subarray(0, 12), boxOf(r.blocks.header.bytes, {}).subarray(12))!, box: boxOf(r.blocks.body.bytes, {}) }))
    const second = await prefetchDecrypts([...outer, ...headers, ...bodies])
    const nodes = blocks.map((b) => openRecordNode(thread.key.service, b.record, {}))
    const events = records.map((r) => openEvent(thread.key.read, r))
    expect(prefetchedCount()).toBe(0)
    second.release()
    setCrypto(nodeCrypto)
    expect(nodes).toEqual(blocks.map((b) => openRecordNode(thread.key.service, b.record, {})))
    expect(events).toEqual(records.map((r) => openEvent(thread.key.read, r)))
    expect(nodes.map((n) => n.seq)).toEqual([1, 2, 3])
  })

  it('a tampered ciphertext or tag leaves no entry: undefined, as noble says', async () => {
    const good = encrypt(key, bytes(64))
    const flipped = [12, 40, good.length - 1].map((at) => {
      const b = good.slice()
      b[at] = (b[at] as number) ^ 1
      return { key, box: b }
    })
    const { plains, release } = await prefetchDecrypts(flipped)
    expect(plains).toEqual([undefined, undefined, undefined])
    expect(prefetchedCount()).toBe(0)
    expect(openAll(flipped).out).toEqual([undefined, undefined, undefined])
    release()
  })

  it('a reused nonce with another ciphertext never gets the other box’s plaintext', async () => {
    const nonce = bytes(12, 7)
    const a = encrypt(key, text('the real one'), nonce)
    const b = encrypt(key, text('the other one'), nonce)
    const c = encrypt(key, text('same length!'), nonce)
    // Same nonce, same tag bytes, one ciphertext byte changed: does not authenticate.
    const forged = a.slice()
    forged[14] = (forged[14] as number) ^ 0x80
    const { release } = await prefetchDecrypts([{ key, box: a }])
    expect(prefetchedCount()).toBe(1)
    expect(decrypt(key, forged)).toBeUndefined()
    expect(decrypt(key, c)).toEqual(text('same length!'))
    expect(decrypt(key, b)).toEqual(text('the other one'))
    expect(prefetchedCount()).toBe(1)
    expect(decrypt(key, a)).toEqual(text('the real one'))
    expect(prefetchedCount()).toBe(0)
    release()
  })

  it('a key that differs by one bit gets noble’s answer (undefined), not the memo’s', async () => {
    const box = encrypt(key, text('secret'))
    const { release } = await prefetchDecrypts([{ key, box }])
    for (const bit of [0, 7, 255]) {
      const other = key.slice()
      other[bit >> 3] = (other[bit >> 3] as number) ^ (1 << (bit & 7))
      expect(decrypt(other, box)).toBeUndefined()
      expect(nobleCrypto.aesGcmDecrypt(other, box.subarray(0, 12), box.subarray(12))).toBeUndefined()
    }
    expect(prefetchedCount()).toBe(1)
    expect(decrypt(key, box)).toEqual(text('secret'))
    release()
  })

  it('truncated input (< 16 sealed bytes) and odd keys are not prefetched and fail as before', async () => {
    const good = encrypt(key, text('x'))
    const jobs: DecryptJob[] = [
      { key, box: good.subarray(0, 27) },
      { key, box: good.subarray(0, 12) },
      { key, box: new Uint8Array(0) },
      { key: key.subarray(0, 16), box: good },
      { key: key.subarray(0, 31), box: good }
    ]
    const { plains, release } = await prefetchDecrypts(jobs)
    expect(plains).toEqual(jobs.map(() => undefined))
    expect(prefetchedCount()).toBe(0)
    expect(openAll(jobs).out).toEqual(jobs.map((j) => noble(j.key, j.box)))
    expect(nobleCrypto.aesGcmDecrypt(key, good.subarray(0, 12), good.subarray(12, 20))).toBeUndefined()
    release()
  })

  it('compares the bytes it decrypted, not the caller’s buffer after it changed', async () => {
    const box = encrypt(key, text('before'))
    const other = encrypt(key, text('after!'))
    const mutable = box.slice()
    const { release } = await prefetchDecrypts([{ key, box: mutable }])
    mutable.set(other)
    expect(decrypt(key, mutable)).toEqual(text('after!'))
    release()
    expect(prefetchedCount()).toBe(0)
  })

  it('is bounded: at most MAX_PREFETCHED entries, MAX_PER_BUCKET alike ones, and empty after release', async () => {
    const box = encrypt(key, bytes(32))
    const same = await prefetchDecrypts(Array.from({ length: 10 }, () => ({ key, box })))
    expect(prefetchedCount()).toBe(MAX_PER_BUCKET)
    same.release()
    expect(prefetchedCount()).toBe(0)
    const many = Array.from({ length: MAX_PREFETCHED + 50 }, (_, i) => ({ key, box: encrypt(key, Uint8Array.of(i & 0xff, i >> 8)) }))
    const big = await prefetchDecrypts(many)
    expect(prefetchedCount()).toBe(MAX_PREFETCHED)
    expect(big.plains.filter((p) => p !== undefined)).toHaveLength(MAX_PREFETCHED)
    // Those past the bound decrypt with noble, alike.
    expect(decrypt(key, many[MAX_PREFETCHED + 49]!.box)).toEqual(Uint8Array.of((MAX_PREFETCHED + 49) & 0xff, (MAX_PREFETCHED + 49) >> 8))
    expect(decrypt(key, many[0]!.box)).toEqual(Uint8Array.of(0, 0))
    expect(prefetchedCount()).toBe(MAX_PREFETCHED - 1)
    big.release()
    expect(prefetchedCount()).toBe(0)
  })

  it('a subtle that throws, rejects or is missing changes nothing: noble decides', async () => {
    const jobs = [encrypt(key, text('a')), encrypt(key, text('b'))].map((box) => ({ key, box }))
    const throwing = { importKey: () => { throw new Error('no') }, decrypt: () => { throw new Error('no') } } as unknown as SubtleCrypto
    const rejecting = { importKey: () => Promise.reject(new Error('no')), decrypt: () => Promise.reject(new Error('no')) } as unknown as SubtleCrypto
    const real = globalThis.crypto.subtle
    const decryptFails = {
      importKey: real.importKey.bind(real),
      decrypt: () => Promise.reject(new DOMException('busy', 'OperationError'))
    } as unknown as SubtleCrypto
    const syncThrow = { importKey: real.importKey.bind(real), decrypt: () => { throw new TypeError('no') } } as unknown as SubtleCrypto
    const check = async (run: () => Promise<{ plains: readonly (Uint8Array | undefined)[]; release: () => void }>): Promise<void> => {
      const { plains, release } = await run()
      expect(plains.every((p) => p === undefined)).toBe(true)
      expect(prefetchedCount()).toBe(0)
      expect(openAll(jobs).out).toEqual([text('a'), text('b')])
      release()
    }
    for (const subtle of [throwing, rejecting, decryptFails, syncThrow]) await check(() => prefetchDecrypts(jobs, subtle))
    // A platform without WebCrypto.
    vi.stubGlobal('crypto', undefined)
    try {
      await check(() => prefetchDecrypts(jobs))
      expect(prefetchActive()).toBe(false)
      await check(() => prefetchDecrypt(jobs))
    } finally {
      vi.unstubAllGlobals()
    }
  })

  it('takePrefetched misses on anything but the exact bytes', async () => {
    const box = encrypt(key, text('z'))
    const { release } = await prefetchDecrypts([{ key, box }])
    expect(takePrefetched(key, box.subarray(0, 12), box.subarray(12, box.length - 1))).toBeUndefined()
    expect(takePrefetched(key, box.subarray(1, 13), box.subarray(12))).toBeUndefined()
    expect(takePrefetched(key, box.subarray(0, 12), box.subarray(12))).toEqual(text('z'))
    expect(takePrefetched(key, box.subarray(0, 12), box.subarray(12))).toBeUndefined()
    release()
  })

  it('runs only for the pure-JS provider', async () => {
    const jobs = [{ key, box: encrypt(key, text('n')) }]
    setCrypto(nodeCrypto)
    expect(prefetchActive()).toBe(false)
    expect((await prefetchDecrypt(jobs)).plains).toEqual([])
    expect(prefetchedCount()).toBe(0)
    setCrypto(nobleCrypto)
    expect(prefetchActive()).toBe(true)
    const done = await prefetchDecrypt(jobs)
    expect(done.plains).toEqual([text('n')])
    done.release()
  })
})

describe('WebCrypto prefetch in the engine', () => {
  it('ingest opens every layer from the memo, folds what node:crypto folds, refuses alike, and leaves the memo empty', async () => {
    const thread = newThread()
    setCrypto(nodeCrypto)
    const writer = await openWriter(thread)
    const payloads = Array.from({ length: 40 }, (_, i) => `p${i}`)
    const blocks = await write(writer, ...payloads)
    const logId = writer.logKey!.id
    // A tampered body of the last record (its CID no longer holds): refused.
    const bad = { ...blocks[39]!, body: blocks[39]!.body.slice() }
    bad.body[bad.body.length - 1] = (bad.body[bad.body.length - 1] as number) ^ 1
    const reference = await openEngine(thread)
    const refBad = await reference.engine.ingest(logId, [...blocks.slice(0, 39), bad])
    const refRest = await reference.engine.ingest(logId, blocks.slice(39))

    setCrypto(nobleCrypto)
    const subtle = globalThis.crypto.subtle
    const realDecrypt = subtle.decrypt.bind(subtle)
    const fromSubtle = new Set<ArrayBuffer>()
    vi.spyOn(subtle, 'decrypt').mockImplementation(async (...args: Parameters<SubtleCrypto['decrypt']>) => {
      const out = await realDecrypt(...args)
      fromSubtle.add(out)
      return out
    })
    const sync = vi.spyOn(nobleCrypto, 'aesGcmDecrypt')
    const browserLike = await openEngine(thread)
    const got = await browserLike.engine.ingest(logId, [...blocks.slice(0, 39), bad])
    const rest = await browserLike.engine.ingest(logId, blocks.slice(39))

    expect(got.rejected.map((e) => e.name)).toEqual(['CidMismatchError'])
    expect(got.rejected.map((e) => e.message)).toEqual(refBad.rejected.map((e) => e.message))
    expect([got.stored, rest.stored]).toEqual([refBad.stored, refRest.stored])
    expect(browserLike.engine.state).toEqual(reference.engine.state)
    expect(browserLike.engine.state).toEqual(payloads)
    // Record, header and body of 39 records, then of the last: every synchronous decryption a
    // plaintext WebCrypto made.
    const results = sync.mock.results.map((r) => r.value as Uint8Array | undefined)
    expect(results).toHaveLength(3 * 40 + 1)
    expect(results.filter((v) => v !== undefined && fromSubtle.has(v.buffer as ArrayBuffer))).toHaveLength(3 * 40 + 1)
    expect(prefetchedCount()).toBe(0)
  })
})
