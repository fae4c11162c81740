import { canonicalKey } from './canonicalKey.js'
import { check, InvalidOperationError } from './errors.js'
import { newId } from './ids.js'
import { memoByIdentity, plain } from './plain.js'

/**
 * An observed-remove, add-wins set (paper section 5.4). Each add tags its member with a new
 * unique tag; a remove carries the tags its author observed and removes only those. An add its
 * remover had not seen (its tag not observed) survives, wherever it sorts in the total order:
 * concurrent add and remove, the add wins.
 *
 * The state is a plain object from each member's canonical key (see {@link orSetKey}) to the
 * member and its live tags; a member is in the set while it has a tag.
 */
export type OrSetState<T> = Record<string, OrSetEntry<T>>

/** A member of an {@link OrSetState} and the tags of the adds that keep it. */
export interface OrSetEntry<T> {
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
  const entry = Object.hasOwn(state, key) ? state[key] : undefined
  return { op: 'remove', key, tags: entry === undefined ? [] : [...entry.tags] }
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
    check(typeof op.tag === 'string' && op.tag.length > 0, 'an OR-set add carries a non-empty string `tag`')
    let key: string
    try {
      key = orSetKey(op.value)
    } catch (cause) {
      throw new InvalidOperationError('an OR-set member must be a JSON value', {}, { cause })
    }
    const entry = Object.hasOwn(state, key) ? state[key] : undefined
    if (entry === undefined) return { ...state, [key]: { value: op.value, tags: [op.tag] } }
    check(!entry.tags.includes(op.tag), `the tag \`${op.tag}\` was already added to this member`)
    return { ...state, [key]: { value: entry.value, tags: [...entry.tags, op.tag] } }
  }
  check(op.op === 'remove' && typeof op.key === 'string' && Array.isArray(op.tags) && op.tags.every((t) => typeof t === 'string'), 'an OR-set operation is `{ op: "add", value, tag }` or `{ op: "remove", key, tags: string[] }`')
  const entry = Object.hasOwn(state, op.key) ? state[op.key] : undefined
  if (entry === undefined || op.tags.length === 0) return draftOrState
  const removed = new Set(op.tags)
  const tags = entry.tags.filter((t) => !removed.has(t))
  if (tags.length === entry.tags.length) return draftOrState
  if (tags.length > 0) return { ...state, [op.key]: { value: entry.value, tags } }
  const { [op.key]: _gone, ...rest } = state
  return rest
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
  return Object.hasOwn(state, orSetKey(value))
}

const values = memoByIdentity((state: OrSetState<unknown>): unknown[] =>
  Object.keys(state)
    .sort((a, b) => (a < b ? -1 : a > b ? 1 : 0))
    .map((k) => (state[k] as OrSetEntry<unknown>).value)
)

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
