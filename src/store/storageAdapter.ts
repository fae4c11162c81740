/**
 * The storage adapter contract: the only thing a storage backend implements.
 *
 * Adapters move opaque bytes under keys. Signing, encryption, IPLD encoding and CID checks
 * stay above them, so no adapter can weaken them. Every adapter runs the shared conformance
 * suite (`redux-p2p-threads/conformance`).
 *
 * @packageDocumentation
 */

/**
 * A key: a path of ASCII string components, e.g. `['e', '3', '0000002a']`.
 *
 * @remarks
 * Adapters must assume nothing about the structure of keys. Components never contain
 * `\u0000` and are compared by code unit, so `['a', 'b']` sorts before `['a', 'b', 'c']`,
 * which sorts before `['a', 'ba']`. A prefix matches whole components only: `['a']` is a
 * prefix of `['a', 'b']` but not of `['ab']`.
 */
export type StorageKey = readonly string[]

/** One write of a batch. */
export type StorageOp =
  | { readonly type: 'put'; readonly key: StorageKey; readonly value: Uint8Array }
  | { readonly type: 'del'; readonly key: StorageKey }

/** One entry returned by {@link StorageAdapter.range}. */
export interface StorageEntry {
  readonly key: StorageKey
  readonly value: Uint8Array
}

/** Bounds of an ordered iteration under a prefix. Bounds are key suffixes after the prefix. */
export interface RangeOptions {
  /** First key suffix included (default: the start of the prefix). */
  readonly gte?: readonly string[]
  /** First key suffix excluded (default: the end of the prefix). */
  readonly lt?: readonly string[]
  /** At most this many entries. */
  readonly limit?: number
  /** Newest (highest key) first. */
  readonly reverse?: boolean
}

/**
 * A key-value backend for the event store and the logstore.
 *
 * @example
 * ```ts
 * import { memoryStorage } from 'redux-p2p-threads/memory'
 * const storage = memoryStorage()
 * await storage.batch([{ type: 'put', key: ['a', '1'], value: new Uint8Array([1]) }])
 * for await (const { key, value } of storage.range(['a'])) console.log(key, value)
 * ```
 */
export interface StorageAdapter {
  /** The value at `key`, or `undefined`. */
  get(key: StorageKey): Promise<Uint8Array | undefined>
  /**
   * Apply puts and deletes in the given order.
   *
   * @remarks
   * Where the backend has multi-key transactions (LevelDB) the batch is atomic. Where it has
   * not (localforage) the adapter applies the operations strictly in order, so that callers can
   * make the last operation (a head pointer) the commit point. `atomic` says which.
   */
  batch(ops: readonly StorageOp[]): Promise<void>
  /** Entries whose key starts with `prefix`, in key order (see {@link StorageKey}). */
  range(prefix: StorageKey, options?: RangeOptions): AsyncIterable<StorageEntry>
  /** True when {@link StorageAdapter.batch} is all-or-nothing. */
  readonly atomic: boolean
  /**
   * Claim the backend for one peer until `close()`: two peers writing one log from one storage
   * (two tabs, two processes on one directory, two instances on one object) would each take the
   * same identity and fork its log. LevelDB's own lock, Web Locks in browsers, a flag in memory.
   *
   * @throws {@link StorageLockedError} when another peer holds it.
   */
  acquire?(): Promise<void>
  /** Release the backend. Idempotent. */
  close(): Promise<void>
}
