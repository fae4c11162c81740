import { createAction, type PayloadAction } from '@reduxjs/toolkit'
import type { EventMeta } from '../engine/threadEvent.js'

/**
 * What the bindings add to an event's action, in `action.meta`:
 * - `event`: where the event sits (its thread, author, log, seq, clock, time, identity, `local`);
 * - `threadStates`: on a local command, the thread slices' states after it (the engine folded
 *   them), by reducer path; thread slices take their state from here, never from a second fold;
 * - `replay`: the event arrived late and was applied by rolling back and replaying; its effect
 *   reached the thread slices with the `threadApplied` before it.
 */
export interface EventActionMeta {
  readonly event: EventMeta
  readonly threadStates?: Readonly<Record<string, unknown>>
  readonly replay?: true
}

/** An event as an action: the command with `meta.event` describing where it sits. */
export interface EventAction<P = unknown> extends PayloadAction<P, string, EventActionMeta & Record<string, unknown>> {}

/**
 * The action type for a thread slice's case reducer: RTK's `PayloadAction` with the event's
 * meta. `meta.event` is optional in the type because a `prepare` callback does not produce it
 * (the middleware adds it); in a reducer running on a thread event it is always there.
 *
 * @example
 * ```ts
 * import type { ThreadAction } from 'redux-p2p-threads'
 * added: {
 *   reducer(state, action: ThreadAction<{ text: string }>) { state.push({ text: action.payload.text, by: action.meta.event?.author }) },
 *   prepare: (text: string) => ({ payload: { text }, meta: {} })
 * }
 * ```
 */
export type ThreadAction<P = void, M extends object = object> = PayloadAction<P, string, M & { event?: EventMeta; replay?: true }>

/** The event behind an action, if it is a thread event (`action.meta.event`). */
export function eventOf(action: unknown): EventMeta | undefined {
  const meta = (action as { meta?: { event?: unknown } } | null)?.meta
  const event = typeof meta === 'object' && meta !== null ? meta.event : undefined
  return typeof event === 'object' && event !== null ? (event as EventMeta) : undefined
}

/**
 * Why thread slices were given new states in one step: a thread opened (`open`), events from
 * peers (`remote`), a late event (`replay`), an aborted transaction (`rollback`), storage read
 * back after a failed write (`reload`), or the thread closed or deleted on this peer (`close`).
 */
export type AppliedReason = 'open' | 'remote' | 'replay' | 'rollback' | 'reload' | 'close'

export interface AppliedPayload {
  readonly threadId: string
  readonly reason: AppliedReason
  /**
   * The thread slices' states after this step, by reducer path (only those that changed). For
   * a thread-keyed slice, the state of this thread.
   */
  readonly states: Readonly<Record<string, unknown>>
  /** Events applied by this step (their actions follow it, one each). */
  readonly events: number
}

/**
 * Dispatched when a thread's slices move in one step other than a local command: events from
 * peers, a late event (rollback to a checkpoint and replay), a thread opened from storage, an
 * aborted transaction. It carries the states, so the store's state follows from the actions it
 * saw (DevTools can jump and import). The events' own actions follow it, each once, so listeners
 * and other slices see remote events as they see local ones.
 *
 * @example
 * ```ts
 * import { threadApplied } from 'redux-p2p-threads'
 * builder.addCase(threadApplied, (state, action) => { if (action.payload.reason === 'replay') state.replays++ })
 * ```
 */
export const threadApplied = createAction<AppliedPayload, 'redux-threads/applied'>('redux-threads/applied')

/**
 * The thread slices' states an action carries: from `threadApplied`, or from a local command's
 * `meta.threadStates`. `undefined` for any other action.
 */
export function carriedStates(action: unknown): { threadId: string; states: Readonly<Record<string, unknown>>; reason: AppliedReason | 'command' } | undefined {
  if (threadApplied.match(action)) return { threadId: action.payload.threadId, states: action.payload.states, reason: action.payload.reason }
  const meta = (action as { meta?: Partial<EventActionMeta> } | null)?.meta
  if (typeof meta !== 'object' || meta === null || typeof meta.threadStates !== 'object' || meta.threadStates === null || meta.event === undefined) return undefined
  return { threadId: meta.event.threadId, states: meta.threadStates, reason: 'command' }
}
