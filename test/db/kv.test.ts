/**
 * The key-value store (paper section 5.3, Example 10): put, get, del as a thread slice; the last
 * write in the total order wins with concurrent writers and late delivery; deletion leaves a
 * tombstone with the deleting event's stamp; the validation hook refuses a local command and
 * makes every peer skip a peer's event alike; keyed stores back many threads.
 */
import { configureStore } from '@reduxjs/toolkit'
import { describe, expect, it } from 'vitest'
import { memoryStorage } from '../../adapters/storage/memory.js'
import { compareOrder } from '../../src/engine/threadEvent.js'
import { createPeer } from '../../src/redux/createPeer.js'
import { engineOf } from '../../src/redux/threadHandle.js'
import { PAGE_MAX_ENTRIES } from '../../src/db/crdt/index.js'
import { createKeyValueStore } from '../../src/db/kv/index.js'
import { closeAll, deliver, exchangeAll, issue, kv, makeDbGroup, type DbPeer } from './support.js'

const kvOf = (p: DbPeer) => p.store.getState()

describe('createKeyValueStore', () => {
  it('puts, gets, deletes and lists keys through a peer', async () => {
    const [a] = (await makeDbGroup(1)) as [DbPeer]
    try {
      const event = await a.store.dispatch(kv.actions.put({ key: 'b', value: 2 })).unwrap()
      a.store.dispatch(kv.actions.put({ key: 'a', value: 'one' }))
      expect(kv.selectors.get(kvOf(a), 'a')).toBe('one')
      expect(kv.selectors.has(kvOf(a), 'b')).toBe(true)
      expect(kv.selectors.keys(kvOf(a))).toEqual(['a', 'b'])
      expect(kv.selectors.entries(kvOf(a))).toEqual([['a', 'one'], ['b', 2]])
      expect(kv.selectors.entry(kvOf(a), 'b')).toEqual({ value: 2, by: { clock: event.clock, logId: a.id, seq: event.seq } })
      const del = await a.store.dispatch(kv.actions.del('b')).unwrap()
      expect(kv.selectors.get(kvOf(a), 'b')).toBeUndefined()
      expect(kv.selectors.has(kvOf(a), 'b')).toBe(false)
      expect(kv.selectors.keys(kvOf(a))).toEqual(['a'])
      // The tombstone keeps the deleting event's stamp.
      expect(kv.selectors.entry(kvOf(a), 'b')).toEqual({ deleted: true, by: { clock: del.clock, logId: a.id, seq: del.seq } })
      // A later put writes the key again.
      a.store.dispatch(kv.actions.put({ key: 'b', value: 3 }))
      expect(kv.selectors.get(kvOf(a), 'b')).toBe(3)
      // Deleting a key that holds nothing changes nothing.
      const before = kvOf(a).kv
      a.store.dispatch(kv.actions.del('never'))
      expect(kvOf(a).kv).toBe(before)
      // Keys that are Object.prototype's names are ordinary keys.
      a.store.dispatch(kv.actions.put({ key: 'constructor', value: 1 }))
      expect(kv.selectors.get(kvOf(a), 'toString')).toBeUndefined()
      expect(kv.selectors.get(kvOf(a), 'constructor')).toBe(1)
    } finally {
      await closeAll([a])
    }
  })

  it('memoizes keys and entries until the store changes', async () => {
    const [a] = (await makeDbGroup(1)) as [DbPeer]
    try {
      a.store.dispatch(kv.actions.put({ key: 'x', value: 1 }))
      const keys = kv.selectors.keys(kvOf(a))
      const entries = kv.selectors.entries(kvOf(a))
      expect(kv.selectors.keys(kvOf(a))).toBe(keys)
      expect(kv.selectors.entries(kvOf(a))).toBe(entries)
      a.store.dispatch(kv.actions.put({ key: 'y', value: 1 }))
      expect(kv.selectors.keys(kvOf(a))).not.toBe(keys)
    } finally {
      await closeAll([a])
    }
  })

  it('refuses `__proto__` and a non-string key: nothing is signed or stored', async () => {
    const [a] = (await makeDbGroup(1)) as [DbPeer]
    try {
      expect(() => a.store.dispatch(kv.actions.put({ key: '__proto__', value: 1 }))).toThrow(expect.objectContaining({ name: 'InvalidOperationError' }))
      expect(() => a.store.dispatch(kv.actions.put({ key: 7 as unknown as string, value: 1 }))).toThrow(/string key/)
      expect(() => a.store.dispatch(kv.actions.del('__proto__'))).toThrow(/__proto__/)
      expect(a.events).toHaveLength(0)
      expect(kv.selectors.keys(kvOf(a))).toEqual([])
    } finally {
      await closeAll([a])
    }
  })

  it('concurrent writers of one key: the write last in the total order wins on every peer, whatever the delivery', async () => {
    const peers = await makeDbGroup(3)
    try {
      const written = peers.map((p, i) => ({ meta: issue(p, kv.actions.put({ key: 'k', value: `w${i}` })), value: `w${i}` }))
      // Each peer sees its own write first; then the others arrive, in reverse order.
      for (const [i, p] of peers.entries()) expect(kv.selectors.get(kvOf(p), 'k')).toBe(`w${i}`)
      for (const to of peers) for (const from of [...peers].reverse()) if (from !== to) await deliver(from, to)
      const winner = [...written].sort((x, y) => compareOrder(x.meta, y.meta)).at(-1)
      for (const p of peers) {
        expect(kv.selectors.get(kvOf(p), 'k')).toBe(winner?.value)
        expect(kvOf(p).kv).toEqual(kvOf(peers[0] as DbPeer).kv)
      }
    } finally {
      await closeAll(peers)
    }
  })

  it('a late write that sorts first loses to one that sorts after it, even though it arrives last', async () => {
    const [a, b] = (await makeDbGroup(2)) as [DbPeer, DbPeer]
    try {
      // a writes early (clock 1) but its record reaches b only after b wrote three times.
      const early = issue(a, kv.actions.put({ key: 'k', value: 'a-early' }))
      for (let i = 0; i < 3; i++) issue(b, kv.actions.put({ key: 'k', value: `b${i}` }))
      await deliver(a, b)
      await deliver(b, a)
      expect(early.clock).toBe(1)
      for (const p of [a, b]) expect(kv.selectors.get(kvOf(p), 'k')).toBe('b2')
      // A delete that sorts after every write wins; a put after it brings the key back.
      await b.store.dispatch(kv.actions.del('k')).unwrap()
      await deliver(b, a)
      expect(kv.selectors.has(kvOf(a), 'k')).toBe(false)
      issue(a, kv.actions.put({ key: 'k', value: 'again' }))
      await deliver(a, b)
      for (const p of [a, b]) expect(kv.selectors.get(kvOf(p), 'k')).toBe('again')
    } finally {
      await closeAll([a, b])
    }
  })

  it('a delete concurrent with a put: the later in the total order wins on both peers', async () => {
    const [a, b] = (await makeDbGroup(2)) as [DbPeer, DbPeer]
    try {
      issue(a, kv.actions.put({ key: 'k', value: 1 }))
      await deliver(a, b)
      const del = issue(a, kv.actions.del('k'))
      const put = issue(b, kv.actions.put({ key: 'k', value: 2 }))
      await exchangeAll([a, b])
      const expected = compareOrder(del, put) > 0 ? undefined : 2
      for (const p of [a, b]) expect(kv.selectors.get(kvOf(p), 'k')).toBe(expected)
      expect(kvOf(a).kv).toEqual(kvOf(b).kv)
    } finally {
      await closeAll([a, b])
    }
  })
})

describe('createKeyValueStore: state in sorted pages', () => {
  it('keeps rows sorted by key in pages of at most 256; selectors see every key, sorted', () => {
    const store = createKeyValueStore({ name: 'big' })
    const at = (n: number) => ({ meta: { event: { clock: n, logId: 'a', seq: n, local: true } } })
    let s = store.initialThreadState()
    for (let i = 0; i < 2000; i++) s = store.fold(s, { ...store.actions.put({ key: `k${i}`, value: i }), ...at(i + 1) })
    s = store.fold(s, { ...store.actions.del('k7'), ...at(5000) })
    const root = { big: s }
    const pages = s.pages ?? []
    expect(pages.every((p) => p.length > 0 && p.length <= PAGE_MAX_ENTRIES)).toBe(true)
    expect(pages.flat().map((r) => r.key)).toEqual(Array.from({ length: 2000 }, (_, i) => `k${i}`).sort())
    expect(store.selectors.keys(root)).toHaveLength(1999)
    expect(store.selectors.keys(root)).toEqual(Array.from({ length: 2000 }, (_, i) => `k${i}`).filter((k) => k !== 'k7').sort())
    expect(store.selectors.get(root, 'k1234')).toBe(1234)
    expect(store.selectors.entry(root, 'k7')).toEqual({ deleted: true, by: { clock: 5000, logId: 'a', seq: 5000 } })
    expect(pages.flat().find((r) => r.key === 'k1234')?.entry).toEqual({ value: 1234, by: { clock: 1235, logId: 'a', seq: 1235 } })
  })
})

describe('createKeyValueStore: validation and keyed stores', () => {
  interface Contact {
    name: string
  }
  const isContact = (v: unknown): v is Contact => typeof v === 'object' && v !== null && typeof (v as Contact).name === 'string'

  it('the validation hook refuses a local put, and every peer skips a peer put it refuses, as a ReducerError', async () => {
    const strict = createKeyValueStore({ name: 'contacts', validate: isContact })
    // A peer with an older, looser version of the slice writes what the strict one refuses.
    const loose = createKeyValueStore<unknown>({ name: 'contacts' })
    const pa = createPeer({ storage: memoryStorage() })
    const pb = createPeer({ storage: memoryStorage() })
    const sa = configureStore({ reducer: { [pa.reducerPath]: pa.reducer, contacts: strict.reducer }, middleware: (d) => d().concat(pa.middleware) })
    const sb = configureStore({ reducer: { [pb.reducerPath]: pb.reducer, contacts: loose.reducer }, middleware: (d) => d().concat(pb.middleware) })
    try {
      const { threadId } = await sa.dispatch(pa.thunks.createThread({ slices: [strict] })).unwrap()
      const ta = pa.thread(threadId)
      if (ta === undefined) throw new Error('no thread')
      await sb.dispatch(pb.thunks.openThread({ threadId, slices: [loose], key: ta.key })).unwrap()
      const tb = pb.thread(threadId)
      if (tb === undefined || pb.id === undefined) throw new Error('no thread')
      expect(() => sa.dispatch(strict.actions.put({ key: 'x', value: { nom: 'X' } as unknown as Contact }))).toThrow(/`validate` refused the value put at key `x`/)
      await sa.dispatch(strict.actions.put({ key: 'ada', value: { name: 'Ada' } })).unwrap()
      await sb.dispatch(loose.actions.put({ key: 'bad', value: 42 })).unwrap()
      await sb.dispatch(loose.actions.put({ key: 'bob', value: { name: 'Bob' } })).unwrap()
      const reported: Array<{ name: string; seq?: number; cause?: unknown }> = []
      engineOf(ta).events.on('rejected', (e) => reported.push(e))
      const blocks = (await tb.recordsSince(new Map())).find((l) => l.logId === pb.id)?.blocks ?? []
      // Delivered backwards: the refused put is folded in order all the same, and skipped.
      for (const block of [...blocks].reverse()) expect((await ta.ingest(pb.id, [block])).rejected).toEqual([])
      expect(strict.selectors.keys(sa.getState())).toEqual(['ada', 'bob'])
      expect(reported).toMatchObject([{ name: 'ReducerError', seq: 1, cause: { name: 'InvalidOperationError' } }])
      await pa.idle()
      expect(pa.selectors.selectThreadStatus(sa.getState(), threadId)?.lastError).toMatchObject({ name: 'ReducerError' })
    } finally {
      await pa.close()
      await pb.close()
    }
  })

  it('a keyed store backs one store per thread', async () => {
    const rooms = createKeyValueStore({ name: 'rooms', keyed: true })
    const peer = createPeer({ storage: memoryStorage() })
    const store = configureStore({ reducer: { [peer.reducerPath]: peer.reducer, rooms: rooms.reducer }, middleware: (d) => d().concat(peer.middleware) })
    try {
      const one = await store.dispatch(peer.thunks.createThread({ slices: [rooms] })).unwrap()
      const two = await store.dispatch(peer.thunks.createThread({ slices: [rooms] })).unwrap()
      const r1 = rooms.forThread(one.threadId)
      const r2 = rooms.forThread(two.threadId)
      await store.dispatch(r1.actions.put({ key: 'topic', value: 'cats' })).unwrap()
      await store.dispatch(r2.actions.put({ key: 'topic', value: 'dogs' })).unwrap()
      store.dispatch(r2.actions.del('topic'))
      expect(r1.selectors.get(store.getState(), 'topic')).toBe('cats')
      expect(r2.selectors.has(store.getState(), 'topic')).toBe(false)
      expect(r1.selectors.keys(store.getState())).toEqual(['topic'])
    } finally {
      await peer.close()
    }
  })
})
