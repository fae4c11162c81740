import { SHOULD_AUTOBATCH, isAction, type Dispatch, type Middleware, type MiddlewareAPI, type UnknownAction } from '@reduxjs/toolkit'
import { MisuseError } from '../core/errors.js'
import type { ThreadEvent } from '../engine/threadEvent.js'
import { threadApplied, type AppliedReason } from './appliedAction.js'
import { settleCommand } from './createThreadSlice.js'
import { autoBatched, commandOf, eventActionOf, eventActionWith, isEventAction } from './eventAction.js'
import { changedStates, type SliceStates } from './projection.js'
import type { Binding, ThreadRegistry } from './registry.js'

/**
 * The store side of a peer: the one store it projects into, and how events reach it. Local
 * commands are handled by the middleware; everything the engines apply otherwise (events from
 * peers, replays, rollbacks, opening) is dispatched from here.
 */
export class StoreLink {
  readonly #registry: ThreadRegistry
  #api: MiddlewareAPI | undefined
  /** The thread whose local command is being applied: its own `applied` comes back through the middleware. */
  #inCommand: string | undefined
  /** Steps that happened before the store was there (a thread opened by a thunk run without a store…). */
  readonly #waiting: Array<() => void> = []
  #draining = false

  constructor(registry: ThreadRegistry) {
    this.#registry = registry
  }

  get dispatch(): Dispatch | undefined {
    return this.#api?.dispatch
  }

  /** The thread slices' states as the store holds them for `b`. */
  storeStates(b: Binding): SliceStates {
    const root = (this.#api?.getState() ?? {}) as Record<string, unknown>
    const out: Record<string, unknown> = {}
    for (const s of b.slices) {
      const at = root[s.reducerPath]
      out[s.reducerPath] = s.keyed ? (at as Record<string, unknown> | undefined)?.[b.threadId] : at
    }
    return out
  }

  /**
   * Thread slices move in one step (not a local command): one `threadApplied` carrying their
   * states (only those that changed), then each event's action once, in order, so listeners and
   * other slices see remote events as they see local ones. All but the last are auto-batched:
   * subscribers hear of the batch once.
   */
  applied(b: Binding, reason: AppliedReason, events: readonly ThreadEvent[], state: SliceStates): void {
    // The middleware gives the store a local command itself (with the states it carries).
    if (this.#inCommand === b.threadId) return
    const step = (): void => {
      const api = this.#api as MiddlewareAPI
      const states = reason === 'open' || reason === 'close' ? { ...state } : changedStates(this.storeStates(b), state)
      const applied = threadApplied({ threadId: b.threadId, reason, states, events: events.length })
      api.dispatch(events.length > 0 ? autoBatched(applied) : applied)
      // Each event's action is built once (the cached one as is, for the last of a remote batch).
      const replay = reason === 'replay'
      events.forEach((e, i) => {
        const last = i === events.length - 1
        if (last && !replay) api.dispatch(eventActionOf(e) as unknown as UnknownAction)
        else api.dispatch(eventActionWith(e, { ...(replay ? { replay: true } : {}), ...(last ? {} : { [SHOULD_AUTOBATCH]: true }) }) as unknown as UnknownAction)
      })
    }
    // In order: behind steps still waiting for the store (or being given to it).
    if (this.#api === undefined || this.#draining || this.#waiting.length > 0) this.#waiting.push(step)
    else step()
  }

  /** Give the store the steps that happened before it was there, in order. */
  #drain(): void {
    if (this.#draining || this.#waiting.length === 0) return
    this.#draining = true
    try {
      for (let step = this.#waiting.shift(); step !== undefined; step = this.#waiting.shift()) step()
    } finally {
      this.#draining = false
    }
  }

  /** The middleware: at most one store per peer. */
  readonly middleware: Middleware = (api) => {
    if (this.#api !== undefined) {
      throw new MisuseError('`peer.middleware` is already part of a store: a peer projects its threads into one Redux store. Create one peer per store.')
    }
    this.#api = api
    // Redux refuses a dispatch while it builds the store's middleware ("Dispatching while
    // constructing your middleware is not allowed"): the waiting steps go before the first action
    // through the store, or a microtask later (the store exists then), whichever comes first.
    if (this.#waiting.length > 0) queueMicrotask(() => this.#drain())
    return (next) => (action) => {
      this.#drain()
      if (!isAction(action) || isEventAction(action)) return next(action)
      const route = this.#registry.route(action)
      if (route.kind === 'pass') return next(action)
      return this.#command(route.binding, action, next)
    }
  }

  /**
   * A local command: the engine signs, stores and folds it (a reducer that throws refuses it,
   * leaving no trace), then its action reaches the store once, carrying the thread slices' new
   * states. The log and the store never disagree: if the dispatch of the event's action throws
   * (a subscriber, another slice's reducer), the command is stored already and the states are
   * given to the store again before the error goes on.
   */
  #command(b: Binding, action: UnknownAction, next: (a: unknown) => unknown): unknown {
    const before = b.engine.state
    let result: ReturnType<Binding['engine']['command']>
    this.#inCommand = b.threadId
    try {
      result = b.engine.command(commandOf(action))
    } catch (error) {
      settleCommand(action, { error })
      throw error
    } finally {
      this.#inCommand = undefined
    }
    result.durable.then(
      () => settleCommand(action, { event: result.event.meta }),
      (error: unknown) => settleCommand(action, { error })
    )
    const threadStates = changedStates(before, result.state)
    try {
      next(eventActionWith(result.event, { threadStates }))
    } catch (error) {
      try {
        next(threadApplied({ threadId: b.threadId, reason: 'reload', states: { ...result.state }, events: 0 }))
      } catch {
        // The store cannot take it either: the state is in the next action that carries it.
      }
      throw error
    }
    return action
  }
}
