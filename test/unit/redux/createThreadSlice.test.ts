/**
 * createThreadSlice: an RTK slice whose actions are thread commands. Prepare callbacks, action
 * creators, extraReducers and the event meta behave as in RTK, on the author and on every peer.
 */
import { configureStore, type PayloadAction, type UnknownAction } from '@reduxjs/toolkit'
import { describe, expect, it, vi } from 'vitest'
import { memoryStorage } from '../../../adapters/storage/memory.js'
import type { EventMeta } from '../../../src/engine/threadEvent.js'
import { createPeer, type Peer } from '../../../src/redux/createPeer.js'
import { createThreadSlice, isThreadSlice } from '../../../src/redux/createThreadSlice.js'
import { engineOf, type ThreadHandle } from '../../../src/redux/threadHandle.js'
import { list, recorder, ui } from './fixtures.js'

interface Note {
  id: string
  text: string
  tag: string
  by: string
  seq: number
}

function eventOf(action: unknown): EventMeta {
  return (action as { meta: { event: EventMeta } }).meta.event
}

/** Every event meta a `notes` reducer saw, in call order (a test spy: reducers stay pure otherwise). */
const seenByReducer: EventMeta[] = []

const notes = createThreadSlice({
  name: 'notes',
  initialState: { items: [] as Note[], mirrored: [] as string[] },
  reducers: {
    added: {
      reducer(state, action: PayloadAction<{ id: string; text: string }, string, { tag: string }>) {
        // The peer adds `event` beside the meta that prepare made.
        const event = eventOf(action)
        seenByReducer.push(event)
        state.items.push({ ...action.payload, tag: action.meta.tag, by: event.author, seq: event.seq })
      },
      prepare(text: string, id: string) {
        return { payload: { id, text }, meta: { tag: `prepared:${id}` } }
      }
    },
    removed(state, action: PayloadAction<string>) {
      state.items = state.items.filter((n) => n.id !== action.payload)
    },
    exploded(_state, action: PayloadAction<string>) {
      throw new Error(`reducer failed: ${action.payload}`)
    }
  },
  extraReducers: (builder) => {
    // A command of another slice of the same thread: part of the projection on every peer.
    builder.addCase(list.actions.pushed, (state, action) => {
      state.mirrored.push(action.payload.toUpperCase())
    })
  },
  selectors: {
    count: (state) => state.items.length
  }
})

interface TestPeer {
  readonly peer: Peer
  readonly store: ReturnType<typeof storeFor>
  /** Every action that reached the reducers after the peer's middleware (local and remote events). */
  readonly actions: UnknownAction[]
  readonly id: string
}

async function makePeer(now = 1_700_000_000_000): Promise<TestPeer> {
  const peer = createPeer({ storage: memoryStorage(), now: () => now })
  const rec = recorder()
  const store = storeFor(peer, rec.middleware)
  await peer.start()
  return { peer, store, actions: rec.actions, id: peer.id as string }
}

function storeFor(peer: Peer, after: ReturnType<typeof recorder>['middleware']) {
  return configureStore({
    reducer: { [peer.reducerPath]: peer.reducer, notes: notes.reducer, list: list.reducer, ui: ui.reducer },
    middleware: (d) => d().concat(peer.middleware, after)
  })
}

/** The thread event actions a store saw (the others: threadApplied, status). */
function eventActions(p: TestPeer): UnknownAction[] {
  return p.actions.filter((a) => (a.meta as { event?: unknown } | undefined)?.event !== undefined)
}

/** `a` creates a thread holding notes and list; `b` opens it with its key. */
async function pair(a: TestPeer, b: TestPeer): Promise<{ ta: ThreadHandle; tb: ThreadHandle }> {
  const { threadId } = await a.store.dispatch(a.peer.thunks.createThread({ slices: [notes, list] })).unwrap()
  const ta = a.peer.thread(threadId) as ThreadHandle
  await b.store.dispatch(b.peer.thunks.openThread({ threadId, slices: [notes, list], key: ta.key })).unwrap()
  return { ta, tb: b.peer.thread(threadId) as ThreadHandle }
}

describe('createThreadSlice', () => {
  it('is an RTK slice: action creators with .type and .match, selectors, initial state', () => {
    expect(isThreadSlice(notes)).toBe(true)
    expect(isThreadSlice(ui)).toBe(false)
    expect(notes.name).toBe('notes')
    expect(notes.reducerPath).toBe('notes')
    expect(notes.actions.added.type).toBe('notes/added')
    expect(notes.actions.removed.type).toBe('notes/removed')
    const a = notes.actions.added('milk', 'n1')
    expect(a).toEqual({ type: 'notes/added', payload: { id: 'n1', text: 'milk' }, meta: { tag: 'prepared:n1' } })
    // What a command carries beyond RTK's action is not enumerable: it serialises as RTK's.
    expect(JSON.parse(JSON.stringify(a))).toEqual({ type: 'notes/added', payload: { id: 'n1', text: 'milk' }, meta: { tag: 'prepared:n1' } })
    expect(typeof a.unwrap).toBe('function')
    expect(notes.actions.added.match(a)).toBe(true)
    expect(notes.actions.removed.match(a)).toBe(false)
    expect(notes.actions.removed.match({ type: 'notes/removed', payload: 'x' })).toBe(true)
    expect([...notes.commandTypes].sort()).toEqual(['notes/added', 'notes/exploded', 'notes/removed'])
    expect(notes.getInitialState()).toEqual({ items: [], mirrored: [] })
    expect(notes.initialThreadState()).toEqual({ items: [], mirrored: [] })
    expect(notes.version).toBe('1')
    expect(notes.keyed).toBe(false)
    expect(notes.selectors.count({ notes: { items: [{ id: 'a', text: '', tag: '', by: '', seq: 1 }], mirrored: [] } })).toBe(1)
  })

  it('`fold` is the reducer as written and works outside any peer; the store reducer takes thread state only from thread events', () => {
    const s1 = notes.fold(notes.initialThreadState(), { type: '@@init' })
    const event = { threadId: 't', author: 'me', logId: 'me', seq: 1, clock: 1, time: 0, id: 'x', local: true }
    const s2 = notes.fold(s1, { ...notes.actions.added('milk', 'n1'), meta: { tag: 'prepared:n1', event } })
    seenByReducer.length = 0
    expect(s2.items).toEqual([{ id: 'n1', text: 'milk', tag: 'prepared:n1', by: 'me', seq: 1 }])
    expect(notes.fold(s2, notes.actions.removed('n1')).items).toEqual([])
    expect(notes.fold(s1, list.actions.pushed('x')).mirrored).toEqual(['X'])
    // The store-facing reducer: a command that reaches it without a peer (no event, no state
    // carried) changes nothing, and development builds say so (once per slice).
    const error = vi.spyOn(console, 'error').mockImplementation(() => undefined)
    try {
      const init = notes.reducer(undefined, { type: '@@init' })
      expect(init).toEqual({ items: [], mirrored: [] })
      expect(notes.reducer(init, list.actions.pushed('x'))).toBe(init)
      expect(error).toHaveBeenCalledWith(expect.stringContaining('`list/pushed`'))
    } finally {
      error.mockRestore()
    }
  })

  it('prepare callbacks run once, on the author; their payload and meta travel in the event', async () => {
    const a = await makePeer()
    const b = await makePeer()
    try {
      const { ta, tb } = await pair(a, b)
      a.store.dispatch(notes.actions.added('milk', 'n1'))
      await a.store.dispatch(notes.actions.added('eggs', 'n2')).unwrap()
      const blocks = (await ta.recordsSince(new Map()))[0]?.blocks ?? []
      const r = await tb.ingest(a.id, blocks)
      expect(r.rejected).toEqual([])
      const expected = [
        { id: 'n1', text: 'milk', tag: 'prepared:n1', by: a.id, seq: 1 },
        { id: 'n2', text: 'eggs', tag: 'prepared:n2', by: a.id, seq: 2 }
      ]
      expect(a.store.getState().notes.items).toEqual(expected)
      expect(b.store.getState().notes.items).toEqual(expected)
      // The receiver's store sees each remote event as its own action: the author's payload and
      // user meta, plus the event.
      const remote = eventActions(b)
      expect(remote.map((e) => e.payload)).toEqual([
        { id: 'n1', text: 'milk' },
        { id: 'n2', text: 'eggs' }
      ])
      expect(remote.map((e) => (e.meta as unknown as { tag: string }).tag)).toEqual(['prepared:n1', 'prepared:n2'])
      expect(remote.map((e) => e.type)).toEqual(['notes/added', 'notes/added'])
      expect(remote.map((e) => eventOf(e).local)).toEqual([false, false])
    } finally {
      await a.peer.close()
      await b.peer.close()
    }
  })

  it('extraReducers of a thread slice follow commands of other slices of its thread, on every peer', async () => {
    const a = await makePeer()
    const b = await makePeer()
    try {
      const { ta, tb } = await pair(a, b)
      a.store.dispatch(list.actions.pushed('milk'))
      a.store.dispatch(notes.actions.added('x', 'n1'))
      a.store.dispatch(list.actions.pushed('eggs'))
      expect(a.store.getState().notes.mirrored).toEqual(['MILK', 'EGGS'])
      expect(a.store.getState().list).toEqual(['milk', 'eggs'])
      await tb.ingest(a.id, (await ta.recordsSince(new Map()))[0]?.blocks ?? [])
      expect(b.store.getState().notes.mirrored).toEqual(['MILK', 'EGGS'])
      expect(b.store.getState().list).toEqual(['milk', 'eggs'])
      expect(engineOf(tb).state).toEqual({ notes: b.store.getState().notes, list: b.store.getState().list })
      // A plain slice's extraReducers see the local commands as actions of their own type, and
      // (new) the remote ones too, marked remote.
      expect(a.store.getState().ui).toMatchObject({ commands: 2, remoteEvents: 0 })
      expect(b.store.getState().ui).toMatchObject({ commands: 0, remoteEvents: 2 })
    } finally {
      await a.peer.close()
      await b.peer.close()
    }
  })

  it('action.meta.event has author, logId, seq, clock, time, id and local: true on the author, false on the receiver', async () => {
    const a = await makePeer(1_111)
    const b = await makePeer(2_222)
    try {
      const { ta, tb } = await pair(a, b)
      seenByReducer.length = 0
      const c1 = a.store.dispatch(notes.actions.added('milk', 'n1'))
      const c2 = a.store.dispatch(notes.actions.added('eggs', 'n2'))
      const [d1, d2] = eventActions(a) as [UnknownAction & { meta: { event: EventMeta; tag: string } }, UnknownAction & { meta: { event: EventMeta } }]
      await ta.flush()
      const records = await engineOf(ta).store.records(ta.id, a.id)
      expect(c1.meta.tag).toBe('prepared:n1')
      expect(d1.meta.tag).toBe('prepared:n1')
      expect(d1.meta.event).toEqual({
        threadId: ta.id,
        author: a.id,
        logId: a.id,
        seq: 1,
        clock: 1,
        time: 1_111,
        id: records[0]?.id.toString(),
        local: true
      })
      expect(d2.meta.event).toMatchObject({ seq: 2, clock: 2, id: records[1]?.id.toString(), local: true })
      // unwrap() resolves with the same event once durable.
      expect(await c1.unwrap()).toEqual(d1.meta.event)
      expect(await c2.unwrap()).toEqual(d2.meta.event)
      // The author's reducer ran once per command (no second fold), with the event meta.
      expect(seenByReducer).toEqual([d1.meta.event, d2.meta.event])

      seenByReducer.length = 0
      await tb.ingest(a.id, records.map((r) => ({ record: r.blocks.record.bytes, event: r.blocks.event.bytes, header: r.blocks.header.bytes, body: r.blocks.body.bytes })))
      // The receiver's reducers see the same event, only `local` differs; the time is the author's.
      expect(seenByReducer).toEqual([
        { ...d1.meta.event, local: false },
        { ...d2.meta.event, local: false }
      ])
      // And so do its store's listeners, in the action of each event.
      expect(eventActions(b).map((e) => eventOf(e))).toEqual(seenByReducer)
      // b writes after seeing a: its clock follows a's, its own seq starts at 1.
      const d3 = await b.store.dispatch(notes.actions.removed('n1')).unwrap()
      expect(d3).toMatchObject({ author: b.id, logId: b.id, seq: 1, clock: 3, time: 2_222, local: true })
      expect(b.store.getState().notes.items.map((n) => n.id)).toEqual(['n2'])
    } finally {
      await a.peer.close()
      await b.peer.close()
    }
  })

  it('a reducer that throws leaves no event: timeline, heads, storage and state unchanged, and the next command takes the seq', async () => {
    const a = await makePeer()
    try {
      const { threadId } = await a.store.dispatch(a.peer.thunks.createThread({ slices: [notes, list] })).unwrap()
      const ta = a.peer.thread(threadId) as ThreadHandle
      const engine = engineOf(ta)
      // Even as the very first command of the log.
      const empty = a.store.getState()
      const first = notes.actions.exploded('first')
      expect(() => a.store.dispatch(first)).toThrow('reducer failed: first')
      // Its unwrap() rejects with the reducer's error.
      await expect(first.unwrap()).rejects.toThrow('reducer failed: first')
      expect(engine.timeline.length).toBe(0)
      expect(ta.heads().get(a.id)).toBeUndefined()
      expect(a.store.getState()).toBe(empty)

      a.store.dispatch(notes.actions.added('milk', 'n1'))
      const before = a.store.getState()
      const head = ta.heads().get(a.id)
      expect(head?.seq).toBe(1)
      expect(() => a.store.dispatch(notes.actions.exploded('second'))).toThrow('reducer failed: second')
      expect(engine.timeline.length).toBe(1)
      expect(ta.heads().get(a.id)?.id.equals(head?.id as never)).toBe(true)
      expect(a.store.getState()).toBe(before)
      expect(engine.state).toEqual({ notes: before.notes, list: before.list })
      await ta.flush()
      expect(engine.pending).toBe(0)
      expect(await engine.store.records(threadId, a.id)).toHaveLength(1)

      const next = await a.store.dispatch(notes.actions.added('eggs', 'n2')).unwrap()
      expect(next).toMatchObject({ seq: 2, clock: 2 })
      await ta.flush()
      const stored = await engine.store.records(threadId, a.id)
      expect(stored.map((r) => r.seq)).toEqual([1, 2])
      // Linked by identity, not by record block CID.
      expect(stored[1]?.prev?.equals(stored[0]?.id as never)).toBe(true)
      // Listeners saw the two events, not the refused commands.
      expect(eventActions(a).map((e) => e.type)).toEqual(['notes/added', 'notes/added'])
    } finally {
      await a.peer.close()
    }
  })

  it('an unkeyed thread slice is in one thread per peer; the same slice can serve many peers', async () => {
    const a = await makePeer()
    const b = await makePeer()
    try {
      await a.store.dispatch(a.peer.thunks.createThread({ slices: [notes] })).unwrap()
      await expect(a.store.dispatch(a.peer.thunks.createThread({ slices: [notes] })).unwrap()).rejects.toMatchObject({ name: 'MisuseError' })
      const { threadId } = await b.store.dispatch(b.peer.thunks.createThread({ slices: [notes] })).unwrap()
      b.store.dispatch(notes.actions.added('x', 'n1'))
      expect(engineOf(b.peer.thread(threadId) as ThreadHandle).timeline.length).toBe(1)
      expect(a.store.getState().notes.items).toEqual([])
    } finally {
      await a.peer.close()
      await b.peer.close()
    }
  })

  it('keyed: one slice backs many threads, its state keyed by thread ID, with a view per thread', async () => {
    const docs = createThreadSlice({
      name: 'docs',
      keyed: true,
      version: 3,
      initialState: { lines: [] as string[] },
      reducers: {
        lineAdded: (state, action: PayloadAction<string>) => {
          state.lines.push(action.payload)
        }
      },
      selectors: { lineCount: (state) => state.lines.length }
    })
    expect(isThreadSlice(docs)).toBe(true)
    expect(docs.keyed).toBe(true)
    expect(docs.version).toBe('3')
    expect(docs.getInitialState()).toEqual({})
    expect(docs.initialThreadState()).toEqual({ lines: [] })
    const a = createPeer({ storage: memoryStorage() })
    const b = createPeer({ storage: memoryStorage() })
    const storeOf = (peer: Peer) => configureStore({ reducer: { [peer.reducerPath]: peer.reducer, docs: docs.reducer }, middleware: (d) => d().concat(peer.middleware) })
    const sa = storeOf(a)
    const sb = storeOf(b)
    try {
      const one = await sa.dispatch(a.thunks.createThread({ slices: [docs] })).unwrap()
      const two = await sa.dispatch(a.thunks.createThread({ slices: [docs] })).unwrap()
      const v1 = docs.forThread(one.threadId)
      const v2 = docs.forThread(two.threadId)
      // One view per thread: the same action creators every time (memoised hooks).
      expect(docs.forThread(one.threadId)).toBe(v1)
      sa.dispatch(v1.actions.lineAdded('a'))
      sa.dispatch(v2.actions.lineAdded('b'))
      const e = await sa.dispatch(v1.actions.lineAdded('c')).unwrap()
      expect(e).toMatchObject({ threadId: one.threadId, seq: 2 })
      // The routing field stays out of the event body.
      expect((v1.actions.lineAdded('x') as { meta?: unknown }).meta).toEqual({ threadId: one.threadId })
      expect(sa.getState().docs).toEqual({ [one.threadId]: { lines: ['a', 'c'] }, [two.threadId]: { lines: ['b'] } })
      expect(v1.selectState(sa.getState())).toEqual({ lines: ['a', 'c'] })
      expect(v2.selectors.lineCount(sa.getState())).toBe(1)
      // Another peer opening thread two gets its state under the same key.
      await sb.dispatch(b.thunks.openThread({ threadId: two.threadId, slices: [docs], key: a.thread(two.threadId)!.key })).unwrap()
      for (const { logId, blocks } of await a.thread(two.threadId)!.recordsSince(new Map())) await b.thread(two.threadId)!.ingest(logId, blocks)
      expect(sb.getState().docs).toEqual({ [two.threadId]: { lines: ['b'] } })
      const remote = engineOf(b.thread(two.threadId)!).timeline.events.map((x) => x.command.meta)
      expect(remote).toEqual([undefined])
      // Before its thread opens, a view reads the initial state.
      expect(docs.forThread('elsewhere').selectState(sb.getState())).toEqual({ lines: [] })
      // Leaving a thread drops its key from the keyed state.
      await sa.dispatch(a.thunks.leaveThread({ threadId: one.threadId })).unwrap()
      expect(Object.keys(sa.getState().docs)).toEqual([two.threadId])
    } finally {
      await a.close()
      await b.close()
    }
  })

  it('version: a snapshot written by another version of the reducers is not used; the thread is folded again', async () => {
    const make = (version: number, by: number) =>
      createThreadSlice({
        name: 'counter',
        version,
        initialState: { n: 0 },
        reducers: { add: (s, action: PayloadAction<number>) => void (s.n += action.payload * by) }
      })
    const v1 = make(1, 1)
    const storage = memoryStorage()
    const p1 = createPeer({ storage })
    const s1 = configureStore({ reducer: { [p1.reducerPath]: p1.reducer, counter: v1.reducer }, middleware: (d) => d().concat(p1.middleware) })
    const { threadId } = await s1.dispatch(p1.thunks.createThread({ slices: [v1] })).unwrap()
    for (let i = 1; i <= 3; i++) s1.dispatch(v1.actions.add(i))
    await p1.thread(threadId)!.snapshot()
    expect(s1.getState().counter).toEqual({ n: 6 })
    await p1.close()

    // The same version restores from the snapshot (nothing folded)…
    const p2 = createPeer({ storage })
    const s2 = configureStore({ reducer: { [p2.reducerPath]: p2.reducer, counter: v1.reducer }, middleware: (d) => d().concat(p2.middleware) })
    await s2.dispatch(p2.thunks.openThread({ threadId, slices: [v1] })).unwrap()
    expect(s2.getState().counter).toEqual({ n: 6 })
    expect(engineOf(p2.thread(threadId)!).timeline.length).toBe(0)
    await p2.close()

    // …a new version folds every event with its reducers.
    const v2 = make(2, 10)
    const p3 = createPeer({ storage })
    const s3 = configureStore({ reducer: { [p3.reducerPath]: p3.reducer, counter: v2.reducer }, middleware: (d) => d().concat(p3.middleware) })
    await s3.dispatch(p3.thunks.openThread({ threadId, slices: [v2] })).unwrap()
    expect(s3.getState().counter).toEqual({ n: 60 })
    expect(engineOf(p3.thread(threadId)!).timeline.length).toBe(3)
    await p3.close()
  })
})
