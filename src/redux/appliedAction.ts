import { createAction, type PayloadAction } from '@reduxjs/toolkit'
import type { EventMeta } from '../engine/threadEvent.js'

/** An event as an action: the command with `meta.event` describing where it sits. */
export interface EventAction<P = unknown> extends PayloadAction<P, string, { event: EventMeta } & Record<string, unknown>> {}

/** Why thread slices were given a new state in one step. */
export type AppliedReason = 'open' | 'remote' | 'replay' | 'rollback'

export interface AppliedPayload {
  readonly threadId: string
  readonly reason: AppliedReason
  /** The events applied by this step, in order (empty for `open` and `rollback`). */
  readonly actions: readonly EventAction[]
  /** Events whose reducers ran again because an earlier one arrived late. */
  readonly replayed: number
}

/**
 * Dispatched once when a thread's slices move in one step: events from peers, a late event
 * (rollback to a checkpoint and replay), a thread opened from storage, or an aborted transaction.
 * Thread slices take their new state from it; other slices may react to `payload.actions`.
 *
 * @example
 * ```ts
 * import { threadApplied } from 'redux-threads'
 * builder.addCase(threadApplied, (state, action) => { state.unread += action.payload.actions.length })
 * ```
 */
export const threadApplied = createAction<AppliedPayload, 'redux-threads/applied'>('redux-threads/applied')
