import { uniformFloat64 } from 'pure-rand/distribution/uniformFloat64'
import { xoroshiro128plus } from 'pure-rand/generator/xoroshiro128plus'
/**
 * The shared conformance suite every {@link StorageAdapter} runs, built on vitest.
 *
 * @packageDocumentation
 */

import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import type {
  RangeOptions,
  StorageAdapter,
  StorageEntry,
  StorageKey,
  StorageOp
} from '../../src/store/storageAdapter.js'

/** What a setup gives the suite: a fresh, empty adapter, and how to clean up after it. */
export interface StorageAdapterSetup {
  /** A fresh adapter over empty storage. The suite closes it. */
  readonly adapter: StorageAdapter
  /** Removes what the setup created (files, databases). Runs after the suite closed the adapters. */
  readonly teardown?: () => Promise<void>
  /**
   * A new adapter over the same data, for backends that persist. Called after the suite has
   * closed `adapter`; the suite closes the adapter it returns. Persistence is tested only when
   * this is given.
   */
  readonly reopen?: () => Promise<StorageAdapter>
}

/** Key order as the contract defines it: component-wise, by code unit; shorter first on ties. */
function compareKeys(a: StorageKey, b: StorageKey): number {
  for (let i = 0; i < Math.min(a.length, b.length); i++) {
    const x = a[i] as string
    const y = b[i] as string
    if (x !== y) return x < y ? -1 : 1
  }
  return a.length - b.length
}

function bytes(...values: number[]): Uint8Array {
  return Uint8Array.from(values)
}

function utf8(text: string): Uint8Array {
  return new TextEncoder().encode(text)
}

/** A seeded generator in [0, 1) (pure-rand's xoroshiro128+), so failures reproduce. */
function random(seed: number): () => number {
  const generator = xoroshiro128plus(seed)
  return () => uniformFloat64(generator)
}

function patternBytes(length: number, seed: number): Uint8Array {
  const next = random(seed)
  return Uint8Array.from({ length }, () => Math.floor(next() * 256))
}

/** Index of the first differing byte, or -1; `toEqual` on a megabyte is needlessly slow. */
function firstDifference(a: Uint8Array, b: Uint8Array): number {
  if (a.byteLength !== b.byteLength) return Math.min(a.byteLength, b.byteLength)
  for (let i = 0; i < a.byteLength; i++) if (a[i] !== b[i]) return i
  return -1
}

/** A plain Uint8Array: a Buffer would pass `instanceof` but alias memory on `slice`. */
function expectPlainBytes(value: unknown, expected: Uint8Array): void {
  expect(value).toBeInstanceOf(Uint8Array)
  expect(Object.getPrototypeOf(value)).toBe(Uint8Array.prototype)
  expect(firstDifference(value as Uint8Array, expected)).toBe(-1)
}

async function collect(entries: AsyncIterable<StorageEntry>): Promise<StorageEntry[]> {
  const out: StorageEntry[] = []
  for await (const entry of entries) out.push(entry)
  return out
}

function keysOf(entries: readonly StorageEntry[]): StorageKey[] {
  return entries.map((entry) => [...entry.key])
}

function puts(keys: readonly StorageKey[], value: (key: StorageKey) => Uint8Array): StorageOp[] {
  return keys.map((key) => ({ type: 'put', key, value: value(key) }))
}

/** A value derived from the key, so an entry paired with the wrong value is caught. */
function valueOf(key: StorageKey): Uint8Array {
  return utf8(key.join('/'))
}

/**
 * Register the conformance tests for a storage adapter.
 *
 * @param name - Shown in the test names.
 * @param setup - Called before each test; must return an adapter over empty storage.
 *
 * @example
 * ```ts
 * import { runStorageAdapterTests } from 'redux-p2p-threads/conformance'
 * import { memoryStorage } from 'redux-p2p-threads/memory'
 *
 * runStorageAdapterTests('memory', async () => ({ adapter: memoryStorage() }))
 * ```
 */
export function runStorageAdapterTests(
  name: string,
  setup: () => Promise<StorageAdapterSetup>,
  options: { readonly persistent?: boolean } = {}
): void {
  describe(`StorageAdapter conformance: ${name}`, () => {
    let context: StorageAdapterSetup | undefined
    let storage: StorageAdapter
    let toClose: StorageAdapter[] = []

    beforeEach(async () => {
      context = await setup()
      storage = context.adapter
      toClose = [storage]
    })

    afterEach(async () => {
      try {
        for (const adapter of toClose) await adapter.close()
      } finally {
        // Remove files and databases even when a close failed, so tests stay independent.
        await context?.teardown?.()
        context = undefined
      }
    })

    async function put(key: StorageKey, value: Uint8Array = valueOf(key)): Promise<void> {
      await storage.batch([{ type: 'put', key, value }])
    }

    async function rangeKeys(
      prefix: StorageKey,
      options?: RangeOptions
    ): Promise<StorageKey[]> {
      return keysOf(await collect(storage.range(prefix, options)))
    }

    describe('get, put, delete', () => {
      it('returns undefined for a missing key, including neighbours of stored keys', async () => {
        expect(await storage.get(['missing'])).toBeUndefined()
        await put(['a', 'b'])
        expect(await storage.get(['a'])).toBeUndefined()
        expect(await storage.get(['a', 'b', 'c'])).toBeUndefined()
        expect(await storage.get(['a', 'bc'])).toBeUndefined()
        expect(await storage.get(['ab'])).toBeUndefined()
      })

      it('returns what was put', async () => {
        await put(['a', 'b'], bytes(1, 2, 3))
        expectPlainBytes(await storage.get(['a', 'b']), bytes(1, 2, 3))
      })

      it('returns the latest value after an overwrite, and keeps one entry', async () => {
        await put(['k'], bytes(1))
        await put(['k'], bytes(2, 2))
        expectPlainBytes(await storage.get(['k']), bytes(2, 2))
        const entries = await collect(storage.range([]))
        expect(keysOf(entries)).toEqual([['k']])
        expectPlainBytes(entries[0]?.value, bytes(2, 2))
      })

      it('deletes a key, and deleting a missing key is a no-op', async () => {
        await put(['k', '1'])
        await put(['k', '2'])
        await storage.batch([{ type: 'del', key: ['k', '1'] }])
        expect(await storage.get(['k', '1'])).toBeUndefined()
        expect(await rangeKeys(['k'])).toEqual([['k', '2']])
        await expect(storage.batch([{ type: 'del', key: ['never', 'there'] }])).resolves.toBeUndefined()
        expect(await rangeKeys([])).toEqual([['k', '2']])
      })

      it('keeps each key intact when the same array is stored under several keys', async () => {
        const shared = bytes(7, 8, 9)
        await storage.batch([
          { type: 'put', key: ['s', '1'], value: shared },
          { type: 'put', key: ['s', '2'], value: shared }
        ])
        await put(['s', '3'], shared)
        await storage.batch([{ type: 'del', key: ['s', '2'] }])
        expectPlainBytes(await storage.get(['s', '1']), bytes(7, 8, 9))
        expect(await storage.get(['s', '2'])).toBeUndefined()
        expectPlainBytes(await storage.get(['s', '3']), bytes(7, 8, 9))
        expect(await rangeKeys(['s'])).toEqual([['s', '1'], ['s', '3']])
      })
    })

    describe('batch', () => {
      it('applies operations in order: put then del of one key leaves nothing', async () => {
        await storage.batch([
          { type: 'put', key: ['x'], value: bytes(1) },
          { type: 'del', key: ['x'] }
        ])
        expect(await storage.get(['x'])).toBeUndefined()
        expect(await rangeKeys([])).toEqual([])
      })

      it('applies operations in order: del then put of one key leaves the value', async () => {
        await put(['x'], bytes(1))
        await storage.batch([
          { type: 'del', key: ['x'] },
          { type: 'put', key: ['x'], value: bytes(2) }
        ])
        expectPlainBytes(await storage.get(['x']), bytes(2))
      })

      it('applies operations in order: the last put of a key wins', async () => {
        await storage.batch([
          { type: 'put', key: ['x'], value: bytes(1) },
          { type: 'put', key: ['x'], value: bytes(2) },
          { type: 'put', key: ['y'], value: bytes(3) },
          { type: 'put', key: ['x'], value: bytes(4) }
        ])
        expectPlainBytes(await storage.get(['x']), bytes(4))
        expectPlainBytes(await storage.get(['y']), bytes(3))
      })

      it('accepts an empty batch', async () => {
        await put(['x'])
        await expect(storage.batch([])).resolves.toBeUndefined()
        expect(await rangeKeys([])).toEqual([['x']])
      })

      it('does not lose writes of concurrent batches', async () => {
        const batches = Array.from({ length: 20 }, (_, b) =>
          puts(
            Array.from({ length: 25 }, (_, i) => ['c', String(b).padStart(2, '0'), String(i).padStart(2, '0')]),
            valueOf
          )
        )
        // Concurrent reads must not disturb the writes either.
        await Promise.all([
          ...batches.map((ops) => storage.batch(ops)),
          storage.get(['c', '00', '00']),
          collect(storage.range(['c']))
        ])
        const entries = await collect(storage.range(['c']))
        const expected = batches.flat().map((op) => [...op.key]).sort(compareKeys)
        expect(keysOf(entries)).toEqual(expected)
        for (const entry of entries) expectPlainBytes(entry.value, valueOf(entry.key))
      })
    })

    describe('range', () => {
      it('orders keys component-wise: [a,b] < [a,b,c] < [a,ba]', async () => {
        const keys: StorageKey[] = [['a', 'ba'], ['a', 'b', 'c', 'd'], ['a', 'b'], ['a', 'a'], ['a', 'b', 'c']]
        await storage.batch(puts(keys, valueOf))
        const entries = await collect(storage.range(['a']))
        expect(keysOf(entries)).toEqual([
          ['a', 'a'],
          ['a', 'b'],
          ['a', 'b', 'c'],
          ['a', 'b', 'c', 'd'],
          ['a', 'ba']
        ])
        for (const entry of entries) expectPlainBytes(entry.value, valueOf(entry.key))
      })

      it('matches the prefix by whole components and excludes the prefix key itself', async () => {
        await storage.batch(
          puts([['a'], ['a', 'x'], ['ab'], ['ab', 'x'], ['a\u0001'], ['a\u0001', 'x'], ['b', 'x']], valueOf)
        )
        expect(await rangeKeys(['a'])).toEqual([['a', 'x']])
        expect(await rangeKeys(['ab'])).toEqual([['ab', 'x']])
      })

      it('matches multi-component prefixes', async () => {
        await storage.batch(puts([['a', 'b'], ['a', 'b', 'c'], ['a', 'b', 'c', 'd'], ['a', 'ba', 'c']], valueOf))
        expect(await rangeKeys(['a', 'b'])).toEqual([['a', 'b', 'c'], ['a', 'b', 'c', 'd']])
        expect(await rangeKeys(['a', 'b', 'c'])).toEqual([['a', 'b', 'c', 'd']])
        expect(await rangeKeys(['a', 'c'])).toEqual([])
      })

      it('lists every key, in order, under the empty prefix', async () => {
        expect(await rangeKeys([])).toEqual([])
        await storage.batch(puts([['ba'], ['b'], ['a', 'b'], ['a']], valueOf))
        expect(await rangeKeys([])).toEqual([['a'], ['a', 'b'], ['b'], ['ba']])
        expect(await rangeKeys([], { gte: ['b'] })).toEqual([['b'], ['ba']])
        expect(await rangeKeys([], { lt: ['b'] })).toEqual([['a'], ['a', 'b']])
        expect(await rangeKeys([], { reverse: true, limit: 2 })).toEqual([['ba'], ['b']])
      })

      describe('bounds, limit and reverse', () => {
        const ids = ['01', '02', '03', '04', '05', '06', '07', '08', '09']
        const under = (...suffixes: string[]): StorageKey[] => suffixes.map((s) => ['t', s])

        beforeEach(async () => {
          await storage.batch(puts([...ids.map((id) => ['t', id]), ['u', '01'], ['s', '09']], valueOf))
        })

        it('includes gte and excludes lt', async () => {
          expect(await rangeKeys(['t'], { gte: ['03'], lt: ['06'] })).toEqual(under('03', '04', '05'))
          expect(await rangeKeys(['t'], { gte: ['07'] })).toEqual(under('07', '08', '09'))
          expect(await rangeKeys(['t'], { lt: ['03'] })).toEqual(under('01', '02'))
        })

        it('treats bounds as keys: longer keys sit between a bound and its successor', async () => {
          await put(['t', '05', 'x'])
          expect(await rangeKeys(['t'], { gte: ['05'], lt: ['06'] })).toEqual([['t', '05'], ['t', '05', 'x']])
          expect(await rangeKeys(['t'], { gte: ['04', 'z'], lt: ['05', 'x'] })).toEqual(under('05'))
          expect(await rangeKeys(['t'], { gte: ['045'], lt: ['055'] })).toEqual([['t', '05'], ['t', '05', 'x']])
        })

        it('yields nothing for an empty interval', async () => {
          expect(await rangeKeys(['t'], { gte: ['03'], lt: ['03'] })).toEqual([])
          expect(await rangeKeys(['t'], { gte: ['06'], lt: ['03'] })).toEqual([])
          expect(await rangeKeys(['t'], { lt: [] })).toEqual([])
          expect(await rangeKeys([], { lt: [] })).toEqual([])
          expect(await rangeKeys(['t'], { gte: ['1'] })).toEqual([])
        })

        it('stops after limit entries', async () => {
          expect(await rangeKeys(['t'], { limit: 3 })).toEqual(under('01', '02', '03'))
          expect(await rangeKeys(['t'], { limit: 0 })).toEqual([])
          expect(await rangeKeys(['t'], { limit: 100 })).toEqual(ids.map((id) => ['t', id]))
          expect(await rangeKeys(['t'], { gte: ['04'], lt: ['08'], limit: 2 })).toEqual(under('04', '05'))
        })

        it('iterates highest key first when reverse', async () => {
          expect(await rangeKeys(['t'], { reverse: true })).toEqual(ids.map((id) => ['t', id]).reverse())
          expect(await rangeKeys(['t'], { reverse: true, gte: ['03'], lt: ['06'] })).toEqual(under('05', '04', '03'))
        })

        it('takes the highest keys when reverse and limit combine', async () => {
          expect(await rangeKeys(['t'], { reverse: true, limit: 3 })).toEqual(under('09', '08', '07'))
          expect(await rangeKeys(['t'], { reverse: true, limit: 2, lt: ['05'] })).toEqual(under('04', '03'))
          expect(await rangeKeys(['t'], { reverse: true, limit: 0 })).toEqual([])
        })

        it('stops cleanly when the caller breaks early', async () => {
          const seen: StorageKey[] = []
          for await (const entry of storage.range(['t'])) {
            seen.push(entry.key)
            if (seen.length === 2) break
          }
          expect(seen).toEqual(under('01', '02'))
          expect(await rangeKeys(['t'], { limit: 1 })).toEqual(under('01'))
        })
      })

      it('stays ordered and completes when written to during iteration', async () => {
        await storage.batch(puts(Array.from({ length: 40 }, (_, i) => ['w', String(i).padStart(2, '0')]), valueOf))
        const seen: StorageKey[] = []
        for await (const entry of storage.range(['w'])) {
          seen.push(entry.key)
          if (seen.length === 5) {
            await storage.batch([
              { type: 'put', key: ['w', '00a'], value: bytes(1) },
              { type: 'put', key: ['w', '99'], value: bytes(1) },
              { type: 'del', key: ['w', '30'] }
            ])
            // A second iteration while the first is paused must not disturb the first.
            const inner = await rangeKeys(['w'])
            expect(inner).toContainEqual(['w', '00a'])
            expect(inner).not.toContainEqual(['w', '30'])
          }
        }
        expect(seen.length).toBeGreaterThanOrEqual(38)
        const misordered = seen.filter((key, i) => i > 0 && compareKeys(seen[i - 1] as StorageKey, key) >= 0)
        expect(misordered).toEqual([])
        expect(await rangeKeys(['w'], { gte: ['29'], lt: ['31'] })).toEqual([['w', '29']])
      })

      it('matches a reference model under random puts, deletes and ranges', async () => {
        const next = random(0x5eed)
        const model = new Map<string, { key: StorageKey; value: Uint8Array }>()
        const pick = <T>(items: readonly T[]): T => items[Math.floor(next() * items.length)] as T
        const parts = ['', 'a', 'ab', 'b', 'a\u0001', 'z']
        const randomKey = (): StorageKey => Array.from({ length: 1 + Math.floor(next() * 3) }, () => pick(parts))
        for (let round = 0; round < 30; round++) {
          // Mostly small batches, with a large one now and then: backends that index keys in
          // memory may take different paths for few and many changes.
          const size = round % 6 === 5 ? 150 : 1 + Math.floor(next() * 8)
          const ops: StorageOp[] = Array.from({ length: size }, () =>
            next() < 0.7
              ? { type: 'put', key: randomKey(), value: patternBytes(1 + Math.floor(next() * 4), round + 1) }
              : { type: 'del', key: randomKey() }
          )
          await storage.batch(ops)
          for (const op of ops) {
            const id = JSON.stringify(op.key)
            if (op.type === 'put') model.set(id, { key: op.key, value: op.value })
            else model.delete(id)
          }
          const prefix = next() < 0.3 ? [] : randomKey().slice(0, 1)
          const reverse = next() < 0.5
          const expected = [...model.values()]
            .filter((entry) => entry.key.length > prefix.length && prefix.every((p, i) => entry.key[i] === p))
            .sort((a, b) => compareKeys(a.key, b.key) * (reverse ? -1 : 1))
          const actual = await collect(storage.range(prefix, { reverse }))
          expect(keysOf(actual)).toEqual(expected.map((entry) => [...entry.key]))
          actual.forEach((entry, i) => expectPlainBytes(entry.value, expected[i]?.value as Uint8Array))
        }
      })
    })

    describe('binary values', () => {
      it('round-trips all 256 byte values', async () => {
        const all = Uint8Array.from({ length: 256 }, (_, i) => i)
        await put(['bin', 'all'], all)
        expectPlainBytes(await storage.get(['bin', 'all']), all)
        const [entry] = await collect(storage.range(['bin']))
        expectPlainBytes(entry?.value, all)
      })

      it('round-trips an empty value as a present, empty Uint8Array', async () => {
        await put(['bin', 'empty'], new Uint8Array(0))
        const value = await storage.get(['bin', 'empty'])
        expect(value).toBeDefined()
        expectPlainBytes(value, new Uint8Array(0))
        expect(await rangeKeys(['bin'])).toEqual([['bin', 'empty']])
      })

      it('round-trips a 1 MB value', async () => {
        const big = patternBytes(1024 * 1024, 42)
        await put(['bin', 'big'], big)
        expectPlainBytes(await storage.get(['bin', 'big']), big)
        const [entry] = await collect(storage.range(['bin']))
        expectPlainBytes(entry?.value, big)
      })

      it('stores only the bytes of a view into a larger buffer', async () => {
        const backing = Uint8Array.from({ length: 64 }, (_, i) => i)
        await put(['bin', 'view'], backing.subarray(10, 14))
        const value = await storage.get(['bin', 'view'])
        expectPlainBytes(value, bytes(10, 11, 12, 13))
        expect(value?.byteLength).toBe(4)
      })
    })

    it('iterates 10k keys written in one batch in order', async () => {
      const keys: StorageKey[] = Array.from({ length: 10_000 }, (_, i) =>
        i % 7 === 0 ? ['m', String(i), 'x'] : ['m', String(i)]
      )
      // Reverse insertion order, so that a backend merely echoing insertion order fails.
      await storage.batch(puts([...keys].reverse(), valueOf))
      const entries = await collect(storage.range(['m']))
      expect(keysOf(entries)).toEqual([...keys].sort(compareKeys))
      for (const entry of entries.slice(0, 100)) expectPlainBytes(entry.value, valueOf(entry.key))
      expect(await rangeKeys(['m'], { reverse: true, limit: 3 })).toEqual([['m', '9999'], ['m', '9998'], ['m', '9997']])
    })

    describe('lifecycle', () => {
      // Registered only for persistent backends: a test that cannot run is not a test.
      const persistent = options.persistent === true ? it : undefined
      persistent?.('keeps values across close and reopen', async () => {
        const reopen = context?.reopen
        if (reopen === undefined) throw new Error(`the ${name} setup is marked persistent but gives no reopen()`)
        const big = patternBytes(64 * 1024, 7)
        await storage.batch([
          { type: 'put', key: ['p', '1'], value: bytes(1) },
          { type: 'put', key: ['p', '2'], value: big },
          { type: 'put', key: ['p', '3'], value: new Uint8Array(0) },
          { type: 'put', key: ['gone'], value: bytes(9) },
          { type: 'del', key: ['gone'] }
        ])
        await storage.close()
        storage = await reopen()
        toClose.push(storage)
        expectPlainBytes(await storage.get(['p', '1']), bytes(1))
        expectPlainBytes(await storage.get(['p', '2']), big)
        expectPlainBytes(await storage.get(['p', '3']), new Uint8Array(0))
        expect(await storage.get(['gone'])).toBeUndefined()
        expect(await rangeKeys([])).toEqual([['p', '1'], ['p', '2'], ['p', '3']])
        await put(['p', '0'])
        expect(await rangeKeys(['p'], { limit: 2 })).toEqual([['p', '0'], ['p', '1']])
      })

      it('closes idempotently, also when close calls overlap', async () => {
        await put(['x'])
        await expect(Promise.all([storage.close(), storage.close()])).resolves.toBeDefined()
        await expect(storage.close()).resolves.toBeUndefined()
      })

      it('rejects use after close', async () => {
        await put(['x'])
        await storage.close()
        await expect(storage.get(['x'])).rejects.toThrow()
        await expect(storage.batch([{ type: 'put', key: ['y'], value: bytes(1) }])).rejects.toThrow()
        await expect(collect(storage.range([]))).rejects.toThrow()
      })
    })
  })
}
