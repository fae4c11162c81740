/**
 * One IndexedDB transaction for a whole batch, under a localforage instance.
 *
 * localforage writes each `setItem` in a transaction of its own: a 4,000-put batch ran at 0.14x
 * one raw IndexedDB transaction in Chromium, and in a page catching up 10,000 events the
 * per-item transactions took a quarter of the main thread (bench/browser.ts --profile). It has no
 * batch API. Its IndexedDB driver keeps the open database on the instance (`_dbInfo.db`, with
 * `_dbInfo.storeName`) and stores each value by structured clone under its key, so one
 * `readwrite` transaction over that store writes exactly what `setItem` would, and `getItem`
 * reads it back. localforage has not changed since 2021 (1.10.0); this reaches into that
 * instance state, checks its shape, and the caller falls back to `setItem` when it is missing
 * (another driver, an instance of another shape). The browser tests run the storage conformance
 * suite through this path in Chromium.
 */

interface RequestLike {
  onsuccess: (() => void) | null
  onerror: (() => void) | null
}

interface TransactionLike {
  objectStore(name: string): { put(value: unknown, key: string): RequestLike; delete(key: string): RequestLike }
  abort(): void
  oncomplete: (() => void) | null
  onerror: (() => void) | null
  onabort: (() => void) | null
  error: unknown
}

interface DatabaseLike {
  transaction(store: string, mode: 'readwrite', options?: { durability?: 'strict' | 'relaxed' | 'default' }): TransactionLike
}

interface InstanceState {
  ready?: () => Promise<void>
  driver?: () => string | null
  INDEXEDDB?: string
  _dbInfo?: { db?: unknown; storeName?: unknown }
}

/** A write of a batch: a value to put under a key, or `undefined` to delete the key. */
export type BatchWrite = readonly [key: string, value: Uint8Array | undefined]

/** The IndexedDB database and store behind `instance`, or undefined where it has none to share. */
async function databaseOf(instance: unknown): Promise<{ db: DatabaseLike; storeName: string } | undefined> {
  const state = instance as InstanceState
  if (typeof state.ready !== 'function' || typeof state.driver !== 'function') return undefined
  await state.ready()
  if (state.INDEXEDDB === undefined || state.driver() !== state.INDEXEDDB) return undefined
  const db = state._dbInfo?.db as DatabaseLike | undefined
  const storeName = state._dbInfo?.storeName
  if (db === undefined || db === null || typeof db.transaction !== 'function' || typeof storeName !== 'string') return undefined
  return { db, storeName }
}

/**
 * Write `writes` in one IndexedDB transaction of `instance`'s store, in order; resolves once the
 * transaction commits (all of them, or, on an error, none). Resolves false, having written
 * nothing, where the instance shares no IndexedDB database (the caller then uses `setItem`).
 */
export async function writeInOneTransaction(instance: unknown, writes: readonly BatchWrite[]): Promise<boolean> {
  const target = await databaseOf(instance)
  if (target === undefined) return false
  let tx: TransactionLike
  try {
    // Strict durability: the commit is the point after which the engine calls a record stored.
    tx = target.db.transaction(target.storeName, 'readwrite', { durability: 'strict' })
  } catch {
    // The connection localforage kept is closed (another tab upgraded or deleted the database:
    // its onversionchange closes it) or lost the store. Nothing is written yet: localforage's own
    // setItem reconnects, so the caller's per-item path takes this batch.
    return false
  }
  await new Promise<void>((resolve, reject) => {
    const store = tx.objectStore(target.storeName)
    tx.oncomplete = () => resolve()
    tx.onerror = () => reject(tx.error ?? new Error('IndexedDB transaction failed'))
    tx.onabort = () => reject(tx.error ?? new Error('IndexedDB transaction aborted'))
    try {
      for (const [key, value] of writes) {
        if (value === undefined) store.delete(key)
        else store.put(value, key)
      }
    } catch (error) {
      // A put can throw at once (DataCloneError, a closed database): abort, so the writes
      // before it do not commit without the rest.
      tx.onerror = null
      tx.onabort = () => reject(error)
      try {
        tx.abort()
      } catch {
        reject(error)
      }
    }
  })
  return true
}
