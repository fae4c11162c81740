import * as dagCbor from '@ipld/dag-cbor'
import type { CID } from 'multiformats/cid'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { levelStorage } from '../../../adapters/storage/level.js'
import { memoryStorage } from '../../../adapters/storage/memory.js'
import { InvalidKeyError, NotFoundError } from '../../../src/core/errors.js'
import { createThreadKey, followKey, generateLogKey } from '../../../src/core/keys.js'
import { signatureHolds, type LogRecord } from '../../../src/core/record.js'
import { ThreadId, Variant } from '../../../src/core/threadId.js'
import { EventStore } from '../../../src/store/eventStore.js'
import { Logstore } from '../../../src/store/logstore/logstore.js'
import type { StorageAdapter } from '../../../src/store/storageAdapter.js'
import { keys } from '../../../src/store/storageKeys.js'
import { HOUR, caught, entries, headOf, makeRecords, tempDirs } from './storeHelpers.js'

const dirs = tempDirs()
afterEach(() => dirs.cleanup())

/** Run `fn` over a LevelDB storage in a temp dir, closing it afterwards; returns the dir. */
async function withLevel<T>(dir: string, fn: (storage: StorageAdapter) => Promise<T>): Promise<T> {
  const storage = levelStorage(dir)
  try {
    return await fn(storage)
  } finally {
    await storage.close()
  }
}

function expectName(e: unknown, name: string): void {
  expect(e).toBeInstanceOf(Error)
  expect((e as Error).name).toBe(name)
}

describe('Logstore threads', () => {
  let storage: StorageAdapter
  let ls: Logstore

  beforeEach(async () => {
    storage = memoryStorage()
    ls = await Logstore.open(storage)
  })

  it('adds threads and finds them by ID or ID string', async () => {
    const id1 = ThreadId.create()
    const id2 = ThreadId.create(Variant.AccessControlled)
    const k1 = createThreadKey()
    const k2 = createThreadKey()
    const t1 = await ls.addThread(id1, k1)
    const t2 = await ls.addThread(id2, k2)
    expect(t1.id.toString()).toBe(id1.toString())
    expect(t1.key.service).toEqual(k1.service)
    expect(t1.key.read).toEqual(k1.read)
    expect(t1.n).not.toBe(t2.n)
    expect(ls.getThread(id1)).toBe(t1)
    expect(ls.getThread(id2.toString())).toBe(t2)
    expect(ls.thread(id2)).toBe(t2)
    expect(ls.threads().map((t) => t.id.toString()).sort()).toEqual([id1.toString(), id2.toString()].sort())
    expect(ls.logs(id1)).toEqual([])
    expect(ls.heads(id1).size).toBe(0)
  })

  it('reports an unknown thread as NotFoundError (by .name), and answers lookups with nothing', async () => {
    const unknown = ThreadId.create()
    expectName(await caught(() => ls.getThread(unknown)), 'NotFoundError')
    expect(await caught(() => ls.getThread(unknown.toString()))).toBeInstanceOf(NotFoundError)
    expectName(await caught(() => ls.addLog(unknown, generateLogKey().id)), 'NotFoundError')
    expectName(await caught(() => ls.deleteThread(unknown)), 'NotFoundError')
    expect(ls.thread(unknown)).toBeUndefined()
    expect(ls.logs(unknown)).toEqual([])
    expect(ls.heads(unknown).size).toBe(0)
    expect(ls.head(unknown, generateLogKey().id)).toBeUndefined()
    expect(ls.ownLog(unknown)).toBeUndefined()
  })

  it('gives a follower that is later given the full key the read key, keeping its service key and number', async () => {
    const id = ThreadId.create()
    const key = createThreadKey()
    const followed = await ls.addThread(id, followKey(key))
    expect(followed.key.read).toBeUndefined()
    const upgraded = await ls.addThread(id, key)
    expect(upgraded.n).toBe(followed.n)
    expect(upgraded.key.service).toEqual(key.service)
    expect(upgraded.key.read).toEqual(key.read)
    // Being given the follow key again does not take the read key away.
    const again = await ls.addThread(id, followKey(key))
    expect(again.key.read).toEqual(key.read)
    expect(ls.threads()).toHaveLength(1)
    const reopened = await Logstore.open(storage)
    expect(reopened.getThread(id).key.read).toEqual(key.read)
    expect(reopened.getThread(id).n).toBe(followed.n)
  })

  it('refuses a key with a different service key (InvalidKeyError) and keeps the one it holds', async () => {
    const id = ThreadId.create()
    const key = createThreadKey()
    await ls.addThread(id, followKey(key))
    const e = await caught(() => ls.addThread(id, createThreadKey()))
    expect(e).toBeInstanceOf(InvalidKeyError)
    expectName(e, 'InvalidKeyError')
    expect((e as InvalidKeyError).threadId).toBe(id.toString())
    expect(ls.getThread(id).key.service).toEqual(key.service)
    expect(ls.getThread(id).key.read).toBeUndefined()
    const reopened = await Logstore.open(storage)
    expect(reopened.getThread(id).key.service).toEqual(key.service)
    expect(reopened.getThread(id).key.read).toBeUndefined()
  })

  it('keeps thread keys, numbers and variants across a reopen of LevelDB', async () => {
    const dir = await dirs.make()
    const full = { id: ThreadId.create(Variant.AccessControlled), key: createThreadKey() }
    const follow = { id: ThreadId.create(), key: createThreadKey() }
    const before = await withLevel(dir, async (s) => {
      const l = await Logstore.open(s)
      return [await l.addThread(full.id, full.key), await l.addThread(follow.id, followKey(follow.key))]
    })
    await withLevel(dir, async (s) => {
      const l = await Logstore.open(s)
      expect(l.threads()).toHaveLength(2)
      const a = l.getThread(full.id)
      expect(a.n).toBe(before[0]?.n)
      expect(a.id.equals(full.id)).toBe(true)
      expect(a.id.variant).toBe(Variant.AccessControlled)
      expect(a.key.service).toEqual(full.key.service)
      expect(a.key.read).toEqual(full.key.read)
      const b = l.getThread(follow.id)
      expect(b.n).toBe(before[1]?.n)
      expect(b.key.service).toEqual(follow.key.service)
      expect(b.key.read).toBeUndefined()
      // Numbers keep counting after a reopen: a new thread never reuses one.
      const c = await l.addThread(ThreadId.create(), createThreadKey())
      expect([a.n, b.n]).not.toContain(c.n)
    })
  })

  it('gives threads added at the same time distinct numbers that survive a reopen', async () => {
    const ids = Array.from({ length: 20 }, () => ThreadId.create())
    const infos = await Promise.all(ids.map((id) => ls.addThread(id, createThreadKey())))
    expect(new Set(infos.map((t) => t.n)).size).toBe(20)
    const reopened = await Logstore.open(storage)
    for (const info of infos) expect(reopened.getThread(info.id).n).toBe(info.n)
    const next = await reopened.addThread(ThreadId.create(), createThreadKey())
    expect(infos.map((t) => t.n)).not.toContain(next.n)
  })
})

describe('Logstore logs', () => {
  it('interns log IDs to numbers that are idempotent, distinct, and stable across a reopen', async () => {
    const dir = await dirs.make()
    const id = ThreadId.create()
    const otherId = ThreadId.create()
    const logIds = [generateLogKey().id, generateLogKey().id, generateLogKey().id]
    const before = await withLevel(dir, async (s) => {
      const l = await Logstore.open(s)
      await l.addThread(id, createThreadKey())
      await l.addThread(otherId, createThreadKey())
      const infos = await Promise.all(logIds.map((log) => l.addLog(id, log)))
      // Adding again returns the same entry, with the same number.
      for (const info of infos) expect(await l.addLog(id, info.id)).toEqual(info)
      // The same log ID in another thread is another log.
      const elsewhere = await l.addLog(otherId, logIds[0] as string)
      expect(infos.map((i) => i.n)).not.toContain(elsewhere.n)
      expect(new Set(infos.map((i) => i.n)).size).toBe(3)
      expect(l.logs(id).map((i) => i.id).sort()).toEqual([...logIds].sort())
      expect(l.logs(otherId).map((i) => i.id)).toEqual([logIds[0]])
      return infos
    })
    await withLevel(dir, async (s) => {
      const l = await Logstore.open(s)
      for (const info of before) {
        expect(l.log(id, info.id)).toEqual({ id: info.id, n: info.n })
        expect(await l.addLog(id, info.id)).toEqual({ id: info.id, n: info.n })
      }
      expect(l.logs(otherId)).toHaveLength(1)
      const fresh = await l.addLog(id, generateLogKey().id)
      expect([...before.map((i) => i.n), l.logs(otherId)[0]?.n]).not.toContain(fresh.n)
      expect(l.ownLog(id)).toBeUndefined()
    })
  })

  it('keeps its own log key (same ID and seed, still signing) across a reopen of LevelDB', async () => {
    const dir = await dirs.make()
    const id = ThreadId.create()
    const threadKey = createThreadKey()
    const own = generateLogKey()
    const peerLog = generateLogKey().id
    const before = await withLevel(dir, async (s) => {
      const l = await Logstore.open(s)
      await l.addThread(id, threadKey)
      await l.addLog(id, peerLog)
      const info = await l.addLog(id, own.id, own)
      expect(l.ownLog(id)?.id).toBe(own.id)
      return info
    })
    await withLevel(dir, async (s) => {
      const l = await Logstore.open(s)
      const mine = l.ownLog(id)
      expect(mine).toBeDefined()
      expect(mine?.id).toBe(own.id)
      expect(mine?.n).toBe(before.n)
      expect(mine?.key.seed).toEqual(own.seed)
      expect(mine?.key.publicKey).toEqual(own.publicKey)
      expect(l.log(id, peerLog)?.key).toBeUndefined()
      // The reloaded key still makes records that verify as this log's.
      const [r] = makeRecords(id, mine!.key, threadKey, 1)
      expect(r?.logId).toBe(own.id)
      expect(signatureHolds(id, r!)).toBe(true)
    })
  })

  it('gives a log first known without its key the key later, keeping its number', async () => {
    const storage = memoryStorage()
    const l = await Logstore.open(storage)
    const id = ThreadId.create()
    await l.addThread(id, createThreadKey())
    const key = generateLogKey()
    const plain = await l.addLog(id, key.id)
    const keyed = await l.addLog(id, key.id, key)
    expect(keyed.n).toBe(plain.n)
    expect(keyed.key?.id).toBe(key.id)
    // Adding it again without the key does not forget the key.
    expect((await l.addLog(id, key.id)).key?.id).toBe(key.id)
    const reopened = await Logstore.open(storage)
    expect(reopened.ownLog(id)?.n).toBe(plain.n)
    expect(reopened.ownLog(id)?.key.seed).toEqual(key.seed)
  })
})

describe('Logstore heads', () => {
  it('keeps the head of every log across a reopen of LevelDB after appends', async () => {
    const dir = await dirs.make()
    const id = ThreadId.create()
    const threadKey = createThreadKey()
    const own = generateLogKey()
    const peer = generateLogKey()
    const mine = makeRecords(id, own, threadKey, 5)
    const theirs = makeRecords(id, peer, threadKey, 3)
    await withLevel(dir, async (s) => {
      const store = new EventStore(await Logstore.open(s))
      await store.logstore.addThread(id, threadKey)
      await store.logstore.addLog(id, own.id, own)
      await store.logstore.addLog(id, peer.id)
      await store.append(id, mine.slice(0, 2))
      await store.append(id, [...mine.slice(2), ...theirs])
      expect(store.logstore.head(id, own.id)).toEqual(headOf(mine[4]!))
    })
    await withLevel(dir, async (s) => {
      const l = await Logstore.open(s)
      const heads = l.heads(id)
      expect(heads.size).toBe(2)
      expect(heads.get(own.id)?.seq).toBe(5)
      // Heads name their records by identity, not by record block CID.
      expect(heads.get(own.id)?.id.equals(mine[4]!.id)).toBe(true)
      expect(heads.get(own.id)).toEqual(headOf(mine[4]!))
      expect(heads.get(peer.id)?.seq).toBe(3)
      expect(l.head(id, peer.id)?.id.equals(theirs[2]!.id)).toBe(true)
      expect(l.thread(id)?.damage).toBeUndefined()
      // heads() is a copy: changing it changes nothing in the store.
      heads.clear()
      expect(l.heads(id).size).toBe(2)
    })
  })

  it('opens a store whose head names a log it does not list, reporting CorruptStoreError as damage of the thread', async () => {
    const storage = memoryStorage()
    const l = await Logstore.open(storage)
    const id = ThreadId.create()
    const t = await l.addThread(id, createThreadKey())
    const [r] = makeRecords(id, generateLogKey(), createThreadKey(), 1)
    await storage.batch([l.advanceHead(t, { id: 'nobody', n: 'zz' }, headOf(r!))])
    const reopened = await Logstore.open(storage)
    const damage = reopened.getThread(id).damage
    expect(damage).toHaveLength(1)
    expectName(damage![0], 'CorruptStoreError')
    expect(damage![0]!.threadId).toBe(id.toString())
    expect(reopened.heads(id).size).toBe(0)
  })

  it('stores a head as { id, seq } and reads it back', async () => {
    const storage = memoryStorage()
    const l = await Logstore.open(storage)
    const id = ThreadId.create()
    const t = await l.addThread(id, createThreadKey())
    const own = generateLogKey()
    const log = await l.addLog(id, own.id)
    const [r] = makeRecords(id, own, createThreadKey(), 1)
    const op = l.advanceHead(t, log, headOf(r!))
    expect(op.key).toEqual(keys.head(t.n, log.n))
    expect(l.head(id, own.id)).toEqual(headOf(r!))
    await storage.batch([op])
    const value = dagCbor.decode((await storage.get(keys.head(t.n, log.n)))!) as Record<string, unknown>
    expect(Object.keys(value).sort()).toEqual(['id', 'seq'])
    expect(value.seq).toBe(1)
    expect((value.id as CID).equals(r!.id)).toBe(true)
    expect((await Logstore.open(storage)).head(id, own.id)).toEqual(headOf(r!))
  })

  it.each([
    ['a head of the first format (a record block CID under `cid`)', (r: LogRecord) => dagCbor.encode({ cid: r.cid, seq: 1 })],
    ['a head that names a record block CID (dag-cbor) as its identity', (r: LogRecord) => dagCbor.encode({ id: r.cid, seq: 1 })],
    ['a head with seq 0', (r: LogRecord) => dagCbor.encode({ id: r.id, seq: 0 })],
    ['a head with a fractional seq', (r: LogRecord) => dagCbor.encode({ id: r.id, seq: 1.5 })],
    ['a head that is not dag-cbor', () => Uint8Array.of(0xff, 0x00, 0x13)],
    ['a head that is not a map', (r: LogRecord) => dagCbor.encode([r.id, 1])]
  ])('reports %s as damage of its thread when the store opens, without a head for the log', async (_, encode) => {
    const storage = memoryStorage()
    const l = await Logstore.open(storage)
    const id = ThreadId.create()
    const other = ThreadId.create()
    const t = await l.addThread(id, createThreadKey())
    const o = await l.addThread(other, createThreadKey())
    const own = generateLogKey()
    const log = await l.addLog(id, own.id)
    const otherLog = await l.addLog(other, own.id)
    const [r] = makeRecords(id, own, createThreadKey(), 1)
    const [r2] = makeRecords(other, own, createThreadKey(), 1)
    await storage.batch([l.advanceHead(o, otherLog, headOf(r2!)), { type: 'put', key: keys.head(t.n, log.n), value: encode(r!) }])
    const reopened = await Logstore.open(storage)
    expect(reopened.head(id, own.id)).toBeUndefined()
    expect(reopened.getThread(id).damage?.map((e) => e.name)).toEqual(['CorruptStoreError'])
    expect(reopened.getThread(id).damage?.[0]?.logId).toBe(own.id)
    // A damaged head is not damage of the key: the thread still reads and writes.
    expect(reopened.getThread(id).keyDamaged).toBeUndefined()
    // The thread is still listed, its log too; the other thread is untouched.
    expect(reopened.log(id, own.id)?.n).toBe(log.n)
    expect(reopened.getThread(other).damage).toBeUndefined()
    expect(reopened.head(other, own.id)).toEqual(headOf(r2!))
    expect(reopened.damaged).toEqual([])
  })

  it('has no head for a log with no records', async () => {
    const l = await Logstore.open(memoryStorage())
    const id = ThreadId.create()
    await l.addThread(id, createThreadKey())
    const log = generateLogKey().id
    await l.addLog(id, log)
    expect(l.head(id, log)).toBeUndefined()
    expect(l.heads(id).size).toBe(0)
  })
})

describe('Logstore damage found at open', () => {
  async function oneThread(): Promise<{ storage: StorageAdapter; id: ThreadId; key: ReturnType<typeof createThreadKey>; other: ThreadId }> {
    const storage = memoryStorage()
    const l = await Logstore.open(storage)
    const id = ThreadId.create()
    const other = ThreadId.create()
    const key = createThreadKey()
    await l.addThread(id, key)
    await l.addThread(other, createThreadKey())
    return { storage, id, key, other }
  }

  async function rewriteEntry(storage: StorageAdapter, id: ThreadId, change: (entry: { n: string; key: Uint8Array; check?: Uint8Array }) => unknown): Promise<void> {
    const entry = dagCbor.decode((await storage.get(keys.thread(id.toString())))!) as { n: string; key: Uint8Array; check?: Uint8Array }
    await storage.batch([{ type: 'put', key: keys.thread(id.toString()), value: dagCbor.encode(change(entry)) }])
  }

  it('stores a check value beside each thread key', async () => {
    const { storage, id } = await oneThread()
    const entry = dagCbor.decode((await storage.get(keys.thread(id.toString())))!) as { check?: Uint8Array }
    expect(entry.check).toBeInstanceOf(Uint8Array)
    expect(entry.check).toHaveLength(8)
    const reopened = await Logstore.open(storage)
    expect(reopened.getThread(id).damage).toBeUndefined()
    expect(reopened.damaged).toEqual([])
  })

  it('reports a thread key that does not match its check value (one flipped byte of the read key) as damage of that thread', async () => {
    const { storage, id, other } = await oneThread()
    await rewriteEntry(storage, id, (e) => {
      const key = Uint8Array.from(e.key)
      key[40] = (key[40] as number) ^ 1
      return { ...e, key }
    })
    const reopened = await Logstore.open(storage)
    const damage = reopened.getThread(id).damage
    expect(damage?.map((e) => e.name)).toEqual(['CorruptStoreError'])
    expect(damage?.[0]?.threadId).toBe(id.toString())
    expect(damage?.[0]?.message).toMatch(/check value/)
    expect(reopened.getThread(id).keyDamaged).toBe(true)
    expect(reopened.getThread(other).damage).toBeUndefined()
    expect(reopened.getThread(other).keyDamaged).toBeUndefined()
  })

  it('reads a thread entry without a check value (nothing to compare) as undamaged', async () => {
    const { storage, id, key } = await oneThread()
    await rewriteEntry(storage, id, ({ n, key: k }) => ({ n, key: k }))
    const reopened = await Logstore.open(storage)
    expect(reopened.getThread(id).damage).toBeUndefined()
    expect(reopened.getThread(id).key.read).toEqual(key.read)
  })

  it('reports a thread key that cannot be read as damage, with a placeholder key', async () => {
    const { storage, id } = await oneThread()
    await rewriteEntry(storage, id, (e) => ({ ...e, key: Uint8Array.of(1, 2, 3) }))
    const reopened = await Logstore.open(storage)
    const damage = reopened.getThread(id).damage ?? []
    expect(damage.length).toBeGreaterThanOrEqual(1)
    expect(damage.every((e) => e.name === 'CorruptStoreError')).toBe(true)
    expect(reopened.getThread(id).keyDamaged).toBe(true)
    expect(reopened.getThread(id).key.read).toBeUndefined()
  })

  it('skips a thread entry that cannot be read at all, listing it in `damaged`, and opens the others', async () => {
    const { storage, id, other } = await oneThread()
    await storage.batch([{ type: 'put', key: keys.thread(id.toString()), value: Uint8Array.of(0xff) }])
    const reopened = await Logstore.open(storage)
    expect(reopened.thread(id)).toBeUndefined()
    expect(reopened.damaged.map((e) => e.name)).toEqual(['CorruptStoreError'])
    expect(reopened.getThread(other).damage).toBeUndefined()
    // Numbers in use are never handed out again, even the damaged thread's.
    const fresh = await reopened.addThread(ThreadId.create(), createThreadKey())
    expect([reopened.getThread(other).n]).not.toContain(fresh.n)
  })

  it('reports a log entry that cannot be read, and a stored log key that does not derive its log ID', async () => {
    const { storage, id } = await oneThread()
    const l = await Logstore.open(storage)
    const t = l.getThread(id)
    const broken = generateLogKey()
    const own = generateLogKey()
    const stranger = generateLogKey()
    await l.addLog(id, broken.id)
    const log = await l.addLog(id, own.id, own)
    await storage.batch([
      { type: 'put', key: keys.log(t.n, broken.id), value: Uint8Array.of(0xff) },
      { type: 'put', key: keys.log(t.n, own.id), value: dagCbor.encode({ n: log.n, seed: stranger.seed }) }
    ])
    const reopened = await Logstore.open(storage)
    const damage = reopened.getThread(id).damage ?? []
    expect(damage.map((e) => e.name)).toEqual(['CorruptStoreError', 'CorruptStoreError'])
    expect(damage.map((e) => e.logId).sort()).toEqual([broken.id, own.id].sort())
    expect(reopened.getThread(id).keyDamaged).toBeUndefined()
    // The damaged seed is never used to sign: the log is known, without its key.
    expect(reopened.log(id, broken.id)).toBeUndefined()
    expect(reopened.log(id, own.id)).toEqual({ id: own.id, n: log.n })
    expect(reopened.ownLog(id)).toBeUndefined()
  })
})

describe('Logstore metadata', () => {
  it('gets, puts, deletes and holds strings, per thread', async () => {
    const storage = memoryStorage()
    const l = await Logstore.open(storage)
    const a = (await l.addThread(ThreadId.create(), createThreadKey())).n
    const b = (await l.addThread(ThreadId.create(), createThreadKey())).n
    const md = l.metadata
    expect(await md.get(a, 'name')).toBeUndefined()
    expect(await md.getString(a, 'name')).toBeUndefined()
    await md.put(a, 'blob', Uint8Array.of(1, 2, 3))
    await md.putString(a, 'name', 'Groceries ✓')
    await md.putString(b, 'name', 'Other')
    expect(await md.get(a, 'blob')).toEqual(Uint8Array.of(1, 2, 3))
    expect(await md.getString(a, 'name')).toBe('Groceries ✓')
    expect(await md.getString(b, 'name')).toBe('Other')
    await md.putString(a, 'name', 'Renamed')
    expect(await md.getString(a, 'name')).toBe('Renamed')
    expect(await (await Logstore.open(storage)).metadata.getString(a, 'name')).toBe('Renamed')
    await md.delete(a, 'name')
    expect(await md.getString(a, 'name')).toBeUndefined()
    expect(await md.get(a, 'blob')).toEqual(Uint8Array.of(1, 2, 3))
    expect(await md.getString(b, 'name')).toBe('Other')
    // Deleting what is not there is fine.
    await md.delete(a, 'name')
    expect(await storage.get(keys.meta(a, 'name'))).toBeUndefined()
  })
})

describe('Logstore.deleteThread', () => {
  it('removes the thread, its logs, heads, records, addresses, metadata and CID index, and nothing else', async () => {
    const storage = memoryStorage()
    const store = await EventStore.open(storage)
    const ls = store.logstore
    const threadKey = createThreadKey()
    const gone = ThreadId.create()
    const kept = ThreadId.create()
    const own = generateLogKey()
    const records = makeRecords(gone, own, threadKey, 4)
    const keptRecords = makeRecords(kept, own, threadKey, 2)
    const g = await ls.addThread(gone, threadKey)
    const k = await ls.addThread(kept, threadKey)
    for (const t of [gone, kept]) await ls.addLog(t, own.id, own)
    await store.append(gone, records)
    await store.append(kept, keptRecords)
    await ls.addrs.addAddrs(g.n, own.id, ['/ip4/1.2.3.4/tcp/1'], HOUR)
    await ls.addrs.addAddrs(k.n, own.id, ['/ip4/1.2.3.4/tcp/2'], HOUR)
    await ls.metadata.putString(g.n, 'role', 'writer')
    await ls.metadata.putString(k.n, 'role', 'reader')

    await ls.deleteThread(gone)

    expect(ls.thread(gone)).toBeUndefined()
    expectName(await caught(() => ls.getThread(gone)), 'NotFoundError')
    expect(ls.logs(gone)).toEqual([])
    expect(ls.heads(gone).size).toBe(0)
    expect(ls.threads().map((t) => t.id.toString())).toEqual([kept.toString()])
    for (const prefix of [['l', g.n], ['h', g.n], ['r', g.n], ['a', g.n], ['d', g.n], ['s', g.n]]) {
      expect(await entries(storage, prefix)).toEqual([])
    }
    expect(await storage.get(keys.thread(gone.toString()))).toBeUndefined()
    for (const r of records) {
      expect(await store.getRecord(r.id)).toBeUndefined()
      expect(await storage.get(keys.id(r.id.multihash.digest))).toBeUndefined()
    }
    // The other thread is whole.
    expect((await store.records(kept, own.id)).map((r) => r.id.toString())).toEqual(keptRecords.map((r) => r.id.toString()))
    expect((await store.getRecord(keptRecords[1]!.id))?.seq).toBe(2)
    for (const r of keptRecords) expect(await storage.get(keys.id(r.id.multihash.digest))).toBeDefined()
    expect(await ls.metadata.getString(k.n, 'role')).toBe('reader')
    expect((await ls.addrs.addrs(k.n, own.id)).map((a) => a.addr)).toEqual(['/ip4/1.2.3.4/tcp/2'])

    // It stays gone after a reopen, and can be joined again from nothing.
    const reopened = await EventStore.open(storage)
    expect(reopened.logstore.thread(gone)).toBeUndefined()
    expect(reopened.logstore.threads()).toHaveLength(1)
    const again = await reopened.logstore.addThread(gone, threadKey)
    expect(again.n).not.toBe(g.n)
    expect(reopened.logstore.logs(gone)).toEqual([])
    await reopened.logstore.addLog(gone, own.id, own)
    await reopened.append(gone, records.slice(0, 1))
    expect((await reopened.records(gone, own.id)).map((r) => r.seq)).toEqual([1])
  })
})

describe('Logstore.deleteThread edge cases', () => {
  it('keeps an identity index entry that names another thread', async () => {
    const storage = memoryStorage()
    const store = await EventStore.open(storage)
    const threadKey = createThreadKey()
    const own = generateLogKey()
    const first = ThreadId.create()
    const second = ThreadId.create()
    // The same writer, key and commands in two threads: different identities (the thread is signed).
    const inFirst = makeRecords(first, own, threadKey, 2)
    const inSecond = makeRecords(second, own, threadKey, 2)
    for (const [t, rs] of [[first, inFirst], [second, inSecond]] as const) {
      await store.logstore.addThread(t, threadKey)
      await store.logstore.addLog(t, own.id, own)
      await store.append(t, rs)
    }
    inFirst.forEach((r, i) => expect(r.id.equals(inSecond[i]!.id)).toBe(false))
    // An index entry under a digest of the first thread that names the second (a digest prefix
    // shared by two records) is not the first thread's to delete.
    const s = store.logstore.getThread(second)
    const sl = store.logstore.log(second, own.id)!
    await storage.batch([{ type: 'put', key: keys.id(inFirst[1]!.id.multihash.digest), value: dagCbor.encode([s.n, sl.n, 2]) }])
    await store.logstore.deleteThread(first)
    expect(await storage.get(keys.id(inFirst[0]!.id.multihash.digest))).toBeUndefined()
    expect(await storage.get(keys.id(inFirst[1]!.id.multihash.digest))).toBeDefined()
    for (const r of inSecond) {
      expect(await storage.get(keys.id(r.id.multihash.digest))).toBeDefined()
      expect((await store.getRecord(r.id))?.seq).toBe(r.seq)
    }
    expect(await store.getRecord(inFirst[0]!.id)).toBeUndefined()
  })

  it('deletes a thread whose stored records are damaged', async () => {
    const storage = memoryStorage()
    const store = await EventStore.open(storage)
    const threadKey = createThreadKey()
    const own = generateLogKey()
    const id = ThreadId.create()
    const t = await store.logstore.addThread(id, threadKey)
    const log = await store.logstore.addLog(id, own.id, own)
    await store.append(id, makeRecords(id, own, threadKey, 2))
    await storage.batch([{ type: 'put', key: keys.record(t.n, log.n, 1), value: Uint8Array.of(9, 9, 9) }])
    await store.logstore.deleteThread(id)
    expect(store.logstore.thread(id)).toBeUndefined()
    expect(await entries(storage, ['r', t.n])).toEqual([])
    expect((await Logstore.open(storage)).threads()).toEqual([])
  })
})
