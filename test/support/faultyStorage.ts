/**
 * A storage adapter over another that refuses writes on demand, as IndexedDB does with
 * `QuotaExceededError` or a disk with ENOSPC: for the tests of what a failed write must not lose.
 */
import type { RangeOptions, StorageAdapter, StorageEntry, StorageKey, StorageOp } from '../../src/store/storageAdapter.js'

export interface FaultyStorage extends StorageAdapter {
  /** Refuse every batch from now on (until `heal()`). */
  fail(error?: Error): void
  /** Refuse only the next batch. */
  failNext(error?: Error): void
  heal(): void
  /** Batches refused so far. */
  readonly refused: number
}

export function faultyStorage(inner: StorageAdapter): FaultyStorage {
  let failing: Error | undefined
  let once = false
  let refused = 0
  const quota = (): Error => Object.assign(new Error('The quota has been exceeded.'), { name: 'QuotaExceededError' })
  return {
    // As atomic as the storage it wraps: a refused batch writes nothing either way.
    get atomic() {
      return inner.atomic
    },
    get: (key: StorageKey) => inner.get(key),
    range: (prefix: StorageKey, options?: RangeOptions): AsyncIterable<StorageEntry> => inner.range(prefix, options),
    async batch(ops: readonly StorageOp[]): Promise<void> {
      if (failing !== undefined) {
        const e = failing
        if (once) failing = undefined
        refused++
        throw e
      }
      await inner.batch(ops)
    },
    close: () => inner.close(),
    fail(error = quota()) {
      failing = error
      once = false
    },
    failNext(error = quota()) {
      failing = error
      once = true
    },
    heal() {
      failing = undefined
    },
    get refused() {
      return refused
    }
  }
}
