/**
 * Reads that race durability, over real LevelDB: the in-memory log head advances when a record is
 * appended, the storage write lands later (group commit). Anything that reads records back (a
 * sync that serves `recordsSince` right after a command, the duplicate check of an ingest) must
 * see every record up to the head, never "a gap below the head".
 */
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { configureStore } from '@reduxjs/toolkit'
import { firstValueFrom } from 'rxjs'
import { afterAll, describe, expect, it } from 'vitest'
import { levelStorage } from '../../adapters/storage/level.js'
import { signatureHolds } from '../../src/core/record.js'
import type { ThreadKey } from '../../src/core/keys.js'
import { createPeer, type Peer } from '../../src/redux/createPeer.js'
import { engineOf, type ThreadHandle } from '../../src/redux/threadHandle.js'
import type { StorageAdapter } from '../../src/store/storageAdapter.js'
import { keys } from '../../src/store/storageKeys.js'
import { list } from '../unit/redux/fixtures.js'

function storeFor(peer: Peer) {
  return configureStore({ reducer: { [peer.reducerPath]: peer.reducer, list: list.reducer }, middleware: (d) => d().concat(peer.middleware) })
}

/** A peer over `storage` (memory by default), its store, and a thread: a new one, or `open` (from storage, or with its key). */
async function session(storage?: StorageAdapter, open?: { threadId: string; key?: ThreadKey }) {
  const peer = createPeer(storage === undefined ? {} : { storage })
  const store = storeFor(peer)
  const { threadId } =
    open === undefined
      ? await store.dispatch(peer.thunks.createThread({ slices: [list] })).unwrap()
      : await store.dispatch(peer.thunks.openThread({ ...open, slices: [list] })).unwrap()
  const thread = peer.thread(threadId) as ThreadHandle
  return { peer, store, thread, id: peer.id as string, engine: engineOf(thread) }
}

const dirs: string[] = []
async function tempDir(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'redux-threads-reads-'))
  dirs.push(dir)
  return dir
}

afterAll(async () => {
  for (const dir of dirs) await rm(dir, { recursive: true, force: true })
})

describe('reads right after writes (LevelDB)', () => {
  it('recordsSince serves a command dispatched just before, without waiting for flush', async () => {
    const { peer, store, thread, id } = await session(levelStorage(await tempDir()))
    try {
      for (let i = 0; i < 3; i++) store.dispatch(list.actions.pushed(`x${i}`))
      const logs = await thread.recordsSince(new Map())
      expect(logs).toHaveLength(1)
      expect(logs[0]?.logId).toBe(id)
      expect(logs[0]?.blocks).toHaveLength(3)
      // And again for a range that starts after the first record.
      store.dispatch(list.actions.pushed('x3'))
      const more = await thread.recordsSince(new Map([[id, 2]]))
      expect(more[0]?.blocks).toHaveLength(2)
    } finally {
      await peer.close()
    }
  })

  it('an ingest of duplicates right after the originals reports nothing and throws nothing', async () => {
    const a = await session()
    let b: Awaited<ReturnType<typeof session>> | undefined
    try {
      for (let i = 0; i < 4; i++) a.store.dispatch(list.actions.pushed(`a${i}`))
      await a.thread.flush()
      const blocks = (await a.thread.recordsSince(new Map()))[0]?.blocks ?? []
      expect(blocks).toHaveLength(4)
      b = await session(levelStorage(await tempDir()), { threadId: a.thread.id, key: a.thread.key })
      const first = await b.thread.ingest(a.id, blocks.slice(0, 3))
      expect(first.added).toHaveLength(3)
      // The first three are in the head but may not be on disk yet: their copies must be
      // recognised as copies.
      const second = await b.thread.ingest(a.id, blocks)
      expect(second.rejected).toEqual([])
      expect(second.added).toHaveLength(1)
      expect(b.store.getState().list).toEqual(['a0', 'a1', 'a2', 'a3'])
    } finally {
      await a.peer.close()
      await b?.peer.close()
    }
  })

  it('concurrent ingests of overlapping ranges (a push and a pull at once) apply each record once and throw nothing', async () => {
    const a = await session()
    let b: Awaited<ReturnType<typeof session>> | undefined
    try {
      for (let i = 0; i < 6; i++) a.store.dispatch(list.actions.pushed(`a${i}`))
      await a.thread.flush()
      const blocks = (await a.thread.recordsSince(new Map()))[0]?.blocks ?? []
      b = await session(levelStorage(await tempDir()), { threadId: a.thread.id, key: a.thread.key })
      const tb = b.thread
      const results = await Promise.all([
        tb.ingest(a.id, blocks.slice(0, 4)),
        tb.ingest(a.id, blocks),
        tb.ingest(a.id, blocks.slice(2)),
        tb.ingest(a.id, [...blocks].reverse())
      ])
      for (const r of results) expect(r.rejected).toEqual([])
      expect(results.reduce((n, r) => n + r.added.length, 0)).toBe(6)
      expect(b.store.getState().list).toEqual(['a0', 'a1', 'a2', 'a3', 'a4', 'a5'])
      await tb.flush()
      expect(await b.engine.store.records(a.thread.id, a.id)).toHaveLength(6)
    } finally {
      await a.peer.close()
      await b?.peer.close()
    }
  })

  it('after a restart (nothing in memory), serves ranges from the middle of a log: recordsSince and engine.records', async () => {
    const dir = await tempDir()
    const first = await session(levelStorage(dir))
    for (let i = 0; i < 8; i++) first.store.dispatch(list.actions.pushed(`x${i}`))
    await first.thread.flush()
    const written = (await first.thread.recordsSince(new Map()))[0]?.blocks ?? []
    const threadId = first.thread.id
    await first.peer.close()

    const { peer, thread, id, engine } = await session(levelStorage(dir), { threadId })
    try {
      expect(id).toBe(first.id)
      const head = thread.heads().get(id)
      expect(head?.seq).toBe(8)
      // A peer that has seq 1..3 pulls the rest: rebuilt from storage, byte for byte.
      const more = await thread.recordsSince(new Map([[id, 3]]))
      expect(more[0]?.blocks).toEqual(written.slice(3))
      // What the network serves: checked records, the newest signature holding, nothing reported.
      const page = await engine.records(id, 4, 3)
      expect(page.map((r) => r.seq)).toEqual([4, 5, 6])
      expect(signatureHolds(engine.thread.id, page[2]!)).toBe(true)
      expect(engine.damage).toEqual([])
      // Serving did not "repair" a healthy log.
      expect(thread.heads().get(id)).toEqual(head)
      expect(engine.writeBlocked).toBeUndefined()
    } finally {
      await peer.close()
    }
  })

  it('engine.records stops a page before a record damaged in storage, reports it and lowers the head below it', async () => {
    const dir = await tempDir()
    const first = await session(levelStorage(dir))
    const threadId = first.thread.id
    const other = await session(undefined, { threadId, key: first.thread.key })
    for (let i = 0; i < 6; i++) other.store.dispatch(list.actions.pushed(`o${i}`))
    await other.thread.flush()
    await first.thread.ingest(other.id, (await other.thread.recordsSince(new Map()))[0]?.blocks ?? [])
    first.store.dispatch(list.actions.pushed('mine'))
    await first.thread.flush()
    // Damage the stored record at seq 5 of the other writer's log, at rest.
    const ls = first.engine.store.logstore
    const key = keys.record(ls.getThread(threadId).n, ls.log(threadId, other.id)!.n, 5)
    const bytes = Uint8Array.from((await ls.storage.get(key))!)
    bytes[bytes.length - 1] = (bytes[bytes.length - 1] as number) ^ 1
    await ls.storage.batch([{ type: 'put', key, value: bytes }])
    await first.peer.close()

    const { peer, store, thread, engine } = await session(levelStorage(dir), { threadId })
    try {
      // Found at open: folded up to seq 4, head lowered to 4, to be filled again from peers.
      expect(thread.heads().get(other.id)?.seq).toBe(4)
      // Reported in the thread's status (the engine's damage list is emptied when the peer reports it).
      const status = await firstValueFrom(peer.status$(threadId))
      expect(status.rejected).toBeGreaterThanOrEqual(1)
      expect(status.lastError).toMatchObject({ name: 'CorruptStoreError', logId: other.id, seq: 5 })
      const page = await engine.records(other.id, 1, 10)
      expect(page.map((r) => r.seq)).toEqual([1, 2, 3, 4])
      // The log fills again from a peer that has it, over the damaged copy.
      const r = await thread.ingest(other.id, (await other.thread.recordsSince(new Map([[other.id, 4]])))[0]?.blocks ?? [])
      expect(r.rejected).toEqual([])
      expect(thread.heads().get(other.id)?.seq).toBe(6)
      expect((await engine.records(other.id, 1, 10)).map((x) => x.seq)).toEqual([1, 2, 3, 4, 5, 6])
      // The store's status says the same once it is current.
      await peer.idle()
      expect(peer.selectors.selectThreadStatus(store.getState(), threadId)?.lastError).toMatchObject({ name: 'CorruptStoreError', logId: other.id, seq: 5 })
    } finally {
      await peer.close()
      await other.peer.close()
    }
  })
})
