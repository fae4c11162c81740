import { configureStore } from '@reduxjs/toolkit'
import { describe, expect, it } from 'vitest'
import { memoryStorage } from '../../../adapters/storage/memory.js'
import { eventOf } from '../../../src/redux/appliedAction.js'
import { createPeer } from '../../../src/redux/createPeer.js'
import { bank, list, makeStore } from './fixtures.js'

// Misuse that would silently split a store from its thread is refused, loudly, with the fix.
describe('misuse of the Redux bindings', () => {
  it('refuses a thread slice command whose thread is not open, naming the fix', async () => {
    const peer = await createPeer({ storage: memoryStorage() })
    const store = makeStore(peer)
    expect(() => store.dispatch(list.actions.pushed('early'))).toThrow(/not bound to an open thread.*peer\.createThread/s)
    expect(store.getState().list).toEqual([])
    await peer.createThread({ slices: [list, bank] })
    store.dispatch(list.actions.pushed('now'))
    expect(store.getState().list).toEqual(['now'])
    await peer.close()
  })

  it('refuses one peer middleware in two stores', async () => {
    const peer = await createPeer({ storage: memoryStorage() })
    makeStore(peer)
    expect(() => configureStore({ reducer: { list: list.reducer }, middleware: (d) => d().concat(peer.middleware) })).toThrow(/one Redux store/)
    await peer.close()
  })

  it('refuses a slice that already feeds an open thread, before anything is stored', async () => {
    const peer = await createPeer({ storage: memoryStorage() })
    makeStore(peer)
    await peer.createThread({ slices: [list] })
    await expect(peer.createThread({ slices: [list] })).rejects.toThrow(/already belongs to an open thread/)
    expect(peer.storedThreads()).toHaveLength(1)
    await peer.close()
  })

  it('eventOf reads the event behind an action, and nothing from a plain action', async () => {
    const peer = await createPeer({ storage: memoryStorage() })
    const store = makeStore(peer)
    const thread = await peer.createThread({ slices: [list, bank] })
    const dispatched = store.dispatch(list.actions.pushed('x'))
    const event = eventOf(dispatched)
    expect(event?.threadId).toBe(thread.id.toString())
    expect(event?.author).toBe(peer.id)
    expect(event?.seq).toBe(1)
    expect(eventOf({ type: 'ui/other' })).toBeUndefined()
    expect(eventOf(null)).toBeUndefined()
    await peer.close()
  })
})
