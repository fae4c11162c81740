import { canonicalKey } from './canonicalKey.js'
import { check, InvalidOperationError } from './errors.js'
import { newId } from './ids.js'
import { pagesEntries, pagesGet, pagesWith } from './pages.js'
import { frozen, memoByIdentity, plain } from './plain.js'
import { jsonValue } from './values.js'

/**
 * An observed-remove, add-wins set (paper section 5.4). Each add tags its member with a new
 * unique tag; a remove carries the tags its author observed and removes only those. An add its
 * remover had not seen (its tag not observed) survives, wherever it sorts in the total order:
 * concurrent add and remove, the add wins.
 *
 * The state is plain: the members' entries (canonical key, see {@link orSetKey}; the member;
 * its live tags), sorted by key in pages of at most `PAGE_MAX_ENTRIES` (256); a member is in the
 * set while it has a tag. `{}` is the empty set. A command copies one page and the page list,
 * O(log n + 256 + n / 128), whatever members a writer picks; it never copies the whole set.
 * Read it through {@link orSetHas}, {@link orSetValues}, {@link orSetEntry}.
 */
export interface OrSetState<T> {
  /** The entries, sorted by key, in pages (absent: the empty set). */
  pages?: OrSetEntry<T>[][]
}

/**
 * The most live tags one member may hold: an add of a member already holding that many is
 * refused (remove it first). Each add copies its member's tags, so the bound keeps an add
 * O(page + tags) however often one value is added.
 */
export const MAX_OR_SET_TAGS = 1_024

/** A member of an {@link OrSetState} and the tags of the adds that keep it. */
export interface OrSetEntry<T> {
  /** The member's canonical key ({@link orSetKey}). */
  key: string
  value: T
  /** Tags of adds not yet removed, in the order their adds were applied. Never empty. */
  tags: string[]
}

/** An add: the member and a tag made when the command was made. */
export interface OrSetAdd<T> {
  readonly op: 'add'
  readonly value: T
  readonly tag: string
}

/** A remove: the member's key and the tags its author observed. */
export interface OrSetRemove {
  readonly op: 'remove'
  readonly key: string
  readonly tags: readonly string[]
}

/** A command of an OR-set. */
export type OrSetOp<T> = OrSetAdd<T> | OrSetRemove

/**
 * The key a member is kept under: its canonical JSON text (see `canonicalKey`).
 *
 * @example
 * ```ts
 * import { orSetKey } from 'redux-p2p-threads/db'
 * orSetKey('a')              // '"a"'
 * orSetKey({ y: 1, x: 2 })   // '{"x":2,"y":1}'
 * ```
 */
export function orSetKey(value: unknown): string {
  return canonicalKey(value)
}

/**
 * The payload of adding `value` (any JSON value; members are equal when their canonical JSON is),
 * with a new unique tag.
 *
 * @example
 * ```ts
 * import { makeOrSetAdd } from 'redux-p2p-threads/db'
 * store.dispatch(board.actions.labels(makeOrSetAdd('urgent')))
 * ```
 */
export function makeOrSetAdd<T>(value: T, tag: string = newId()): OrSetAdd<T> {
  return { op: 'add', value, tag }
}

/**
 * The payload of removing `value` as this peer sees `state` now: the tags observed. Adds of it
 * that this peer has not seen survive the remove. Removing a member the set does not hold gives
 * a remove of no tags (it changes nothing).
 *
 * @example
 * ```ts
 * import { makeOrSetRemove } from 'redux-p2p-threads/db'
 * const labels = store.getState().board.labels
 * store.dispatch(board.actions.labels(makeOrSetRemove(labels, 'urgent')))
 * ```
 */
export function makeOrSetRemove<T>(state: OrSetState<T>, value: T): OrSetRemove {
  const key = orSetKey(value)
  const entry = pagesGet(plain(state).pages, key)
  return { op: 'remove', key, tags: entry === undefined ? [] : [...entry.tags] }
}

/**
 * The entry of `value` (its key, the value as first added, its live tags), or `undefined` when
 * the set does not hold it.
 *
 * @example
 * ```ts
 * import { orSetEntry } from 'redux-p2p-threads/db'
 * orSetEntry(labels, 'urgent')?.tags // the tags of the adds that keep it
 * ```
 */
export function orSetEntry<T>(state: OrSetState<T>, value: T): OrSetEntry<T> | undefined {
  return pagesGet(plain(state).pages, orSetKey(value))
}

/**
 * Apply an OR-set command. Pure: returns a new state (or `state` itself when nothing changes),
 * never mutates `state`, whether it is a plain object or an Immer draft.
 *
 * @throws {@link InvalidOperationError} for a malformed command, or an add whose tag the member
 * already holds (tags are unique: reuse would let a remove of one add remove another).
 *
 * @example
 * ```ts
 * import { applyOrSet, orSetValues, type OrSetOp, type OrSetState } from 'redux-p2p-threads/db'
 *
 * const board = createThreadSlice({
 *   name: 'board',
 *   initialState: { labels: {} as OrSetState<string> },
 *   reducers: {
 *     labels(state, action: PayloadAction<OrSetOp<string>>) {
 *       state.labels = applyOrSet(state.labels, action.payload)
 *     }
 *   },
 *   selectors: { labels: (state) => orSetValues(state.labels) }
 * })
 * ```
 */
export function applyOrSet<T>(draftOrState: OrSetState<T>, op: OrSetOp<T>): OrSetState<T> {
  const state = plain(draftOrState)
  check(typeof op === 'object' && op !== null, 'an OR-set operation is an object')
  if (op.op === 'add') {
    check(typeof op.tag === 'string' && op.tag.length > 0 && op.tag.length <= MAX_TAG_LENGTH, `an OR-set add carries a non-empty string \`tag\` of at most ${MAX_TAG_LENGTH} characters`)
    let value: T
    let key: string
    try {
      value = jsonValue(op.value, 'an OR-set member')
      key = orSetKey(value)
    } catch (cause) {
      throw new InvalidOperationError('an OR-set member must be a JSON value', {}, { cause })
    }
    const entry = pagesGet(state.pages, key)
    if (entry === undefined) return withEntry(state, key, { key, value, tags: [op.tag] })
    check(!entry.tags.includes(op.tag), `the tag \`${op.tag}\` was already added to this member`)
    check(entry.tags.length < MAX_OR_SET_TAGS, `an OR-set member holds at most ${MAX_OR_SET_TAGS} tags: remove it before adding it again`)
    return withEntry(state, key, { key, value: entry.value, tags: [...entry.tags, op.tag] })
  }
  check(op.op === 'remove' && typeof op.key === 'string' && Array.isArray(op.tags) && op.tags.every((t) => typeof t === 'string'), 'an OR-set operation is `{ op: "add", value, tag }` or `{ op: "remove", key, tags: string[] }`')
  const entry = pagesGet(state.pages, op.key)
  if (entry === undefined || op.tags.length === 0) return draftOrState
  const removed = new Set(op.tags)
  const tags = entry.tags.filter((t) => !removed.has(t))
  if (tags.length === entry.tags.length) return draftOrState
  return withEntry(state, op.key, tags.length > 0 ? { key: op.key, value: entry.value, tags } : undefined)
}

/** The longest tag an add may carry (a ULID from `newId` has 26 characters). */
export const MAX_TAG_LENGTH = 64

function withEntry<T>(state: OrSetState<T>, key: string, entry: OrSetEntry<T> | undefined): OrSetState<T> {
  return frozen({ pages: pagesWith(state.pages, key, entry === undefined ? undefined : frozen(entry)) as OrSetEntry<T>[][] }, false)
}

/**
 * True when `value` is a member of the set (equal by canonical JSON).
 *
 * @example
 * ```ts
 * import { orSetHas } from 'redux-p2p-threads/db'
 * orSetHas(store.getState().board.labels, 'urgent') // true or false
 * ```
 */
export function orSetHas<T>(state: OrSetState<T>, value: T): boolean {
  return pagesGet(plain(state).pages, orSetKey(value)) !== undefined
}

const values = memoByIdentity((state: OrSetState<unknown>): unknown[] => pagesEntries(state.pages).map((e) => e.value))

/**
 * The members, ordered by their keys (the same order on every peer). Memoized on the state
 * object: the same array until the set changes, so it suits a selector.
 *
 * @example
 * ```ts
 * import { orSetValues } from 'redux-p2p-threads/db'
 * const selectLabels = (root: RootState) => orSetValues(root.board.labels) // ['a', 'b']
 * ```
 */
export function orSetValues<T>(state: OrSetState<T>): readonly T[] {
  return values(state) as T[]
}
