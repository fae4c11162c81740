import { check } from './errors.js'

/**
 * A counter whose increments are never lost (paper section 5.4): its state is a plain number,
 * and each command carries a delta, not the new total. Two peers that add 1 at once both count,
 * whatever order their events reach anyone, since every peer folds every delta (a register set
 * to `total + 1` would keep only one of them).
 */
export type CounterState = number

/** A counter command's payload: the amount to add (negative to subtract). */
export interface CounterOp {
  /** A finite number; integers keep totals exact (floating-point sums are the same on every peer, but rounded). */
  readonly add: number
}

/**
 * The largest total a counter may reach, either side of 0: `Number.MAX_VALUE`, so the total is
 * always finite (Infinity cannot be snapshotted by dag-cbor, and no finite delta brings it back).
 * An operation that would take the total beyond is refused. (Totals beyond
 * `Number.MAX_SAFE_INTEGER` are rounded alike on every peer.)
 */
export const MAX_COUNTER_MAGNITUDE = Number.MAX_VALUE

/**
 * The payload of an increment by `by` (default 1).
 *
 * @example
 * ```ts
 * import { makeIncrement } from 'redux-p2p-threads/db'
 * store.dispatch(likes.actions.changed(makeIncrement()))
 * ```
 */
export function makeIncrement(by = 1): CounterOp {
  return { add: by }
}

/**
 * The payload of a decrement by `by` (default 1): an increment by `-by`.
 *
 * @example
 * ```ts
 * import { makeDecrement } from 'redux-p2p-threads/db'
 * store.dispatch(stock.actions.changed(makeDecrement(3))) // payload { add: -3 }
 * ```
 */
export function makeDecrement(by = 1): CounterOp {
  return { add: -by }
}

/**
 * Apply a counter command: `state + op.add`. Pure; use it in any thread slice's case reducer.
 *
 * @throws {@link InvalidOperationError} when `op.add` is not a finite number, or the total would
 * leave ±{@link MAX_COUNTER_MAGNITUDE} (not finite) (the command is refused; a peer's event is
 * skipped by every peer).
 *
 * @example
 * ```ts
 * import type { PayloadAction } from '@reduxjs/toolkit'
 * import { createThreadSlice } from 'redux-p2p-threads'
 * import { applyCounter, makeIncrement, type CounterOp } from 'redux-p2p-threads/db'
 *
 * const post = createThreadSlice({
 *   name: 'post',
 *   initialState: { likes: 0 },
 *   reducers: {
 *     liked(state, action: PayloadAction<CounterOp>) {
 *       state.likes = applyCounter(state.likes, action.payload)
 *     }
 *   }
 * })
 * store.dispatch(post.actions.liked(makeIncrement()))
 * ```
 */
export function applyCounter(state: CounterState, op: CounterOp): CounterState {
  check(typeof op === 'object' && op !== null && typeof op.add === 'number' && Number.isFinite(op.add), 'a counter operation is `{ add: number }` with a finite number')
  const total = state + op.add
  check(Math.abs(total) <= MAX_COUNTER_MAGNITUDE, `a counter stays within ±${MAX_COUNTER_MAGNITUDE} (this operation would make it ${total})`)
  // -0 (a peer's `{ add: -0 }` on a -0 total) would be 0 after a snapshot (dag-cbor): keep 0.
  return total === 0 ? 0 : total
}
