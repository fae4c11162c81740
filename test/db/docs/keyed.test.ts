/**
 * A keyed collection (`keyed: true`): one collection per thread, any number of threads on a
 * peer; each thread's documents, ids, indexes and transactions are its own.
 */
import { configureStore } from '@reduxjs/toolkit'
import { describe, expect, it } from 'vitest'
import { createCollection } from '../../../src/db/index.js'
import { createPeer } from '../../../src/index.js'

interface Note {
  _id: string
  text: string
  pinned: boolean
}

const notes = createCollection<Note>({ name: 'notes', keyed: true, schema: { type: 'object', required: ['text', 'pinned'] }, indexes: ['pinned'] })

describe('keyed collections', () => {
  it('two threads on one peer, each with its own documents, queries and transactions', async () => {
    const peer = createPeer()
    const store = configureStore({ reducer: { [peer.reducerPath]: peer.reducer, notes: notes.reducer }, middleware: (gDM) => gDM().concat(peer.middleware) })
    const { threadId: t1 } = await store.dispatch(peer.thunks.createThread({ slices: [notes] })).unwrap()
    const { threadId: t2 } = await store.dispatch(peer.thunks.createThread({ slices: [notes] })).unwrap()
    const one = notes.forThread(t1)
    const two = notes.forThread(t2)
    expect(notes.forThread(t1)).toBe(one)
    store.dispatch(one.actions.create({ _id: 'a', text: 'in one', pinned: true }))
    // The same id in another thread is another document.
    store.dispatch(two.actions.create({ _id: 'a', text: 'in two', pinned: false }))
    expect(() => store.dispatch(one.actions.create({ _id: 'a', text: 'again', pinned: false }))).toThrow(expect.objectContaining({ name: 'DuplicateDocumentError' }))
    const root = store.getState()
    expect(one.selectors.selectById(root, 'a')?.text).toBe('in one')
    expect(two.selectors.selectById(root, 'a')?.text).toBe('in two')
    expect(one.selectors.selectFind(root, { filter: { pinned: true } }).map((n) => n.text)).toEqual(['in one'])
    expect(two.selectors.selectFind(root, { filter: { pinned: true } })).toEqual([])
    const id = await store.dispatch(two.writeTransaction({ peer }, (tx) => tx.create({ text: 'tx', pinned: true })))
    expect(two.selectors.selectHas(store.getState(), id)).toBe(true)
    expect(one.selectors.selectCount(store.getState())).toBe(1)
    await store.dispatch(two.save({ _id: 'a', text: 'in two, edited', pinned: false })).unwrap()
    expect(two.selectors.selectById(store.getState(), 'a')?.text).toBe('in two, edited')
    expect(store.dispatch(one.readTransaction((tx) => tx.findById('a')?.text))).toBe('in one')
    await peer.close()
  })
})
