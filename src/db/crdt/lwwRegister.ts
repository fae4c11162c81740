import { check } from './errors.js'
import { compareStamps, keptStamp, type Stamp } from './stamp.js'
import { jsonValue } from './values.js'

/**
 * A last-writer-wins register (paper section 5.4): one value, and the stamp of the event that
 * wrote it. Of concurrent writes, the one last in the thread's total order (clock, log ID, seq)
 * wins on every peer; a write that sorts before the current one (a late event applied out of
 * order by code that does not fold in order) changes nothing.
 */
export interface LwwRegister<T> {
  value: T
  /** The stamp of the write that set `value`, or `null` for the initial value. */
  by: Stamp | null
}

/** A register command's payload: the value to write. */
export interface LwwSet<T> {
  readonly value: T
}

/**
 * A register holding `initial`, written by nobody yet.
 *
 * @example
 * ```ts
 * import { lwwRegister } from 'redux-p2p-threads/db'
 * const initialState = { title: lwwRegister('Untitled') }
 * ```
 */
export function lwwRegister<T>(initial: T): LwwRegister<T> {
  return { value: initial, by: null }
}

/**
 * The payload of a write of `value` (it must be encodable: no `undefined`, functions or classes).
 *
 * @example
 * ```ts
 * import { makeLwwSet } from 'redux-p2p-threads/db'
 * store.dispatch(doc.actions.retitled(makeLwwSet('Minutes')))
 * ```
 */
export function makeLwwSet<T>(value: T): LwwSet<T> {
  return { value }
}

/**
 * Apply a write stamped `stamp` (use {@link stampOf} in a case reducer): the new register when
 * the write sorts after the current one, else `state` itself. Pure; never mutates `state`.
 *
 * @throws {@link InvalidOperationError} when `op` is not `{ value }`, or the value is not plain JSON
 * (see `MAX_VALUE_DEPTH`; a `-0` is kept as 0).
 *
 * @example
 * ```ts
 * import { applyLwwRegister, lwwRegister, makeLwwSet, stampOf, type LwwSet } from 'redux-p2p-threads/db'
 *
 * const doc = createThreadSlice({
 *   name: 'doc',
 *   initialState: { title: lwwRegister('Untitled') },
 *   reducers: {
 *     retitled(state, action: PayloadAction<LwwSet<string>>) {
 *       state.title = applyLwwRegister(state.title, action.payload, stampOf(action))
 *     }
 *   }
 * })
 * store.dispatch(doc.actions.retitled(makeLwwSet('Minutes')))
 * ```
 */
export function applyLwwRegister<T>(state: LwwRegister<T>, op: LwwSet<T>, stamp: Stamp): LwwRegister<T> {
  check(typeof op === 'object' && op !== null && 'value' in op, 'a register write is `{ value }`')
  // Checked whether or not it wins, so a write's validity never depends on what sorted before it.
  const value = jsonValue(op.value, 'a register value')
  if (state.by !== null && compareStamps(stamp, state.by) <= 0) return state
  return { value, by: keptStamp(stamp) }
}
