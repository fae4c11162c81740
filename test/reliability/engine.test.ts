/**
 * Issue 8, the engine's part of "deterministic in failure too" (DESIGN.md section 4): a storage
 * write that fails, state that cannot be snapshotted, reducers that change or throw, absurd
 * clocks. Each is decided by a rule every peer applies the same way, and reported by name.
 */
import { describe, expect, it } from 'vitest'
import { memoryStorage } from '../../adapters/storage/memory.js'
import { generateLogKey } from '../../src/core/keys.js'
import type { ThreadEvent } from '../../src/engine/threadEvent.js'
import { blocksOf, newThread, openEngine, openWriter, write } from '../support/engines.js'
import { faultyStorage } from '../support/faultyStorage.js'
import { forge } from '../support/forge.js'

describe('a storage write that fails (issue 8 §2)', () => {
  it('is reported by name, sends nothing unstored, brings the state back to storage, refuses commands until storage works, and the log continues consistently', async () => {
    const thread = newThread()
    const storage = faultyStorage(memoryStorage())
    const logKey = generateLogKey()
    const author = await openWriter(thread, { storage, logKey })
    const sent: number[] = []
    author.engine.events.on('recorded', ({ records }) => sent.push(...records.map((r) => r.seq)))
    const errors: string[] = []
    author.engine.events.on('rejected', (e) => errors.push(e.name))
    await write(author, 'a1', 'a2', 'a3', 'a4')
    storage.failNext()
    const failed = author.engine.command({ type: 'test/added', payload: 'a5' })
    await expect(failed.durable).rejects.toMatchObject({ name: 'StorageFailedError' })
    await author.engine.flush().catch(() => undefined)
    // Let the engine read storage back.
    await new Promise((r) => setTimeout(r, 10))
    expect(errors).toContain('StorageFailedError')
    expect(sent).toEqual([1, 2, 3, 4])
    expect(author.engine.state).toEqual(['a1', 'a2', 'a3', 'a4'])
    expect(author.engine.heads().get(logKey.id)?.seq).toBe(4)
    expect(() => author.engine.command({ type: 'test/added', payload: 'a6' })).toThrow(expect.objectContaining({ name: 'StorageFailedError' }))
    // Storage works again (the probe write lands): commands go on from seq 5, and peers take them.
    await new Promise((r) => setTimeout(r, 10))
    for (let i = 0; i < 50 && author.engine.writeBlocked !== undefined; i++) {
      try {
        author.engine.command({ type: 'test/added', payload: 'probe' })
      } catch {
        await new Promise((r) => setTimeout(r, 30))
      }
    }
    // (the loop may have written 'probe' once storage worked)
    const peer = await openEngine(thread)
    const taken = await peer.engine.ingest(logKey.id, await blocksOf(author, logKey.id))
    expect(taken.rejected).toEqual([])
    expect(peer.engine.state.slice(0, 4)).toEqual(['a1', 'a2', 'a3', 'a4'])
    expect(peer.engine.state).not.toContain('a5')
    // After a restart the author holds exactly what peers hold.
    const again = await openWriter(thread, { storage, logKey })
    expect(again.engine.state).toEqual(peer.engine.state)
  }, 20_000)
})

describe('state that cannot be snapshotted (issue 8 §4)', () => {
  it('never rejects at nobody: the snapshot error names the path, once, and the engine goes on', async () => {
    const thread = newThread()
    const logKey = generateLogKey()
    const storage = memoryStorage()
    const base = await openWriter(thread, { storage, logKey })
    // A projection whose state holds a Date and undefined (RTK's checks allow the latter).
    const { ThreadEngine } = await import('../../src/engine/threadEngine.js')
    const engine = await ThreadEngine.open<{ items: Array<{ at: unknown; note: unknown }> }>({
      store: base.store,
      threadId: thread.threadId,
      snapshotEvery: 2,
      projection: { initial: { items: [] }, fold: (s, e: ThreadEvent) => ({ items: [...s.items, { at: new Date(0), note: e.command.payload === 'u' ? undefined : 'x' }] }) }
    })
    const errors: Array<{ name: string; message: string }> = []
    engine.events.on('rejected', (e) => errors.push(e))
    for (const p of ['a', 'b', 'c', 'd', 'e']) await engine.command({ type: 'test/added', payload: p }).durable
    await engine.flush()
    expect(errors.map((e) => e.name)).toEqual(['SnapshotError'])
    expect(errors[0]!.message).toContain('state.items[0].at is a Date')
    expect(engine.state.items).toHaveLength(5)
    await expect(engine.snapshot()).rejects.toMatchObject({ name: 'SnapshotError' })
  })
})

describe('reducers that change between versions (issue 8 §5)', () => {
  it('a snapshot of another projection version is not used: a restart computes what a fresh peer computes', async () => {
    const thread = newThread()
    const logKey = generateLogKey()
    const storage = memoryStorage()
    const { ThreadEngine } = await import('../../src/engine/threadEngine.js')
    const { EventStore } = await import('../../src/store/eventStore.js')
    const store = await EventStore.open(storage)
    await store.logstore.addThread(thread.threadId, thread.key)
    await store.logstore.addLog(thread.threadId, logKey.id, logKey)
    const sum = (k: number) => ({ initial: 0, fold: (s: number, e: ThreadEvent) => s + k * Number(e.command.payload) })
    const v1 = await ThreadEngine.open({ store, threadId: thread.threadId, projection: sum(1), version: 'v1', snapshotEvery: 2 })
    for (const n of [1, 2, 3, 4, 5, 6, 7, 8]) await v1.command({ type: 'test/n', payload: n }).durable
    await v1.flush()
    expect(v1.state).toBe(36)
    // A new rule (x2): the stored snapshot of v1 must not be the starting point.
    const store2 = await EventStore.open(storage)
    const v2 = await ThreadEngine.open({ store: store2, threadId: thread.threadId, projection: sum(2), version: 'v2', snapshotEvery: 2 })
    expect(v2.state).toBe(72)
    // Same version: the snapshot is used (and agrees).
    const store3 = await EventStore.open(storage)
    const again = await ThreadEngine.open({ store: store3, threadId: thread.threadId, projection: sum(2), version: 'v2', snapshotEvery: 2 })
    expect(again.state).toBe(72)
  })
})

describe('a reducer that throws on an event (issue 8 §6)', () => {
  it('skips that event identically on every peer, reports a ReducerError with its context, and keeps the timeline consistent', async () => {
    const thread = newThread()
    const author = await openWriter(thread)
    const blocks = await write(author, 'ok1', 'new-format', 'ok2')
    const strict = {
      initial: [] as readonly string[],
      fold: (s: readonly string[], e: ThreadEvent): readonly string[] => {
        if (e.command.payload === 'new-format') throw new TypeError('payload.items is not iterable')
        return [...s, String(e.command.payload)]
      }
    }
    const peers = await Promise.all([1, 2].map(() => openEngine(thread, { engine: { projection: strict } })))
    const errors: Array<{ name: string; seq?: number; logId?: string }> = []
    peers[0]!.engine.events.on('rejected', (e) => errors.push(e))
    await peers[0]!.engine.ingest(author.logKey!.id, blocks)
    // The other peer gets them in another order and in pieces.
    await peers[1]!.engine.ingest(author.logKey!.id, [blocks[2]!])
    await peers[1]!.engine.ingest(author.logKey!.id, [blocks[1]!, blocks[0]!])
    expect(peers[0]!.engine.state).toEqual(['ok1', 'ok2'])
    expect(peers[1]!.engine.state).toEqual(['ok1', 'ok2'])
    expect(errors).toMatchObject([{ name: 'ReducerError', seq: 2, logId: author.logKey!.id }])
    // The timeline holds all three events (the skipped one folded as "no change").
    expect(peers[0]!.engine.timeline.length).toBe(3)
    // A late event replays over it: still skipped, still consistent, reported once.
    const other = await openWriter(thread)
    const [early] = await write(other, 'early')
    await peers[0]!.engine.ingest(other.logKey!.id, [early!])
    const result = peers[0]!.engine.state
    expect([...result].sort()).toEqual(['early', 'ok1', 'ok2'])
    expect(peers[0]!.engine.timeline.length).toBe(4)
    expect(errors).toHaveLength(1)
  })
})

describe('clock inflation (issue 8 §8)', () => {
  it('one record claiming 2^53 cannot stall or split the thread: later events are valid everywhere and survive a restart', async () => {
    const thread = newThread()
    const storage = memoryStorage()
    const authorKey = generateLogKey()
    const author = await openWriter(thread, { storage, logKey: authorKey })
    await write(author, 'a1', 'a2')
    const w = generateLogKey()
    const absurd = forge(w, thread, undefined, 'w1', Number.MAX_SAFE_INTEGER)
    await author.engine.ingest(w.id, [absurd.blocks])
    const [later1, later2, later3] = await write(author, 'a3', 'a4', 'a5')
    const clocks = author.engine.timeline.events.map((e) => e.meta.clock)
    expect(Math.max(...clocks)).toBeLessThan(2 ** 33)
    const peer = await openEngine(thread)
    await peer.engine.ingest(w.id, [absurd.blocks])
    const taken = await peer.engine.ingest(authorKey.id, [...(await blocksOf(author, authorKey.id)).slice(0, 2), later1!, later2!, later3!])
    expect(taken.rejected).toEqual([])
    expect(peer.engine.state).toEqual(author.engine.state)
    const again = await openWriter(thread, { storage, logKey: authorKey })
    expect(again.engine.state).toEqual(author.engine.state)
    expect(again.engine.state.filter((x) => x.startsWith('a'))).toHaveLength(5)
  })
})
