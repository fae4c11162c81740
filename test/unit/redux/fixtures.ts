/**
 * Shared slices and helpers for the Redux binding tests and the convergence property: two
 * non-commutative thread slices (an append-only list, a bank that refuses overdrafts) and a UI
 * slice that is not part of any thread.
 */
import { configureStore, createSlice, isAnyOf, type Middleware, type PayloadAction, type UnknownAction } from '@reduxjs/toolkit'
import { memoryStorage } from '../../../adapters/storage/memory.js'
import type { RecordBlocks } from '../../../src/core/record.js'
import type { ThreadEngine } from '../../../src/engine/threadEngine.js'
import type { EventMeta } from '../../../src/engine/threadEvent.js'
import { eventOf, threadApplied } from '../../../src/redux/appliedAction.js'
import { createPeer, type Peer, type PeerOptions } from '../../../src/redux/createPeer.js'
import { createThreadSlice } from '../../../src/redux/createThreadSlice.js'
import type { SliceStates } from '../../../src/redux/projection.js'
import { engineOf, type ThreadHandle } from '../../../src/redux/threadHandle.js'
import { seededRandom } from '../../support/random.js'

export const list = createThreadSlice({
  name: 'list',
  initialState: [] as string[],
  reducers: {
    pushed(state, action: PayloadAction<string>) {
      state.push(action.payload)
    }
  }
})

export interface Bank {
  balance: number
  refused: number
}

export const bank = createThreadSlice({
  name: 'bank',
  initialState: { balance: 0, refused: 0 } as Bank,
  reducers: {
    deposit(state, action: PayloadAction<number>) {
      state.balance += action.payload
    },
    withdraw(state, action: PayloadAction<number>) {
      if (state.balance >= action.payload) state.balance -= action.payload
      else state.refused++
    }
  }
})

export interface Ui {
  /** Local thread commands this store saw as actions of their own type (`meta.event.local`). */
  commands: number
  /** `threadApplied` actions seen (open, remote, replay, rollback…). */
  applied: number
  /** Remote events this store saw, each as an action of its own type (`meta.event.local` false). */
  remoteEvents: number
  /** A plain UI field, changed only by `ui/clicked`. */
  clicks: number
}

export const ui = createSlice({
  name: 'ui',
  initialState: { commands: 0, applied: 0, remoteEvents: 0, clicks: 0 } as Ui,
  reducers: {
    clicked(state) {
      state.clicks++
    }
  },
  extraReducers: (builder) => {
    builder
      .addCase(threadApplied, (state) => {
        state.applied++
      })
      .addMatcher(isAnyOf(list.actions.pushed, bank.actions.deposit, bank.actions.withdraw), (state, action) => {
        if (eventOf(action)?.local === false) state.remoteEvents++
        else state.commands++
      })
  }
})

/**
 * A middleware that records the event of every thread event action that reaches the reducers
 * (put it after `peer.middleware`: a local command reaches it as its event action, a remote
 * event as the action the peer dispatches for it).
 */
export function eventRecorder(out: EventMeta[]): Middleware {
  return () => (next) => (action) => {
    const result = next(action)
    const event = eventOf(action)
    if (event !== undefined) out.push(event)
    return result
  }
}

/** A middleware that records every action that reaches it, in order. */
export function recorder(): { middleware: Middleware; actions: UnknownAction[] } {
  const actions: UnknownAction[] = []
  return {
    actions,
    middleware: () => (next) => (action) => {
      actions.push(action as UnknownAction)
      return next(action)
    }
  }
}

/** A store with the peer's reducer, `list`, `bank` and `ui`; `after` go after the peer's middleware. */
export function makeStore(peer: Peer, ...after: Middleware[]) {
  return configureStore({
    reducer: { [peer.reducerPath]: peer.reducer, list: list.reducer, bank: bank.reducer, ui: ui.reducer },
    middleware: (d) => d().concat(peer.middleware, ...after)
  })
}

export type TestStore = ReturnType<typeof makeStore>

export interface TestPeer {
  readonly peer: Peer
  readonly store: TestStore
  /** This peer's ID (its log ID in the thread). */
  readonly id: string
  /** The thread, by its capabilities. */
  readonly thread: ThreadHandle
  /** The thread's engine (timeline, state, pending, held…). */
  readonly engine: ThreadEngine<SliceStates>
  /** The event of every thread event action this store saw (local and remote), in order. */
  readonly events: EventMeta[]
}

/** Bind a started peer's open thread into a {@link TestPeer}. */
export function testPeer(peer: Peer, store: TestStore, threadId: string, events: EventMeta[]): TestPeer {
  const thread = peer.thread(threadId)
  if (thread === undefined || peer.id === undefined) throw new Error(`thread ${threadId} is not open`)
  return { peer, store, id: peer.id, thread, engine: engineOf(thread), events }
}

/** Peer A creates a thread holding `list` and `bank`; the others open it with its key. */
export async function makeGroup(n: number, options: Omit<PeerOptions, 'reducerPath'> = {}): Promise<TestPeer[]> {
  const out: TestPeer[] = []
  for (let i = 0; i < n; i++) {
    const peer = createPeer({ storage: memoryStorage(), ...options })
    const events: EventMeta[] = []
    const store = makeStore(peer, eventRecorder(events))
    const first = out[0]
    const { threadId } =
      first === undefined
        ? await store.dispatch(peer.thunks.createThread({ slices: [list, bank] })).unwrap()
        : await store.dispatch(peer.thunks.openThread({ threadId: first.thread.id, slices: [list, bank], key: first.thread.key })).unwrap()
    out.push(testPeer(peer, store, threadId, events))
  }
  return out
}

/**
 * Dispatch a thread command on `p` and return its event, at once (from the event action the
 * store saw; `unwrap()` gives the same meta once the command is durable).
 */
export function issue(p: { readonly store: { dispatch(action: UnknownAction): unknown }; readonly events: readonly EventMeta[] }, action: UnknownAction): EventMeta {
  const before = p.events.length
  p.store.dispatch(action)
  const event = p.events[p.events.length - 1]
  if (p.events.length !== before + 1 || event === undefined || !event.local) throw new Error(`${action.type} did not become one local event`)
  return event
}

/** The blocks of `from`'s own log, from seq `after + 1` on. */
export async function ownBlocks(from: TestPeer, after = 0): Promise<RecordBlocks[]> {
  const logs = await from.thread.recordsSince(new Map([[from.id, after]]))
  return logs.find((l) => l.logId === from.id)?.blocks ?? []
}

/** Give `to` everything `from` has of `from`'s own log. */
export async function deliver(from: TestPeer, to: TestPeer): Promise<void> {
  const blocks = await ownBlocks(from)
  if (blocks.length > 0) {
    const r = await to.thread.ingest(from.id, blocks)
    if (r.rejected.length > 0) throw r.rejected[0]
  }
}

/** A seeded generator: the same seed, the same run. */
export const rng = seededRandom

export function shuffle<T>(items: readonly T[], random: () => number): T[] {
  const out = [...items]
  for (let i = out.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1))
    ;[out[i], out[j]] = [out[j] as T, out[i] as T]
  }
  return out
}
