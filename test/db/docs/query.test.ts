/**
 * Queries (go-threads db's query tests): a table of MongoDB-style filters with nested paths,
 * sort before skip and limit, seek; memoized selectors; and a fast-check property that an
 * index-backed query returns exactly what a full scan returns, over documents of mixed types.
 */
import type { UnknownAction } from '@reduxjs/toolkit'
import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { candidatesOf, createCollection, type CollectionState, type DocumentQuery } from '../../../src/db/index.js'
import { foldAll, people, personSchema, type Person } from './helpers.js'

const unindexed = createCollection<Person>({ name: 'people', schema: personSchema })

const docs: Person[] = [
  { _id: '01', name: 'Ada', age: 36, email: 'ada@x', member: true, address: { city: 'London', zip: 'N1' }, tags: ['math'] },
  { _id: '02', name: 'Bob', age: 17, member: false, address: { city: 'Oslo' } },
  { _id: '03', name: 'Cy', age: 52, email: 'cy@x', address: { city: 'London' }, tags: ['art', 'math'] },
  { _id: '04', name: 'Di', age: 17, member: true },
  { _id: '05', name: 'Eve', age: 29, email: 'eve@x', address: { city: 'Paris', zip: '75001' } },
  { _id: '06', name: 'Fay', age: 64, member: false, address: { city: 'Oslo', zip: '0150' }, tags: [] }
]

function stateOf(collection: typeof people, list: readonly Person[]): CollectionState<Person> {
  return foldAll(collection.fold as (s: CollectionState<Person> | undefined, a: UnknownAction) => CollectionState<Person>, list.map((d) => collection.actions.create(d)))
}

const indexedState = stateOf(people, docs)
const scanState = stateOf(unindexed, docs)
const find = (query: DocumentQuery, state = indexedState): string[] => people.selectors.selectFind({ people: state }, query).map((d) => d._id)

describe('queries', () => {
  const table: Array<[string, DocumentQuery, string[], string | undefined]> = [
    ['all, in _id order', {}, ['01', '02', '03', '04', '05', '06'], undefined],
    ['equality on an indexed field', { filter: { age: 17 } }, ['02', '04'], 'age'],
    ['$eq', { filter: { age: { $eq: 36 } } }, ['01'], 'age'],
    ['$ne', { filter: { age: { $ne: 17 } } }, ['01', '03', '05', '06'], undefined],
    ['$gt', { filter: { age: { $gt: 36 } } }, ['03', '06'], 'age'],
    ['$gte and $lt', { filter: { age: { $gte: 17, $lt: 36 } } }, ['02', '04', '05'], 'age'],
    ['$lte', { filter: { age: { $lte: 17 } } }, ['02', '04'], 'age'],
    ['$in', { filter: { age: { $in: [29, 64, 1000] } } }, ['05', '06'], 'age'],
    ['nested dot path', { filter: { 'address.city': 'London' } }, ['01', '03'], 'address.city'],
    ['nested range on strings', { filter: { 'address.city': { $gte: 'M', $lt: 'P' } } }, ['02', '06'], 'address.city'],
    ['$exists true', { filter: { email: { $exists: true } } }, ['01', '03', '05'], undefined],
    ['$exists false on a nested path', { filter: { 'address.zip': { $exists: false } } }, ['02', '03', '04'], undefined],
    ['booleans', { filter: { member: false } }, ['02', '06'], undefined],
    ['an array member', { filter: { tags: 'math' } }, ['01', '03'], undefined],
    ['$and of an indexed and an unindexed condition', { filter: { $and: [{ age: { $lt: 40 } }, { member: true }] } }, ['01', '04'], 'age'],
    ['$or', { filter: { $or: [{ age: 64 }, { 'address.city': 'Paris' }] } }, ['05', '06'], undefined],
    ['implicit and: two indexes, the narrower wins', { filter: { age: { $gte: 17 }, 'address.city': 'Paris' } }, ['05'], 'address.city'],
    ['a range of another type matches nothing', { filter: { age: { $gt: 'a' } } }, [], 'age'],
    ['sort before limit', { sort: { age: -1 }, limit: 2 }, ['06', '03'], undefined],
    ['sort, then skip and limit; _id breaks ties', { sort: { age: 1 }, skip: 1, limit: 2 }, ['04', '05'], undefined],
    ['sort on a nested path (missing sorts first)', { filter: { age: { $lt: 40 } }, sort: { 'address.city': 1 } }, ['04', '01', '02', '05'], 'age'],
    ['seek by id, in the query order', { sort: { age: 1 }, seek: '05' }, ['05', '01', '03', '06'], undefined],
    ['seek, then limit', { seek: '03', limit: 2 }, ['03', '04'], undefined],
    ['seek to an id not in the results', { filter: { age: 17 }, seek: '01' }, [], 'age']
  ]

  it.each(table)('%s', (_what, query, ids, index) => {
    expect(find(query)).toEqual(ids)
    expect(find(query, scanState)).toEqual(ids)
    expect(candidatesOf(indexedState, query.filter ?? {}).plan.index).toBe(index)
  })

  it('the index narrows the candidates; the full filter still applies', () => {
    expect(candidatesOf(indexedState, { age: 17, name: 'Di' }).plan).toEqual({ index: 'age', candidates: 2, exact: false })
    expect(find({ filter: { age: 17, name: 'Di' } })).toEqual(['04'])
    expect(candidatesOf(scanState, { age: 17 }).plan).toEqual({ index: undefined, candidates: 6, exact: false })
    // One condition the index answers whole: mingo is not needed; anything more and it is.
    expect(candidatesOf(indexedState, { age: 17 }).plan.exact).toBe(true)
    expect(candidatesOf(indexedState, { age: { $gte: 17, $lt: 40 } }).plan.exact).toBe(true)
    expect(candidatesOf(indexedState, { age: { $gte: 17, $ne: 29 } }).plan.exact).toBe(false)
    expect(find({ filter: { age: { $gte: 17, $ne: 29 } } })).toEqual(['01', '02', '03', '04', '06'])
  })

  it('selectors are memoized: the same state and query give the same array; a change elsewhere keeps selectAll', () => {
    const query: DocumentQuery = { filter: { age: { $gte: 18 } }, sort: { name: 1 } }
    const root = { people: indexedState }
    const first = people.selectors.selectFind(root, query)
    expect(people.selectors.selectFind({ ...root }, query)).toBe(first)
    const all = people.selectors.selectAll(root)
    expect(people.selectors.selectAll({ people: { ...indexedState, count: 99 } })).toBe(all)
  })
})

describe('an index-backed query returns exactly what a full scan returns (property)', () => {
  type Loose = Record<string, unknown> & { _id: string }
  const lax = createCollection<Person>({ name: 'people', indexes: ['age', 'address.city', 'email'] })
  const scan = createCollection<Person>({ name: 'people' })
  const scalar = fc.oneof(fc.integer({ min: -3, max: 3 }), fc.constantFrom('', 'a', 'b', 'ab', 'B', 'é', '\u{1F600}'), fc.boolean())
  const value = fc.oneof({ weight: 6, arbitrary: scalar }, { weight: 1, arbitrary: fc.constant(null) }, { weight: 1, arbitrary: fc.array(scalar, { maxLength: 2 }) }, { weight: 1, arbitrary: fc.record({ n: scalar }) })
  // As documents arrive from events (dag-cbor decoding makes ordinary objects: mingo's `$in`
  // hashing fails on fast-check's null-prototype records).
  const plain = <T>(v: T): T => JSON.parse(JSON.stringify(v)) as T
  const doc = fc.record({ age: value, email: value, address: fc.oneof(fc.record({ city: value }), fc.constant(null), fc.array(fc.record({ city: scalar }), { maxLength: 2 })) }, { requiredKeys: [] }).map(plain)
  const op = fc.oneof(
    scalar,
    fc.record({ $eq: scalar }),
    fc.record({ $ne: scalar }),
    fc.record({ $in: fc.array(scalar, { maxLength: 3 }) }),
    fc.record({ $gt: scalar }),
    fc.record({ $gte: scalar }),
    fc.record({ $lt: scalar }),
    fc.record({ $lte: scalar }),
    fc.record({ $gt: scalar, $lte: scalar }),
    fc.record({ $exists: fc.boolean() })
  )
  const filter = fc.oneof(
    fc.record({ age: op }),
    fc.record({ email: op, age: op }),
    fc.record({ 'address.city': op }),
    fc.record({ $and: fc.tuple(fc.record({ age: op }), fc.record({ 'address.city': op })) })
  ).map(plain)
  // Writes: creates, then saves and deletes of earlier documents.
  const write = fc.oneof({ weight: 4, arbitrary: doc.map((d) => ({ kind: 'create' as const, d })) }, { weight: 1, arbitrary: fc.tuple(fc.nat(), doc).map(([i, d]) => ({ kind: 'save' as const, i, d })) }, { weight: 1, arbitrary: fc.nat().map((i) => ({ kind: 'delete' as const, i })) })

  it('for equality, $in and ranges of any type, over mixed-type, nested and array values, after saves and deletes', () => {
    fc.assert(
      fc.property(fc.array(write, { maxLength: 40 }), fc.array(filter, { minLength: 1, maxLength: 5 }), fc.option(fc.constantFrom<1 | -1>(1, -1)), fc.nat({ max: 3 }), (writes, filters, order, limit) => {
        const actions: UnknownAction[] = []
        const ids: string[] = []
        for (const [n, w] of writes.entries()) {
          if (w.kind === 'create') {
            const id = `d${String(n).padStart(3, '0')}`
            ids.push(id)
            actions.push(lax.actions.create({ ...(w.d as object), _id: id } as unknown as Person))
          } else if (ids.length > 0) {
            const id = ids[w.i % ids.length] as string
            if (w.kind === 'delete') actions.push(lax.actions.delete(id))
            else actions.push(lax.actions.save({ _id: id, patch: { email: (w.d as Loose).email ?? null, age: (w.d as Loose).age ?? null } as never }))
          }
        }
        const safe = (r: typeof lax.fold) => (s: CollectionState<Person> | undefined, a: UnknownAction) => {
          try {
            return r(s as never, a) as CollectionState<Person>
          } catch {
            return s as CollectionState<Person>
          }
        }
        const withIndex = foldAll(safe(lax.fold), actions)
        const without = foldAll(safe(scan.fold), actions)
        for (const f of filters) {
          const query: DocumentQuery = { filter: f, ...(order === null ? {} : { sort: { age: order } }), ...(limit === 0 ? {} : { limit }) }
          expect(lax.selectors.selectFind({ people: withIndex }, query)).toEqual(scan.selectors.selectFind({ people: without }, query))
        }
      }),
      { numRuns: 300 }
    )
  })
})
