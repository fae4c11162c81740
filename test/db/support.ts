/**
 * Peers for the db tests: a key-value store and a `board` slice that composes every CRDT
 * helper, in one thread shared by n peers over memory storage (records moved by hand, as
 * test/unit/redux/fixtures.ts does).
 */
import { configureStore, type PayloadAction, type UnknownAction } from '@reduxjs/toolkit'
import { memoryStorage } from '../../adapters/storage/memory.js'
import type { RecordBlocks } from '../../src/core/record.js'
import type { EventMeta } from '../../src/engine/threadEvent.js'
import { createPeer, type Peer } from '../../src/redux/createPeer.js'
import { createThreadSlice } from '../../src/redux/createThreadSlice.js'
import type { ThreadHandle } from '../../src/redux/threadHandle.js'
import {
  applyCounter,
  applyJsonPatch,
  applyList,
  applyLwwRegister,
  applyOrSet,
  applyText,
  lwwRegister,
  stampOf,
  type CounterOp,
  type JsonObject,
  type JsonPatchOp,
  type ListOp,
  type ListState,
  type LwwSet,
  type OrSetOp,
  type OrSetState,
  type TextOp,
  type TextState
} from '../../src/db/crdt/index.js'
import { createKeyValueStore } from '../../src/db/kv/index.js'
import { eventRecorder } from '../unit/redux/fixtures.js'

export const kv = createKeyValueStore.withTypes<{ value: number | string }>()({ name: 'kv' })

export const board = createThreadSlice({
  name: 'board',
  initialState: {
    likes: 0,
    title: lwwRegister(''),
    tags: {} as OrSetState<string>,
    items: [] as ListState<string>,
    body: [] as TextState,
    doc: {} as JsonObject
  },
  reducers: {
    liked(state, action: PayloadAction<CounterOp>) {
      state.likes = applyCounter(state.likes, action.payload)
    },
    titled(state, action: PayloadAction<LwwSet<string>>) {
      state.title = applyLwwRegister(state.title, action.payload, stampOf(action))
    },
    tagged(state, action: PayloadAction<OrSetOp<string>>) {
      state.tags = applyOrSet(state.tags, action.payload)
    },
    listed(state, action: PayloadAction<ListOp<string>>) {
      state.items = applyList(state.items, action.payload, stampOf(action))
    },
    typed(state, action: PayloadAction<TextOp>) {
      state.body = applyText(state.body, action.payload, stampOf(action))
    },
    saved(state, action: PayloadAction<JsonPatchOp>) {
      state.doc = applyJsonPatch(state.doc, action.payload)
    }
  }
})

export type Board = ReturnType<typeof board.getInitialState>

function makeStore(peer: Peer, events: EventMeta[]) {
  return configureStore({
    reducer: { [peer.reducerPath]: peer.reducer, kv: kv.reducer, board: board.reducer },
    middleware: (d) => d().concat(peer.middleware, eventRecorder(events))
  })
}

export interface DbPeer {
  readonly peer: Peer
  readonly store: ReturnType<typeof makeStore>
  readonly id: string
  readonly thread: ThreadHandle
  /** Every thread event the store saw, in order. */
  readonly events: EventMeta[]
}

/** Peer 0 creates a thread holding `kv` and `board`; the others open it with its key. */
export async function makeDbGroup(n: number): Promise<DbPeer[]> {
  const out: DbPeer[] = []
  for (let i = 0; i < n; i++) {
    const peer = createPeer({ storage: memoryStorage() })
    const events: EventMeta[] = []
    const store = makeStore(peer, events)
    const first = out[0]
    const { threadId } =
      first === undefined
        ? await store.dispatch(peer.thunks.createThread({ slices: [kv, board] })).unwrap()
        : await store.dispatch(peer.thunks.openThread({ threadId: first.thread.id, slices: [kv, board], key: first.thread.key })).unwrap()
    const thread = peer.thread(threadId)
    if (thread === undefined || peer.id === undefined) throw new Error('thread not open')
    out.push({ peer, store, id: peer.id, thread, events })
  }
  return out
}

/** Dispatch a command on `p`; return its event (throws if it did not become one local event). */
export function issue(p: DbPeer, action: UnknownAction): EventMeta {
  const before = p.events.length
  p.store.dispatch(action)
  const event = p.events[p.events.length - 1]
  if (p.events.length !== before + 1 || event === undefined || !event.local) throw new Error(`${action.type} did not become one local event`)
  return event
}

/** The blocks of `from`'s own log. */
export async function ownBlocks(from: DbPeer): Promise<RecordBlocks[]> {
  return (await from.thread.recordsSince(new Map())).find((l) => l.logId === from.id)?.blocks ?? []
}

/** Give `to` everything `from` holds of `from`'s own log (in the order given by `arrange`). */
export async function deliver(from: DbPeer, to: DbPeer, arrange: (b: RecordBlocks[]) => RecordBlocks[] = (b) => b): Promise<void> {
  const r = await to.thread.ingest(from.id, arrange(await ownBlocks(from)))
  if (r.rejected.length > 0) throw r.rejected[0]
}

/** Every peer gets every other peer's log. */
export async function exchangeAll(peers: readonly DbPeer[]): Promise<void> {
  for (const from of peers) for (const to of peers) if (from !== to) await deliver(from, to)
}

export async function closeAll(peers: readonly DbPeer[]): Promise<void> {
  for (const p of peers) await p.peer.close()
}
