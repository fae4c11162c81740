/**
 * Issue 9: the API a Redux Toolkit user expects. A synchronous store module; lifecycle as thunks
 * with `unwrap()`; status in the store; remote events as first-class actions (a listener sees
 * every event of a type once, local or remote); the store's state follows from the actions it
 * saw (an exported action log rebuilds it in a fresh store); unchanged items keep their identity
 * after a replay; one keyed slice backs many threads; one way to wait.
 */
import { configureStore, createListenerMiddleware, createSlice, type Middleware, type UnknownAction } from '@reduxjs/toolkit'
import { describe, expect, it } from 'vitest'
import { createMemoryHub } from '../../adapters/network/memory.js'
import { createPeer, createThreadSlice, threadApplied, eventOf, type Peer } from '../../src/index.js'
import { todos, type Todo } from '../../examples/todo/todoSlice.js'

/** The usual store module: built synchronously, at import time. */
function makeStore(peer: Peer, extra: { middleware?: ReturnType<typeof createListenerMiddleware>['middleware'][]; log?: UnknownAction[] } = {}) {
  return configureStore({
    reducer: { [peer.reducerPath]: peer.reducer, todos: todos.reducer, seen: seenSlice.reducer },
    middleware: (gDM) => {
      const base = gDM().concat(peer.middleware, ...(extra.middleware ?? []))
      if (extra.log === undefined) return base
      const log = extra.log
      const record: Middleware = () => (next) => (action) => {
        log.push(action as UnknownAction)
        return next(action)
      }
      return base.concat(record)
    }
  })
}

/** A plain slice that counts every todo added, local or remote, through `extraReducers`. */
const seenSlice = createSlice({
  name: 'seen',
  initialState: { added: 0, remote: 0 },
  reducers: {},
  extraReducers: (b) =>
    b.addCase(todos.actions.added, (state, action) => {
      state.added++
      if (eventOf(action)?.local === false) state.remote++
    })
})

async function settle(hub: ReturnType<typeof createMemoryHub>, peers: Peer[]): Promise<void> {
  for (let i = 0; i < 20; i++) {
    await hub.idle()
    await Promise.all(peers.map((p) => p.idle()))
    if (hub.quiet) return
  }
}

describe('Redux-native API (issue 9)', () => {
  it('a synchronous store module, lifecycle as thunks, one way to wait', async () => {
    const peer = createPeer()
    const store = makeStore(peer)
    expect(peer.selectors.selectPhase(store.getState())).toBe('idle')
    const { threadId } = await store.dispatch(peer.thunks.createThread({ slices: [todos] })).unwrap()
    expect(peer.selectors.selectPhase(store.getState())).toBe('ready')
    const event = await store.dispatch(todos.actions.added('milk')).unwrap()
    expect(event).toMatchObject({ threadId, seq: 1, local: true })
    expect(store.getState().todos.map((t: Todo) => t.text)).toEqual(['milk'])
    await peer.idle()
    expect(peer.selectors.selectThreadStatus(store.getState(), threadId)).toMatchObject({ threadId, pending: 0, role: 'write' })
    await peer.close()
  })

  it('a command before its thread is open is refused with a MisuseError that says what to dispatch', () => {
    const peer = createPeer()
    const store = makeStore(peer)
    expect(() => store.dispatch(todos.actions.added('too early'))).toThrow(expect.objectContaining({ name: 'MisuseError', message: expect.stringContaining('peer.thunks.createThread') }))
  })

  it('listeners, other slices and middleware see every event of a type exactly once, local or remote, in order', async () => {
    const hub = createMemoryHub({ seed: 3 })
    const a = createPeer({ network: hub.network(), syncIntervalMs: 0 })
    const b = createPeer({ network: hub.network(), syncIntervalMs: 0 })
    const listener = createListenerMiddleware()
    const heard: Array<{ text: string; local: boolean }> = []
    listener.startListening({
      actionCreator: todos.actions.added,
      effect: (action) => {
        heard.push({ text: action.payload.text, local: eventOf(action)?.local ?? true })
      }
    })
    const storeA = makeStore(a)
    const storeB = makeStore(b, { middleware: [listener.middleware] })
    const { threadId } = await storeA.dispatch(a.thunks.createThread({ slices: [todos] })).unwrap()
    const invite = await storeA.dispatch(a.thunks.invite({ threadId })).unwrap()
    await storeB.dispatch(b.thunks.joinThread({ invite, slices: [todos], waitForSyncMs: 5000 })).unwrap()
    for (const t of ['one', 'two', 'three']) storeA.dispatch(todos.actions.added(t))
    storeB.dispatch(todos.actions.added('mine'))
    await settle(hub, [a, b])
    expect(heard.filter((h) => !h.local).map((h) => h.text)).toEqual(['one', 'two', 'three'])
    expect(heard.filter((h) => h.local).map((h) => h.text)).toEqual(['mine'])
    expect(storeB.getState().seen).toEqual({ added: 4, remote: 3 })
    expect(storeB.getState().todos).toEqual(storeA.getState().todos)
    await Promise.all([a.close(), b.close()])
  })

  it('the state follows from the actions the store saw: an exported action log rebuilds it in a fresh store', async () => {
    const hub = createMemoryHub({ seed: 5 })
    const a = createPeer({ network: hub.network(), syncIntervalMs: 0 })
    const b = createPeer({ network: hub.network(), syncIntervalMs: 0 })
    const log: UnknownAction[] = []
    const storeA = makeStore(a)
    const storeB = makeStore(b, { log })
    const { threadId } = await storeA.dispatch(a.thunks.createThread({ slices: [todos] })).unwrap()
    const invite = await storeA.dispatch(a.thunks.invite({ threadId })).unwrap()
    await storeB.dispatch(b.thunks.joinThread({ invite, slices: [todos], waitForSyncMs: 5000 })).unwrap()
    for (let i = 0; i < 20; i++) {
      storeA.dispatch(todos.actions.added(`a${i}`))
      storeB.dispatch(todos.actions.added(`b${i}`))
    }
    await settle(hub, [a, b])
    // DevTools' export, then import into a store with the same reducers and no peer.
    const json = JSON.parse(JSON.stringify(log)) as UnknownAction[]
    const fresh = configureStore({ reducer: { todos: todos.reducer, seen: seenSlice.reducer } })
    for (const action of json) fresh.dispatch(action)
    expect(fresh.getState().todos).toEqual(storeB.getState().todos)
    expect(storeB.getState().todos).toHaveLength(40)
    // Jumping: the state after the first k actions is what DevTools would show there.
    const half = configureStore({ reducer: { todos: todos.reducer } })
    for (const action of json.slice(0, Math.floor(json.length / 2))) half.dispatch(action)
    expect(half.getState().todos.length).toBeLessThan(40)
    await Promise.all([a.close(), b.close()])
  })

  it('after a late event, every item whose value did not change keeps its identity', async () => {
    const a = createPeer()
    const b = createPeer()
    const storeA = makeStore(a)
    const storeB = makeStore(b)
    const { threadId } = await storeA.dispatch(a.thunks.createThread({ slices: [todos] })).unwrap()
    const key = a.thread(threadId)!.key
    await storeB.dispatch(b.thunks.openThread({ threadId, slices: [todos], key })).unwrap()
    // B writes 50 items; A writes one early item that B gets late (it sorts first).
    const early = storeA.dispatch(todos.actions.added('early'))
    await early.unwrap()
    for (let i = 0; i < 50; i++) storeB.dispatch(todos.actions.added(`row${i}`))
    await b.idle()
    const before = storeB.getState().todos
    const fromA = await a.thread(threadId)!.recordsSince(new Map())
    for (const { logId, blocks } of fromA) await b.thread(threadId)!.ingest(logId, blocks)
    await b.idle()
    const after = storeB.getState().todos
    // Clock 1 like B's first row: it sorts first or second (ties go by log ID), before 49 rows at least.
    expect(after.map((t: Todo) => t.text).indexOf('early')).toBeLessThan(2)
    expect(after).toHaveLength(51)
    const rows = (list: readonly Todo[]) => new Map(list.filter((t) => t.text.startsWith('row')).map((t) => [t.id, t]))
    const was = rows(before)
    let kept = 0
    for (const [id, t] of rows(after)) if (was.get(id) === t) kept++
    expect(kept).toBe(50)
    await Promise.all([a.close(), b.close()])
  })

  it('status is in the store, and status$ streams the same objects', async () => {
    const peer = createPeer()
    const store = makeStore(peer)
    const { threadId } = await store.dispatch(peer.thunks.createThread({ slices: [todos] })).unwrap()
    const seen: unknown[] = []
    const sub = peer.status$(threadId).subscribe((s) => seen.push(s))
    for (let i = 0; i < 100; i++) store.dispatch(todos.actions.added(`t${i}`))
    await peer.idle()
    const inStore = peer.selectors.selectThreadStatus(store.getState(), threadId)
    expect(inStore?.events).toBe(100)
    expect(seen.at(-1)).toBe(inStore)
    // A burst of 100 commands is not 100 status builds.
    expect(seen.length).toBeLessThan(10)
    sub.unsubscribe()
    await peer.close()
  })

  it('one keyed slice backs any number of threads, with selectors per thread', async () => {
    const docs = createThreadSlice({
      name: 'docs',
      keyed: true,
      initialState: { title: '', lines: [] as string[] },
      reducers: {
        titled: (state, action: { payload: string; type: string }) => {
          state.title = action.payload
        },
        lineAdded: (state, action: { payload: string; type: string }) => {
          state.lines.push(action.payload)
        }
      },
      selectors: { lineCount: (state) => state.lines.length }
    })
    const peer = createPeer()
    const store = configureStore({ reducer: { [peer.reducerPath]: peer.reducer, docs: docs.reducer }, middleware: (gDM) => gDM().concat(peer.middleware) })
    const one = await store.dispatch(peer.thunks.createThread({ slices: [docs] })).unwrap()
    const two = await store.dispatch(peer.thunks.createThread({ slices: [docs] })).unwrap()
    const d1 = docs.forThread(one.threadId)
    const d2 = docs.forThread(two.threadId)
    store.dispatch(d1.actions.titled('Plan'))
    store.dispatch(d1.actions.lineAdded('a'))
    store.dispatch(d2.actions.titled('Notes'))
    await store.dispatch(d2.actions.lineAdded('b')).unwrap()
    expect(d1.selectState(store.getState())).toEqual({ title: 'Plan', lines: ['a'] })
    expect(d2.selectors.lineCount(store.getState())).toBe(1)
    expect(() => store.dispatch(docs.actions.titled('which?'))).toThrow(expect.objectContaining({ name: 'MisuseError' }))
    await peer.close()
  })

  it('remote batches reach the store as one threadApplied and one action per event, notifying subscribers once', async () => {
    const a = createPeer()
    const b = createPeer()
    const storeA = makeStore(a)
    const log: UnknownAction[] = []
    const storeB = makeStore(b, { log })
    const { threadId } = await storeA.dispatch(a.thunks.createThread({ slices: [todos] })).unwrap()
    await storeB.dispatch(b.thunks.openThread({ threadId, slices: [todos], key: a.thread(threadId)!.key })).unwrap()
    for (let i = 0; i < 10; i++) storeA.dispatch(todos.actions.added(`x${i}`))
    await a.idle()
    // Subscribers hear of the batch's state once (status updates are notifications of their own).
    let notified = 0
    let last = storeB.getState().todos
    const unsubscribe = storeB.subscribe(() => {
      if (storeB.getState().todos !== last) notified++
      last = storeB.getState().todos
    })
    const fromA = await a.thread(threadId)!.recordsSince(new Map())
    log.length = 0
    for (const { logId, blocks } of fromA) await b.thread(threadId)!.ingest(logId, blocks)
    await new Promise((r) => setTimeout(r, 50))
    unsubscribe()
    const types = log.map((x) => x.type)
    expect(types.filter((t) => t === threadApplied.type)).toHaveLength(1)
    expect(types.filter((t) => t === todos.actions.added.type)).toHaveLength(10)
    expect(notified).toBe(1)
    await Promise.all([a.close(), b.close()])
  })
})
