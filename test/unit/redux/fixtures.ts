/**
 * Shared slices and helpers for the Redux binding tests and the convergence property: two
 * non-commutative thread slices (an append-only list, a bank that refuses overdrafts) and a UI
 * slice that is not part of any thread.
 */
import { configureStore, createSlice, isAnyOf, type PayloadAction } from '@reduxjs/toolkit'
import { memoryStorage } from '../../../adapters/storage/memory.js'
import type { RecordBlocks } from '../../../src/core/record.js'
import { threadApplied } from '../../../src/redux/appliedAction.js'
import { createPeer, type Peer, type PeerOptions, type Thread } from '../../../src/redux/createPeer.js'
import { createThreadSlice } from '../../../src/redux/createThreadSlice.js'
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
  /** Thread commands this store saw as actions of their own type (local commands only). */
  commands: number
  /** `redux-threads/applied` actions seen. */
  applied: number
  /** Events those applied actions carried. */
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
      .addCase(threadApplied, (state, action) => {
        state.applied++
        state.remoteEvents += action.payload.actions.length
      })
      .addMatcher(isAnyOf(list.actions.pushed, bank.actions.deposit, bank.actions.withdraw), (state) => {
        state.commands++
      })
  }
})

export function makeStore(peer: Peer) {
  return configureStore({
    reducer: { list: list.reducer, bank: bank.reducer, ui: ui.reducer },
    middleware: (d) => d().concat(peer.middleware)
  })
}

export type TestStore = ReturnType<typeof makeStore>

export interface TestPeer {
  readonly peer: Peer
  readonly store: TestStore
  readonly thread: Thread
}

/** Peer A creates a thread holding `list` and `bank`; the others join it with its key. */
export async function makeGroup(n: number, options: PeerOptions = {}): Promise<TestPeer[]> {
  const out: TestPeer[] = []
  for (let i = 0; i < n; i++) {
    const peer = await createPeer({ storage: memoryStorage(), ...options })
    const store = makeStore(peer)
    const first = out[0]
    const thread =
      first === undefined
        ? await peer.createThread({ slices: [list, bank] })
        : await peer.openThread(first.thread.id, { slices: [list, bank], key: first.thread.key })
    out.push({ peer, store, thread })
  }
  return out
}

/** The blocks of `from`'s own log, from seq `after + 1` on. */
export async function ownBlocks(from: TestPeer, after = 0): Promise<RecordBlocks[]> {
  const logs = await from.thread.recordsSince(new Map([[from.peer.id, after]]))
  return logs.find((l) => l.logId === from.peer.id)?.blocks ?? []
}

/** Give `to` everything `from` has of `from`'s own log. */
export async function deliver(from: TestPeer, to: TestPeer): Promise<void> {
  const blocks = await ownBlocks(from)
  if (blocks.length > 0) {
    const r = await to.thread.ingest(from.peer.id, blocks)
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
