import { configureStore } from '@reduxjs/toolkit'
import { describe, expect, it } from 'vitest'
import { memoryStorage } from '../../../adapters/storage/memory.js'
import type { EventMeta } from '../../../src/engine/threadEvent.js'
import { eventOf } from '../../../src/redux/appliedAction.js'
import { createPeer } from '../../../src/redux/createPeer.js'
import { createThreadSlice } from '../../../src/redux/createThreadSlice.js'
import { bank, eventRecorder, list, makeStore } from './fixtures.js'

const docs = createThreadSlice({
  name: 'misuseDocs',
  keyed: true,
  initialState: { n: 0 },
  reducers: { inc: (s) => void (s.n += 1) }
})

// Misuse that would silently split a store from its thread is refused, loudly, with the fix.
describe('misuse of the Redux bindings', () => {
  it('refuses a thread slice command whose thread is not open, naming the fix', async () => {
    const peer = createPeer({ storage: memoryStorage() })
    const store = makeStore(peer)
    expect(() => store.dispatch(list.actions.pushed('early'))).toThrow(
      expect.objectContaining({ name: 'MisuseError', message: expect.stringMatching(/no open thread of this peer holds.*peer\.thunks\.createThread/s) })
    )
    expect(store.getState().list).toEqual([])
    await store.dispatch(peer.thunks.createThread({ slices: [list, bank] })).unwrap()
    store.dispatch(list.actions.pushed('now'))
    expect(store.getState().list).toEqual(['now'])
    await peer.close()
  })

  it('refuses one peer middleware in two stores', async () => {
    const peer = createPeer({ storage: memoryStorage() })
    makeStore(peer)
    expect(() => configureStore({ reducer: { list: list.reducer }, middleware: (d) => d().concat(peer.middleware) })).toThrow(
      expect.objectContaining({ name: 'MisuseError', message: expect.stringMatching(/one Redux store/) })
    )
    await peer.close()
  })

  it('refuses a slice that already feeds an open thread, before anything is stored', async () => {
    const peer = createPeer({ storage: memoryStorage() })
    const store = makeStore(peer)
    await store.dispatch(peer.thunks.createThread({ slices: [list] })).unwrap()
    await expect(store.dispatch(peer.thunks.createThread({ slices: [list] })).unwrap()).rejects.toMatchObject({
      name: 'MisuseError',
      message: expect.stringMatching(/already feeds thread .*keyed: true/s)
    })
    expect(await peer.storedThreads()).toHaveLength(1)
    await peer.close()
  })

  it('refuses a command of a keyed slice that names no thread, or a thread deleted on this peer', async () => {
    const peer = createPeer({ storage: memoryStorage() })
    const store = configureStore({ reducer: { [peer.reducerPath]: peer.reducer, misuseDocs: docs.reducer }, middleware: (d) => d().concat(peer.middleware) })
    const { threadId } = await store.dispatch(peer.thunks.createThread({ slices: [docs] })).unwrap()
    const view = docs.forThread(threadId)
    await store.dispatch(view.actions.inc()).unwrap()
    expect(() => store.dispatch(docs.actions.inc())).toThrow(expect.objectContaining({ name: 'MisuseError', message: expect.stringContaining('forThread') }))
    await store.dispatch(peer.thunks.deleteThread({ threadId })).unwrap()
    expect(() => store.dispatch(view.actions.inc())).toThrow(expect.objectContaining({ name: 'ThreadDeletedError', threadId }))
    expect(store.getState().misuseDocs).toEqual({})
    await peer.close()
  })

  // src bug (see the report): an unkeyed slice's command after its thread was deleted is refused
  // with the MisuseError for a thread never opened ("dispatch createThread"), not ThreadDeletedError.
  it('refuses a command of an unkeyed slice whose thread was deleted with ThreadDeletedError', async () => {
    const peer = createPeer({ storage: memoryStorage() })
    const store = makeStore(peer)
    const { threadId } = await store.dispatch(peer.thunks.createThread({ slices: [list] })).unwrap()
    await store.dispatch(peer.thunks.deleteThread({ threadId })).unwrap()
    try {
      expect(() => store.dispatch(list.actions.pushed('after delete'))).toThrow(expect.objectContaining({ name: 'ThreadDeletedError' }))
    } finally {
      await peer.close()
    }
  })

  it('eventOf reads the event behind an action, and nothing from a plain action', async () => {
    const peer = createPeer({ storage: memoryStorage() })
    const seen: EventMeta[] = []
    const store = makeStore(peer, eventRecorder(seen))
    const { threadId } = await store.dispatch(peer.thunks.createThread({ slices: [list, bank] })).unwrap()
    const dispatched = store.dispatch(list.actions.pushed('x'))
    // The action the reducers saw carries the event; unwrap() resolves with the same meta.
    const event = seen[0]
    expect(seen).toHaveLength(1)
    expect(event?.threadId).toBe(threadId)
    expect(event?.author).toBe(peer.id)
    expect(event?.seq).toBe(1)
    expect(await dispatched.unwrap()).toEqual(event)
    // The dispatched command is the action as made (its event is in what reducers saw).
    expect(eventOf(dispatched)).toBeUndefined()
    expect(eventOf({ type: 'ui/other' })).toBeUndefined()
    expect(eventOf(null)).toBeUndefined()
    await peer.close()
  })
})
