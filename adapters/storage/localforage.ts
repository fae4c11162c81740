/**
 * A localforage (IndexedDB) {@link StorageAdapter}, for browsers. Not atomic: batches are
 * applied strictly in order, so the last operation of a batch can serve as its commit point.
 *
 * @packageDocumentation
 */

import type {
  RangeOptions,
  StorageAdapter,
  StorageEntry,
  StorageKey,
  StorageOp
} from '../../src/store/storageAdapter.js'
import { decodeKey, encodeKey, encodeRange, normaliseLimit } from './keyCodec.js'
import { StorageLockedError } from '../../src/core/errors.js'
import { writeInOneTransaction, type BatchWrite } from './localforageBatch.js'
import { SortedKeySet } from './sortedKeySet.js'
import { loadOptional } from '../optional.js'

/**
 * What the adapter uses of a localforage instance. Written out here rather than naming
 * localforage's global `LocalForage` type, so these declarations type-check without localforage's
 * typings in scope (it is an optional peer dependency).
 */
export interface LocalforageInstance {
  getItem<T>(key: string): Promise<T | null>
  setItem<T>(key: string, value: T): Promise<T>
  removeItem(key: string): Promise<void>
  keys(): Promise<string[]>
}

export interface LocalforageStorageOptions {
  /** Database name (default `'redux-threads'`). Ignored when `instance` is given. */
  readonly name?: string
  /** Object store name (default `'storage'`). Ignored when `instance` is given. */
  readonly storeName?: string
  /**
   * A configured localforage instance to use instead of creating one. It must hold nothing
   * but this adapter's entries: `range` reads every key in it.
   */
  readonly instance?: LocalforageInstance
  /**
   * How long to wait for the store's Web Lock (ms, default 1000) before refusing with
   * `StorageLockedError`. A tab that closed or reloaded a moment ago still holds it briefly:
   * Chromium frees a closed page's locks after the close resolves, so refusing at once made a
   * reload or a quick reopen fail now and then. `0` refuses at once.
   */
  readonly lockWaitMs?: number
}

/**
 * Structured clone copies a view's whole backing buffer, so a small `subarray` of a large
 * buffer (or a pooled Node Buffer) would store far more than its bytes. Store an exact copy.
 */
function storable(value: Uint8Array): Uint8Array {
  const exact =
    value.constructor === Uint8Array &&
    value.byteOffset === 0 &&
    value.byteLength === value.buffer.byteLength &&
    value.buffer instanceof ArrayBuffer
  return exact ? value : new Uint8Array(value)
}

/**
 * What comes back depends on the driver and the realm that deserialised it (an ArrayBuffer,
 * another realm's Uint8Array, a Buffer); callers are promised a plain Uint8Array.
 */
function toUint8Array(value: unknown): Uint8Array {
  if (value instanceof Uint8Array && value.constructor === Uint8Array) return value
  if (ArrayBuffer.isView(value)) {
    return new Uint8Array(value.buffer, value.byteOffset, value.byteLength)
  }
  if (value instanceof ArrayBuffer || Object.prototype.toString.call(value) === '[object ArrayBuffer]') {
    return new Uint8Array(value as ArrayBuffer)
  }
  throw new TypeError('localforageStorage: stored value is not binary')
}

/**
 * Create a storage adapter over localforage, using its IndexedDB driver. Not atomic.
 *
 * @remarks
 * localforage has no ordered iteration, so the adapter keeps its keys in memory, sorted
 * lazily: the first `range` reads all keys once, later writes through this adapter keep the
 * set current. Writes made to the same store by anything else (another tab, another adapter)
 * are not seen by `range` until a new adapter is created. `range` walks a snapshot of the keys
 * taken when iteration starts and reads each value as it goes, skipping keys deleted since.
 *
 * @example
 * ```ts
 * import { localforageStorage } from 'redux-p2p-threads/localforage'
 *
 * const storage = localforageStorage({ name: 'my-app' })
 * await storage.batch([
 *   { type: 'put', key: ['e', '1'], value: new Uint8Array([1]) },
 *   { type: 'put', key: ['head'], value: new Uint8Array([1]) } // written last: the commit point
 * ])
 * for await (const { key } of storage.range(['e'])) console.log(key)
 * await storage.close()
 * ```
 */
/** Names claimed in this JavaScript realm, where Web Locks are missing (Node with fake-indexeddb). */
const claimed = new Set<string>()

interface LockManagerLike {
  request(name: string, options: { ifAvailable?: boolean; signal?: AbortSignal }, callback: (lock: unknown) => Promise<void>): Promise<unknown>
}

/** Default of {@link LocalforageStorageOptions.lockWaitMs}. */
const LOCK_WAIT_MS = 1_000

/**
 * Hold the Web Lock `name` until the returned function is called. Wait up to `waitMs` for a tab
 * or worker that holds it (one closing frees it a moment later), then refuse. Without Web Locks,
 * a claim in this realm only.
 */
async function claim(name: string, waitMs: number): Promise<() => void> {
  const locks = (globalThis as { navigator?: { locks?: LockManagerLike } }).navigator?.locks
  if (locks === undefined) {
    if (claimed.has(name)) throw new StorageLockedError(`another peer holds the IndexedDB store ${name} (one peer per storage)`)
    claimed.add(name)
    return () => claimed.delete(name)
  }
  const refused = () => new StorageLockedError(`another tab or worker holds the IndexedDB store ${name} (one peer per storage)`)
  return new Promise((resolve, reject) => {
    const options = waitMs <= 0 ? { ifAvailable: true } : { signal: AbortSignal.timeout(waitMs) }
    locks
      .request(name, options, (lock) => {
        if (lock === null) {
          reject(refused())
          return Promise.resolve()
        }
        // Held until close() calls back.
        return new Promise<void>((done) => resolve(done))
      })
      // The wait timed out (an AbortError): the lock is still held elsewhere.
      .catch(() => reject(refused()))
  })
}

export function localforageStorage(options: LocalforageStorageOptions = {}): StorageAdapter {
  // `localforage` is an optional peer dependency: loaded on first use (MissingDependencyError names it).
  let loading: Promise<LocalforageInstance> | undefined
  const instance = (): Promise<LocalforageInstance> =>
    (loading ??=
      options.instance !== undefined
        ? Promise.resolve(options.instance)
        : loadOptional('redux-p2p-threads/localforage', ['localforage'], () => import('localforage')).then((mod) => {
            const localforage = (mod as { default?: LocalForage }).default ?? (mod as unknown as LocalForage)
            return localforage.createInstance({
              name: options.name ?? 'redux-threads',
              storeName: options.storeName ?? 'storage',
              driver: localforage.INDEXEDDB
            })
          }))
  let keyCache: SortedKeySet | undefined
  /** Counts completed writes, to tell whether a `keys()` read raced with one. */
  let writes = 0
  let closed = false
  let release: (() => void) | undefined

  function assertOpen(): void {
    if (closed) throw new Error('localforageStorage: closed')
  }

  async function loadKeys(): Promise<SortedKeySet> {
    if (keyCache !== undefined) return keyCache
    const before = writes
    const loaded = new SortedKeySet(await (await instance()).keys())
    // A write that completed during keys() found no cache to update and may be missing from
    // `loaded`: use this read once, but cache only a read no write overlapped.
    if (writes === before && !closed) keyCache = loaded
    return loaded
  }

  async function* range(prefix: StorageKey, options: RangeOptions = {}): AsyncGenerator<StorageEntry> {
    assertOpen()
    const limit = normaliseLimit(options.limit)
    const bounds = encodeRange(prefix, options)
    if (limit === 0) return
    const keys = await loadKeys()
    const store = await instance()
    let yielded = 0
    for (const key of keys.walk(bounds, options.reverse === true)) {
      const value: unknown = await store.getItem<unknown>(key)
      if (value === null) continue
      yield { key: decodeKey(key), value: toUint8Array(value) }
      if (++yielded >= limit) return
    }
  }

  return {
    atomic: false,

    async get(key: StorageKey): Promise<Uint8Array | undefined> {
      assertOpen()
      const encoded = encodeKey(key)
      const value: unknown = await (await instance()).getItem<unknown>(encoded)
      return value === null ? undefined : toUint8Array(value)
    },

    async batch(ops: readonly StorageOp[]): Promise<void> {
      assertOpen()
      // Encode every key first: a bad key must fail the batch before anything is written.
      const encoded = ops.map((op) => encodeKey(op.key))
      const store = await instance()
      try {
        // One IndexedDB transaction where localforage's driver lets us share its database.
        const batch = ops.map((op, i): BatchWrite => [encoded[i] as string, op.type === 'put' ? storable(op.value) : undefined])
        if (await writeInOneTransaction(store, batch)) {
          for (const [key, value] of batch) {
            if (value === undefined) keyCache?.delete(key)
            else keyCache?.add(key)
          }
          writes++
          return
        }
        // Strictly one after another (not Promise.all): the last op must land after all others.
        for (const [i, op] of ops.entries()) {
          const key = encoded[i] as string
          if (op.type === 'put') {
            await store.setItem(key, storable(op.value))
            keyCache?.add(key)
          } else {
            await store.removeItem(key)
            keyCache?.delete(key)
          }
          writes++
        }
      } catch (error) {
        // The failed op may or may not have landed; re-read the keys rather than guess.
        keyCache = undefined
        writes++
        throw error
      }
    },

    range,

    async acquire(): Promise<void> {
      const name = `redux-threads:${options.name ?? 'redux-threads'}/${options.storeName ?? 'storage'}`
      release = await claim(name, options.lockWaitMs ?? LOCK_WAIT_MS)
      try {
        await instance()
      } catch (e) {
        release()
        release = undefined
        throw e
      }
    },

    async close(): Promise<void> {
      // localforage exposes no way to close its connection; drop what this adapter holds.
      closed = true
      keyCache = undefined
      release?.()
      release = undefined
    }
  }
}
