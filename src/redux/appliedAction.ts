import { createAction, type PayloadAction } from '@reduxjs/toolkit'
import type { EventMeta } from '../engine/threadEvent.js'

/** An event as an action: the command with `meta.event` describing where it sits. */
export interface EventAction<P = unknown> extends PayloadAction<P, string, { event: EventMeta } & Record<string, unknown>> {}

/**
 * The action type for a thread slice's case reducer: RTK's `PayloadAction` with the event's
 * meta. `meta.event` is optional in the type because a `prepare` callback does not produce it
 * (the middleware adds it); in a reducer running on a thread event it is always there.
 *
 * @example
 * ```ts
 * import type { ThreadAction } from 'redux-threads'
 * added: {
 *   reducer(state, action: ThreadAction<{ text: string }>) { state.push({ text: action.payload.text, by: action.meta.event?.author }) },
 *   prepare: (text: string) => ({ payload: { text }, meta: {} })
 * }
 * ```
 */
export type ThreadAction<P = void, M extends object = object> = PayloadAction<P, string, M & { event?: EventMeta }>

/** The event behind an action, if it is a thread event (`action.meta.event`). */
export function eventOf(action: unknown): EventMeta | undefined {
  const meta = (action as { meta?: { event?: unknown } } | null)?.meta
  const event = typeof meta === 'object' && meta !== null ? meta.event : undefined
  return typeof event === 'object' && event !== null ? (event as EventMeta) : undefined
}

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
