/**
 * Change listeners (go-threads db's listener tests): RTK listener middleware with the
 * collections' matchers, filtered by collection, action and document id, and OR combinations of
 * filters. Under bursts from a peer over the memory network and from the store's own commands,
 * every listener hears exactly the changes its filters pass: none lost, none repeated.
 */
import { configureStore, createListenerMiddleware } from '@reduxjs/toolkit'
import { describe, expect, it } from 'vitest'
import { createMemoryHub, settle } from '../../../adapters/network/memory.js'
import { changeOf, createCollection, matchChanges, type ChangeFilter, type DocumentChange } from '../../../src/db/index.js'
import { createPeer, type Peer } from '../../../src/index.js'
import { people, type Person } from './helpers.js'

interface Pet {
  _id: string
  name: string
}
const pets = createCollection<Pet>({ name: 'pets', schema: { type: 'object', required: ['name'] } })
const both = [people, pets]

function storeOf(peer: Peer) {
  const listener = createListenerMiddleware()
  const store = configureStore({
    reducer: { [peer.reducerPath]: peer.reducer, people: people.reducer, pets: pets.reducer },
    middleware: (gDM) => gDM().concat(peer.middleware, listener.middleware)
  })
  return { store, listener }
}

type Heard = Pick<DocumentChange, 'collection' | 'action' | 'id'> & { local: boolean; seq: number; log: string }
const key = (h: Heard): string => `${h.log}:${String(h.seq).padStart(6, '0')}`

describe('change listeners', () => {
  it('the filter matrix under bursts: by collection, action, id and OR combinations; none lost or repeated', async () => {
    const hub = createMemoryHub({ seed: 11 })
    const a = createPeer({ network: hub.network(), syncIntervalMs: 0 })
    const b = createPeer({ network: hub.network(), syncIntervalMs: 0 })
    const A = storeOf(a)
    const B = storeOf(b)
    const { threadId } = await A.store.dispatch(a.thunks.createThread({ slices: [people, pets] })).unwrap()
    const invite = await A.store.dispatch(a.thunks.invite({ threadId })).unwrap()
    await B.store.dispatch(b.thunks.joinThread({ invite, slices: [people, pets], waitForSyncMs: 5000 })).unwrap()

    const watched = 'p007'
    const filters: Record<string, ChangeFilter[]> = {
      all: [],
      creates: [{ action: 'create' }],
      saves: [{ action: 'save' }],
      deletes: [{ action: 'delete' }],
      'saves and deletes': [{ action: ['save', 'delete'] }],
      'one document': [{ id: watched }],
      'deletes OR one document': [{ action: 'delete' }, { id: watched }],
      'pets only': [{ collection: 'pets' }],
      'people creates OR pet deletes': [{ collection: 'people', action: 'create' }, { collection: 'pets', action: 'delete' }],
      'this thread': [{ threadId }],
      'another thread': [{ threadId: 'bafkother' }]
    }
    const heard: Record<string, Heard[]> = {}
    for (const [name, f] of Object.entries(filters)) {
      const out: Heard[] = (heard[name] = [])
      B.listener.startListening({
        matcher: matchChanges(both, ...f),
        effect: (action) => {
          const c = changeOf(both, action) as DocumentChange
          out.push({ collection: c.collection, action: c.action, id: c.id, local: c.event.local, seq: c.event.seq, log: c.event.logId })
        }
      })
    }
    // The per-collection matcher is the same as naming the collection.
    const peopleOnly: string[] = []
    B.listener.startListening({ matcher: people.matchChanges(), effect: (action) => void peopleOnly.push(action.type) })

    // Bursts: A writes 60 people changes and 10 pet changes in one go; B writes its own meanwhile.
    for (let i = 0; i < 30; i++) A.store.dispatch(people.actions.create({ _id: `p${String(i).padStart(3, '0')}`, name: `P${i}`, age: i }))
    for (let i = 0; i < 20; i++) A.store.dispatch(people.save({ ...(people.selectors.selectById(A.store.getState(), `p${String(i).padStart(3, '0')}`) as Person), age: 100 + i }))
    for (let i = 0; i < 10; i++) A.store.dispatch(people.actions.delete(`p${String(i * 2).padStart(3, '0')}`))
    for (let i = 0; i < 5; i++) A.store.dispatch(pets.actions.create({ _id: `pet${i}`, name: `Pet ${i}` }))
    for (let i = 0; i < 5; i++) A.store.dispatch(pets.actions.delete(`pet${i}`))
    for (let i = 0; i < 10; i++) B.store.dispatch(people.actions.create({ _id: `b${i}`, name: `B${i}`, age: i }))
    B.store.dispatch(people.actions.delete('nobody'))
    await settle(hub, [a, b])

    // What happened, from the events of both logs as B holds them.
    const expected: Heard[] = []
    const record = (collection: string, action: DocumentChange['action'], id: string, log: string, seq: number, local: boolean): void => void expected.push({ collection, action, id, local, seq, log })
    let seq = 0
    for (let i = 0; i < 30; i++) record('people', 'create', `p${String(i).padStart(3, '0')}`, a.id as string, ++seq, false)
    for (let i = 0; i < 20; i++) record('people', 'save', `p${String(i).padStart(3, '0')}`, a.id as string, ++seq, false)
    for (let i = 0; i < 10; i++) record('people', 'delete', `p${String(i * 2).padStart(3, '0')}`, a.id as string, ++seq, false)
    for (let i = 0; i < 5; i++) record('pets', 'create', `pet${i}`, a.id as string, ++seq, false)
    for (let i = 0; i < 5; i++) record('pets', 'delete', `pet${i}`, a.id as string, ++seq, false)
    seq = 0
    for (let i = 0; i < 10; i++) record('people', 'create', `b${i}`, b.id as string, ++seq, true)
    // B's delete of 'nobody' (seq 11) changed nothing: listeners hear only what changed state.

    const pass = (h: Heard, f: ChangeFilter[]): boolean =>
      f.length === 0 ||
      f.some((x) => {
        const has = <T>(want: T | readonly T[] | undefined, v: T) => want === undefined || (Array.isArray(want) ? want.includes(v) : want === v)
        return has(x.collection, h.collection) && has(x.action, h.action) && has(x.id, h.id) && has(x.threadId, threadId)
      })
    for (const [name, f] of Object.entries(filters)) {
      const got = heard[name] as Heard[]
      const want = expected.filter((h) => pass(h, f))
      expect([...got].sort((x, y) => key(x).localeCompare(key(y))), name).toEqual([...want].sort((x, y) => key(x).localeCompare(key(y))))
      // Each log's changes arrive in its order.
      const fromA = got.filter((h) => h.log === a.id).map((h) => h.seq)
      expect(fromA, name).toEqual([...fromA].sort((x, y) => x - y))
    }
    expect(heard['one document']?.map((h) => h.action)).toEqual(['create', 'save'])
    expect(heard['another thread']).toEqual([])
    expect(peopleOnly).toHaveLength(expected.filter((h) => h.collection === 'people').length)
    expect(B.store.getState().people).toEqual(A.store.getState().people)
    await Promise.all([a.close(), b.close()])
  })

  it('a refused command is never a change; a listener before the event sees nothing of it', async () => {
    const peer = createPeer()
    const { store, listener } = storeOf(peer)
    await store.dispatch(peer.thunks.createThread({ slices: [people, pets] })).unwrap()
    const got: string[] = []
    listener.startListening({ matcher: people.matchChanges(), effect: (action) => void got.push(action.payload._id) })
    store.dispatch(people.actions.create({ _id: 'x', name: 'X', age: 1 }))
    expect(() => store.dispatch(people.actions.create({ _id: 'x', name: 'Again', age: 1 }))).toThrow()
    expect(people.matchChanges()(people.actions.create({ _id: 'y', name: 'Y', age: 1 }))).toBe(false)
    expect(got).toEqual(['x'])
    await peer.close()
  })
})
