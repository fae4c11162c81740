/**
 * The peer's Redux bindings (DESIGN.md sections 4, 5, 7): the middleware in configureStore and in
 * a legacy createStore, RTK's dev checks kept on and quiet, one store notification per replay,
 * non-thread slices never rolled back, several threads per store and several slices per thread,
 * durability (`unwrap()`), transactions, every event reaching the store as its own action, and
 * the status in the store and on `status$`.
 */
import { configureStore, type UnknownAction } from '@reduxjs/toolkit'
import { firstValueFrom } from 'rxjs'
import { applyMiddleware, combineReducers, legacy_createStore } from 'redux'
import { afterEach, beforeEach, describe, expect, it, vi, type MockInstance } from 'vitest'
import { memoryStorage } from '../../../adapters/storage/memory.js'
import { decodeCommand, encodeCommand } from '../../../src/core/command.js'
import { createRecord, openEvent, recordBlocks, type RecordBlocks } from '../../../src/core/record.js'
import { TXN_COMMIT } from '../../../src/engine/transactions.js'
import type { EventMeta } from '../../../src/engine/threadEvent.js'
import { eventOf, threadApplied, type AppliedPayload } from '../../../src/redux/appliedAction.js'
import { createPeer, type Peer } from '../../../src/redux/createPeer.js'
import type { ThreadEntry } from '../../../src/redux/peerSlice.js'
import { engineOf } from '../../../src/redux/threadHandle.js'
import type { StorageAdapter, StorageOp } from '../../../src/store/storageAdapter.js'
import { keys } from '../../../src/store/storageKeys.js'
import { bank, eventRecorder, issue, list, makeGroup, makeStore, ownBlocks, recorder, testPeer, ui, type TestPeer } from './fixtures.js'

/** The peer's own status actions (coalesced per macrotask): notifications of their own. */
const isPeerStatus = (a: UnknownAction): boolean => a.type.startsWith('redux-threads/peer/')

/** Memory storage whose batches wait until `release()`: durability made observable. */
function gatedStorage(): { storage: StorageAdapter; hold: () => void; release: () => void; batches: () => number } {
  const inner = memoryStorage()
  let gate: Promise<void> | undefined
  let open: (() => void) | undefined
  let batches = 0
  return {
    storage: {
      ...inner,
      async batch(ops: readonly StorageOp[]) {
        if (gate !== undefined) await gate
        batches++
        return inner.batch(ops)
      }
    },
    hold: () => {
      gate = new Promise((r) => (open = r))
    },
    release: () => {
      gate = undefined
      open?.()
    },
    batches: () => batches
  }
}

const later = (ms = 20): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms))

/**
 * Peer `p` (store with a recorder after the peer middleware: it sees what reaches the reducers)
 * and a remote writer `r` that has seen nothing: r's events sort early on p.
 */
async function lateSetup(storage: StorageAdapter = memoryStorage()): Promise<{ p: TestPeer; r: TestPeer; rec: ReturnType<typeof recorder> }> {
  const rec = recorder()
  const peer = createPeer({ storage })
  const events: EventMeta[] = []
  const store = makeStore(peer, eventRecorder(events), rec.middleware)
  const { threadId } = await store.dispatch(peer.thunks.createThread({ slices: [list, bank] })).unwrap()
  const p = testPeer(peer, store, threadId, events)
  const rPeer = createPeer({ storage: memoryStorage() })
  const rEvents: EventMeta[] = []
  const rStore = makeStore(rPeer, eventRecorder(rEvents))
  await rStore.dispatch(rPeer.thunks.openThread({ threadId, slices: [list, bank], key: p.thread.key })).unwrap()
  return { p, r: testPeer(rPeer, rStore, threadId, rEvents), rec }
}

let errorSpy: MockInstance
let warnSpy: MockInstance
beforeEach(() => {
  errorSpy = vi.spyOn(console, 'error')
  warnSpy = vi.spyOn(console, 'warn')
})
afterEach(() => {
  errorSpy.mockRestore()
  warnSpy.mockRestore()
})

describe('peer with configureStore', () => {
  it("keeps RTK's serializable and immutability checks on and quiet over commands, remote ingest and a late-event replay", async () => {
    const { p, r, rec } = await lateSetup()
    try {
      // The default middleware really is there: a non-serializable action warns.
      p.store.dispatch({ type: 'probe/nonSerializable', payload: new Map() })
      expect(errorSpy).toHaveBeenCalledTimes(1)
      errorSpy.mockClear()

      r.store.dispatch(bank.actions.deposit(100))
      r.store.dispatch(list.actions.pushed('r1'))
      for (let i = 0; i < 5; i++) p.store.dispatch(list.actions.pushed(`p${i}`))
      p.store.dispatch(bank.actions.withdraw(30))
      const res = await p.thread.ingest(r.id, await ownBlocks(r))
      expect(res.replayed).toBe(true)
      // And the other way: r takes p's records (appends after its tip).
      await r.thread.ingest(p.id, await ownBlocks(p))
      await Promise.all([p.peer.idle(), r.peer.idle()])
      expect(p.store.getState().list).toEqual(r.store.getState().list)
      expect(p.store.getState().bank).toEqual({ balance: 70, refused: 0 })
      expect(rec.actions.filter((a) => a.type === threadApplied.type).length).toBeGreaterThan(0)
      // The status went through the checks too.
      expect(rec.actions.some(isPeerStatus)).toBe(true)
      expect(errorSpy).not.toHaveBeenCalled()
      expect(warnSpy).not.toHaveBeenCalled()
    } finally {
      await p.peer.close()
      await r.peer.close()
    }
  })

  it('a late event replay reaches the store as one threadApplied and one action per event, and one notification', async () => {
    const { p, r, rec } = await lateSetup()
    try {
      r.store.dispatch(list.actions.pushed('r1'))
      r.store.dispatch(list.actions.pushed('r2'))
      for (let i = 0; i < 40; i++) p.store.dispatch(list.actions.pushed(`p${i}`))
      const blocks = await ownBlocks(r)
      let notifications = 0
      const unsubscribe = p.store.subscribe(() => notifications++)
      const before = rec.actions.length
      const res = await p.thread.ingest(r.id, blocks)
      unsubscribe()
      expect(res.replayed).toBe(true)
      expect(res.added).toHaveLength(2)
      // More than the two late events were folded again (the suffix after the checkpoint), and
      // no more than the checkpoint policy's bound: lateness · 1.34 + 32 reducer calls.
      expect(res.folds).toBeGreaterThan(2)
      const timeline = p.engine.timeline.events
      const lateness = timeline.length - 1 - timeline.findIndex((e) => e.meta.logId === r.id)
      expect(lateness).toBeGreaterThanOrEqual(39)
      expect(res.folds).toBeLessThanOrEqual(lateness * 1.34 + 32)
      const all = rec.actions.slice(before)
      const during = all.filter((a) => !isPeerStatus(a))
      // Subscribers hear of the batch once (a status update, if one fell inside, is its own).
      expect(notifications - (all.length - during.length)).toBe(1)
      expect(during.map((a) => a.type)).toEqual([threadApplied.type, 'list/pushed', 'list/pushed'])
      const payload = during[0]?.payload as AppliedPayload
      expect(payload.reason).toBe('replay')
      expect(payload.threadId).toBe(p.thread.id)
      expect(payload.events).toBe(2)
      // It carries the states that changed (bank did not), and they are the store's.
      expect(Object.keys(payload.states)).toEqual(['list'])
      expect(payload.states.list).toBe(p.store.getState().list)
      // Each late event follows as its own action: remote, marked as a replay.
      const late = during.slice(1) as Array<UnknownAction & { meta: { replay?: true } }>
      expect(late.map((a) => a.payload)).toEqual(['r1', 'r2'])
      expect(late.map((a) => [eventOf(a)?.local, eventOf(a)?.logId, a.meta.replay])).toEqual([
        [false, r.id, true],
        [false, r.id, true]
      ])
      // r's events (clocks 1, 2) sort among p's first ones.
      const state = p.store.getState().list
      expect(state).toHaveLength(42)
      expect(state.indexOf('r1')).toBeLessThan(3)
      expect(state.indexOf('r2')).toBeLessThan(4)
      expect(state).toEqual(p.engine.state.list)
    } finally {
      await p.peer.close()
      await r.peer.close()
    }
  })

  it('a non-thread slice is never rolled back: its state is unchanged by remote events and replays', async () => {
    const { p, r } = await lateSetup()
    try {
      r.store.dispatch(list.actions.pushed('r1'))
      for (let i = 0; i < 10; i++) {
        p.store.dispatch(list.actions.pushed(`p${i}`))
        p.store.dispatch(ui.actions.clicked())
      }
      const uiBefore = p.store.getState().ui
      expect(uiBefore).toEqual({ commands: 10, applied: 1, remoteEvents: 0, clicks: 10 }) // 1: the open
      await p.thread.ingest(r.id, await ownBlocks(r))
      const uiAfter = p.store.getState().ui
      // Only its reactions to the applied action and to the remote event's own action:
      // commands and clicks are untouched.
      expect(uiAfter).toEqual({ ...uiBefore, applied: uiBefore.applied + 1, remoteEvents: 1 })
      expect(p.store.getState().list).toHaveLength(11)
    } finally {
      await p.peer.close()
      await r.peer.close()
    }
  })

  it('one thread feeds two slices: a replay moves both in one threadApplied', async () => {
    const { p, r, rec } = await lateSetup()
    try {
      r.store.dispatch(bank.actions.deposit(5))
      r.store.dispatch(list.actions.pushed('r'))
      p.store.dispatch(bank.actions.withdraw(5)) // refused here, until r's deposit arrives before it
      p.store.dispatch(list.actions.pushed('p'))
      p.store.dispatch(list.actions.pushed('q'))
      expect(p.store.getState().bank).toEqual({ balance: 0, refused: 1 })
      const before = rec.actions.length
      await p.thread.ingest(r.id, await ownBlocks(r))
      const during = rec.actions.slice(before).filter((a) => !isPeerStatus(a))
      expect(during.map((a) => a.type)).toEqual([threadApplied.type, 'bank/deposit', 'list/pushed'])
      expect(Object.keys((during[0]?.payload as AppliedPayload).states).sort()).toEqual(['bank', 'list'])
      expect(p.store.getState().bank).toEqual(p.engine.state.bank)
      expect(p.store.getState().list).toEqual(p.engine.state.list)
      expect(p.store.getState().list).toHaveLength(3)
      // r's deposit is at clock 1; p's withdrawal at clock 1 too: the log IDs decide.
      const depositFirst = r.id < p.id
      expect(p.store.getState().bank).toEqual(depositFirst ? { balance: 0, refused: 0 } : { balance: 5, refused: 1 })
    } finally {
      await p.peer.close()
      await r.peer.close()
    }
  })

  it('one store holds two threads, each with its own slice, log, timeline and status', async () => {
    const a = createPeer({ storage: memoryStorage() })
    const b = createPeer({ storage: memoryStorage() })
    const sa = makeStore(a)
    const sb = makeStore(b)
    try {
      const { threadId: t1 } = await sa.dispatch(a.thunks.createThread({ slices: [list] })).unwrap()
      const { threadId: t2 } = await sa.dispatch(a.thunks.createThread({ slices: [bank] })).unwrap()
      expect(t1).not.toBe(t2)
      const h1 = a.thread(t1)!
      const h2 = a.thread(t2)!
      sa.dispatch(list.actions.pushed('x'))
      sa.dispatch(bank.actions.deposit(7))
      sa.dispatch(list.actions.pushed('y'))
      expect(engineOf(h1).timeline.length).toBe(2)
      expect(engineOf(h2).timeline.length).toBe(1)
      expect(h1.heads().get(a.id!)?.seq).toBe(2)
      expect(h2.heads().get(a.id!)?.seq).toBe(1)
      await sb.dispatch(b.thunks.openThread({ threadId: t1, slices: [list], key: h1.key })).unwrap()
      await sb.dispatch(b.thunks.openThread({ threadId: t2, slices: [bank], key: h2.key })).unwrap()
      const u1 = b.thread(t1)!
      const u2 = b.thread(t2)!
      const blocks1 = (await h1.recordsSince(new Map()))[0]?.blocks ?? []
      const blocks2 = (await h2.recordsSince(new Map()))[0]?.blocks ?? []
      expect((await u1.ingest(a.id!, blocks1)).added).toHaveLength(2)
      expect((await u2.ingest(a.id!, blocks2)).added).toHaveLength(1)
      // A thread's records do not open in the other thread (other keys).
      expect((await u2.ingest(a.id!, blocks1)).added).toHaveLength(0)
      expect(sb.getState().list).toEqual(['x', 'y'])
      expect(sb.getState().bank).toEqual({ balance: 7, refused: 0 })
      expect((await b.storedThreads()).sort()).toEqual([t1, t2].sort())
      // Each thread's status, in the store and on its stream: the same objects.
      await a.idle()
      expect(a.selectors.selectThreadStatus(sa.getState(), t1)).toMatchObject({ threadId: t1, events: 2, role: 'write' })
      expect(a.selectors.selectThreadStatus(sa.getState(), t2)).toMatchObject({ threadId: t2, events: 1, role: 'write' })
      expect(await firstValueFrom(a.status$(t1))).toEqual(a.selectors.selectThreadStatus(sa.getState(), t1))
      expect(Object.keys(a.selectors.selectThreads(sa.getState())).sort()).toEqual([t1, t2].sort())
    } finally {
      await a.close()
      await b.close()
    }
  })
})

describe('peer with a legacy createStore', () => {
  it('works with createStore(reducer, applyMiddleware(peer.middleware)) from redux', async () => {
    const a = createPeer({ storage: memoryStorage() })
    const b = createPeer({ storage: memoryStorage() })
    try {
      const rec = recorder()
      const reducerOf = (peer: Peer) => combineReducers({ [peer.reducerPath]: peer.reducer, list: list.reducer, bank: bank.reducer, ui: ui.reducer })
      const sa = legacy_createStore(reducerOf(a), applyMiddleware(a.middleware, rec.middleware))
      const sb = legacy_createStore(reducerOf(b), applyMiddleware(b.middleware))
      // No thunk middleware in a plain Redux store: a thunk runs when called with the store's dispatch.
      const { threadId } = await a.thunks.createThread({ slices: [list, bank] })(sa.dispatch, sa.getState, undefined).unwrap()
      const ta = a.thread(threadId)!
      await b.thunks.openThread({ threadId, slices: [list, bank], key: ta.key })(sb.dispatch, sb.getState, undefined).unwrap()
      const tb = b.thread(threadId)!
      sb.dispatch(bank.actions.deposit(10))
      const d = sa.dispatch(bank.actions.withdraw(4))
      sa.dispatch(list.actions.pushed('a'))
      expect(await d.unwrap()).toMatchObject({ logId: a.id, seq: 1, local: true })
      expect(sa.getState().list).toEqual(['a'])
      expect(sa.getState().bank).toEqual({ balance: 0, refused: 1 })
      await ta.ingest(b.id!, (await tb.recordsSince(new Map()))[0]?.blocks ?? [])
      await tb.ingest(a.id!, (await ta.recordsSince(new Map())).find((l) => l.logId === a.id)?.blocks ?? [])
      expect(sa.getState().list).toEqual(['a'])
      expect(sa.getState().bank).toEqual(sb.getState().bank)
      expect(sa.getState().bank).toEqual(engineOf(ta).state.bank)
      expect(sa.getState().ui).toMatchObject({ commands: 2, remoteEvents: 1 })
      expect(sb.getState().ui).toMatchObject({ commands: 1, remoteEvents: 2 })
      expect(rec.actions.some((x) => x.type === threadApplied.type)).toBe(true)
    } finally {
      await a.close()
      await b.close()
    }
  })

  // src bug (see the report): a thread opened before the peer's middleware is in a store queues
  // its `open` step, and the middleware runs it while Redux builds the store: applyMiddleware
  // refuses ("Dispatching while constructing your middleware is not allowed"), so configureStore
  // throws. The old API delivered the open on the first dispatch.
  it('a thread opened before the store exists reaches the store once the middleware is in one', async () => {
    const a = createPeer({ storage: memoryStorage() })
    try {
      // The thunk runs without a store (its own dispatch): the thread opens before the store.
      const run = a.thunks.createThread({ slices: [list] })((action: unknown) => action, () => ({}), undefined)
      const { threadId } = await run.unwrap()
      // (Let the status of the new thread go nowhere first: with the bug, a status dispatched
      // later through the half-built store would throw outside the test.)
      await later()
      const store = configureStore({ reducer: { [a.reducerPath]: a.reducer, list: list.reducer, ui: ui.reducer }, middleware: (d) => d().concat(a.middleware) })
      store.dispatch(list.actions.pushed('first'))
      expect(store.getState().list).toEqual(['first'])
      expect(store.getState().ui.applied).toBe(1)
      expect(engineOf(a.thread(threadId)!).state.list).toEqual(['first'])
    } finally {
      // With the bug, close() throws too (its `closing` status goes through the same dispatch).
      await a.close().catch(() => undefined)
    }
  })
})

describe('durability: unwrap()', () => {
  it('store.dispatch(command).unwrap() resolves with its event once the record is in storage', async () => {
    const g = gatedStorage()
    const peer = createPeer({ storage: g.storage })
    const seen: EventMeta[] = []
    try {
      const store = configureStore({
        reducer: { [peer.reducerPath]: peer.reducer, list: list.reducer },
        middleware: (d) => d().concat(peer.middleware, eventRecorder(seen))
      })
      const { threadId } = await store.dispatch(peer.thunks.createThread({ slices: [list] })).unwrap()
      const engine = engineOf(peer.thread(threadId)!)
      const es = engine.store
      const me = peer.id!
      g.hold()
      const dispatched = store.dispatch(list.actions.pushed('milk'))
      const event = seen[0] as EventMeta
      let done = false
      const p = dispatched.unwrap().then((meta) => {
        done = true
        return meta
      })
      expect(engine.pending).toBe(1)
      await Promise.resolve()
      await Promise.resolve()
      expect(done).toBe(false)
      // Not in storage yet (the head moved in memory at once: idAt answers from it).
      const t = es.logstore.getThread(threadId)
      const log = es.logstore.log(threadId, me)!
      expect(await g.storage.get(keys.record(t.n, log.n, 1))).toBeUndefined()
      expect(await g.storage.get(keys.head(t.n, log.n))).toBeUndefined()
      expect((await es.idAt(threadId, me, 1))?.toString()).toBe(event.id)
      g.release()
      expect(await p).toEqual(event)
      expect(done).toBe(true)
      expect(await g.storage.get(keys.record(t.n, log.n, 1))).toBeDefined()
      expect(await g.storage.get(keys.head(t.n, log.n))).toBeDefined()
      const id = await es.idAt(threadId, me, 1)
      expect(id?.toString()).toBe(event.id)
      const records = await es.records(threadId, me)
      expect(records.map((r) => r.id.toString())).toEqual([event.id])
      expect(engine.pending).toBe(0)
      // Any other action: dispatch returns it as it is, with nothing to unwrap.
      const plain = store.dispatch({ type: 'not/a/command' })
      expect(plain).toEqual({ type: 'not/a/command' })
      expect('unwrap' in plain).toBe(false)
    } finally {
      g.release()
      await peer.close()
    }
  })

  it('a burst of commands goes to storage in few batches, and every unwrap() resolves', async () => {
    const g = gatedStorage()
    const peer = createPeer({ storage: g.storage })
    try {
      const store = configureStore({ reducer: { [peer.reducerPath]: peer.reducer, list: list.reducer }, middleware: (d) => d().concat(peer.middleware) })
      const { threadId } = await store.dispatch(peer.thunks.createThread({ slices: [list] })).unwrap()
      const before = g.batches()
      const all = Array.from({ length: 50 }, (_, i) => store.dispatch(list.actions.pushed(`x${i}`)).unwrap())
      const metas = await Promise.all(all)
      expect(metas.map((m) => m.seq)).toEqual(Array.from({ length: 50 }, (_, i) => i + 1))
      expect(g.batches() - before).toBeLessThanOrEqual(2)
      expect(await engineOf(peer.thread(threadId)!).store.records(threadId, peer.id!)).toHaveLength(50)
    } finally {
      await peer.close()
    }
  })
})

describe('transactions', () => {
  it('a committed transaction stores every command and its commit record: the head advances by n + 1', async () => {
    const [p] = (await makeGroup(1)) as [TestPeer]
    try {
      issue(p, list.actions.pushed('before'))
      const seq0 = p.thread.heads().get(p.id)?.seq ?? 0
      const from = p.events.length
      const result = await p.store
        .dispatch(
          p.peer.thunks.transaction({
            threadId: p.thread.id,
            run: () => {
              p.store.dispatch(list.actions.pushed('t1'))
              p.store.dispatch(bank.actions.deposit(3))
              p.store.dispatch(list.actions.pushed('t2'))
              return 'ok'
            }
          })
        )
        .unwrap()
      expect(result).toBe('ok')
      // Three commands, then the record that commits them (applied whole on every peer).
      expect(p.thread.heads().get(p.id)?.seq).toBe(seq0 + 4)
      const stored = await p.engine.store.records(p.thread.id, p.id)
      expect(stored).toHaveLength(seq0 + 4)
      expect(decodeCommand(openEvent(p.thread.key.read, stored.at(-1)!).body).type).toBe(TXN_COMMIT)
      expect(p.store.getState().list).toEqual(['before', 't1', 't2'])
      expect(p.store.getState().bank.balance).toBe(3)
      // The commit record changes no state and reaches no listener.
      const events = p.events.slice(from)
      expect(events).toHaveLength(3)
      expect(events.map((e) => e.seq)).toEqual([seq0 + 1, seq0 + 2, seq0 + 3])
    } finally {
      await p.peer.close()
    }
  })

  it('a throwing transaction stores nothing, returns the slices to their state before, and rejects with its error', async () => {
    const [p, q] = (await makeGroup(2)) as [TestPeer, TestPeer]
    try {
      p.store.dispatch(list.actions.pushed('kept'))
      p.store.dispatch(bank.actions.deposit(10))
      await p.thread.flush()
      const before = p.store.getState()
      const head = p.thread.heads().get(p.id)
      const length = p.engine.timeline.length
      const failure = new Error('abort the transaction')
      await expect(
        p.store
          .dispatch(
            p.peer.thunks.transaction({
              threadId: p.thread.id,
              run: () => {
                p.store.dispatch(list.actions.pushed('lost1'))
                p.store.dispatch(bank.actions.withdraw(10))
                expect(p.store.getState().list).toEqual(['kept', 'lost1'])
                throw failure
              }
            })
          )
          .unwrap()
        // A thunk's error is serialised (RTK's miniSerializeError): name and message survive.
      ).rejects.toMatchObject({ name: 'Error', message: 'abort the transaction' })
      expect(p.store.getState().list).toEqual(before.list)
      expect(p.store.getState().bank).toEqual(before.bank)
      expect(p.engine.state).toEqual({ list: before.list, bank: before.bank })
      expect(p.engine.timeline.length).toBe(length)
      expect(p.thread.heads().get(p.id)?.id.equals(head?.id as never)).toBe(true)
      await p.thread.flush()
      expect(await p.engine.store.records(p.thread.id, p.id)).toHaveLength(2)
      // A non-thread slice saw the two commands and is not rolled back; the rollback reached the
      // store as a threadApplied.
      expect(p.store.getState().ui.commands).toBe(before.ui.commands + 2)
      expect(p.store.getState().ui.applied).toBe(before.ui.applied + 1)
      // The log continues where it was: the next command takes seq 3, linked to the head.
      const next = issue(p, list.actions.pushed('after'))
      expect(next.seq).toBe(3)
      expect(next.clock).toBe(3)
      // And another peer sees exactly the committed events.
      await q.thread.ingest(p.id, await ownBlocks(p))
      expect(q.store.getState().list).toEqual(['kept', 'after'])
      expect(q.store.getState().bank).toEqual({ balance: 10, refused: 0 })
    } finally {
      await p.peer.close()
      await q.peer.close()
    }
  })

  it('an async transaction function is refused and leaves nothing', async () => {
    const [p] = (await makeGroup(1)) as [TestPeer]
    try {
      await expect(
        p.store
          .dispatch(
            p.peer.thunks.transaction({
              threadId: p.thread.id,
              run: async () => {
                p.store.dispatch(list.actions.pushed('x'))
              }
            })
          )
          .unwrap()
      ).rejects.toMatchObject({ name: 'MisuseError', message: expect.stringContaining('must be synchronous') })
      expect(p.store.getState().list).toEqual([])
      expect(p.thread.heads().get(p.id)).toBeUndefined()
    } finally {
      await p.peer.close()
    }
  })

  it('a transaction on a thread that is not open is refused with NotFoundError', async () => {
    const [p] = (await makeGroup(1)) as [TestPeer]
    try {
      await expect(p.store.dispatch(p.peer.thunks.transaction({ threadId: 'bafknothere', run: () => 1 })).unwrap()).rejects.toMatchObject({ name: 'NotFoundError' })
    } finally {
      await p.peer.close()
    }
  })

  it('unwrap() of a command inside a transaction follows the transaction: it rejects when the transaction aborts', async () => {
    const [p] = (await makeGroup(1)) as [TestPeer]
    try {
      let inner: Promise<EventMeta> | undefined
      const failure = new Error('abort')
      await expect(
        p.store
          .dispatch(
            p.peer.thunks.transaction({
              threadId: p.thread.id,
              run: () => {
                inner = p.store.dispatch(list.actions.pushed('never stored')).unwrap()
                throw failure
              }
            })
          )
          .unwrap()
      ).rejects.toMatchObject({ message: 'abort' })
      expect(inner).toBeDefined()
      // The command's own unwrap() rejects with the error itself.
      await expect(inner).rejects.toBe(failure)
      expect(await p.engine.store.records(p.thread.id, p.id)).toHaveLength(0)
    } finally {
      await p.peer.close()
    }
  })

  it('unwrap() of a command inside a committed transaction resolves only when the transaction is stored', async () => {
    const g = gatedStorage()
    const peer = createPeer({ storage: g.storage })
    try {
      const store = configureStore({ reducer: { [peer.reducerPath]: peer.reducer, list: list.reducer }, middleware: (d) => d().concat(peer.middleware) })
      const { threadId } = await store.dispatch(peer.thunks.createThread({ slices: [list] })).unwrap()
      const es = engineOf(peer.thread(threadId)!).store
      g.hold()
      let inner: Promise<EventMeta> | undefined
      let innerDone = false
      const whole = store
        .dispatch(
          peer.thunks.transaction({
            threadId,
            run: () => {
              inner = store.dispatch(list.actions.pushed('a')).unwrap()
              void inner.then(() => (innerDone = true))
              store.dispatch(list.actions.pushed('b'))
            }
          })
        )
        .unwrap()
      await Promise.resolve()
      await Promise.resolve()
      expect(innerDone).toBe(false)
      g.release()
      await whole
      expect(await inner).toMatchObject({ seq: 1, local: true })
      expect(innerDone).toBe(true)
      const t = es.logstore.getThread(threadId)
      const log = es.logstore.log(threadId, peer.id!)!
      expect(await g.storage.get(keys.record(t.n, log.n, 2))).toBeDefined()
      expect(await es.idAt(threadId, peer.id!, 2)).toBeDefined()
    } finally {
      g.release()
      await peer.close()
    }
  })
})

describe('events as actions, and status', () => {
  it('every local and remote event reaches the store once as its own action, with its meta, including around a replay', async () => {
    const { p, r, rec } = await lateSetup()
    try {
      const from = p.events.length
      r.store.dispatch(list.actions.pushed('r1'))
      r.store.dispatch(bank.actions.deposit(1))
      const local = Array.from({ length: 6 }, (_, i) => issue(p, list.actions.pushed(`p${i}`)))
      const blocks = await ownBlocks(r)
      // Out of order and duplicated: still once each.
      await p.thread.ingest(r.id, [blocks[1] as RecordBlocks, blocks[1] as RecordBlocks])
      await p.thread.ingest(r.id, [...blocks, ...blocks])
      const events = p.events.slice(from)
      expect(events).toHaveLength(8)
      const byId = new Map<string, number>()
      for (const e of events) byId.set(e.id, (byId.get(e.id) ?? 0) + 1)
      expect(byId.size).toBe(8)
      for (const e of events) {
        expect(e.threadId).toBe(p.thread.id)
        expect(e.local).toBe(e.logId === p.id)
      }
      expect(events.slice(0, 6)).toEqual(local)
      const actions = rec.actions.filter((a) => eventOf(a) !== undefined)
      const remote = actions.slice(6) as Array<UnknownAction & { meta: { replay?: true } }>
      expect(remote.map((a) => a.type)).toEqual(['list/pushed', 'bank/deposit'])
      expect(remote.map((a) => eventOf(a)?.seq)).toEqual([1, 2])
      // They sort before p's events: applied by a replay, and marked so.
      expect(remote.map((a) => a.meta.replay)).toEqual([true, true])
      expect(actions.slice(0, 6).map((a) => (a.meta as { replay?: true }).replay)).toEqual(Array(6).fill(undefined))
    } finally {
      await p.peer.close()
      await r.peer.close()
    }
  })

  it('status$ emits the current status on subscribe, then logs, heads, pending and replays as they change; the store holds the same objects', async () => {
    const g = gatedStorage()
    const { p, r } = await lateSetup(g.storage)
    try {
      const statuses: ThreadEntry[] = []
      const sub = p.peer.status$(p.thread.id).subscribe((s) => statuses.push(s))
      expect(statuses).toHaveLength(1)
      expect(statuses[0]).toMatchObject({ threadId: p.thread.id, logs: [], events: 0, pending: 0, held: 0, replays: 0, rejected: 0, lastError: undefined, role: 'write', behind: 0 })
      const last = (): ThreadEntry => statuses[statuses.length - 1] as ThreadEntry
      g.hold()
      p.store.dispatch(list.actions.pushed('a'))
      p.store.dispatch(list.actions.pushed('b'))
      // Coalesced: one status update a macrotask later, while the writes wait for storage.
      await later()
      expect(last().pending).toBe(2)
      expect(p.peer.selectors.selectThreadStatus(p.store.getState(), p.thread.id)).toBe(last())
      g.release()
      await p.peer.idle()
      expect(last().pending).toBe(0)
      expect(last().logs).toEqual([{ logId: p.id, seq: 2, id: p.thread.heads().get(p.id)?.id.toString() }])
      expect(last().events).toBe(2)
      r.store.dispatch(list.actions.pushed('r'))
      const rBlocks = await ownBlocks(r)
      await p.thread.ingest(r.id, rBlocks)
      await p.peer.idle()
      expect(last().replays).toBe(1)
      expect(last().events).toBe(3)
      expect(last().pending).toBe(0)
      expect(last().logs.map((l) => [l.logId, l.seq])).toEqual(
        [
          [p.id, 2],
          [r.id, 1]
        ].sort((x, y) => ((x[0] as string) < (y[0] as string) ? -1 : 1))
      )
      expect(p.peer.selectors.selectThreadStatus(p.store.getState(), p.thread.id)).toBe(last())
      // A late subscriber gets the current status at once.
      let current: ThreadEntry | undefined
      p.peer.status$(p.thread.id).subscribe((s) => (current ??= s)).unsubscribe()
      expect(current).toBe(last())
      sub.unsubscribe()
    } finally {
      g.release()
      await p.peer.close()
      await r.peer.close()
    }
  })

  it('status$ reports records held beyond a gap with their bytes, and a log its writer forked', async () => {
    const [p, r] = (await makeGroup(2)) as [TestPeer, TestPeer]
    try {
      const statuses: ThreadEntry[] = []
      const sub = p.peer.status$(p.thread.id).subscribe((s) => statuses.push(s))
      const last = async (): Promise<ThreadEntry> => {
        await p.peer.idle()
        return statuses[statuses.length - 1] as ThreadEntry
      }
      expect(await last()).toMatchObject({ held: 0, heldBytes: 0, forks: [] })
      r.store.dispatch(list.actions.pushed('r1'))
      r.store.dispatch(list.actions.pushed('r2'))
      const [one, two] = (await ownBlocks(r)) as [RecordBlocks, RecordBlocks]
      // Seq 2 alone waits for seq 1.
      const held = await p.thread.ingest(r.id, [two])
      expect(held.held).toBe(1)
      expect((await last()).held).toBe(1)
      expect((await last()).heldBytes).toBe(two.record.length + two.event.length + two.header.length + two.body.length)
      expect(p.thread.heads().get(r.id)).toBeUndefined()
      await p.thread.ingest(r.id, [one])
      expect(await last()).toMatchObject({ held: 0, heldBytes: 0, forks: [] })
      expect(p.store.getState().list).toEqual(['r1', 'r2'])
      expect((await last()).logs.find((l) => l.logId === r.id)).toEqual({ logId: r.id, seq: 2, id: p.thread.heads().get(r.id)?.id.toString() })

      // r's writer signs another record for seq 2: its log is frozen at seq 1 on every peer.
      const first = await r.engine.idAt(r.id, 1)
      const other = createRecord({
        logKey: r.peer.identity!,
        threadKey: r.thread.key,
        thread: r.engine.thread.id,
        body: encodeCommand({ type: 'list/pushed', payload: 'other r2' }),
        clock: 2,
        time: 0,
        prev: { id: first!, seq: 1 }
      })
      const forked = await p.thread.ingest(r.id, [recordBlocks(other)])
      expect(forked.forks.map((f) => [f.logId, f.seq])).toEqual([[r.id, 2]])
      expect(forked.rejected.map((e) => e.name)).toContain('EquivocationError')
      expect((await last()).forks).toEqual([{ logId: r.id, seq: 2 }])
      expect((await last()).lastError?.name).toBe('EquivocationError')
      expect(p.thread.forks().map((f) => [f.logId, f.seq])).toEqual([[r.id, 2]])
      expect(p.store.getState().list).toEqual(['r1'])
      sub.unsubscribe()
    } finally {
      await p.peer.close()
      await r.peer.close()
    }
  })

  it('a tampered record is refused with a typed error in the status; the peer keeps working and honest records still apply', async () => {
    const [p, r] = (await makeGroup(2)) as [TestPeer, TestPeer]
    try {
      const statuses: ThreadEntry[] = []
      const sub = p.peer.status$(p.thread.id).subscribe((s) => statuses.push(s))
      const last = async (): Promise<ThreadEntry> => {
        await p.peer.idle()
        return statuses[statuses.length - 1] as ThreadEntry
      }
      r.store.dispatch(list.actions.pushed('honest1'))
      r.store.dispatch(list.actions.pushed('honest2'))
      const blocks = await ownBlocks(r)
      const first = blocks[0] as RecordBlocks
      const body = Uint8Array.from(first.body)
      body[body.length - 1] = (body[body.length - 1] as number) ^ 0xff
      const tampered: RecordBlocks = { ...first, body }
      const bad = await p.thread.ingest(r.id, [tampered])
      expect(bad.added).toHaveLength(0)
      expect(bad.rejected).toHaveLength(1)
      expect(['BadSignatureError', 'CidMismatchError']).toContain(bad.rejected[0]?.name)
      expect((await last()).rejected).toBe(1)
      expect(['BadSignatureError', 'CidMismatchError']).toContain((await last()).lastError?.name)
      expect((await last()).lastError?.logId).toBe(r.id)
      // The store's status says the same.
      expect(p.peer.selectors.selectThreadStatus(p.store.getState(), p.thread.id)?.rejected).toBe(1)
      expect(p.store.getState().list).toEqual([])
      expect(p.thread.heads().get(r.id)).toBeUndefined()

      // Honest records still apply, and local commands still work.
      const good = await p.thread.ingest(r.id, blocks)
      expect(good.rejected).toEqual([])
      expect(good.added).toHaveLength(2)
      p.store.dispatch(list.actions.pushed('local'))
      expect(p.store.getState().list).toEqual(['honest1', 'honest2', 'local'])
      expect((await last()).rejected).toBe(1)
      // The tampered copy of a record now held is refused again, and changes nothing.
      const again = await p.thread.ingest(r.id, [tampered])
      expect(again.rejected).toHaveLength(1)
      expect(p.store.getState().list).toEqual(['honest1', 'honest2', 'local'])
      sub.unsubscribe()
    } finally {
      await p.peer.close()
      await r.peer.close()
    }
  })
})
