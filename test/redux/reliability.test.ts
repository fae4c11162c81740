/**
 * Issue 8, the Redux side: a subscriber that throws never splits the store from the log; a thread
 * slice's case for a non-thread action is refused with a message naming it; joining resolves once
 * caught up; deleting a thread removes it and refuses its commands; an identity that wrote before
 * recovers its own log from peers before it writes.
 */
import { configureStore, createAction, type UnknownAction } from '@reduxjs/toolkit'
import { describe, expect, it, vi } from 'vitest'
import { createMemoryHub } from '../../adapters/network/memory.js'
import { memoryStorage } from '../../adapters/storage/memory.js'
import { createPeer, createThreadSlice, type Peer } from '../../src/index.js'
import { generateLogKey } from '../../src/advanced.js'
import { todos, type Todo } from '../../examples/todo/todoSlice.js'

function makeStore(peer: Peer) {
  return configureStore({
    reducer: { [peer.reducerPath]: peer.reducer, todos: todos.reducer },
    middleware: (gDM) => gDM({ immutableCheck: false, serializableCheck: false }).concat(peer.middleware)
  })
}

async function settle(hub: ReturnType<typeof createMemoryHub>, peers: Peer[]): Promise<void> {
  for (let i = 0; i < 30; i++) {
    await hub.idle()
    await Promise.all(peers.map((p) => p.idle()))
    if (hub.quiet) return
  }
}

describe('the store and the log never disagree (issue 8 §1)', () => {
  it('a subscriber that throws during a local dispatch: the command is stored, applied, sent, and still there after a restart', async () => {
    const storage = memoryStorage()
    const peer = createPeer({ storage })
    const store = makeStore(peer)
    const { threadId } = await store.dispatch(peer.thunks.createThread({ slices: [todos] })).unwrap()
    const unsubscribe = store.subscribe(() => {
      throw new Error('a UI bug')
    })
    expect(() => store.dispatch(todos.actions.added('kept'))).toThrow('a UI bug')
    unsubscribe()
    store.dispatch(todos.actions.added('next'))
    await peer.idle()
    expect(store.getState().todos.map((t: Todo) => t.text)).toEqual(['kept', 'next'])
    const heads = peer.thread(threadId)!.heads()
    expect([...heads.values()][0]?.seq).toBe(2)
    await peer.close()
    const again = createPeer({ storage })
    const store2 = makeStore(again)
    await store2.dispatch(again.thunks.openThread({ threadId, slices: [todos] })).unwrap()
    expect(store2.getState().todos.map((t: Todo) => t.text)).toEqual(['kept', 'next'])
    await again.close()
  })
})

describe('thread state changes only through thread events (issue 8 §7)', () => {
  it('a case for a UI action is refused, with a development error naming the case', async () => {
    const uiReset = createAction('ui/reset')
    const strict = createThreadSlice({
      name: 'strict',
      initialState: { n: 0 },
      reducers: { inc: (s) => void (s.n += 1) },
      extraReducers: (b) => b.addCase(uiReset, (s) => void (s.n = 0))
    })
    const peer = createPeer()
    const store = configureStore({ reducer: { [peer.reducerPath]: peer.reducer, strict: strict.reducer }, middleware: (g) => g().concat(peer.middleware) })
    await store.dispatch(peer.thunks.createThread({ slices: [strict] })).unwrap()
    store.dispatch(strict.actions.inc())
    const error = vi.spyOn(console, 'error').mockImplementation(() => undefined)
    store.dispatch(uiReset())
    expect(store.getState().strict.n).toBe(1)
    expect(error).toHaveBeenCalledWith(expect.stringContaining('`ui/reset`'))
    error.mockRestore()
    await peer.close()
  })
})

describe('caught up, deleted, recovered (issue 8 §10, §12, §13)', () => {
  it('joinThread resolves once the joiner holds what the peers it reached hold, and the status says so', async () => {
    const hub = createMemoryHub({ seed: 9 })
    const a = createPeer({ network: hub.network(), syncIntervalMs: 0, snapshotEvery: 0 })
    const b = createPeer({ network: hub.network(), syncIntervalMs: 0 })
    const storeA = makeStore(a)
    const storeB = makeStore(b)
    const { threadId } = await storeA.dispatch(a.thunks.createThread({ slices: [todos] })).unwrap()
    for (let i = 0; i < 2000; i++) storeA.dispatch(todos.actions.added(`t${i}`))
    await a.idle()
    const invite = await storeA.dispatch(a.thunks.invite({ threadId })).unwrap()
    const joined = await storeB.dispatch(b.thunks.joinThread({ invite, slices: [todos], waitForSyncMs: 20_000 })).unwrap()
    expect(joined.caughtUp).toBe(true)
    expect(storeB.getState().todos).toHaveLength(2000)
    expect(b.selectors.selectIsCaughtUp(storeB.getState(), threadId)).toBe(true)
    await Promise.all([a.close(), b.close()])
  }, 60_000)

  it('deleteThread stops syncing, removes what it stored, and refuses later commands by name', async () => {
    const storage = memoryStorage()
    const peer = createPeer({ storage })
    const store = makeStore(peer)
    const { threadId } = await store.dispatch(peer.thunks.createThread({ slices: [todos] })).unwrap()
    await store.dispatch(todos.actions.added('x')).unwrap()
    await store.dispatch(peer.thunks.deleteThread({ threadId })).unwrap()
    expect(peer.thread(threadId)).toBeUndefined()
    expect(peer.selectors.selectThreadStatus(store.getState(), threadId)).toBeUndefined()
    expect(store.getState().todos).toEqual([])
    let left = 0
    for await (const _ of storage.range([])) left++
    // The identity and the counters stay; nothing of the thread does.
    expect(left).toBeLessThanOrEqual(2)
    await expect(store.dispatch(peer.thunks.openThread({ threadId, slices: [todos] })).unwrap()).rejects.toMatchObject({ name: 'NotFoundError' })
    await peer.close()
  })

  it('an identity that lost its storage recovers its own log from peers before it writes again, and does not fork it', async () => {
    const hub = createMemoryHub({ seed: 21 })
    const identity = generateLogKey()
    const a = createPeer({ network: hub.network(), syncIntervalMs: 0 })
    const lost = createPeer({ network: hub.network(), syncIntervalMs: 0, identity })
    const storeA = makeStore(a)
    const storeL = makeStore(lost)
    const { threadId } = await storeA.dispatch(a.thunks.createThread({ slices: [todos] })).unwrap()
    const invite = await storeA.dispatch(a.thunks.invite({ threadId })).unwrap()
    await storeL.dispatch(lost.thunks.joinThread({ invite, slices: [todos], waitForSyncMs: 5000 })).unwrap()
    for (const t of ['l1', 'l2', 'l3']) storeL.dispatch(todos.actions.added(t))
    await settle(hub, [a, lost])
    expect(storeA.getState().todos).toHaveLength(3)
    await lost.close()
    // The same identity on empty storage joins again.
    const back = createPeer({ network: hub.network(), syncIntervalMs: 0, identity })
    const storeBack = makeStore(back)
    const joined = await storeBack.dispatch(back.thunks.joinThread({ invite, slices: [todos], waitForSyncMs: 5000 })).unwrap()
    expect(joined.caughtUp).toBe(true)
    const event = await storeBack.dispatch(todos.actions.added('l4')).unwrap()
    expect(event.seq).toBe(4)
    await settle(hub, [a, back])
    expect(storeA.getState().todos.map((t: Todo) => t.text)).toEqual(['l1', 'l2', 'l3', 'l4'])
    expect(a.thread(threadId)!.forks()).toEqual([])
    await Promise.all([a.close(), back.close()])
  })
})

export type { UnknownAction }
