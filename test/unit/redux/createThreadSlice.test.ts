/**
 * createThreadSlice: an RTK slice whose actions are thread commands. Prepare callbacks, action
 * creators, extraReducers and the event meta behave as in RTK, on the author and on every peer.
 */
import { configureStore, type PayloadAction } from '@reduxjs/toolkit'
import { describe, expect, it } from 'vitest'
import { memoryStorage } from '../../../adapters/storage/memory.js'
import type { EventMeta } from '../../../src/engine/threadEvent.js'
import { createPeer, type AppliedEvent, type Peer } from '../../../src/redux/createPeer.js'
import { createThreadSlice, isThreadSlice } from '../../../src/redux/createThreadSlice.js'
import { list, ui } from './fixtures.js'

interface Note {
  id: string
  text: string
  tag: string
  by: string
  seq: number
}

function eventOf(action: { meta?: unknown }): EventMeta {
  return (action.meta as { event: EventMeta }).event
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

async function makePeer(now = 1_700_000_000_000): Promise<{ peer: Peer; store: ReturnType<typeof storeFor> }> {
  const peer = await createPeer({ storage: memoryStorage(), now: () => now })
  return { peer, store: storeFor(peer) }
}

function storeFor(peer: Peer) {
  return configureStore({
    reducer: { notes: notes.reducer, list: list.reducer, ui: ui.reducer },
    middleware: (d) => d().concat(peer.middleware)
  })
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
    expect(notes.actions.added.match(a)).toBe(true)
    expect(notes.actions.removed.match(a)).toBe(false)
    expect(notes.actions.removed.match({ type: 'notes/removed', payload: 'x' })).toBe(true)
    expect([...notes.commandTypes].sort()).toEqual(['notes/added', 'notes/exploded', 'notes/removed'])
    expect(notes.getInitialState()).toEqual({ items: [], mirrored: [] })
    expect(notes.selectors.count({ notes: { items: [{ id: 'a', text: '', tag: '', by: '', seq: 1 }], mirrored: [] } })).toBe(1)
  })

  it('the slice reducer works as a plain reducer outside any peer', () => {
    const s1 = notes.reducer(undefined, { type: '@@init' })
    const s2 = notes.reducer(s1, { ...notes.actions.removed('none') })
    expect(s2.items).toEqual([])
    expect(notes.project(s1, list.actions.pushed('x')).mirrored).toEqual(['X'])
  })

  it('prepare callbacks run once, on the author; their payload and meta travel in the event', async () => {
    const a = await makePeer()
    const b = await makePeer()
    try {
      const ta = await a.peer.createThread({ slices: [notes, list] })
      const tb = await b.peer.openThread(ta.id, { slices: [notes, list], key: ta.key })
      const remote: AppliedEvent[] = []
      const sub = b.peer.events$.subscribe((e) => remote.push(e))
      a.store.dispatch(notes.actions.added('milk', 'n1'))
      a.store.dispatch(notes.actions.added('eggs', 'n2'))
      await ta.flush()
      const blocks = (await ta.recordsSince(new Map()))[0]?.blocks ?? []
      const r = await tb.ingest(a.peer.id, blocks)
      expect(r.rejected).toEqual([])
      sub.unsubscribe()
      const expected = [
        { id: 'n1', text: 'milk', tag: 'prepared:n1', by: a.peer.id, seq: 1 },
        { id: 'n2', text: 'eggs', tag: 'prepared:n2', by: a.peer.id, seq: 2 }
      ]
      expect(a.store.getState().notes.items).toEqual(expected)
      expect(b.store.getState().notes.items).toEqual(expected)
      // The receiver's actions carry the author's payload and user meta, plus the event.
      expect(remote.map((e) => e.action.payload)).toEqual([
        { id: 'n1', text: 'milk' },
        { id: 'n2', text: 'eggs' }
      ])
      expect(remote.map((e) => (e.action.meta as unknown as { tag: string }).tag)).toEqual(['prepared:n1', 'prepared:n2'])
      expect(remote.map((e) => e.action.type)).toEqual(['notes/added', 'notes/added'])
    } finally {
      await a.peer.close()
      await b.peer.close()
    }
  })

  it('extraReducers of a thread slice follow commands of other slices of its thread, on every peer', async () => {
    const a = await makePeer()
    const b = await makePeer()
    try {
      const ta = await a.peer.createThread({ slices: [notes, list] })
      const tb = await b.peer.openThread(ta.id, { slices: [notes, list], key: ta.key })
      a.store.dispatch(list.actions.pushed('milk'))
      a.store.dispatch(notes.actions.added('x', 'n1'))
      a.store.dispatch(list.actions.pushed('eggs'))
      expect(a.store.getState().notes.mirrored).toEqual(['MILK', 'EGGS'])
      expect(a.store.getState().list).toEqual(['milk', 'eggs'])
      await tb.ingest(a.peer.id, (await ta.recordsSince(new Map()))[0]?.blocks ?? [])
      expect(b.store.getState().notes.mirrored).toEqual(['MILK', 'EGGS'])
      expect(b.store.getState().list).toEqual(['milk', 'eggs'])
      expect(tb.engine.state).toEqual({ notes: b.store.getState().notes, list: b.store.getState().list })
      // A plain slice's extraReducers see the local commands as actions of their own type.
      expect(a.store.getState().ui.commands).toBe(2)
      expect(b.store.getState().ui.commands).toBe(0)
    } finally {
      await a.peer.close()
      await b.peer.close()
    }
  })

  it('action.meta.event has author, logId, seq, clock, time, id and local: true on the author, false on the receiver', async () => {
    const a = await makePeer(1_111)
    const b = await makePeer(2_222)
    try {
      const ta = await a.peer.createThread({ slices: [notes, list] })
      const tb = await b.peer.openThread(ta.id, { slices: [notes, list], key: ta.key })
      seenByReducer.length = 0
      const d1 = a.store.dispatch(notes.actions.added('milk', 'n1')) as unknown as { meta: { event: EventMeta; tag: string } }
      const d2 = a.store.dispatch(notes.actions.added('eggs', 'n2')) as unknown as { meta: { event: EventMeta; tag: string } }
      await ta.flush()
      const records = await a.peer.eventStore.records(ta.id, a.peer.id)
      expect(d1.meta.tag).toBe('prepared:n1')
      expect(d1.meta.event).toEqual({
        threadId: ta.id.toString(),
        author: a.peer.id,
        logId: a.peer.id,
        seq: 1,
        clock: 1,
        time: 1_111,
        id: records[0]?.id.toString(),
        local: true
      })
      expect(d2.meta.event).toMatchObject({ seq: 2, clock: 2, id: records[1]?.id.toString(), local: true })
      // The author's reducer ran once per command (no second fold), with the event meta.
      expect(seenByReducer).toEqual([d1.meta.event, d2.meta.event])

      seenByReducer.length = 0
      const remote: AppliedEvent[] = []
      const sub = b.peer.events$.subscribe((e) => remote.push(e))
      await tb.ingest(a.peer.id, records.map((r) => ({ record: r.blocks.record.bytes, event: r.blocks.event.bytes, header: r.blocks.header.bytes, body: r.blocks.body.bytes })))
      sub.unsubscribe()
      // The receiver's reducers see the same event, only `local` differs; the time is the author's.
      expect(seenByReducer).toEqual([
        { ...d1.meta.event, local: false },
        { ...d2.meta.event, local: false }
      ])
      expect(remote.map((e) => e.meta)).toEqual(seenByReducer)
      expect(remote.map((e) => (e.action.meta as { event: EventMeta }).event)).toEqual(seenByReducer)
      // b writes after seeing a: its clock follows a's, its own seq starts at 1.
      const d3 = b.store.dispatch(notes.actions.removed('n1')) as unknown as { meta: { event: EventMeta } }
      expect(d3.meta.event).toMatchObject({ author: b.peer.id, logId: b.peer.id, seq: 1, clock: 3, time: 2_222, local: true })
      expect(b.store.getState().notes.items.map((n) => n.id)).toEqual(['n2'])
    } finally {
      await a.peer.close()
      await b.peer.close()
    }
  })

  it('a reducer that throws leaves no event: timeline, heads, storage and state unchanged, and the next command takes the seq', async () => {
    const a = await makePeer()
    try {
      const ta = await a.peer.createThread({ slices: [notes, list] })
      const events: AppliedEvent[] = []
      const sub = a.peer.events$.subscribe((e) => events.push(e))
      // Even as the very first command of the log.
      const empty = a.store.getState()
      expect(() => a.store.dispatch(notes.actions.exploded('first'))).toThrow('reducer failed: first')
      expect(ta.engine.timeline.length).toBe(0)
      expect(ta.heads().get(a.peer.id)).toBeUndefined()
      expect(a.store.getState()).toBe(empty)

      a.store.dispatch(notes.actions.added('milk', 'n1'))
      const before = a.store.getState()
      const head = ta.heads().get(a.peer.id)
      expect(head?.seq).toBe(1)
      expect(() => a.store.dispatch(notes.actions.exploded('second'))).toThrow('reducer failed: second')
      expect(ta.engine.timeline.length).toBe(1)
      expect(ta.heads().get(a.peer.id)?.id.equals(head?.id as never)).toBe(true)
      expect(a.store.getState()).toBe(before)
      expect(ta.engine.state).toEqual({ notes: before.notes, list: before.list })
      await ta.flush()
      expect(ta.engine.pending).toBe(0)
      expect(await a.peer.eventStore.records(ta.id, a.peer.id)).toHaveLength(1)

      const next = a.store.dispatch(notes.actions.added('eggs', 'n2')) as unknown as { meta: { event: EventMeta } }
      expect(next.meta.event).toMatchObject({ seq: 2, clock: 2 })
      await ta.flush()
      const stored = await a.peer.eventStore.records(ta.id, a.peer.id)
      expect(stored.map((r) => r.seq)).toEqual([1, 2])
      // Linked by identity, not by record block CID.
      expect(stored[1]?.prev?.equals(stored[0]?.id as never)).toBe(true)
      sub.unsubscribe()
      expect(events.map((e) => e.action.type)).toEqual(['notes/added', 'notes/added'])
    } finally {
      await a.peer.close()
    }
  })

  it('a thread slice must be in one thread per peer; the same slice can serve many peers', async () => {
    const a = await makePeer()
    const b = await makePeer()
    try {
      await a.peer.createThread({ slices: [notes] })
      await expect(a.peer.createThread({ slices: [notes] })).rejects.toThrow(TypeError)
      const tb = await b.peer.createThread({ slices: [notes] })
      b.store.dispatch(notes.actions.added('x', 'n1'))
      expect(tb.engine.timeline.length).toBe(1)
      expect(a.store.getState().notes.items).toEqual([])
    } finally {
      await a.peer.close()
      await b.peer.close()
    }
  })
})
