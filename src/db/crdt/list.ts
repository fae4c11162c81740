import { check, InvalidOperationError, isSafeKey } from './errors.js'
import { newId } from './ids.js'
import { frozen, memoByIdentity, plain } from './plain.js'
import { keptStamp, type Stamp } from './stamp.js'
import { checkJsonValue, jsonValue, withoutNegativeZero } from './values.js'

/**
 * The longest ID a list insert may carry (a ULID from {@link newId} has 26 characters). Each
 * element's ID derives from it (`${id}:${k}`), so an unbounded ID would be copied into every
 * element: one event of a 500 KB ID and 1,000 values would hold 500 MB on every peer.
 */
export const MAX_LIST_ID_LENGTH = 64

/**
 * The most values one list or text insert may carry (a paste of 262,144 code points). Larger
 * inserts are refused (split them into several commands).
 */
export const MAX_LIST_INSERT_VALUES = 262_144

/**
 * An ordered list anchored on element IDs, in the manner of RGA (paper section 5.4). Each
 * element has a unique ID made when its insert was made; an insert names the element it goes
 * after (or `null`, the head). Folded in the thread's total order, an insert goes right after
 * its anchor, so:
 * - concurrent inserts at one place all survive, the later in the total order first, the same on
 *   every peer;
 * - a run typed by one writer (each insert after the one before) is never interleaved with
 *   another writer's run at the same place;
 * - a delete leaves a tombstone (`deleted`: the stamp of the deleting event), so an insert
 *   anchored on a deleted element still lands right after where it was;
 * - delete wins: a `set` of a deleted element changes nothing, whichever sorts first.
 *
 * The state is a plain array of elements in document order, tombstones included. Each command
 * costs O(n + k) for n elements and k inserted (one scan and one array copy, outside Immer).
 */
export type ListState<T> = ListElement<T>[]

/** One element of a {@link ListState}. */
export interface ListElement<T> {
  /** Unique, made when its insert was made (see {@link insertedIds}). */
  id: string
  value: T
  /** Present once deleted: the stamp of the first event that deleted it (a tombstone). */
  deleted?: Stamp
}

/** Insert `values` right after the element `after` (`null`: at the head). */
export interface ListInsert<T> {
  readonly op: 'insert'
  readonly after: string | null
  /** The first element's ID; the k-th (k ≥ 1) gets `${id}:${k}`. */
  readonly id: string
  readonly values: readonly T[]
}

/** Delete the elements `ids` (those seen by the command's author: concurrent inserts survive). */
export interface ListDelete {
  readonly op: 'delete'
  readonly ids: readonly string[]
}

/** Replace the value of element `id` (ignored once it is deleted: delete wins). */
export interface ListSet<T> {
  readonly op: 'set'
  readonly id: string
  readonly value: T
}

/** A command of a list. */
export type ListOp<T> = ListInsert<T> | ListDelete | ListSet<T>

/**
 * The IDs an insert gives its elements, in order: `id`, then `${id}:1`, `${id}:2`…
 *
 * @example
 * ```ts
 * import { insertedIds, makeListInsert } from 'redux-p2p-threads/db'
 * insertedIds(makeListInsert(null, ['a', 'b'], 'X')) // ['X', 'X:1']
 * ```
 */
export function insertedIds(op: Pick<ListInsert<unknown>, 'id' | 'values'>): string[] {
  return op.values.map((_, k) => (k === 0 ? op.id : `${op.id}:${k}`))
}

/**
 * The payload of inserting `values` right after the element `after` (`null`: at the head), with
 * a new unique ID (see {@link insertedIds} for the elements' IDs).
 *
 * @example
 * ```ts
 * import { insertedIds, makeListInsert } from 'redux-p2p-threads/db'
 * const op = makeListInsert(null, ['milk', 'eggs'])
 * store.dispatch(shopping.actions.edited(op))
 * const [milkId] = insertedIds(op)
 * ```
 */
export function makeListInsert<T>(after: string | null, values: readonly T[], id: string = newId()): ListInsert<T> {
  return { op: 'insert', after, id, values: [...values] }
}

/**
 * The payload of inserting `values` at visible position `index` (0: at the head; the list's
 * length: at the end) of the list as this peer sees it now.
 *
 * @throws RangeError when `index` is outside `0..length`.
 *
 * @example
 * ```ts
 * import { listValues, makeListInsertAt } from 'redux-p2p-threads/db'
 * const items = store.getState().shopping.items
 * store.dispatch(shopping.actions.edited(makeListInsertAt(items, listValues(items).length, ['bread'])))
 * ```
 */
export function makeListInsertAt<T>(state: ListState<T>, index: number, values: readonly T[]): ListInsert<T> {
  const ids = listIds(state)
  if (!Number.isInteger(index) || index < 0 || index > ids.length) throw new RangeError(`index ${index} is outside 0..${ids.length}`)
  return makeListInsert(index === 0 ? null : (ids[index - 1] as string), values)
}

/**
 * The payload of deleting the elements `ids` (those this peer sees: an element inserted next to
 * them at the same time survives).
 *
 * @example
 * ```ts
 * import { listIdAt, makeListDelete } from 'redux-p2p-threads/db'
 * store.dispatch(shopping.actions.edited(makeListDelete([listIdAt(items, 0)!])))
 * ```
 */
export function makeListDelete(ids: readonly string[]): ListDelete {
  return { op: 'delete', ids: [...ids] }
}

/**
 * The payload of replacing the value of element `id` (ignored where the element is deleted:
 * delete wins).
 *
 * @example
 * ```ts
 * import { listIdAt, makeListSet } from 'redux-p2p-threads/db'
 * store.dispatch(shopping.actions.edited(makeListSet(listIdAt(items, 0)!, 'oat milk')))
 * ```
 */
export function makeListSet<T>(id: string, value: T): ListSet<T> {
  return { op: 'set', id, value }
}

/**
 * Apply a list command stamped `stamp` (use {@link stampOf} in a case reducer). Pure: returns a
 * new array (or `state` itself when nothing changes) and never mutates `state`, whether it is a
 * plain array or an Immer draft; the work happens on plain arrays, outside the draft.
 *
 * Rules: an insert goes right after its anchor (deleted or not); an insert reusing an ID is
 * invalid. A delete of a deleted element keeps its first tombstone. A set of a deleted element
 * is ignored (delete wins). An anchor or element the list does not hold is never an error, from
 * anyone: an insert anchored on it and a set of it change nothing, a delete deletes the elements
 * it names that the list holds. The insert that made the element may not have arrived yet (it
 * sorts before, so once it arrives the engine folds again and the command applies), or may have
 * been refused. The result never depends on `stamp.local` (which differs between peers for one
 * event), so every peer folds each event alike; to refuse a command made on a stale view, check
 * it with {@link listMissingIds} before dispatching.
 *
 * @throws {@link InvalidOperationError} for an invalid or malformed command: an ID reused, an
 * insert's ID longer than {@link MAX_LIST_ID_LENGTH}, more than {@link MAX_LIST_INSERT_VALUES}
 * values, a value that is not plain JSON (see `MAX_VALUE_DEPTH`). The command is refused; a
 * peer's event is skipped by every peer alike.
 *
 * @example
 * ```ts
 * import type { PayloadAction } from '@reduxjs/toolkit'
 * import { createThreadSlice } from 'redux-p2p-threads'
 * import { applyList, listValues, stampOf, type ListOp, type ListState } from 'redux-p2p-threads/db'
 *
 * const shopping = createThreadSlice({
 *   name: 'shopping',
 *   initialState: { items: [] as ListState<string> },
 *   reducers: {
 *     edited(state, action: PayloadAction<ListOp<string>>) {
 *       state.items = applyList(state.items, action.payload, stampOf(action))
 *     }
 *   },
 *   selectors: { items: (state) => listValues(state.items) }
 * })
 * ```
 */
export function applyList<T>(draftOrState: ListState<T>, op: ListOp<T>, stamp: Stamp): ListState<T> {
  check(typeof op === 'object' && op !== null, 'a list operation is an object')
  const items = plain(draftOrState)
  if (op.op === 'insert') return insert(items, op) ?? draftOrState
  if (op.op === 'delete') return remove(items, op, stamp) ?? draftOrState
  check(op.op === 'set' && isElementId(op.id) && 'value' in op, 'a list operation is `{ op: "insert", after, id, values }`, `{ op: "delete", ids }` or `{ op: "set", id, value }`')
  const value = jsonValue(op.value, 'a list value')
  const at = indexOfId(items, op.id)
  if (at < 0) return draftOrState
  const old = items[at] as ListElement<T>
  if (old.deleted !== undefined) return draftOrState
  const out = [...items]
  out[at] = frozen({ id: old.id, value })
  return frozen(out, false)
}

/**
 * The elements (IDs) a list command names that `state` does not hold: the anchor of an insert,
 * the elements of a delete or a set. Empty when the command applies in full. {@link applyList}
 * never refuses a command for these (it applies what it can, the same on every peer); call this
 * before dispatching to refuse a command made on a stale view.
 *
 * @example
 * ```ts
 * import { listMissingIds, makeListDelete } from 'redux-p2p-threads/db'
 * const op = makeListDelete(selected)
 * if (listMissingIds(items, op).length === 0) store.dispatch(shopping.actions.edited(op))
 * ```
 */
export function listMissingIds(state: ListState<unknown>, op: ListOp<unknown>): string[] {
  const items = plain(state)
  const named = op.op === 'insert' ? (op.after === null ? [] : [op.after]) : op.op === 'delete' ? [...op.ids] : [op.id]
  const held = new Set<string>()
  for (let i = 0; i < items.length; i++) held.add((items[i] as ListElement<unknown>).id)
  return named.filter((id) => !held.has(id))
}

/*
 * Performance: state arrays are frozen (Immer freezes what reducers return, and so do these
 * helpers, so that Immer need not walk them). V8 copies and searches a frozen array slowly with
 * `slice`, `findIndex` or `indexOf` (about 50 times slower than an open one at 10,000 items),
 * but quickly with spread and a plain loop: that is what the code below uses.
 */

function indexOfId(items: ListState<unknown>, id: string): number {
  for (let i = 0; i < items.length; i++) if ((items[i] as ListElement<unknown>).id === id) return i
  return -1
}

/** A string usable as an element ID: not `__proto__`, at most {@link MAX_LIST_ID_LENGTH} characters plus a `:k` suffix. */
function isElementId(id: unknown): id is string {
  return isSafeKey(id) && id.length <= MAX_LIST_ID_LENGTH + 8
}

function insert<T>(items: ListState<T>, op: ListInsert<T>): ListState<T> | undefined {
  check(isSafeKey(op.id) && op.id.length > 0 && Array.isArray(op.values) && (op.after === null || isElementId(op.after)), 'a list insert is `{ op: "insert", after: string | null, id: string, values: [] }`')
  check(op.id.length <= MAX_LIST_ID_LENGTH, `a list insert's ID is at most ${MAX_LIST_ID_LENGTH} characters (this one has ${op.id.length})`)
  check(op.values.length <= MAX_LIST_INSERT_VALUES, `a list insert holds at most ${MAX_LIST_INSERT_VALUES} values (this one has ${op.values.length})`)
  if (op.values.length === 0) return items
  const values = op.values
  for (let k = 0; k < values.length; k++) checkJsonValue(values[k], 'a list value')
  const ids = insertedIds(op)
  const fresh = new Set(ids)
  check(fresh.size === ids.length, `the insert \`${op.id}\` gives two elements one ID`)
  let anchor = op.after === null ? -1 : -2
  // One scan finds the anchor and any ID already held (a plain comparison for the usual single insert).
  const single = ids.length === 1 ? op.id : undefined
  for (let i = 0; i < items.length; i++) {
    const id = (items[i] as ListElement<T>).id
    if (single === undefined ? fresh.has(id) : id === single) throw new InvalidOperationError(`the list already holds an element \`${id}\``)
    if (id === op.after) anchor = i
  }
  // An anchor not held: the insert changes nothing, on every peer alike (see applyList).
  if (anchor === -2) return undefined
  // A loop, not `splice(at, 0, ...added)`: spreading arguments fails past ~120,000 values, at a
  // depth that depends on the stack left, so peers would disagree.
  const out: ListElement<T>[] = new Array<ListElement<T>>(items.length + values.length)
  let o = 0
  for (let i = 0; i <= anchor; i++) out[o++] = items[i] as ListElement<T>
  for (let k = 0; k < values.length; k++) out[o++] = frozen({ id: ids[k] as string, value: withoutNegativeZero(values[k] as T) })
  for (let i = anchor + 1; i < items.length; i++) out[o++] = items[i] as ListElement<T>
  return frozen(out, false)
}

function remove<T>(items: ListState<T>, op: ListDelete, stamp: Stamp): ListState<T> | undefined {
  check(Array.isArray(op.ids) && op.ids.every(isElementId), 'a list delete is `{ op: "delete", ids: string[] }`')
  const wanted = new Set(op.ids)
  const tombstone: Stamp = frozen(keptStamp(stamp))
  let out: ListState<T> | undefined
  let found = 0
  // Deletes what the list holds and ignores the rest, on every peer alike (see applyList).
  for (let i = 0; i < items.length && found < wanted.size; i++) {
    const e = items[i] as ListElement<T>
    if (!wanted.has(e.id)) continue
    found++
    if (e.deleted !== undefined) continue
    out ??= [...items]
    out[i] = Object.freeze({ id: e.id, value: e.value, deleted: tombstone })
  }
  return out === undefined ? undefined : frozen(out, false)
}

function live<R>(read: (e: ListElement<unknown>) => R): (items: ListState<unknown>) => R[] {
  return (items) => {
    const out: R[] = []
    for (let i = 0; i < items.length; i++) {
      const e = items[i] as ListElement<unknown>
      if (e.deleted === undefined) out.push(read(e))
    }
    return out
  }
}
const liveIds = memoByIdentity(live((e) => e.id))
const liveValues = memoByIdentity(live((e) => e.value))

/**
 * The values of the elements not deleted, in order. Memoized: the same array until the list
 * changes, so it suits a selector.
 *
 * @example
 * ```ts
 * import { listValues } from 'redux-p2p-threads/db'
 * const selectItems = (root: RootState) => listValues(root.shopping.items)
 * ```
 */
export function listValues<T>(state: ListState<T>): readonly T[] {
  return liveValues(state) as T[]
}

/**
 * The IDs of the elements not deleted, in order. Memoized like {@link listValues}.
 *
 * @example
 * ```ts
 * import { listIds } from 'redux-p2p-threads/db'
 * const last = listIds(items).at(-1) ?? null // anchor an insert at the end
 * ```
 */
export function listIds(state: ListState<unknown>): readonly string[] {
  return liveIds(state)
}

/**
 * The ID of the element at visible position `index` (from 0, deleted elements not counted), or
 * `undefined` past the end.
 *
 * @example
 * ```ts
 * import { listIdAt } from 'redux-p2p-threads/db'
 * listIdAt(items, 0) // the first live element's ID
 * ```
 */
export function listIdAt(state: ListState<unknown>, index: number): string | undefined {
  return listIds(state)[index]
}

/**
 * The visible position of element `id`, or -1 when it is deleted or unknown.
 *
 * @example
 * ```ts
 * import { listIndexOf } from 'redux-p2p-threads/db'
 * listIndexOf(items, id) // 0 for the first live element
 * ```
 */
export function listIndexOf(state: ListState<unknown>, id: string): number {
  return listIds(state).indexOf(id)
}
