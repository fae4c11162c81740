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
import { configureStore, type PayloadAction, type UnknownAction } from '@reduxjs/toolkit'
import { afterAll, describe, expect, it } from 'vitest'
import { levelStorage } from '../../adapters/storage/level.js'
import { memoryStorage } from '../../adapters/storage/memory.js'
import type { Progress } from '../../src/engine/threadEngine.js'
import { compareOrder, type EventMeta } from '../../src/engine/threadEvent.js'
import type { ThreadKey } from '../../src/core/keys.js'
import { createPeer, type Peer, type PeerOptions } from '../../src/redux/createPeer.js'
import { createThreadSlice } from '../../src/redux/createThreadSlice.js'
import { engineOf, type ThreadHandle } from '../../src/redux/threadHandle.js'
import type { StorageAdapter } from '../../src/store/storageAdapter.js'
import { bank, eventRecorder, issue as issueEvent, type Bank } from '../unit/redux/fixtures.js'

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

function storeFor(peer: Peer, events: EventMeta[]) {
  return configureStore({
    reducer: { [peer.reducerPath]: peer.reducer, tally: tally.reducer, bank: bank.reducer },
    middleware: (d) => d().concat(peer.middleware, eventRecorder(events))
  })
}

type Store = ReturnType<typeof storeFor>

/** A started peer, its store (with the events it saw) and one open thread. */
interface Session {
  readonly peer: Peer
  readonly store: Store
  readonly events: EventMeta[]
  readonly id: string
  readonly thread: ThreadHandle
  readonly engine: ReturnType<typeof engineOf>
}

/**
 * A peer over `storage` and a thread: a new one, or `open` (from storage, or with its key). The
 * thread slices are always tally and bank.
 */
async function session(
  storage: StorageAdapter,
  options: Omit<PeerOptions, 'storage' | 'reducerPath'> = {},
  open?: { threadId: string; key?: ThreadKey; onProgress?: (p: Progress) => void }
): Promise<Session> {
  const peer = createPeer({ storage, ...options })
  const events: EventMeta[] = []
  const store = storeFor(peer, events)
  const { threadId } =
    open === undefined
      ? await store.dispatch(peer.thunks.createThread({ slices: [tally, bank] })).unwrap()
      : await store.dispatch(peer.thunks.openThread({ ...open, slices: [tally, bank] })).unwrap()
  const thread = peer.thread(threadId) as ThreadHandle
  return { peer, store, events, id: peer.id as string, thread, engine: engineOf(thread) }
}

/** The slices' part of a store's state (the peer's status aside). */
function slices(s: Session): { tally: Tally; bank: Bank } {
  const { tally: t, bank: b } = s.store.getState()
  return { tally: t, bank: b }
}

function issue(s: Session, kind: Issued['kind'], value: number): Issued {
  const action: UnknownAction = kind === 'add' ? tally.actions.added(value) : kind === 'deposit' ? bank.actions.deposit(value) : bank.actions.withdraw(value)
  return { meta: issueEvent(s, action), kind, value }
}

/** `count` commands in bursts of 100, each burst made durable (and any snapshot written). */
async function write(s: Session, count: number, start: number, out: Issued[]): Promise<void> {
  for (let i = 0; i < count; i++) {
    const k = start + i
    out.push(k % 10 === 3 ? issue(s, 'withdraw', (k % 7) + 1) : k % 10 === 7 ? issue(s, 'deposit', 3) : issue(s, 'add', k))
    if ((i + 1) % 100 === 0) await s.thread.flush()
  }
  await s.thread.flush()
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

    // Session 1: 2,500 local events and 3 late remote ones.
    const p1 = await session(levelStorage(dir), { snapshotEvery: SNAPSHOT_EVERY })
    const threadId = p1.thread.id
    // A remote writer that never hears from the others: its events carry small clocks.
    const remote = await session(memoryStorage(), {}, { threadId, key: p1.thread.key })
    for (let i = 0; i < 3; i++) issued.push(issue(remote, i === 0 ? 'deposit' : 'add', 1_000 + i))
    await write(p1, 500, 0, issued)
    const late1 = await p1.thread.ingest(remote.id, (await remote.thread.recordsSince(new Map()))[0]?.blocks ?? [])
    expect(late1.rejected).toEqual([])
    expect(late1.replayed).toBe(true)
    await write(p1, 2_000, 500, issued)
    expect(p1.engine.timeline.length).toBe(2_503)
    const state1 = slices(p1)
    expect(state1).toEqual(reference(issued))
    expect(state1.tally.n).toBe(issued.filter((e) => e.kind === 'add').length)
    const heads1 = new Map([...p1.thread.heads()].map(([log, h]) => [log, h.seq]))
    expect(heads1.get(p1.id)).toBe(2_500)
    expect(heads1.get(remote.id)).toBe(3)
    const id1 = p1.id
    const lastOwn = issued.filter((e) => e.meta.logId === id1).at(-1)?.meta as EventMeta
    await p1.peer.close()

    // Session 2: same directory, no network. The identity and the thread come from storage.
    const probe = createPeer({ storage: levelStorage(dir), snapshotEvery: SNAPSHOT_EVERY })
    expect(await probe.storedThreads()).toEqual([threadId])
    expect(probe.id).toBe(id1)
    await probe.close()
    const progress2: Progress[] = []
    const p2 = await session(levelStorage(dir), { snapshotEvery: SNAPSHOT_EVERY }, { threadId, onProgress: (p) => progress2.push(p) })
    expect(p2.id).toBe(id1)
    expect(slices(p2)).toEqual(state1)
    expect(p2.engine.state).toEqual(state1)
    // The snapshot at event 2,000 holds the rest: only the 503 after it are folded.
    expect(p2.engine.timeline.length).toBe(503)
    expect(p2.engine.timeline.length).toBeLessThan(2_503)
    const load2 = progress2.filter((p) => p.phase === 'load')
    expect(load2.at(-1)).toEqual({ phase: 'load', done: 503, total: 503 })
    expect(new Map([...p2.thread.heads()].map(([log, h]) => [log, h.seq]))).toEqual(heads1)

    // It keeps writing: the log continues at seq 2,501, after everything it has applied.
    const next = issue(p2, 'add', 424_242)
    issued.push(next)
    expect(next.meta).toMatchObject({ logId: id1, seq: 2_501, local: true })
    expect(next.meta.clock).toBeGreaterThan(lastOwn.clock)
    expect(next.meta.clock).toBe(Math.max(...issued.slice(0, -1).map((e) => e.meta.clock)) + 1)
    await p2.thread.flush()
    const records = await p2.engine.store.records(threadId, id1, { from: 2_500 })
    expect(records.map((r) => r.seq)).toEqual([2_500, 2_501])
    expect(records[1]?.prev?.equals(records[0]?.id as never)).toBe(true)

    // A late event that sorts before the snapshot: the whole thread is folded again.
    issued.push(issue(remote, 'withdraw', 2))
    const blocks = (await remote.thread.recordsSince(new Map([[remote.id, 3]])))[0]?.blocks ?? []
    expect(blocks).toHaveLength(1)
    const behind = await p2.thread.ingest(remote.id, blocks)
    expect(behind.rejected).toEqual([])
    expect(behind.replayed).toBe(true)
    expect(behind.added.map((e) => e.meta.seq)).toEqual([4])
    expect(compareOrder(behind.added[0]?.meta as EventMeta, lastOwn)).toBeLessThan(0)
    const expected = reference(issued)
    expect(slices(p2)).toEqual(expected)
    expect(p2.engine.state).toEqual(expected)
    expect(p2.engine.timeline.length).toBe(issued.length)
    await p2.thread.flush()
    await p2.peer.close()

    // Session 3: the snapshot on disk is now behind that event; the restart still gets it right.
    const p3 = await session(levelStorage(dir), { snapshotEvery: SNAPSHOT_EVERY }, { threadId })
    expect(slices(p3)).toEqual(expected)
    expect(p3.engine.state).toEqual(expected)
    // The rebuild wrote a fresh snapshot: this restart did not fold the whole history again.
    expect(p3.engine.timeline.length).toBe(0)
    const more = issue(p3, 'deposit', 11)
    issued.push(more)
    expect(more.meta.seq).toBe(2_502)
    expect(slices(p3)).toEqual(reference(issued))
    // A fresh snapshot: the next restart folds nothing.
    await p3.thread.snapshot()
    await p3.peer.close()

    const p4 = await session(levelStorage(dir), { snapshotEvery: SNAPSHOT_EVERY }, { threadId })
    expect(p4.engine.timeline.length).toBe(0)
    expect(slices(p4)).toEqual(reference(issued))
    await p4.peer.close()
    await remote.peer.close()
  })

  it('a late event arriving in the first session replaces the stale snapshot, and the restart agrees', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'redux-threads-restart-'))
    dirs.push(dir)
    const issued: Issued[] = []
    const p1 = await session(levelStorage(dir), { snapshotEvery: 200 })
    const threadId = p1.thread.id
    const remote = await session(memoryStorage(), {}, { threadId, key: p1.thread.key })
    issued.push(issue(remote, 'deposit', 50))
    issued.push(issue(remote, 'withdraw', 20))
    await write(p1, 450, 0, issued) // snapshots at 200 and 400
    const r = await p1.thread.ingest(remote.id, (await remote.thread.recordsSince(new Map()))[0]?.blocks ?? [])
    expect(r.replayed).toBe(true)
    await p1.thread.flush()
    expect(slices(p1)).toEqual(reference(issued))
    await p1.peer.close()

    const p2 = await session(levelStorage(dir), { snapshotEvery: 200 }, { threadId })
    expect(slices(p2)).toEqual(reference(issued))
    // The snapshot written after the late event is current: nothing to fold.
    expect(p2.engine.timeline.length).toBe(0)
    await p2.peer.close()
    await remote.peer.close()
  })

  it('a command dispatched while a late event rebuilds the thread sorts after everything and every peer agrees', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'redux-threads-restart-'))
    dirs.push(dir)
    const issued: Issued[] = []
    const p1 = await session(levelStorage(dir), { snapshotEvery: 1_000 })
    const threadId = p1.thread.id
    const key = p1.thread.key
    const remote = await session(memoryStorage(), {}, { threadId, key })
    await write(p1, 1_500, 0, issued)
    await p1.peer.close()

    const p2 = await session(levelStorage(dir), { snapshotEvery: 1_000 }, { threadId })
    expect(p2.engine.timeline.length).toBe(500)
    issued.push(issue(remote, 'deposit', 5)) // clock 1: behind the snapshot
    // A user action lands while the rebuild is under way (made deterministic with the progress
    // the rebuild reports every 1,000 events).
    let during: Issued | undefined
    const off = p2.engine.events.on('progress', (p) => {
      if (during === undefined && p.phase === 'load' && p.done > 0 && p.done < p.total) during = issue(p2, 'add', 777)
    })
    const r = await p2.thread.ingest(remote.id, (await remote.thread.recordsSince(new Map()))[0]?.blocks ?? [])
    off()
    expect(r.replayed).toBe(true)
    expect(during).toBeDefined()
    issued.push(during as Issued)
    await p2.thread.flush()
    // Rule 4: a new local event sorts after everything the peer had applied.
    const maxBefore = Math.max(...issued.filter((e) => e !== during).map((e) => e.meta.clock))
    expect(during?.meta.clock).toBeGreaterThan(maxBefore)
    expect(p2.engine.timeline.events.at(-1)?.meta.id).toBe(during?.meta.id)
    expect(slices(p2)).toEqual(p2.engine.state)
    expect(slices(p2).tally.n).toBe(issued.filter((e) => e.kind === 'add').length)

    // A third peer that takes both logs computes the same state.
    const q = await session(memoryStorage(), {}, { threadId, key })
    for (const { logId, blocks } of await p2.thread.recordsSince(new Map())) await q.thread.ingest(logId, blocks)
    expect(slices(q)).toEqual(slices(p2))
    expect(q.engine.timeline.events.map((e) => e.meta.clock)).toEqual(p2.engine.timeline.events.map((e) => e.meta.clock))
    await q.peer.close()
    await p2.peer.close()

    // And so does the author after a restart.
    const p3 = await session(levelStorage(dir), { snapshotEvery: 1_000 }, { threadId })
    expect(slices(p3)).toEqual(slices(q))
    await p3.peer.close()
    await remote.peer.close()
  })
})
