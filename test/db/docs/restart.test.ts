/**
 * Restart on LevelDB: a peer that reopens its thread from disk (from a snapshot and the events
 * after it, or from the events alone) holds the same documents, tombstones, schema and indexes,
 * answers the same queries, and goes on writing.
 */
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { levelStorage } from '../../../adapters/storage/level.js'
import { candidatesOf, type DocumentQuery } from '../../../src/db/index.js'
import { createPeer } from '../../../src/index.js'
import { makeStore, people, personSchema, schemaAuthors } from './helpers.js'

const queries: DocumentQuery[] = [
  { filter: { age: { $gte: 40, $lt: 60 } }, sort: { age: -1 }, limit: 5 },
  { filter: { 'address.city': 'Oslo' } },
  { filter: { email: { $exists: true } }, sort: { name: 1 } }
]

describe('restart on LevelDB', () => {
  for (const snapshotEvery of [0, 100]) {
    it(`rebuilds documents and indexes (${snapshotEvery === 0 ? 'from the events' : 'from a snapshot and the events after it'})`, async () => {
      const dir = await mkdtemp(join(tmpdir(), 'redux-threads-docs-'))
      try {
        const first = createPeer({ storage: levelStorage(dir), snapshotEvery })
        const { store } = makeStore(first)
        const { threadId } = await store.dispatch(first.thunks.createThread({ slices: [people] })).unwrap()
        schemaAuthors.add(first.id as string) // the thread's creator may change `people`'s schema
        const cities = ['Oslo', 'Paris', 'Lima']
        for (let i = 0; i < 250; i++) store.dispatch(people.actions.create({ _id: `p${String(i).padStart(3, '0')}`, name: `P${i % 17}`, age: i % 80, ...(i % 3 === 0 ? { address: { city: cities[i % 3 === 0 ? (i / 3) % 3 : 0] as string } } : {}), ...(i % 5 === 0 ? { email: `p${i}@x` } : {}) }))
        for (let i = 0; i < 250; i += 7) store.dispatch(people.actions.save({ _id: `p${String(i).padStart(3, '0')}`, patch: { age: 79 - (i % 80) } }))
        for (let i = 0; i < 250; i += 11) store.dispatch(people.actions.delete(`p${String(i).padStart(3, '0')}`))
        store.dispatch(people.actions.setSchema({ ...personSchema, title: 'v2' }))
        const before = store.getState().people
        const answers = queries.map((q) => people.selectors.selectFind(store.getState(), q))
        await first.idle()
        await first.close()

        const again = createPeer({ storage: levelStorage(dir), snapshotEvery })
        const { store: store2 } = makeStore(again)
        await store2.dispatch(again.thunks.openThread({ threadId, slices: [people] })).unwrap()
        const after = store2.getState().people
        expect(after).toEqual(before)
        expect(queries.map((q) => people.selectors.selectFind(store2.getState(), q))).toEqual(answers)
        expect(candidatesOf(after, { age: 50 }).plan.index).toBe('age')
        expect(people.selectors.selectSchema(store2.getState()).version).toBe(2)
        // It goes on: a write after the restart, a refused duplicate of a deleted id.
        store2.dispatch(people.actions.create({ _id: 'new', name: 'New', age: 50 }))
        expect(people.selectors.selectFind(store2.getState(), { filter: { age: 50 } }).map((d) => d._id)).toContain('new')
        expect(() => store2.dispatch(people.actions.create({ _id: 'p000', name: 'Back', age: 1 }))).toThrow(expect.objectContaining({ name: 'DuplicateDocumentError' }))
        await again.close()
      } finally {
        await rm(dir, { recursive: true, force: true })
      }
    }, 20_000)
  }
})
