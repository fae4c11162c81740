/**
 * Document collections (issue 11): documents created per second through the whole pipeline
 * (against plain thread-slice commands of the same size, same run) and through the reducer alone
 * at 10,000 and 100,000 documents (against a naive layout: one record of all documents and a
 * sorted index array, written through Immer's draft); an equality and a range query over 10,000
 * and 100,000 documents with and without an index (Textile reports about 10× from an index on
 * 5,000); and the bytes of a one-field save against the whole document.
 */
import { configureStore, createSlice, type PayloadAction, type UnknownAction } from '@reduxjs/toolkit'
import { encodeCommand } from '../src/core/command.js'
import { createCollection, type CollectionState } from '../src/db/index.js'
import { runQuery, type DocumentQuery } from '../src/db/docs/query.js'
import { createPeer, createThreadSlice } from '../src/index.js'
import { engineOf } from '../src/redux/threadHandle.js'
import { memoryStorage } from '../src/store/memory/memoryStorage.js'
import { once, sig, target, time, type Bench, type Reporter } from './harness.js'

interface Item {
  _id: string
  name: string
  age: number
  city: string
  active: boolean
}

const schema = {
  type: 'object',
  required: ['_id', 'name', 'age', 'city', 'active'],
  properties: { _id: { type: 'string' }, name: { type: 'string' }, age: { type: 'integer', minimum: 0 }, city: { type: 'string' }, active: { type: 'boolean' } }
}
const indexed = createCollection<Item>({ name: 'items', schema, indexes: ['age', 'city'] })
const plain = createCollection<Item>({ name: 'items', schema })
const CITIES = ['Oslo', 'Paris', 'Lima', 'Kyoto', 'Accra', 'Quito', 'Perth', 'Tunis', 'Hanoi', 'Sofia']

function item(i: number): Item {
  return { _id: `d${String(i).padStart(7, '0')}`, name: `person ${i}`, age: (i * 7919) % 100, city: CITIES[i % CITIES.length] as string, active: i % 3 === 0 }
}

type Fold = (s: CollectionState<Item> | undefined, a: UnknownAction) => CollectionState<Item>

function build(collection: typeof indexed, n: number): CollectionState<Item> {
  const fold = collection.fold as Fold
  let s = fold(undefined, { type: '@@init' })
  for (let i = 0; i < n; i++) s = fold(s, collection.actions.create(item(i)))
  return s
}

const states = once(async () => {
  const out = new Map<string, CollectionState<Item>>()
  for (const n of [10_000, 100_000]) {
    out.set(`indexed${n}`, build(indexed, n))
    out.set(`plain${n}`, build(plain, n))
  }
  return out
})

/** The naive layout: all documents in one record and a sorted `[age, id]` array, through Immer. */
const naive = createSlice({
  name: 'naive',
  initialState: { docs: {} as Record<string, Item>, byAge: [] as Array<[number, string]> },
  reducers: {
    create(state, action: PayloadAction<Item>) {
      const d = action.payload
      state.docs[d._id] = d
      let lo = 0
      let hi = state.byAge.length
      while (lo < hi) {
        const mid = (lo + hi) >>> 1
        const e = state.byAge[mid] as [number, string]
        if (e[0] < d.age || (e[0] === d.age && e[1] < d._id)) lo = mid + 1
        else hi = mid
      }
      state.byAge.splice(lo, 0, [d.age, d._id])
    }
  }
})

async function pipelineFigure(r: Reporter): Promise<void> {
  const N = 2_000
  // The limit: commands of a thread slice carrying the same payload whose reducer only counts
  // (the pipeline's cost for that payload: encode, sign, encrypt, store), same run.
  const list = createThreadSlice({ name: 'list', initialState: { n: 0 }, reducers: { pushed: (state, _a: PayloadAction<Item>) => void state.n++ } })
  const rate = async (kind: 'docs' | 'list'): Promise<number> => {
    const timing = await time(
      {
        n: N,
        runs: 3,
        setup: async () => {
          const peer = createPeer({ storage: memoryStorage(), snapshotEvery: 0 })
          const store = configureStore({ reducer: { [peer.reducerPath]: peer.reducer, items: indexed.reducer, list: list.reducer }, middleware: (g) => g({ serializableCheck: false, immutableCheck: false }).concat(peer.middleware) })
          await store.dispatch(peer.thunks.createThread({ slices: [indexed, list] })).unwrap()
          return { store, peer }
        }
      },
      async ({ store, peer }) => {
        for (let i = 0; i < N; i++) {
          const doc = item(i)
          store.dispatch(kind === 'docs' ? indexed.actions.create({ name: doc.name, age: doc.age, city: doc.city, active: doc.active }) : list.actions.pushed(doc))
        }
        await peer.idle()
        await peer.close()
      }
    )
    return timing.opsPerSec
  }
  const docs = await rate('docs')
  const cmds = await rate('list')
  r.emit({
    bench: 'db.create.pipeline',
    unit: 'documents/s',
    value: Math.round(docs),
    limit: { name: 'commands of a counting thread slice with the same payload (the pipeline alone), same run', value: Math.round(cmds) },
    ratio: sig(docs / cmds, 3),
    n: N,
    note: `${N} creates dispatched into a fresh peer (memory storage, two indexes, schema validated), until durable; ULID made in prepare; median of 3`
  })
}

async function foldFigure(r: Reporter): Promise<void> {
  const all = await states()
  const W = 2_000
  for (const n of [10_000, 100_000]) {
    const base = all.get(`indexed${n}`) as CollectionState<Item>
    const fold = indexed.fold as Fold
    const timing = await time({ n: W, runs: 5 }, () => {
      let s = base
      for (let i = 0; i < W; i++) s = fold(s, indexed.actions.create(item(n + i)))
    })
    // The naive layout at the same size (fewer writes: it is O(n) each).
    // Built directly (building it write by write is O(n²)); the first write freezes it.
    const docs: Record<string, Item> = {}
    const byAge: Array<[number, string]> = []
    for (let i = 0; i < n; i++) {
      const d = item(i)
      docs[d._id] = d
      byAge.push([d.age, d._id])
    }
    byAge.sort((a, b) => a[0] - b[0] || (a[1] < b[1] ? -1 : 1))
    const ns = naive.reducer({ docs, byAge }, naive.actions.create(item(n + W)))
    const NW = n >= 100_000 ? 20 : 200
    const naiveTiming = await time({ n: NW, runs: 3 }, () => {
      let s = ns
      for (let i = 0; i < NW; i++) s = naive.reducer(s, naive.actions.create(item(n + i)))
    })
    r.emit({
      bench: `db.create.fold.${n / 1000}k`,
      unit: 'µs/write',
      value: sig(1e6 / timing.opsPerSec, 3),
      limit: { name: 'naive layout (one record of n documents, a sorted index array) through Immer', value: sig(1e6 / naiveTiming.opsPerSec, 3) },
      ratio: sig(naiveTiming.opsPerSec / timing.opsPerSec, 3),
      n: W,
      documents: n,
      note: 'the reducer alone (what the engine folds): schema validation, the JSON check, the paged document map, two paged indexes, freezing what it made; ratio < 1: faster than the naive layout; the heap holds four built collections (2 × 10k, 2 × 100k documents) meanwhile'
    })
  }
}

async function queryFigure(r: Reporter): Promise<void> {
  const all = await states()
  const queries: Array<[string, () => DocumentQuery]> = [
    ['eq', () => ({ filter: { age: 42 } })],
    ['range', () => ({ filter: { age: { $gte: 10, $lt: 15 } } })]
  ]
  for (const n of [10_000, 100_000]) {
    for (const [name, make] of queries) {
      const withIndex = all.get(`indexed${n}`) as CollectionState<Item>
      const without = all.get(`plain${n}`) as CollectionState<Item>
      const expected = runQuery(without, make()).length
      if (runQuery(withIndex, make()).length !== expected) throw new Error(`db bench: ${name} query differs with the index`)
      const Q = n === 10_000 ? 20 : 5
      const slow = await time({ n: Q, runs: 3 }, () => {
        for (let i = 0; i < Q; i++) runQuery(without, make())
      })
      const QI = Q * 20
      const fast = await time({ n: QI, runs: 5 }, () => {
        for (let i = 0; i < QI; i++) runQuery(withIndex, make())
      })
      const speedup = sig(fast.opsPerSec / slow.opsPerSec, 3)
      r.emit({
        bench: `db.query.${name}.${n / 1000}k`,
        unit: 'queries/s',
        value: Math.round(fast.opsPerSec),
        limit: { name: 'the same query without an index (mingo over every document)', value: sig(slow.opsPerSec, 3) },
        ratio: speedup,
        target: target('>= 10x from the index (Textile: ~10x on 5,000 documents)', 'min', 10, speedup, 'ratio'),
        ms_with_index: sig(1000 / fast.opsPerSec, 3),
        ms_without: sig(1000 / slow.opsPerSec, 3),
        documents: n,
        results: expected,
        note: `${name === 'eq' ? 'age = 42' : '10 <= age < 15'} over ${n} documents, results in _id order; a new query object each time (no memo)`
      })
    }
  }
}

async function bytesFigure(r: Reporter): Promise<void> {
  const peer = createPeer({ storage: memoryStorage(), snapshotEvery: 0 })
  const store = configureStore({ reducer: { [peer.reducerPath]: peer.reducer, items: indexed.reducer }, middleware: (g) => g().concat(peer.middleware) })
  const { threadId } = await store.dispatch(peer.thunks.createThread({ slices: [indexed] })).unwrap()
  const whole: Item & { bio: string } = { ...item(1), bio: 'x'.repeat(400) }
  const loose = createCollection<Item & { bio: string }>({ name: 'items', schema })
  const created = store.dispatch(loose.actions.create(whole))
  const doc = { ...created.payload, age: created.payload.age + 1 }
  const saved = store.dispatch(loose.save(doc)) as unknown as UnknownAction & { unwrap(): Promise<unknown> }
  await saved.unwrap()
  const engine = engineOf(peer.thread(threadId) as NonNullable<ReturnType<typeof peer.thread>>)
  const logs = await peer.thread(threadId)?.recordsSince(new Map([[engine.logKey?.id as string, 0]]))
  const blocks = logs?.[0]?.blocks ?? []
  const size = (i: number): number => {
    const b = blocks[i]
    return b === undefined ? 0 : b.record.length + b.event.length + b.header.length + b.body.length
  }
  const saveCommand = encodeCommand({ type: 'items/save', payload: (saved as unknown as { payload: unknown }).payload })
  const wholeCommand = encodeCommand({ type: 'items/save', payload: { _id: doc._id, patch: doc } })
  r.emit({
    bench: 'db.save.bytes',
    unit: 'bytes',
    value: saveCommand.length,
    limit: { name: 'the whole document as the patch', value: wholeCommand.length },
    ratio: sig(saveCommand.length / wholeCommand.length, 3),
    record_bytes_save: size(1),
    record_bytes_create: size(0),
    note: `command body of a one-field save (an RFC 7386 merge patch) of a ${JSON.stringify(doc).length}-character document, against sending the whole document; record_bytes: the four blocks on the wire (body padded to its bucket)`
  })
  await peer.close()
}

export const dbBenches: Bench[] = [
  { name: 'db.create.pipeline', run: pipelineFigure },
  { name: 'db.create.fold', run: foldFigure },
  { name: 'db.query', run: queryFigure },
  { name: 'db.save.bytes', run: bytesFigure }
]
