import type { UnknownAction } from '@reduxjs/toolkit'
import { compareOrder } from '../../engine/threadEvent.js'
import { eventOf } from '../../redux/appliedAction.js'
import { InvalidOperationError } from './errors.js'

/**
 * Where an event sits in its thread's total order (paper section 4: clock, then log ID, then
 * seq): the same on every peer. Tombstones and registers keep the stamp of the event that made
 * them; {@link compareStamps} orders two stamps as the thread orders their events.
 */
export interface Stamp {
  /** The event's logical clock. */
  readonly clock: number
  /** The log (writer) the event is in. */
  readonly logId: string
  /** The event's position in its log, from 1. */
  readonly seq: number
  /**
   * True when this peer made the event, false for a peer's (absent outside a thread). For the
   * application's own use only: no helper's result depends on it, and it is never kept in state.
   * It differs between peers for one event, and the engine sets it for every event of this
   * peer's own log in every refold, so a fold that read it would fork peers.
   */
  readonly local?: boolean
}

/**
 * The stamp of the event behind a thread slice's action (`action.meta.event`), to pass to the
 * CRDT helpers that keep one (`applyList`, `applyLwwRegister`).
 *
 * @throws {@link InvalidOperationError} when the action is not a thread event (a reducer of a
 * thread slice always gets one; a plain slice's reducer does not).
 *
 * @example
 * ```ts
 * import { applyLwwRegister, stampOf } from 'redux-p2p-threads/db'
 * titled(state, action: PayloadAction<LwwSet<string>>) {
 *   state.title = applyLwwRegister(state.title, action.payload, stampOf(action))
 * }
 * ```
 */
export function stampOf(action: UnknownAction | { readonly meta?: unknown }): Stamp {
  const event = eventOf(action)
  if (event === undefined) {
    throw new InvalidOperationError('the action has no `meta.event`: stamps come from thread events, so call `stampOf` in a thread slice\'s case reducer')
  }
  return { clock: event.clock, logId: event.logId, seq: event.seq, local: event.local }
}

/**
 * Order two stamps as the thread orders their events (clock, then log ID, then seq): negative
 * when `a` comes first, positive when `b` does, 0 for the same event.
 *
 * @example
 * ```ts
 * import { compareStamps } from 'redux-p2p-threads/db'
 * compareStamps({ clock: 1, logId: 'b', seq: 4 }, { clock: 2, logId: 'a', seq: 1 }) // < 0
 * ```
 */
export function compareStamps(a: Stamp, b: Stamp): number {
  return compareOrder(a, b)
}

/** The part of a stamp kept in state: clock, log ID and seq (never `local`, which differs between peers). */
export function keptStamp(stamp: Stamp): Stamp {
  return { clock: stamp.clock, logId: stamp.logId, seq: stamp.seq }
}
