/**
 * Restart over real LevelDB (DESIGN.md section 5): the event store is the source of truth and a
 * snapshot a shortcut. A peer writes thousands of events (snapshots every 1,000), takes late
 * events from another writer, closes; a new peer over the same directory is the same identity,
 * restores the same slice state without any network, folds only what follows the snapshot, and
 * keeps writing where its log stopped. A late event that sorts before the snapshot still yields
 * the right state, then and after the next restart.
 */
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { configureStore, type PayloadAction } from '@reduxjs/toolkit'
import { afterAll, describe, expect, it } from 'vitest'
import { levelStorage } from '../../adapters/storage/level.js'
import { memoryStorage } from '../../adapters/storage/memory.js'
import type { Progress } from '../../src/engine/threadEngine.js'
import { compareOrder, type EventMeta } from '../../src/engine/threadEvent.js'
import { createPeer, type Peer, type Thread } from '../../src/redux/createPeer.js'
import { createThreadSlice } from '../../src/redux/createThreadSlice.js'
import { bank, type Bank } from '../unit/redux/fixtures.js'

/** An order-sensitive digest of every value added: equal states mean equal sequences. */
interface Tally {
  n: number
  h: number
  last: number
}

const tally = createThreadSlice({
  name: 'tally',
  initialState: { n: 0, h: 7, last: 0 } as Tally,
  reducers: {
    added(state, action: PayloadAction<number>) {
      state.n++
      state.h = (Math.imul(state.h, 31) + action.payload) | 0
      state.last = action.payload
    }
  }
})

type Issued = { meta: EventMeta; kind: 'add' | 'deposit' | 'withdraw'; value: number }

function reference(issued: readonly Issued[]): { tally: Tally; bank: Bank } {
  const t: Tally = { n: 0, h: 7, last: 0 }
  const b: Bank = { balance: 0, refused: 0 }
  for (const e of [...issued].sort((x, y) => compareOrder(x.meta, y.meta))) {
    if (e.kind === 'add') {
      t.n++
      t.h = (Math.imul(t.h, 31) + e.value) | 0
      t.last = e.value
    } else if (e.kind === 'deposit') b.balance += e.value
    else if (b.balance >= e.value) b.balance -= e.value
    else b.refused++
  }
  return { tally: t, bank: b }
}

function storeFor(peer: Peer) {
  return configureStore({
    reducer: { tally: tally.reducer, bank: bank.reducer },
    middleware: (d) => d().concat(peer.middleware)
  })
}

type Store = ReturnType<typeof storeFor>

function issue(store: Store, kind: Issued['kind'], value: number): Issued {
  const action = kind === 'add' ? tally.actions.added(value) : kind === 'deposit' ? bank.actions.deposit(value) : bank.actions.withdraw(value)
  const d = store.dispatch(action) as unknown as { meta: { event: EventMeta } }
  return { meta: d.meta.event, kind, value }
}

/** `count` commands in bursts of 100, each burst made durable (and any snapshot written). */
async function write(store: Store, thread: Thread, count: number, start: number, out: Issued[]): Promise<void> {
  for (let i = 0; i < count; i++) {
    const k = start + i
    out.push(k % 10 === 3 ? issue(store, 'withdraw', (k % 7) + 1) : k % 10 === 7 ? issue(store, 'deposit', 3) : issue(store, 'add', k))
    if ((i + 1) % 100 === 0) await thread.flush()
  }
  await thread.flush()
}

const dirs: string[] = []
afterAll(async () => {
  for (const dir of dirs) await rm(dir, { recursive: true, force: true })
})

describe('restart over LevelDB', () => {
  it('restores identical state from the snapshot and the events after it, keeps writing, and survives a late event behind the snapshot', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'redux-threads-restart-'))
    dirs.push(dir)
    const issued: Issued[] = []
    const SNAPSHOT_EVERY = 1_000

    // A remote writer that never hears from the others: its events carry small clocks.
    const remote = await createPeer({ storage: memoryStorage() })
    const remoteStore = storeFor(remote)

    // Session 1: 2,500 local events and 3 late remote ones.
    const p1 = await createPeer({ storage: levelStorage(dir), snapshotEvery: SNAPSHOT_EVERY })
    const s1 = storeFor(p1)
    const t1 = await p1.createThread({ slices: [tally, bank] })
    const threadId = t1.id.toString()
    const rThread = await remote.openThread(threadId, { slices: [tally, bank], key: t1.key })
    for (let i = 0; i < 3; i++) issued.push(issue(remoteStore, i === 0 ? 'deposit' : 'add', 1_000 + i))
    await write(s1, t1, 500, 0, issued)
    const late1 = await t1.ingest(remote.id, (await rThread.recordsSince(new Map()))[0]?.blocks ?? [])
    expect(late1.rejected).toEqual([])
    expect(late1.replayed).toBe(true)
    await write(s1, t1, 2_000, 500, issued)
    expect(t1.engine.timeline.length).toBe(2_503)
    const state1 = s1.getState()
    expect(state1).toEqual(reference(issued))
    expect(state1.tally.n).toBe(issued.filter((e) => e.kind === 'add').length)
    const heads1 = new Map([...t1.heads()].map(([log, h]) => [log, h.seq]))
    expect(heads1.get(p1.id)).toBe(2_500)
    expect(heads1.get(remote.id)).toBe(3)
    const id1 = p1.id
    const lastOwn = issued.filter((e) => e.meta.logId === id1).at(-1)?.meta as EventMeta
    await p1.close()

    // Session 2: same directory, no network.
    const p2 = await createPeer({ storage: levelStorage(dir), snapshotEvery: SNAPSHOT_EVERY })
    expect(p2.id).toBe(id1)
    expect(p2.storedThreads().map(String)).toEqual([threadId])
    const s2 = storeFor(p2)
    const progress2: Progress[] = []
    const t2 = await p2.openThread(threadId, { slices: [tally, bank], onProgress: (p) => progress2.push(p) })
    expect(s2.getState()).toEqual(state1)
    expect(t2.engine.state).toEqual(state1)
    // The snapshot at event 2,000 holds the rest: only the 503 after it are folded.
    expect(t2.engine.timeline.length).toBe(503)
    expect(t2.engine.timeline.length).toBeLessThan(2_503)
    const load2 = progress2.filter((p) => p.phase === 'load')
    expect(load2.at(-1)).toEqual({ phase: 'load', done: 503, total: 503 })
    expect(new Map([...t2.heads()].map(([log, h]) => [log, h.seq]))).toEqual(heads1)

    // It keeps writing: the log continues at seq 2,501, after everything it has applied.
    const next = issue(s2, 'add', 424_242)
    issued.push(next)
    expect(next.meta).toMatchObject({ logId: id1, seq: 2_501, local: true })
    expect(next.meta.clock).toBeGreaterThan(lastOwn.clock)
    expect(next.meta.clock).toBe(Math.max(...issued.slice(0, -1).map((e) => e.meta.clock)) + 1)
    await t2.flush()
    const records = await p2.eventStore.records(threadId, id1, { from: 2_500 })
    expect(records.map((r) => r.seq)).toEqual([2_500, 2_501])
    expect(records[1]?.prev?.equals(records[0]?.id as never)).toBe(true)

    // A late event that sorts before the snapshot: the whole thread is folded again.
    issued.push(issue(remoteStore, 'withdraw', 2))
    const blocks = (await rThread.recordsSince(new Map([[remote.id, 3]])))[0]?.blocks ?? []
    expect(blocks).toHaveLength(1)
    const behind = await t2.ingest(remote.id, blocks)
    expect(behind.rejected).toEqual([])
    expect(behind.replayed).toBe(true)
    expect(behind.added.map((e) => e.meta.seq)).toEqual([4])
    expect(compareOrder(behind.added[0]?.meta as EventMeta, lastOwn)).toBeLessThan(0)
    const expected = reference(issued)
    expect(s2.getState()).toEqual(expected)
    expect(t2.engine.state).toEqual(expected)
    expect(t2.engine.timeline.length).toBe(issued.length)
    await t2.flush()
    await p2.close()

    // Session 3: the snapshot on disk is now behind that event; the restart still gets it right.
    const p3 = await createPeer({ storage: levelStorage(dir), snapshotEvery: SNAPSHOT_EVERY })
    const s3 = storeFor(p3)
    const t3 = await p3.openThread(threadId, { slices: [tally, bank] })
    expect(s3.getState()).toEqual(expected)
    expect(t3.engine.state).toEqual(expected)
    // The rebuild wrote a fresh snapshot: this restart did not fold the whole history again.
    expect(t3.engine.timeline.length).toBe(0)
    const more = issue(s3, 'deposit', 11)
    issued.push(more)
    expect(more.meta.seq).toBe(2_502)
    expect(s3.getState()).toEqual(reference(issued))
    // A fresh snapshot: the next restart folds nothing.
    await t3.snapshot()
    await p3.close()

    const p4 = await createPeer({ storage: levelStorage(dir), snapshotEvery: SNAPSHOT_EVERY })
    const s4 = storeFor(p4)
    const t4 = await p4.openThread(threadId, { slices: [tally, bank] })
    expect(t4.engine.timeline.length).toBe(0)
    expect(s4.getState()).toEqual(reference(issued))
    await p4.close()
    await remote.close()
  })

  it('a late event arriving in the first session replaces the stale snapshot, and the restart agrees', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'redux-threads-restart-'))
    dirs.push(dir)
    const issued: Issued[] = []
    const remote = await createPeer({ storage: memoryStorage() })
    const remoteStore = storeFor(remote)
    const p1 = await createPeer({ storage: levelStorage(dir), snapshotEvery: 200 })
    const s1 = storeFor(p1)
    const t1 = await p1.createThread({ slices: [tally, bank] })
    const rThread = await remote.openThread(t1.id, { slices: [tally, bank], key: t1.key })
    issued.push(issue(remoteStore, 'deposit', 50))
    issued.push(issue(remoteStore, 'withdraw', 20))
    await write(s1, t1, 450, 0, issued) // snapshots at 200 and 400
    const r = await t1.ingest(remote.id, (await rThread.recordsSince(new Map()))[0]?.blocks ?? [])
    expect(r.replayed).toBe(true)
    await t1.flush()
    expect(s1.getState()).toEqual(reference(issued))
    await p1.close()

    const p2 = await createPeer({ storage: levelStorage(dir), snapshotEvery: 200 })
    const s2 = storeFor(p2)
    const t2 = await p2.openThread(t1.id, { slices: [tally, bank] })
    expect(s2.getState()).toEqual(reference(issued))
    // The snapshot written after the late event is current: nothing to fold.
    expect(t2.engine.timeline.length).toBe(0)
    await p2.close()
    await remote.close()
  })

  it('a command dispatched while a late event rebuilds the thread sorts after everything and every peer agrees', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'redux-threads-restart-'))
    dirs.push(dir)
    const issued: Issued[] = []
    const remote = await createPeer({ storage: memoryStorage() })
    const remoteStore = storeFor(remote)
    const p1 = await createPeer({ storage: levelStorage(dir), snapshotEvery: 1_000 })
    const s1 = storeFor(p1)
    const t1 = await p1.createThread({ slices: [tally, bank] })
    const rThread = await remote.openThread(t1.id, { slices: [tally, bank], key: t1.key })
    await write(s1, t1, 1_500, 0, issued)
    await p1.close()

    const p2 = await createPeer({ storage: levelStorage(dir), snapshotEvery: 1_000 })
    const s2 = storeFor(p2)
    const t2 = await p2.openThread(t1.id, { slices: [tally, bank] })
    expect(t2.engine.timeline.length).toBe(500)
    issued.push(issue(remoteStore, 'deposit', 5)) // clock 1: behind the snapshot
    // A user action lands while the rebuild is under way (made deterministic with the progress
    // the rebuild reports every 1,000 events).
    let during: Issued | undefined
    const off = t2.engine.events.on('progress', (p) => {
      if (during === undefined && p.phase === 'load' && p.done > 0 && p.done < p.total) during = issue(s2, 'add', 777)
    })
    const r = await t2.ingest(remote.id, (await rThread.recordsSince(new Map()))[0]?.blocks ?? [])
    off()
    expect(r.replayed).toBe(true)
    expect(during).toBeDefined()
    issued.push(during as Issued)
    await t2.flush()
    // Rule 4: a new local event sorts after everything the peer had applied.
    const maxBefore = Math.max(...issued.filter((e) => e !== during).map((e) => e.meta.clock))
    expect(during?.meta.clock).toBeGreaterThan(maxBefore)
    expect(t2.engine.timeline.events.at(-1)?.meta.id).toBe(during?.meta.id)
    expect(s2.getState()).toEqual(t2.engine.state)
    expect(s2.getState().tally.n).toBe(issued.filter((e) => e.kind === 'add').length)

    // A third peer that takes both logs computes the same state.
    const q = await createPeer({ storage: memoryStorage() })
    const sq = storeFor(q)
    const tq = await q.openThread(t1.id, { slices: [tally, bank], key: t1.key })
    for (const { logId, blocks } of await t2.recordsSince(new Map())) await tq.ingest(logId, blocks)
    expect(sq.getState()).toEqual(s2.getState())
    expect(tq.engine.timeline.events.map((e) => e.meta.clock)).toEqual(t2.engine.timeline.events.map((e) => e.meta.clock))
    await q.close()
    await p2.close()

    // And so does the author after a restart.
    const p3 = await createPeer({ storage: levelStorage(dir), snapshotEvery: 1_000 })
    const s3 = storeFor(p3)
    await p3.openThread(t1.id, { slices: [tally, bank] })
    expect(s3.getState()).toEqual(sq.getState())
    await p3.close()
    await remote.close()
  })
})
