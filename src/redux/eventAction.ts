import { SHOULD_AUTOBATCH, type UnknownAction } from '@reduxjs/toolkit'
import type { Command } from '../core/command.js'
import type { ThreadEvent } from '../engine/threadEvent.js'
import type { EventAction } from './appliedAction.js'

const ACTION = Symbol.for('redux-threads/event-action')

/**
 * The action of an event, as reducers see it: the command (`type`, `payload`, `error`) with the
 * event's place in `meta.event` beside the command's own meta. Made once per event and kept on
 * the event (a registered symbol, not a module-level map): the engine's folds, replays and the
 * store share one object.
 */
export function eventActionOf(e: ThreadEvent): EventAction {
  const cached = (e as unknown as Record<symbol, EventAction | undefined>)[ACTION]
  if (cached !== undefined) return cached
  const c = e.command
  const userMeta = typeof c.meta === 'object' && c.meta !== null ? (c.meta as Record<string, unknown>) : {}
  const action: Record<string, unknown> = { type: c.type, payload: c.payload, meta: { ...userMeta, event: e.meta } }
  if (c.error !== undefined) action.error = c.error
  Object.defineProperty(e, ACTION, { value: action, enumerable: false })
  return action as unknown as EventAction
}

/** The action of an event with more in its meta (thread states, the replay flag, auto-batching). */
export function eventActionWith(e: ThreadEvent, extra: Record<string, unknown>): EventAction {
  const base = eventActionOf(e)
  return { ...base, meta: { ...base.meta, ...extra } }
}

/** Mark an action for RTK's `autoBatchEnhancer`: subscribers hear of a batch once, at its end. */
export function autoBatched<A extends object>(action: A): A {
  return { ...action, meta: { ...((action as { meta?: object }).meta ?? {}), [SHOULD_AUTOBATCH]: true } }
}

/** The command a dispatched action stands for: what the event body stores. */
export function commandOf(action: UnknownAction): Command {
  const { type, payload, meta, error } = action as UnknownAction & { payload?: unknown; meta?: unknown; error?: boolean }
  const { threadId: _routing, ...rest } = typeof meta === 'object' && meta !== null ? (meta as Record<string, unknown>) : {}
  const cleanMeta = typeof meta === 'object' && meta !== null ? (Object.keys(rest).length === 0 ? undefined : rest) : meta
  return { type, payload, meta: cleanMeta, ...(error === undefined ? {} : { error }) }
}

/** True for an action that is already an event (it carries `meta.event`): not a new command. */
export function isEventAction(action: UnknownAction): boolean {
  const meta = (action as { meta?: { event?: unknown } }).meta
  return typeof meta === 'object' && meta !== null && typeof meta.event === 'object' && meta.event !== null
}
