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
import { createPeer } from '../../src/redux/createPeer.js'
import { keys } from '../../src/store/storageKeys.js'
import { list } from '../unit/redux/fixtures.js'

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
    const peer = await createPeer({ storage: levelStorage(await tempDir()) })
    try {
      const store = configureStore({ reducer: { list: list.reducer }, middleware: (d) => d().concat(peer.middleware) })
      const thread = await peer.createThread({ slices: [list] })
      for (let i = 0; i < 3; i++) store.dispatch(list.actions.pushed(`x${i}`))
      const logs = await thread.recordsSince(new Map())
      expect(logs).toHaveLength(1)
      expect(logs[0]?.logId).toBe(peer.id)
      expect(logs[0]?.blocks).toHaveLength(3)
      // And again for a range that starts after the first record.
      store.dispatch(list.actions.pushed('x3'))
      const more = await thread.recordsSince(new Map([[peer.id, 2]]))
      expect(more[0]?.blocks).toHaveLength(2)
    } finally {
      await peer.close()
    }
  })

  it('an ingest of duplicates right after the originals reports nothing and throws nothing', async () => {
    const a = await createPeer()
    const b = await createPeer({ storage: levelStorage(await tempDir()) })
    try {
      const sa = configureStore({ reducer: { list: list.reducer }, middleware: (d) => d().concat(a.middleware) })
      const ta = await a.createThread({ slices: [list] })
      for (let i = 0; i < 4; i++) sa.dispatch(list.actions.pushed(`a${i}`))
      await ta.flush()
      const blocks = (await ta.recordsSince(new Map()))[0]?.blocks ?? []
      expect(blocks).toHaveLength(4)
      const sb = configureStore({ reducer: { list: list.reducer }, middleware: (d) => d().concat(b.middleware) })
      const tb = await b.openThread(ta.id, { slices: [list], key: ta.key })
      const first = await tb.ingest(a.id, blocks.slice(0, 3))
      expect(first.added).toHaveLength(3)
      // The first three are in the head but may not be on disk yet: their copies must be
      // recognised as copies.
      const second = await tb.ingest(a.id, blocks)
      expect(second.rejected).toEqual([])
      expect(second.added).toHaveLength(1)
      expect(sb.getState().list).toEqual(['a0', 'a1', 'a2', 'a3'])
    } finally {
      await a.close()
      await b.close()
    }
  })

  it('concurrent ingests of overlapping ranges (a push and a pull at once) apply each record once and throw nothing', async () => {
    const a = await createPeer()
    const b = await createPeer({ storage: levelStorage(await tempDir()) })
    try {
      const sa = configureStore({ reducer: { list: list.reducer }, middleware: (d) => d().concat(a.middleware) })
      const ta = await a.createThread({ slices: [list] })
      for (let i = 0; i < 6; i++) sa.dispatch(list.actions.pushed(`a${i}`))
      await ta.flush()
      const blocks = (await ta.recordsSince(new Map()))[0]?.blocks ?? []
      const sb = configureStore({ reducer: { list: list.reducer }, middleware: (d) => d().concat(b.middleware) })
      const tb = await b.openThread(ta.id, { slices: [list], key: ta.key })
      const results = await Promise.all([
        tb.ingest(a.id, blocks.slice(0, 4)),
        tb.ingest(a.id, blocks),
        tb.ingest(a.id, blocks.slice(2)),
        tb.ingest(a.id, [...blocks].reverse())
      ])
      for (const r of results) expect(r.rejected).toEqual([])
      expect(results.reduce((n, r) => n + r.added.length, 0)).toBe(6)
      expect(sb.getState().list).toEqual(['a0', 'a1', 'a2', 'a3', 'a4', 'a5'])
      await tb.flush()
      expect(await b.eventStore.records(ta.id, a.id)).toHaveLength(6)
    } finally {
      await a.close()
      await b.close()
    }
  })

  it('after a restart (nothing in memory), serves ranges from the middle of a log: recordsSince and engine.records', async () => {
    const dir = await tempDir()
    const first = await createPeer({ storage: levelStorage(dir) })
    const s1 = configureStore({ reducer: { list: list.reducer }, middleware: (d) => d().concat(first.middleware) })
    const t1 = await first.createThread({ slices: [list] })
    for (let i = 0; i < 8; i++) s1.dispatch(list.actions.pushed(`x${i}`))
    await t1.flush()
    const written = (await t1.recordsSince(new Map()))[0]?.blocks ?? []
    await first.close()

    const peer = await createPeer({ storage: levelStorage(dir) })
    try {
      configureStore({ reducer: { list: list.reducer }, middleware: (d) => d().concat(peer.middleware) })
      const thread = await peer.openThread(t1.id, { slices: [list] })
      const head = thread.heads().get(peer.id)
      expect(head?.seq).toBe(8)
      // A peer that has seq 1..3 pulls the rest: rebuilt from storage, byte for byte.
      const more = await thread.recordsSince(new Map([[peer.id, 3]]))
      expect(more[0]?.blocks).toEqual(written.slice(3))
      // What the network serves: checked records, the newest signature holding, nothing reported.
      const page = await thread.engine.records(peer.id, 4, 3)
      expect(page.map((r) => r.seq)).toEqual([4, 5, 6])
      expect(signatureHolds(thread.id, page[2]!)).toBe(true)
      expect(thread.engine.damage).toEqual([])
      // Serving did not "repair" a healthy log.
      expect(thread.heads().get(peer.id)).toEqual(head)
      expect(thread.engine.writeBlocked).toBeUndefined()
    } finally {
      await peer.close()
    }
  })

  it('engine.records stops a page before a record damaged in storage, reports it and lowers the head below it', async () => {
    const dir = await tempDir()
    const first = await createPeer({ storage: levelStorage(dir) })
    const s1 = configureStore({ reducer: { list: list.reducer }, middleware: (d) => d().concat(first.middleware) })
    const t1 = await first.createThread({ slices: [list] })
    const other = await createPeer()
    const so = configureStore({ reducer: { list: list.reducer }, middleware: (d) => d().concat(other.middleware) })
    const to = await other.openThread(t1.id, { slices: [list], key: t1.key })
    for (let i = 0; i < 6; i++) so.dispatch(list.actions.pushed(`o${i}`))
    await to.flush()
    await t1.ingest(other.id, (await to.recordsSince(new Map()))[0]?.blocks ?? [])
    s1.dispatch(list.actions.pushed('mine'))
    await t1.flush()
    // Damage the stored record at seq 5 of the other writer's log, at rest.
    const ls = first.eventStore.logstore
    const key = keys.record(ls.getThread(t1.id).n, ls.log(t1.id, other.id)!.n, 5)
    const bytes = Uint8Array.from((await ls.storage.get(key))!)
    bytes[bytes.length - 1] = (bytes[bytes.length - 1] as number) ^ 1
    await ls.storage.batch([{ type: 'put', key, value: bytes }])
    await first.close()

    const peer = await createPeer({ storage: levelStorage(dir) })
    try {
      const thread = await peer.openThread(t1.id, { slices: [list] })
      // Found at open: folded up to seq 4, head lowered to 4, to be filled again from peers.
      expect(thread.heads().get(other.id)?.seq).toBe(4)
      // Reported on status$ (the engine's damage list is emptied when the peer reports it).
      const status = await firstValueFrom(thread.status$)
      expect(status.rejected).toBeGreaterThanOrEqual(1)
      expect(status.lastError).toMatchObject({ name: 'CorruptStoreError', logId: other.id, seq: 5 })
      const page = await thread.engine.records(other.id, 1, 10)
      expect(page.map((r) => r.seq)).toEqual([1, 2, 3, 4])
      // The log fills again from a peer that has it, over the damaged copy.
      const r = await thread.ingest(other.id, (await to.recordsSince(new Map([[other.id, 4]])))[0]?.blocks ?? [])
      expect(r.rejected).toEqual([])
      expect(thread.heads().get(other.id)?.seq).toBe(6)
      expect((await thread.engine.records(other.id, 1, 10)).map((x) => x.seq)).toEqual([1, 2, 3, 4, 5, 6])
    } finally {
      await peer.close()
      await other.close()
    }
  })
})
