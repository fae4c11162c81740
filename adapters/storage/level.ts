/**
 * A LevelDB {@link StorageAdapter} (via `level`: classic-level in Node), for persistent
 * storage with atomic batches.
 *
 * @packageDocumentation
 */

import type { DatabaseOptions, Level } from 'level'
import type {
  RangeOptions,
  StorageAdapter,
  StorageEntry,
  StorageKey,
  StorageOp
} from '../../src/store/storageAdapter.js'
import { decodeKey, encodeKey, encodeRange, normaliseLimit } from './keyCodec.js'
import { StorageLockedError } from '../../src/core/errors.js'
import { loadOptional } from '../optional.js'

/** Options passed through to `level`; the encodings are fixed by the adapter. */
export type LevelStorageOptions = Omit<
  DatabaseOptions<string, Uint8Array>,
  'keyEncoding' | 'valueEncoding'
>

/**
 * classic-level hands back Buffers even for the `view` encoding. Buffer#slice aliases memory
 * where Uint8Array#slice copies, so return a plain view over the same bytes (no copy).
 */
function plain(value: Uint8Array): Uint8Array {
  return value.constructor === Uint8Array
    ? value
    : new Uint8Array(value.buffer, value.byteOffset, value.byteLength)
}

/**
 * Open (or create) a LevelDB database at `location` as a storage adapter. Batches are atomic.
 *
 * @remarks
 * The database opens in the background; every method waits for it, and an open failure is
 * reported by the first call. `range` iterates over an implicit LevelDB snapshot taken when
 * iteration starts.
 *
 * @param location - Directory of the database (created if missing unless
 * `createIfMissing: false`).
 * @param options - Passed to `level` (e.g. `cacheSize`, `compression`, `errorIfExists`).
 *
 * @example
 * ```ts
 * import { levelStorage } from 'redux-p2p-threads/level'
 *
 * const storage = levelStorage('./data/threads')
 * await storage.batch([{ type: 'put', key: ['e', '1'], value: new Uint8Array([1]) }])
 * console.log(await storage.get(['e', '1']))
 * await storage.close()
 * ```
 */
export function levelStorage(location: string, options: LevelStorageOptions = {}): StorageAdapter {
  let db: Level<string, Uint8Array> | undefined
  let closing: Promise<void> | undefined
  let opening: Promise<Level<string, Uint8Array>> | undefined
  /**
   * Open the database, once; a failed open (another peer held the lock) is forgotten, so the next
   * `acquire()` (a peer's retried start) opens again once the holder has gone.
   */
  function open(): Promise<Level<string, Uint8Array>> {
    if (opening === undefined) {
      // `level` is an optional peer dependency: loaded here, so a missing one is named (MissingDependencyError).
      const attempt = loadOptional('redux-p2p-threads/level', ['level'], () => import('level')).then(async ({ Level }) => {
        const handle = new Level<string, Uint8Array>(location, {
          ...options,
          keyEncoding: 'utf8',
          valueEncoding: 'view'
        })
        db = handle
        await handle.open()
        return handle
      })
      opening = attempt
      attempt.catch(() => {
        if (opening === attempt && closing === undefined) opening = undefined
      })
    }
    return opening
  }
  // Opened at once, as before: the failure is rethrown by whichever method awaits it; an
  // adapter nobody uses must not crash the process with an unhandled rejection.
  open().catch(() => undefined)

  async function* range(prefix: StorageKey, options: RangeOptions = {}): AsyncGenerator<StorageEntry> {
    const limit = normaliseLimit(options.limit)
    const { gte, lt } = encodeRange(prefix, options)
    const db = await open()
    // Level treats an empty-string bound as "no bound", so an empty interval must stop here.
    if (limit === 0 || (lt !== undefined && lt <= gte)) return
    const iterator = db.iterator({
      gte,
      ...(lt === undefined ? {} : { lt }),
      reverse: options.reverse === true,
      limit: limit === Infinity ? -1 : limit
    })
    for await (const [key, value] of iterator) {
      yield { key: decodeKey(key), value: plain(value) }
    }
  }

  return {
    atomic: true,

    async get(key: StorageKey): Promise<Uint8Array | undefined> {
      const encoded = encodeKey(key)
      const db = await open()
      const value: Uint8Array | undefined = await db.get(encoded)
      return value === undefined ? undefined : plain(value)
    },

    async batch(ops: readonly StorageOp[]): Promise<void> {
      const encoded = ops.map((op) =>
        op.type === 'put'
          ? { type: 'put' as const, key: encodeKey(op.key), value: op.value }
          : { type: 'del' as const, key: encodeKey(op.key) }
      )
      const db = await open()
      await db.batch(encoded)
    },

    range,

    async acquire(): Promise<void> {
      try {
        await open()
      } catch (e) {
        // LevelDB locks its directory: another process, or another handle in this one, has it.
        const code = (e as { cause?: { code?: unknown } }).cause?.code
        if (code === 'LEVEL_LOCKED') throw new StorageLockedError(`another peer holds the LevelDB store at ${location} (one peer per storage)`, {}, { cause: e })
        throw e
      }
    },

    close(): Promise<void> {
      // Close even when opening failed, so a half-open handle never lingers.
      closing ??= open().then(
        (handle) => handle.close(),
        async () => db?.close()
      )
      return closing
    }
  }
}
