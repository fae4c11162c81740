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
import { afterAll, describe, expect, it } from 'vitest'
import { levelStorage } from '../../adapters/storage/level.js'
import { createPeer } from '../../src/redux/createPeer.js'
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
})
