/**
 * Types of `createCollection` (checked by `vitest --typecheck`, never run): the document type
 * flows from the type argument to the commands, selectors, thunks, transactions and change
 * matchers; index paths are checked against the document; a collection is a thread slice a peer
 * takes; `keyed: true` gives per-thread views; read transactions have no writes.
 */
import { configureStore, createListenerMiddleware, type Reducer } from '@reduxjs/toolkit'
import { describe, expectTypeOf, it } from 'vitest'
import {
  createCollection,
  type Collection,
  type CollectionState,
  type DocumentChange,
  type KeyedCollection,
  type MergePatch,
  type ReadTransaction,
  type ThreadCollection,
  type WriteTransaction
} from '../../src/db/index.js'
import { createPeer, type DurableCommand, type EventMeta, type ThreadSliceLike } from '../../src/index.js'

interface Person {
  _id: string
  name: string
  age: number
  address?: { city: string; geo: { lat: number } }
  tags?: string[]
}

const people = createCollection<Person>({ name: 'people', schema: { type: 'object' }, indexes: ['age', 'address.city', { path: 'address.geo.lat', unique: true }, 'tags'] })
const peer = createPeer()
const store = configureStore({ reducer: { [peer.reducerPath]: peer.reducer, people: people.reducer }, middleware: (gDM) => gDM().concat(peer.middleware) })

describe('createCollection types', () => {
  it('is a thread slice, with a typed reducer', () => {
    expectTypeOf(people).toMatchTypeOf<ThreadSliceLike>()
    expectTypeOf(people).toEqualTypeOf<Collection<Person, string>>()
    expectTypeOf(people.reducer).toEqualTypeOf<Reducer<CollectionState<Person>>>()
    expectTypeOf(store.getState().people).toEqualTypeOf<CollectionState<Person>>()
    void peer.thunks.createThread({ slices: [people] })
  })

  it('checks index paths against the document', () => {
    // @ts-expect-error not a path of Person
    createCollection<Person>({ name: 'p', indexes: ['agee'] })
    // @ts-expect-error arrays end a path
    createCollection<Person>({ name: 'p', indexes: ['tags.length'] })
    // @ts-expect-error `unique` is a boolean
    createCollection<Person>({ name: 'p', indexes: [{ path: 'age', unique: 'yes' }] })
  })

  it('commands take the document (with an optional _id) and a typed merge patch', () => {
    const created = people.actions.create({ name: 'Ada', age: 36 })
    expectTypeOf(created.payload).toEqualTypeOf<Person>()
    expectTypeOf(created.unwrap()).toEqualTypeOf<Promise<EventMeta>>()
    expectTypeOf(created).toMatchTypeOf<DurableCommand>()
    people.actions.create({ _id: 'mine', name: 'Ada', age: 36 })
    // @ts-expect-error age is a number
    people.actions.create({ name: 'Ada', age: '36' })
    // @ts-expect-error name is required
    people.actions.create({ age: 36 })
    people.actions.save({ _id: 'x', patch: { age: 37, address: { city: 'Oslo' }, tags: null } })
    // @ts-expect-error a patch sets fields of the document's types
    people.actions.save({ _id: 'x', patch: { age: 'old' } })
    expectTypeOf<MergePatch<Person>['name']>().toEqualTypeOf<string | null | undefined>()
    people.actions.delete('x')
    // @ts-expect-error delete takes an id
    people.actions.delete({ _id: 'x' })
  })

  it('selectors and thunks are typed by the document', () => {
    const root = store.getState()
    expectTypeOf(people.selectors.selectById(root, 'x')).toEqualTypeOf<Person | undefined>()
    expectTypeOf(people.selectors.selectFind(root, { filter: { age: { $gt: 1 } }, sort: { age: -1 }, limit: 3 })).toEqualTypeOf<Person[]>()
    // @ts-expect-error sort directions are 1 or -1
    people.selectors.selectFind(root, { sort: { age: 'desc' } })
    const saved = store.dispatch(people.save({ _id: 'x', name: 'Ada', age: 1 }))
    expectTypeOf(saved.unwrap()).toEqualTypeOf<Promise<EventMeta | undefined>>()
    const n = store.dispatch(people.readTransaction((tx) => tx.count()))
    expectTypeOf(n).toEqualTypeOf<number>()
    const r = store.dispatch(people.writeTransaction({ peer, threadId: 't' }, (tx) => tx.create({ name: 'A', age: 1 })))
    expectTypeOf(r).toEqualTypeOf<Promise<string>>()
  })

  it('a read transaction has no writes; a write transaction has them', () => {
    store.dispatch(
      people.readTransaction((tx) => {
        expectTypeOf(tx).toEqualTypeOf<ReadTransaction<Person>>()
        // @ts-expect-error read transactions refuse writes
        tx.create({ name: 'A', age: 1 })
      })
    )
    void store.dispatch(
      people.writeTransaction({ peer, threadId: 't' }, (tx) => {
        expectTypeOf(tx).toEqualTypeOf<WriteTransaction<Person>>()
        expectTypeOf(tx.save).parameter(0).toEqualTypeOf<Person>()
      })
    )
  })

  it('change matchers narrow for the listener middleware', () => {
    const listener = createListenerMiddleware()
    listener.startListening({
      matcher: people.matchChanges({ action: ['save', 'delete'] }, { id: 'x' }),
      effect: (action) => {
        expectTypeOf(action.meta.event).toEqualTypeOf<EventMeta>()
        expectTypeOf(people.changeOf(action)).toEqualTypeOf<DocumentChange<Person> | undefined>()
      }
    })
    // @ts-expect-error not an action of a collection
    people.matchChanges({ action: 'update' })
  })

  it('keyed collections give per-thread views', () => {
    const docs = createCollection<Person>({ name: 'docs', keyed: true })
    expectTypeOf(docs).toEqualTypeOf<KeyedCollection<Person, string>>()
    const view = docs.forThread('t')
    expectTypeOf(view).toEqualTypeOf<ThreadCollection<Person>>()
    expectTypeOf(view.selectors.selectAll({})).toEqualTypeOf<Person[]>()
    void view.writeTransaction({ peer }, (tx) => tx.count())
    // @ts-expect-error a keyed collection's commands name their thread: use forThread(id).actions
    void docs.actions
  })
})
