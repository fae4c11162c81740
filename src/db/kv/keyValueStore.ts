import type { CaseReducer, PayloadAction } from '@reduxjs/toolkit'
import { createThreadSlice, type KeyedThreadSlice, type ThreadSlice } from '../../redux/createThreadSlice.js'
import { check, InvalidOperationError, isSafeKey } from '../crdt/errors.js'
import { pagesEntries, pagesGet, pagesWith } from '../crdt/pages.js'
import { frozen, memoByIdentity, plain } from '../crdt/plain.js'
import { keptStamp, stampOf, type Stamp } from '../crdt/stamp.js'
import { jsonValue } from '../crdt/values.js'

/**
 * One key of a {@link KeyValueState}: its value and the stamp of the put that wrote it, or a
 * tombstone with the stamp of the delete.
 */
export type KeyValueEntry<V> = { value: V; by: Stamp } | { deleted: true; by: Stamp }

/** One row of a {@link KeyValueState}'s pages: a key and its entry. */
export interface KeyValueRow<V> {
  key: string
  entry: KeyValueEntry<V>
}

/**
 * The state of a key-value store: plain Redux state, the keys' rows (tombstones included) sorted
 * by key (code-unit order) in pages of at most `PAGE_MAX_ENTRIES` (256) rows. A put or delete
 * finds its page by binary search and copies that page and the page list: O(log n + 256 + n/128)
 * for n keys, whatever keys a writer picks (hash buckets let a writer choose keys of one bucket
 * and make every write copy all of them). `{}` (no pages) is the empty store.
 */
export interface KeyValueState<V> {
  pages?: KeyValueRow<V>[][]
}

/** The longest key a put or delete may name. */
export const MAX_KEY_LENGTH = 1_024

/** The payload of `put`. */
export interface KeyValuePut<V> {
  readonly key: string
  readonly value: V
}

/** The case reducers of a key-value store: `put({ key, value })` and `del(key)`. */
export type KeyValueCaseReducers<V> = {
  put: CaseReducer<KeyValueState<V>, PayloadAction<KeyValuePut<V>>>
  del: CaseReducer<KeyValueState<V>, PayloadAction<string>>
}

/** The selectors of a key-value store, over one thread's state. */
export type KeyValueSelectors<V> = {
  /** The value at `key`, or `undefined` when the key was never put or is deleted. */
  get: (state: KeyValueState<V>, key: string) => V | undefined
  /** True when `key` holds a value. */
  has: (state: KeyValueState<V>, key: string) => boolean
  /** The keys holding a value, sorted by code unit (the same order on every peer). Memoized. */
  keys: (state: KeyValueState<V>) => readonly string[]
  /** `[key, value]` pairs in the order of `keys`. Memoized. */
  entries: (state: KeyValueState<V>) => ReadonlyArray<readonly [string, V]>
  /** The entry at `key` with its stamp (who wrote or deleted it, where in the order), tombstones included. */
  entry: (state: KeyValueState<V>, key: string) => KeyValueEntry<V> | undefined
}

/** Options of {@link createKeyValueStore}. */
export interface CreateKeyValueStoreOptions<V, Name extends string = string> {
  /** The slice's name: action types are `${name}/put` and `${name}/del`; the store's reducer key. */
  readonly name: Name
  /**
   * Back any number of threads (one store per thread), as `createThreadSlice`'s `keyed`: the
   * slice state becomes `Record<threadId, KeyValueState<V>>`; use `forThread(id)`. Default false.
   */
  readonly keyed?: boolean
  /** The version of the store's values' shape (default `1`); see `createThreadSlice`'s `version`. */
  readonly version?: string | number
  /**
   * Checks every value put, on every peer (it must be pure: the same answer everywhere). A value
   * it refuses (returns false, or throws) refuses a local `put` (nothing is signed or stored)
   * and makes every peer skip a peer's put alike (reported as a `ReducerError`). A type guard:
   * the store's value type is inferred from it. Default: every value is taken.
   */
  readonly validate?: (value: unknown, key: string) => value is V
}

/** A key-value store over one thread per peer. */
export type KeyValueStore<V, Name extends string = string> = ThreadSlice<KeyValueState<V>, KeyValueCaseReducers<V>, Name, Name, KeyValueSelectors<V>>

/** A key-value store backing any number of threads (`keyed: true`). */
export type KeyedKeyValueStore<V, Name extends string = string> = KeyedThreadSlice<KeyValueState<V>, KeyValueCaseReducers<V>, Name, Name, KeyValueSelectors<V>>

type Pages = KeyValueState<unknown>['pages']
const livePairs = memoByIdentity((pages: NonNullable<Pages>): Array<readonly [string, unknown]> => {
  const out: Array<readonly [string, unknown]> = []
  for (const row of pagesEntries(pages)) if (!('deleted' in row.entry)) out.push([row.key, row.entry.value])
  return out
})
const liveKeys = memoByIdentity((pages: NonNullable<Pages>): string[] => livePairs(pages).map((p) => p[0]))
const NO_PAGES: NonNullable<Pages> = Object.freeze([]) as unknown as NonNullable<Pages>

function entryAt<V>(state: KeyValueState<V>, key: string): KeyValueEntry<V> | undefined {
  return pagesGet(state.pages, key)?.entry
}

function withEntry<V>(state: KeyValueState<V>, key: string, entry: KeyValueEntry<V>): KeyValueState<V> {
  return frozen({ pages: pagesWith(state.pages, key, frozen({ key, entry })) as KeyValueRow<V>[][] }, false)
}

/** {@link createKeyValueStore} with its value type bound (see `createKeyValueStore.withTypes`). */
export interface TypedCreateKeyValueStore<V> {
  /** A key-value store backing any number of threads: `forThread(id)` gives one thread's actions and selectors. */
  <Name extends string>(options: CreateKeyValueStoreOptions<V, Name> & { keyed: true }): KeyedKeyValueStore<V, Name>
  /** A key-value store over one thread per peer. */
  <Name extends string>(options: CreateKeyValueStoreOptions<V, Name> & { keyed?: false }): KeyValueStore<V, Name>
}

/** The type of {@link createKeyValueStore}. */
export interface CreateKeyValueStore {
  /** A key-value store backing any number of threads: `forThread(id)` gives one thread's actions and selectors. */
  <V = unknown, Name extends string = string>(options: CreateKeyValueStoreOptions<V, Name> & { keyed: true }): KeyedKeyValueStore<V, Name>
  /** A key-value store over one thread per peer; the value type comes from `validate` (default `unknown`). */
  <V = unknown, Name extends string = string>(options: CreateKeyValueStoreOptions<V, Name> & { keyed?: false }): KeyValueStore<V, Name>
  /**
   * Bind the value type once and keep the name inferred (a type argument given by hand would
   * widen the name to `string`, and the slice's selectors would no longer fit the root state).
   *
   * @example
   * ```ts
   * const prefs = createKeyValueStore.withTypes<{ value: string | number }>()({ name: 'prefs' })
   * ```
   */
  withTypes<Types extends { value: unknown }>(): TypedCreateKeyValueStore<Types['value']>
}

/**
 * Create a key-value store (paper section 5.3, Example 10: Put, Get, Del) as a thread slice:
 * register it with `createThread({ slices })` like any other, and replay, snapshots, access
 * control and sync work for it unchanged.
 *
 * - `put({ key, value })` writes a value; of two writes of one key, the one last in the thread's
 *   total order (clock, log ID, seq) wins on every peer, however late either arrives.
 * - `del(key)` leaves a tombstone with the deleting event's stamp; a later put writes the key
 *   again. Deleting a key that holds no value changes nothing.
 * - Selectors `get`, `has`, `keys`, `entries` (sorted by key) and `entry` (with its stamp).
 *
 * Keys are strings other than `__proto__`; values must be encodable (JSON-like: no `undefined`,
 * functions or class instances; see `MAX_VALUE_DEPTH`). A put copies one page of at most 256 rows
 * and the page list, whatever the keys.
 *
 * @throws (from a command) {@link InvalidOperationError} for a key that is not a string, is
 * `__proto__` or is longer than {@link MAX_KEY_LENGTH}, a value that is not plain JSON (BigInt,
 * bytes, CIDs, nested deeper than `MAX_VALUE_DEPTH`; a `-0` is kept as 0), or a value `validate`
 * refuses.
 *
 * @example
 * ```ts
 * import { configureStore } from '@reduxjs/toolkit'
 * import { createPeer } from 'redux-p2p-threads'
 * import { createKeyValueStore } from 'redux-p2p-threads/db'
 *
 * interface Contact { name: string; email: string }
 * const isContact = (v: unknown): v is Contact => typeof v === 'object' && v !== null && typeof (v as Contact).name === 'string'
 *
 * export const contacts = createKeyValueStore({ name: 'contacts', validate: isContact })
 * const peer = createPeer()
 * const store = configureStore({
 *   reducer: { [peer.reducerPath]: peer.reducer, contacts: contacts.reducer },
 *   middleware: (d) => d().concat(peer.middleware)
 * })
 * await store.dispatch(peer.thunks.createThread({ slices: [contacts] })).unwrap()
 * await store.dispatch(contacts.actions.put({ key: 'ada', value: { name: 'Ada', email: 'ada@example.org' } })).unwrap()
 * contacts.selectors.get(store.getState(), 'ada') // { name: 'Ada', … }
 * store.dispatch(contacts.actions.del('ada'))
 *
 * // The value type without a validation hook (RTK's `withTypes`): the name is still inferred.
 * export const prefs = createKeyValueStore.withTypes<{ value: string | number }>()({ name: 'prefs' })
 * ```
 */
export const createKeyValueStore: CreateKeyValueStore = /* @__PURE__ */ Object.assign(create, { withTypes: () => create }) as CreateKeyValueStore

function create<V, Name extends string>(options: CreateKeyValueStoreOptions<V, Name>): KeyValueStore<V, Name> | KeyedKeyValueStore<V, Name> {
  const { name, keyed = false, version, validate } = options
  const put = (draft: KeyValueState<V>, action: PayloadAction<KeyValuePut<V>>): KeyValueState<V> => {
    const p = action.payload as Partial<KeyValuePut<V>> | null
    check(typeof p === 'object' && p !== null && 'value' in p, `\`${name}/put\` takes \`{ key, value }\``)
    const { key } = p as KeyValuePut<V>
    check(isSafeKey(key) && key.length <= MAX_KEY_LENGTH, `\`${name}/put\` takes a string key other than \`__proto__\`, of at most ${MAX_KEY_LENGTH} characters`)
    const value = jsonValue((p as KeyValuePut<V>).value, `the value put at \`${name}\`'s key \`${key}\``)
    if (validate !== undefined && !validate(value, key)) {
      throw new InvalidOperationError(`\`${name}\`'s \`validate\` refused the value put at key \`${key}\``)
    }
    // Outside Immer: the new page and page list are frozen, so Immer neither copies nor walks them.
    return withEntry(plain(draft), key, { value, by: keptStamp(stampOf(action)) })
  }
  const del = (draft: KeyValueState<V>, action: PayloadAction<string>): KeyValueState<V> | undefined => {
    const key = action.payload
    check(isSafeKey(key) && key.length <= MAX_KEY_LENGTH, `\`${name}/del\` takes a string key other than \`__proto__\`, of at most ${MAX_KEY_LENGTH} characters`)
    const state = plain(draft)
    const entry = entryAt(state, key)
    if (entry === undefined || 'deleted' in entry) return undefined
    return withEntry(state, key, { deleted: true as const, by: keptStamp(stampOf(action)) })
  }
  const selectors: KeyValueSelectors<V> = {
    get: (state, key) => {
      const e = entryAt(state, key)
      return e === undefined || 'deleted' in e ? undefined : e.value
    },
    has: (state, key) => {
      const e = entryAt(state, key)
      return e !== undefined && !('deleted' in e)
    },
    keys: (state) => liveKeys(state.pages ?? NO_PAGES),
    entries: (state) => livePairs(state.pages ?? NO_PAGES) as ReadonlyArray<readonly [string, V]>,
    entry: (state, key) => entryAt(state, key)
  }
  const sliceOptions = {
    name,
    // The state's layout is part of the version: snapshots of the earlier hash-bucket layout are
    // not used (the thread is folded again), as a collection does for its indexes.
    version: `${version ?? 1}+pages`,
    initialState: (): KeyValueState<V> => ({ pages: [] }),
    reducers: { put, del },
    selectors
  }
  return (keyed ? createThreadSlice({ ...sliceOptions, keyed: true } as never) : createThreadSlice(sliceOptions as never)) as unknown as KeyValueStore<V, Name> | KeyedKeyValueStore<V, Name>
}
