/**
 * Shared collections and peers for the document collection tests: `people` (schema, indexes on
 * `age` and `address.city`, a unique index on `email`), stores whose listener middleware sits
 * after `peer.middleware`, and two-peer groups that exchange records by hand (`deliver`).
 */
import { configureStore, createListenerMiddleware, type UnknownAction } from '@reduxjs/toolkit'
import { memoryStorage } from '../../../adapters/storage/memory.js'
import type { StorageAdapter } from '../../../src/store/storageAdapter.js'
import { createCollection, type Collection, type JsonSchema } from '../../../src/db/index.js'
import { createPeer, type Peer, type ThreadsError } from '../../../src/index.js'
import { engineOf, type ThreadHandle } from '../../../src/redux/threadHandle.js'

export interface Person {
  _id: string
  name: string
  age: number
  email?: string
  member?: boolean
  address?: { city: string; zip?: string }
  tags?: string[]
}

export const personSchema: JsonSchema = {
  type: 'object',
  required: ['_id', 'name', 'age'],
  properties: {
    _id: { type: 'string' },
    name: { type: 'string', minLength: 1 },
    age: { type: 'integer', minimum: 0 },
    email: { type: 'string' },
    member: { type: 'boolean' },
    address: { type: 'object', required: ['city'], properties: { city: { type: 'string' }, zip: { type: 'string' } } },
    tags: { type: 'array', items: { type: 'string' } }
  }
}

/**
 * Who may change `people`'s schema through the thread (its `schemaAuthority`): the peers named
 * here, as an app would name its thread's owner. `makeDocPeers` adds the creator of each group's thread.
 */
export const schemaAuthors = new Set<string>()

export const people = createCollection<Person>({ name: 'people', schema: personSchema, indexes: ['age', 'address.city', { path: 'email', unique: true }], schemaAuthority: (event) => schemaAuthors.has(event.author) })

/** The same collection as a peer with other code (no schema, no unique index) would have it: it writes what `people` refuses. */
export const laxPeople = createCollection<Person>({ name: 'people', indexes: ['age', 'address.city', 'email'] })

export function makeStore(peer: Peer, collection: Collection<Person, string> = people) {
  const listener = createListenerMiddleware()
  const store = configureStore({
    reducer: { [peer.reducerPath]: peer.reducer, people: collection.reducer },
    middleware: (gDM) => gDM().concat(peer.middleware, listener.middleware)
  })
  return { store, listener }
}

export interface DocPeer {
  readonly peer: Peer
  readonly store: ReturnType<typeof makeStore>['store']
  readonly listener: ReturnType<typeof createListenerMiddleware>
  readonly thread: ThreadHandle
  readonly threadId: string
  readonly id: string
  /** Errors the thread's engine reported (`status$`'s `rejected`), with their causes. */
  readonly rejected: ThreadsError[]
}

/** Peer 0 creates a thread holding `collections[0]`; the others open it with its key. */
export async function makeDocPeers(n: number, collections: Array<Collection<Person, string>> = [], storage: () => StorageAdapter = memoryStorage): Promise<DocPeer[]> {
  const out: DocPeer[] = []
  for (let i = 0; i < n; i++) {
    const collection = collections[i] ?? people
    const peer = createPeer({ storage: storage() })
    const { store, listener } = makeStore(peer, collection)
    const first = out[0]
    const { threadId } =
      first === undefined
        ? await store.dispatch(peer.thunks.createThread({ slices: [collection] })).unwrap()
        : await store.dispatch(peer.thunks.openThread({ threadId: first.threadId, slices: [collection], key: first.thread.key })).unwrap()
    if (first === undefined) schemaAuthors.add(peer.id as string)
    const thread = peer.thread(threadId) as ThreadHandle
    const rejected: ThreadsError[] = []
    engineOf(thread).events.on('rejected', (e) => rejected.push(e))
    out.push({ peer, store, listener, thread, threadId, id: peer.id as string, rejected })
  }
  return out
}

/** Give `to` everything `from` holds of `from`'s own log. */
export async function deliver(from: DocPeer, to: DocPeer): Promise<void> {
  const logs = await from.thread.recordsSince(new Map([[from.id, 0]]))
  const blocks = logs.find((l) => l.logId === from.id)?.blocks ?? []
  if (blocks.length === 0) return
  const r = await to.thread.ingest(from.id, blocks)
  if (r.rejected.length > 0) throw r.rejected[0]
}

/** Deliver every peer's log to every other peer. */
export async function exchange(peers: readonly DocPeer[]): Promise<void> {
  for (const from of peers) for (const to of peers) if (from !== to) await deliver(from, to)
}

export async function closeAll(peers: readonly DocPeer[]): Promise<void> {
  await Promise.all(peers.map((p) => p.peer.close()))
}

/** Fold actions over a collection's reducer without a peer (queries and indexes are pure). */
export function foldAll<S>(reducer: (s: S | undefined, a: UnknownAction) => S, actions: readonly UnknownAction[], from?: S): S {
  let s = from
  for (const a of actions) s = reducer(s, a)
  return s as S
}
