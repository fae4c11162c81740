/**
 * The peer's Redux bindings (DESIGN.md sections 4, 5, 7): the middleware in configureStore and in
 * a legacy createStore, RTK's dev checks kept on and quiet, one store notification per replay,
 * non-thread slices never rolled back, several threads per store and several slices per thread,
 * durability, transactions, and the events$ and status$ streams.
 */
import { configureStore, type Middleware, type UnknownAction } from '@reduxjs/toolkit'
import { applyMiddleware, combineReducers, legacy_createStore } from 'redux'
import { afterEach, beforeEach, describe, expect, it, vi, type MockInstance } from 'vitest'
import { memoryStorage } from '../../../adapters/storage/memory.js'
import { decodeCommand, encodeCommand } from '../../../src/core/command.js'
import { createRecord, openEvent, recordBlocks, type RecordBlocks } from '../../../src/core/record.js'
import { TXN_COMMIT } from '../../../src/engine/transactions.js'
import type { EventMeta } from '../../../src/engine/threadEvent.js'
import type { AppliedPayload } from '../../../src/redux/appliedAction.js'
import { createPeer, durable, type AppliedEvent, type Peer } from '../../../src/redux/createPeer.js'
import type { ThreadStatus } from '../../../src/rx/threadStatus.js'
import type { StorageAdapter, StorageOp } from '../../../src/store/storageAdapter.js'
import { keys } from '../../../src/store/storageKeys.js'
import { bank, list, makeGroup, makeStore, ownBlocks, ui, type TestPeer } from './fixtures.js'

type Dispatched = { meta: { event: EventMeta } }

/** A middleware that records every action that reaches the store, in order. */
function recorder(): { middleware: Middleware; actions: UnknownAction[] } {
  const actions: UnknownAction[] = []
  return {
    actions,
    middleware: () => (next) => (action) => {
      actions.push(action as UnknownAction)
      return next(action)
    }
  }
}

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

/** Peer `p` (store with a recorder before the peer middleware) and a remote writer `r` that
 * has seen nothing: r's events sort early on p. */
async function lateSetup(): Promise<{ p: TestPeer; r: TestPeer; rec: ReturnType<typeof recorder> }> {
  const rec = recorder()
  const peer = await createPeer({ storage: memoryStorage() })
  const store = configureStore({
    reducer: { list: list.reducer, bank: bank.reducer, ui: ui.reducer },
    middleware: (d) => d().concat(rec.middleware, peer.middleware)
  })
  const thread = await peer.createThread({ slices: [list, bank] })
  const rPeer = await createPeer({ storage: memoryStorage() })
  const rStore = makeStore(rPeer)
  const rThread = await rPeer.openThread(thread.id, { slices: [list, bank], key: thread.key })
  return { p: { peer, store, thread }, r: { peer: rPeer, store: rStore, thread: rThread }, rec }
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
      const res = await p.thread.ingest(r.peer.id, await ownBlocks(r))
      expect(res.replayed).toBe(true)
      // And the other way: r takes p's records (appends after its tip).
      await r.thread.ingest(p.peer.id, await ownBlocks(p))
      for (const t of [p, r]) await t.thread.flush()
      expect(p.store.getState().list).toEqual(r.store.getState().list)
      expect(p.store.getState().bank).toEqual({ balance: 70, refused: 0 })
      expect(rec.actions.filter((a) => a.type === 'redux-threads/applied').length).toBeGreaterThan(0)
      expect(errorSpy).not.toHaveBeenCalled()
      expect(warnSpy).not.toHaveBeenCalled()
    } finally {
      await p.peer.close()
      await r.peer.close()
    }
  })

  it('a late event replay reaches the store as ONE action, redux-threads/applied, and one notification', async () => {
    const { p, r, rec } = await lateSetup()
    try {
      r.store.dispatch(list.actions.pushed('r1'))
      r.store.dispatch(list.actions.pushed('r2'))
      for (let i = 0; i < 40; i++) p.store.dispatch(list.actions.pushed(`p${i}`))
      const blocks = await ownBlocks(r)
      let notifications = 0
      const unsubscribe = p.store.subscribe(() => notifications++)
      const before = rec.actions.length
      const res = await p.thread.ingest(r.peer.id, blocks)
      unsubscribe()
      expect(res.replayed).toBe(true)
      expect(res.added).toHaveLength(2)
      expect(notifications).toBe(1)
      const during = rec.actions.slice(before)
      expect(during).toHaveLength(1)
      expect(during[0]?.type).toBe('redux-threads/applied')
      const payload = during[0]?.payload as AppliedPayload
      expect(payload.reason).toBe('replay')
      expect(payload.threadId).toBe(p.thread.id.toString())
      expect(payload.actions.map((a) => a.payload)).toEqual(['r1', 'r2'])
      expect(payload.replayed).toBeGreaterThan(0)
      // r's events (clocks 1, 2) sort among p's first ones.
      const state = p.store.getState().list
      expect(state).toHaveLength(42)
      expect(state.indexOf('r1')).toBeLessThan(3)
      expect(state.indexOf('r2')).toBeLessThan(4)
      expect(state).toEqual(p.thread.engine.state.list)
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
      await p.thread.ingest(r.peer.id, await ownBlocks(r))
      const uiAfter = p.store.getState().ui
      // Only its reaction to the one applied action: commands and clicks are untouched.
      expect(uiAfter).toEqual({ ...uiBefore, applied: uiBefore.applied + 1, remoteEvents: 1 })
      expect(p.store.getState().list).toHaveLength(11)
    } finally {
      await p.peer.close()
      await r.peer.close()
    }
  })

  it('one thread feeds two slices: a replay moves both in one action', async () => {
    const { p, r, rec } = await lateSetup()
    try {
      r.store.dispatch(bank.actions.deposit(5))
      r.store.dispatch(list.actions.pushed('r'))
      p.store.dispatch(bank.actions.withdraw(5)) // refused here, until r's deposit arrives before it
      p.store.dispatch(list.actions.pushed('p'))
      p.store.dispatch(list.actions.pushed('q'))
      expect(p.store.getState().bank).toEqual({ balance: 0, refused: 1 })
      const before = rec.actions.length
      await p.thread.ingest(r.peer.id, await ownBlocks(r))
      expect(rec.actions.length - before).toBe(1)
      expect(p.store.getState().bank).toEqual(p.thread.engine.state.bank)
      expect(p.store.getState().list).toEqual(p.thread.engine.state.list)
      expect(p.store.getState().list).toHaveLength(3)
      // r's deposit is at clock 1; p's withdrawal at clock 1 too: the log IDs decide.
      const depositFirst = r.peer.id < p.peer.id
      expect(p.store.getState().bank).toEqual(depositFirst ? { balance: 0, refused: 0 } : { balance: 5, refused: 1 })
    } finally {
      await p.peer.close()
      await r.peer.close()
    }
  })

  it('one store holds two threads, each with its own slice, log and timeline', async () => {
    const a = await createPeer({ storage: memoryStorage() })
    const b = await createPeer({ storage: memoryStorage() })
    const storeOf = (peer: Peer) =>
      configureStore({ reducer: { list: list.reducer, bank: bank.reducer, ui: ui.reducer }, middleware: (d) => d().concat(peer.middleware) })
    const sa = storeOf(a)
    const sb = storeOf(b)
    try {
      const t1 = await a.createThread({ slices: [list] })
      const t2 = await a.createThread({ slices: [bank] })
      expect(t1.id.toString()).not.toBe(t2.id.toString())
      sa.dispatch(list.actions.pushed('x'))
      sa.dispatch(bank.actions.deposit(7))
      sa.dispatch(list.actions.pushed('y'))
      expect(t1.engine.timeline.length).toBe(2)
      expect(t2.engine.timeline.length).toBe(1)
      expect(t1.heads().get(a.id)?.seq).toBe(2)
      expect(t2.heads().get(a.id)?.seq).toBe(1)
      const u1 = await b.openThread(t1.id, { slices: [list], key: t1.key })
      const u2 = await b.openThread(t2.id, { slices: [bank], key: t2.key })
      const blocks1 = (await t1.recordsSince(new Map()))[0]?.blocks ?? []
      const blocks2 = (await t2.recordsSince(new Map()))[0]?.blocks ?? []
      expect((await u1.ingest(a.id, blocks1)).added).toHaveLength(2)
      expect((await u2.ingest(a.id, blocks2)).added).toHaveLength(1)
      // A thread's records do not open in the other thread (other keys).
      expect((await u2.ingest(a.id, blocks1)).added).toHaveLength(0)
      expect(sb.getState().list).toEqual(['x', 'y'])
      expect(sb.getState().bank).toEqual({ balance: 7, refused: 0 })
      expect(b.storedThreads().map(String).sort()).toEqual([t1.id.toString(), t2.id.toString()].sort())
      expect(a.status$(t1.id)).toBe(t1.status$)
    } finally {
      await a.close()
      await b.close()
    }
  })
})

describe('peer with a legacy createStore', () => {
  it('works with createStore(reducer, applyMiddleware(peer.middleware)) from redux', async () => {
    const a = await createPeer({ storage: memoryStorage() })
    const b = await createPeer({ storage: memoryStorage() })
    try {
      const rec = recorder()
      const reducer = combineReducers({ list: list.reducer, bank: bank.reducer, ui: ui.reducer })
      const sa = legacy_createStore(reducer, applyMiddleware(rec.middleware, a.middleware))
      const sb = legacy_createStore(reducer, applyMiddleware(b.middleware))
      const ta = await a.createThread({ slices: [list, bank] })
      const tb = await b.openThread(ta.id, { slices: [list, bank], key: ta.key })
      sb.dispatch(bank.actions.deposit(10))
      const d = sa.dispatch(bank.actions.withdraw(4)) as unknown as Dispatched
      expect(d.meta.event).toMatchObject({ logId: a.id, seq: 1, local: true })
      sa.dispatch(list.actions.pushed('a'))
      expect(sa.getState().list).toEqual(['a'])
      expect(sa.getState().bank).toEqual({ balance: 0, refused: 1 })
      await ta.ingest(b.id, (await tb.recordsSince(new Map()))[0]?.blocks ?? [])
      await tb.ingest(a.id, (await ta.recordsSince(new Map())).find((l) => l.logId === a.id)?.blocks ?? [])
      expect(sa.getState().list).toEqual(['a'])
      expect(sa.getState().bank).toEqual(sb.getState().bank)
      expect(sa.getState().bank).toEqual(ta.engine.state.bank)
      expect(sa.getState().ui.commands).toBe(2)
      expect(sb.getState().ui.commands).toBe(1)
      expect(rec.actions.some((x) => x.type === 'redux-threads/applied')).toBe(true)
    } finally {
      await a.close()
      await b.close()
    }
  })

  it('a store created before the thread gets the thread state with the open', async () => {
    const a = await createPeer({ storage: memoryStorage() })
    try {
      const thread = await a.createThread({ slices: [list] })
      // The store (and so the middleware) arrives after the thread: the open is delivered on
      // the first dispatch.
      const store = configureStore({ reducer: { list: list.reducer, ui: ui.reducer }, middleware: (d) => d().concat(a.middleware) })
      store.dispatch(list.actions.pushed('first'))
      expect(store.getState().list).toEqual(['first'])
      expect(thread.engine.state.list).toEqual(['first'])
    } finally {
      await a.close()
    }
  })
})

describe('durability', () => {
  it('durable(store.dispatch(...)) resolves once the record is in storage', async () => {
    const g = gatedStorage()
    const peer = await createPeer({ storage: g.storage })
    try {
      const store = configureStore({ reducer: { list: list.reducer }, middleware: (d) => d().concat(peer.middleware) })
      const thread = await peer.createThread({ slices: [list] })
      g.hold()
      const dispatched = store.dispatch(list.actions.pushed('milk')) as unknown as Dispatched
      let done = false
      const p = durable(dispatched).then(() => {
        done = true
      })
      expect(thread.engine.pending).toBe(1)
      await Promise.resolve()
      await Promise.resolve()
      expect(done).toBe(false)
      // Not in storage yet (the head moved in memory at once: idAt answers from it).
      const t = peer.eventStore.logstore.getThread(thread.id)
      const log = peer.eventStore.logstore.log(thread.id, peer.id)!
      expect(await g.storage.get(keys.record(t.n, log.n, 1))).toBeUndefined()
      expect(await g.storage.get(keys.head(t.n, log.n))).toBeUndefined()
      expect((await peer.eventStore.idAt(thread.id, peer.id, 1))?.toString()).toBe(dispatched.meta.event.id)
      g.release()
      await p
      expect(done).toBe(true)
      expect(await g.storage.get(keys.record(t.n, log.n, 1))).toBeDefined()
      expect(await g.storage.get(keys.head(t.n, log.n))).toBeDefined()
      const id = await peer.eventStore.idAt(thread.id, peer.id, 1)
      expect(id?.toString()).toBe(dispatched.meta.event.id)
      const records = await peer.eventStore.records(thread.id, peer.id)
      expect(records.map((r) => r.id.toString())).toEqual([dispatched.meta.event.id])
      expect(thread.engine.pending).toBe(0)
      // Any other value: resolves at once.
      await expect(durable(store.dispatch({ type: 'not/a/command' }))).resolves.toBeUndefined()
      await expect(durable(undefined)).resolves.toBeUndefined()
    } finally {
      g.release()
      await peer.close()
    }
  })

  it('a burst of commands goes to storage in few batches, and every durable resolves', async () => {
    const g = gatedStorage()
    const peer = await createPeer({ storage: g.storage })
    try {
      const store = configureStore({ reducer: { list: list.reducer }, middleware: (d) => d().concat(peer.middleware) })
      const thread = await peer.createThread({ slices: [list] })
      const before = g.batches()
      const all = Array.from({ length: 50 }, (_, i) => durable(store.dispatch(list.actions.pushed(`x${i}`))))
      await Promise.all(all)
      expect(g.batches() - before).toBeLessThanOrEqual(2)
      expect(await peer.eventStore.records(thread.id, peer.id)).toHaveLength(50)
    } finally {
      await peer.close()
    }
  })
})

describe('transactions', () => {
  it('a committed transaction stores every command and its commit record: the head advances by n + 1', async () => {
    const [p] = (await makeGroup(1)) as [TestPeer]
    try {
      p.store.dispatch(list.actions.pushed('before'))
      const seq0 = p.thread.heads().get(p.peer.id)?.seq ?? 0
      const events: AppliedEvent[] = []
      const sub = p.peer.events$.subscribe((e) => events.push(e))
      const result = await p.thread.transaction(() => {
        p.store.dispatch(list.actions.pushed('t1'))
        p.store.dispatch(bank.actions.deposit(3))
        p.store.dispatch(list.actions.pushed('t2'))
        return 'ok'
      })
      sub.unsubscribe()
      expect(result).toBe('ok')
      // Three commands, then the record that commits them (applied whole on every peer).
      expect(p.thread.heads().get(p.peer.id)?.seq).toBe(seq0 + 4)
      const stored = await p.peer.eventStore.records(p.thread.id, p.peer.id)
      expect(stored).toHaveLength(seq0 + 4)
      expect(decodeCommand(openEvent(p.thread.key.read, stored.at(-1)!).body).type).toBe(TXN_COMMIT)
      expect(p.store.getState().list).toEqual(['before', 't1', 't2'])
      expect(p.store.getState().bank.balance).toBe(3)
      // The commit record changes no state and reaches no listener.
      expect(events).toHaveLength(3)
      expect(events.map((e) => e.meta.seq)).toEqual([seq0 + 1, seq0 + 2, seq0 + 3])
    } finally {
      await p.peer.close()
    }
  })

  it('a throwing transaction stores nothing, returns the slices to their state before, and rethrows', async () => {
    const [p, q] = (await makeGroup(2)) as [TestPeer, TestPeer]
    try {
      p.store.dispatch(list.actions.pushed('kept'))
      p.store.dispatch(bank.actions.deposit(10))
      await p.thread.flush()
      const before = p.store.getState()
      const head = p.thread.heads().get(p.peer.id)
      const length = p.thread.engine.timeline.length
      const failure = new Error('abort the transaction')
      await expect(
        p.thread.transaction(() => {
          p.store.dispatch(list.actions.pushed('lost1'))
          p.store.dispatch(bank.actions.withdraw(10))
          expect(p.store.getState().list).toEqual(['kept', 'lost1'])
          throw failure
        })
      ).rejects.toBe(failure)
      expect(p.store.getState().list).toEqual(before.list)
      expect(p.store.getState().bank).toEqual(before.bank)
      expect(p.thread.engine.state).toEqual({ list: before.list, bank: before.bank })
      expect(p.thread.engine.timeline.length).toBe(length)
      expect(p.thread.heads().get(p.peer.id)?.id.equals(head?.id as never)).toBe(true)
      await p.thread.flush()
      expect(await p.peer.eventStore.records(p.thread.id, p.peer.id)).toHaveLength(2)
      // A non-thread slice saw the two commands and is not rolled back.
      expect(p.store.getState().ui.commands).toBe(before.ui.commands + 2)
      // The log continues where it was: the next command takes seq 3, linked to the head.
      const next = p.store.dispatch(list.actions.pushed('after')) as unknown as Dispatched
      expect(next.meta.event.seq).toBe(3)
      expect(next.meta.event.clock).toBe(3)
      // And another peer sees exactly the committed events.
      await q.thread.ingest(p.peer.id, await ownBlocks(p))
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
        p.thread.transaction((async () => {
          p.store.dispatch(list.actions.pushed('x'))
        }) as () => unknown)
      ).rejects.toThrow(TypeError)
      expect(p.store.getState().list).toEqual([])
      expect(p.thread.heads().get(p.peer.id)).toBeUndefined()
    } finally {
      await p.peer.close()
    }
  })

  it('durable() of a command inside a transaction follows the transaction: it rejects when the transaction aborts', async () => {
    const [p] = (await makeGroup(1)) as [TestPeer]
    try {
      let inner: Promise<void> | undefined
      const failure = new Error('abort')
      await expect(
        p.thread.transaction(() => {
          inner = durable(p.store.dispatch(list.actions.pushed('never stored')))
          throw failure
        })
      ).rejects.toBe(failure)
      expect(inner).toBeDefined()
      await expect(inner).rejects.toBe(failure)
      expect(await p.peer.eventStore.records(p.thread.id, p.peer.id)).toHaveLength(0)
    } finally {
      await p.peer.close()
    }
  })

  it('durable() of a command inside a committed transaction resolves only when the transaction is stored', async () => {
    const g = gatedStorage()
    const peer = await createPeer({ storage: g.storage })
    try {
      const store = configureStore({ reducer: { list: list.reducer }, middleware: (d) => d().concat(peer.middleware) })
      const thread = await peer.createThread({ slices: [list] })
      g.hold()
      let inner: Promise<void> | undefined
      let innerDone = false
      const whole = thread.transaction(() => {
        inner = durable(store.dispatch(list.actions.pushed('a')))
        void inner.then(() => (innerDone = true))
        store.dispatch(list.actions.pushed('b'))
      })
      await Promise.resolve()
      await Promise.resolve()
      expect(innerDone).toBe(false)
      g.release()
      await whole
      await inner
      expect(innerDone).toBe(true)
      const t = peer.eventStore.logstore.getThread(thread.id)
      const log = peer.eventStore.logstore.log(thread.id, peer.id)!
      expect(await g.storage.get(keys.record(t.n, log.n, 2))).toBeDefined()
      expect(await peer.eventStore.idAt(thread.id, peer.id, 2)).toBeDefined()
    } finally {
      g.release()
      await peer.close()
    }
  })
})

describe('events$ and status$', () => {
  it('events$ emits every local and remote event once, with its meta, including around a replay', async () => {
    const { p, r } = await lateSetup()
    try {
      const events: AppliedEvent[] = []
      const sub = p.peer.events$.subscribe((e) => events.push(e))
      r.store.dispatch(list.actions.pushed('r1'))
      r.store.dispatch(bank.actions.deposit(1))
      const local = Array.from({ length: 6 }, (_, i) => p.store.dispatch(list.actions.pushed(`p${i}`)) as unknown as Dispatched)
      const blocks = await ownBlocks(r)
      // Out of order and duplicated: still once each.
      await p.thread.ingest(r.peer.id, [blocks[1] as RecordBlocks, blocks[1] as RecordBlocks])
      await p.thread.ingest(r.peer.id, [...blocks, ...blocks])
      sub.unsubscribe()
      expect(events).toHaveLength(8)
      const byId = new Map<string, number>()
      for (const e of events) byId.set(e.meta.id, (byId.get(e.meta.id) ?? 0) + 1)
      expect(byId.size).toBe(8)
      for (const e of events) {
        expect(e.action.meta.event).toEqual(e.meta)
        expect(e.meta.threadId).toBe(p.thread.id.toString())
        expect(e.meta.local).toBe(e.meta.logId === p.peer.id)
      }
      expect(events.slice(0, 6).map((e) => e.meta)).toEqual(local.map((d) => d.meta.event))
      expect(events.slice(6).map((e) => e.action.type)).toEqual(['list/pushed', 'bank/deposit'])
      expect(events.slice(6).map((e) => e.meta.seq)).toEqual([1, 2])
    } finally {
      await p.peer.close()
      await r.peer.close()
    }
  })

  it('status$ emits the current status on subscribe, then logs, heads, pending and replays as they change', async () => {
    const { p, r } = await lateSetup()
    try {
      const statuses: ThreadStatus[] = []
      const sub = p.thread.status$.subscribe((s) => statuses.push(s))
      expect(statuses).toHaveLength(1)
      expect(statuses[0]).toMatchObject({ threadId: p.thread.id.toString(), logs: [], events: 0, pending: 0, held: 0, replays: 0, rejected: 0, lastError: undefined })
      p.store.dispatch(list.actions.pushed('a'))
      p.store.dispatch(list.actions.pushed('b'))
      const last = (): ThreadStatus => statuses[statuses.length - 1] as ThreadStatus
      expect(statuses.some((s) => s.pending > 0)).toBe(true)
      await p.thread.flush()
      expect(last().pending).toBe(0)
      expect(last().logs).toEqual([{ logId: p.peer.id, seq: 2, id: p.thread.heads().get(p.peer.id)?.id.toString() }])
      expect(last().events).toBe(2)
      r.store.dispatch(list.actions.pushed('r'))
      const rBlocks = await ownBlocks(r)
      await p.thread.ingest(r.peer.id, rBlocks)
      await p.thread.flush()
      expect(last().replays).toBe(1)
      expect(last().events).toBe(3)
      expect(last().pending).toBe(0)
      expect(last().logs.map((l) => [l.logId, l.seq])).toEqual(
        [
          [p.peer.id, 2],
          [r.peer.id, 1]
        ].sort((x, y) => ((x[0] as string) < (y[0] as string) ? -1 : 1))
      )
      // A late subscriber gets the current status at once.
      let current: ThreadStatus | undefined
      p.thread.status$.subscribe((s) => (current ??= s)).unsubscribe()
      expect(current).toEqual(last())
      sub.unsubscribe()
    } finally {
      await p.peer.close()
      await r.peer.close()
    }
  })

  it('status$ reports records held beyond a gap with their bytes, and a log its writer forked', async () => {
    const [p, r] = (await makeGroup(2)) as [TestPeer, TestPeer]
    try {
      const statuses: ThreadStatus[] = []
      const sub = p.thread.status$.subscribe((s) => statuses.push(s))
      const last = (): ThreadStatus => statuses[statuses.length - 1] as ThreadStatus
      expect(last()).toMatchObject({ held: 0, heldBytes: 0, forks: [] })
      r.store.dispatch(list.actions.pushed('r1'))
      r.store.dispatch(list.actions.pushed('r2'))
      const [one, two] = (await ownBlocks(r)) as [RecordBlocks, RecordBlocks]
      // Seq 2 alone waits for seq 1.
      const held = await p.thread.ingest(r.peer.id, [two])
      expect(held.held).toBe(1)
      expect(last().held).toBe(1)
      expect(last().heldBytes).toBe(two.record.length + two.event.length + two.header.length + two.body.length)
      expect(p.thread.heads().get(r.peer.id)).toBeUndefined()
      await p.thread.ingest(r.peer.id, [one])
      expect(last()).toMatchObject({ held: 0, heldBytes: 0, forks: [] })
      expect(p.store.getState().list).toEqual(['r1', 'r2'])
      expect(last().logs.find((l) => l.logId === r.peer.id)).toEqual({ logId: r.peer.id, seq: 2, id: p.thread.heads().get(r.peer.id)?.id.toString() })

      // r's writer signs another record for seq 2: its log is frozen at seq 1 on every peer.
      const first = await r.peer.eventStore.idAt(r.thread.id, r.peer.id, 1)
      const other = createRecord({
        logKey: r.peer.identity,
        threadKey: r.thread.key,
        thread: r.thread.id,
        body: encodeCommand({ type: 'list/pushed', payload: 'other r2' }),
        clock: 2,
        time: 0,
        prev: { id: first!, seq: 1 }
      })
      const forked = await p.thread.ingest(r.peer.id, [recordBlocks(other)])
      expect(forked.forks.map((f) => [f.logId, f.seq])).toEqual([[r.peer.id, 2]])
      expect(forked.rejected.map((e) => e.name)).toContain('EquivocationError')
      expect(last().forks).toEqual([{ logId: r.peer.id, seq: 2 }])
      expect(last().lastError?.name).toBe('EquivocationError')
      expect(p.store.getState().list).toEqual(['r1'])
      sub.unsubscribe()
    } finally {
      await p.peer.close()
      await r.peer.close()
    }
  })

  it('a tampered record is refused with a typed error on status$; the peer keeps working and honest records still apply', async () => {
    const [p, r] = (await makeGroup(2)) as [TestPeer, TestPeer]
    try {
      const statuses: ThreadStatus[] = []
      const sub = p.thread.status$.subscribe((s) => statuses.push(s))
      r.store.dispatch(list.actions.pushed('honest1'))
      r.store.dispatch(list.actions.pushed('honest2'))
      const blocks = await ownBlocks(r)
      const first = blocks[0] as RecordBlocks
      const body = Uint8Array.from(first.body)
      body[body.length - 1] = (body[body.length - 1] as number) ^ 0xff
      const tampered: RecordBlocks = { ...first, body }
      const bad = await p.thread.ingest(r.peer.id, [tampered])
      expect(bad.added).toHaveLength(0)
      expect(bad.rejected).toHaveLength(1)
      expect(['BadSignatureError', 'CidMismatchError']).toContain(bad.rejected[0]?.name)
      const last = (): ThreadStatus => statuses[statuses.length - 1] as ThreadStatus
      expect(last().rejected).toBe(1)
      expect(['BadSignatureError', 'CidMismatchError']).toContain(last().lastError?.name)
      expect(last().lastError?.logId).toBe(r.peer.id)
      expect(p.store.getState().list).toEqual([])
      expect(p.thread.heads().get(r.peer.id)).toBeUndefined()

      // Honest records still apply, and local commands still work.
      const good = await p.thread.ingest(r.peer.id, blocks)
      expect(good.rejected).toEqual([])
      expect(good.added).toHaveLength(2)
      p.store.dispatch(list.actions.pushed('local'))
      expect(p.store.getState().list).toEqual(['honest1', 'honest2', 'local'])
      expect(last().rejected).toBe(1)
      // The tampered copy of a record now held is refused again, and changes nothing.
      const again = await p.thread.ingest(r.peer.id, [tampered])
      expect(again.rejected).toHaveLength(1)
      expect(p.store.getState().list).toEqual(['honest1', 'honest2', 'local'])
      sub.unsubscribe()
    } finally {
      await p.peer.close()
      await r.peer.close()
    }
  })
})
