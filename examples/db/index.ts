/**
 * `npm run example:db`: a document collection shared by two peers (the paper's section 5.3,
 * Examples 4 to 8; issue 11).
 *
 * Alice and Bob share a thread holding a `books` collection with a JSON Schema and an index on
 * `year`, over the in-memory network. Alice adds books, Bob adds one and fixes a year (only the
 * changed field travels, as a merge patch), a write the schema refuses never leaves its peer, and
 * both run the same indexed query and see the same answer. A change listener on Bob's store
 * hears every change, local or remote, once.
 */
import { configureStore, createListenerMiddleware } from '@reduxjs/toolkit'
import { pathToFileURL } from 'node:url'
import { createMemoryHub, settle } from '../../adapters/network/memory.js'
import { candidatesOf, createCollection, type DocumentQuery } from '../../src/db/index.js'
import { createPeer, type Peer } from '../../src/index.js'

export interface Book {
  _id: string
  title: string
  author: string
  year: number
  tags?: string[]
}

export const books = createCollection<Book>({
  name: 'books',
  schema: {
    type: 'object',
    required: ['_id', 'title', 'author', 'year'],
    properties: {
      _id: { type: 'string' },
      title: { type: 'string', minLength: 1 },
      author: { type: 'string' },
      year: { type: 'integer', minimum: 1400, maximum: 2100 },
      tags: { type: 'array', items: { type: 'string' } }
    },
    additionalProperties: false
  },
  indexes: ['year', 'author']
})

function member(peer: Peer) {
  const listener = createListenerMiddleware()
  const store = configureStore({
    reducer: { [peer.reducerPath]: peer.reducer, books: books.reducer },
    middleware: (gDM) => gDM().concat(peer.middleware, listener.middleware)
  })
  return { peer, store, listener }
}

/** What the example ends with. */
export interface DbExampleResult {
  /** The query's titles on each peer. */
  readonly alice: readonly string[]
  readonly bob: readonly string[]
  /** The index the query used. */
  readonly index: string | undefined
  /** Changes Bob's listener heard, as `action id` strings. */
  readonly heard: readonly string[]
  /** The name of the error that refused the invalid write. */
  readonly refused: string | undefined
}

/** The query both peers run: books from the twentieth century, newest first, at most 3. */
export const modernBooks: DocumentQuery = { filter: { year: { $gte: 1900, $lt: 2000 } }, sort: { year: -1 }, limit: 3 }

/** Run the example; `say` gets each line it prints. */
export async function runDbExample(say: (line: string) => void = console.log): Promise<DbExampleResult> {
  const hub = createMemoryHub({ seed: 1 })
  const alice = member(createPeer({ network: hub.network(), syncIntervalMs: 0 }))
  const bob = member(createPeer({ network: hub.network(), syncIntervalMs: 0 }))
  const heard: string[] = []
  bob.listener.startListening({
    matcher: books.matchChanges(),
    effect: (action) => {
      const change = books.changeOf(action)
      if (change !== undefined) heard.push(`${change.action} ${change.id}${change.event.local ? '' : ' (from alice)'}`)
    }
  })
  try {
    const { threadId } = await alice.store.dispatch(alice.peer.thunks.createThread({ slices: [books] })).unwrap()
    const invite = await alice.store.dispatch(alice.peer.thunks.invite({ threadId })).unwrap()
    await bob.store.dispatch(bob.peer.thunks.joinThread({ invite, slices: [books], waitForSyncMs: 5000 })).unwrap()
    say(`alice and bob share thread ${threadId.slice(0, 16)}…`)

    for (const book of [
      { title: 'Dune', author: 'Herbert', year: 1965 },
      { title: 'Neuromancer', author: 'Gibson', year: 1984 },
      { title: 'Frankenstein', author: 'Shelley', year: 1818 },
      { title: 'Kindred', author: 'Butler', year: 1979 }
    ]) {
      await alice.store.dispatch(books.actions.create(book)).unwrap()
    }
    const { payload: ubik } = bob.store.dispatch(books.actions.create({ title: 'Ubik', author: 'Dick', year: 1966, tags: ['sf'] }))
    // A fix: only `{ year: 1969 }` travels (an RFC 7386 merge patch), not the whole book.
    await bob.store.dispatch(books.save({ ...ubik, year: 1969 })).unwrap()
    let refused: string | undefined
    try {
      bob.store.dispatch(books.actions.create({ title: '', author: 'Nobody', year: 3000 }))
    } catch (e) {
      refused = (e as Error).name
      say(`refused, never stored or sent: ${(e as Error).message}`)
    }
    await settle(hub, [alice.peer, bob.peer])

    const titles = (m: ReturnType<typeof member>): string[] => books.selectors.selectFind(m.store.getState(), modernBooks).map((b) => `${b.title} (${b.year})`)
    const index = candidatesOf(books.selectors.selectState(bob.store.getState()), modernBooks.filter ?? {}).plan.index
    say(`query ${JSON.stringify(modernBooks)} (index: ${index ?? 'none'})`)
    say(`  alice: ${titles(alice).join(', ')}`)
    say(`  bob:   ${titles(bob).join(', ')}`)
    say(`bob's listener heard: ${heard.join('; ')}`)
    return { alice: titles(alice), bob: titles(bob), index, heard, refused }
  } finally {
    await Promise.all([alice.peer.close(), bob.peer.close()])
  }
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  runDbExample().catch((e: unknown) => {
    console.error(e)
    process.exitCode = 1
  })
}
