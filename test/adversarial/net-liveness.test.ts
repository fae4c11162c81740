/**
 * Liveness (issue 7 section 6): a peer that is behind catches up by its own round, from any peer
 * that has what it lacks; a lost pull is asked again promptly, of another peer that has the log;
 * a disconnect moves pulls under way to other peers at once; a peer whose own log was damaged
 * pulls it back from its peers.
 *
 * Before: with periodic rounds off, B's `syncNow()` sent heads to A and A never answered, so B
 * stayed behind; and a pull lost (or sent as a connection closed) blocked that log for 5 s.
 */
import { afterEach, describe, expect, it } from 'vitest'
import { createMemoryHub, settle, type MemoryHub } from '../../adapters/network/memory.js'
import { memoryStorage } from '../../adapters/storage/memory.js'
import { createThreadKey, generateLogKey } from '../../src/core/keys.js'
import { keys } from '../../src/store/storageKeys.js'
import { ThreadId } from '../../src/core/threadId.js'
import { decodeMessage } from '../../src/net/messages.js'
import { makePeer, ofType, serviceNode, tapIncoming, todos, type NetPeer, type ServiceNode } from '../unit/net/helpers.js'

const open: Array<{ close(): Promise<void> }> = []
afterEach(async () => {
  for (const p of open.splice(0)) await p.close().catch(() => undefined)
})

async function peer(hub: MemoryHub): Promise<NetPeer> {
  const p = await makePeer(hub)
  open.push(p.peer)
  return p
}

async function node(hub: MemoryHub, options: Parameters<typeof serviceNode>[1] = {}): Promise<ServiceNode> {
  const n = await serviceNode(hub, options)
  open.push(n)
  return n
}

/** Drop what `from` sends when `drop(message type, to)` says so. */
function dropSends(n: ServiceNode, drop: (t: string, to: string) => boolean): string[] {
  const dropped: string[] = []
  const send = n.net.send.bind(n.net)
  n.net.send = async (to, bytes) => {
    const t = decodeMessage(bytes).t
    if (drop(t, to)) {
      dropped.push(`${t}->${to}`)
      return
    }
    return send(to, bytes)
  }
  return dropped
}

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms))

describe('a peer that is behind', () => {
  it("catches up by its own round: every message of A lost while A wrote 3, then B's syncNow()", async () => {
    const hub = createMemoryHub({ seed: 601 })
    const a = await peer(hub)
    const b = await peer(hub)
    const tA = await a.createThread({ slices: [todos] })
    await b.joinThread(await tA.invite(), { slices: [todos] })
    await settle(hub, [a.peer, b.peer])
    hub.setFaults({ drop: 1 })
    for (const text of ['one', 'two', 'three']) a.store.dispatch(todos.actions.added(text))
    await settle(hub, [a.peer, b.peer])
    expect(b.store.getState().todos).toEqual([])
    hub.setFaults({})
    await b.syncNow()
    await settle(hub, [a.peer, b.peer])
    expect(b.store.getState().todos.map((t) => t.text)).toEqual(['one', 'two', 'three'])
  })

  it('round heads ask for an answer, and get one only when the other side has more: no ping-pong', async () => {
    const hub = createMemoryHub({ seed: 602 })
    const a = await peer(hub)
    const b = await peer(hub)
    const tA = await a.createThread({ slices: [todos] })
    await b.joinThread(await tA.invite(), { slices: [todos] })
    a.store.dispatch(todos.actions.added('x'))
    await settle(hub, [a.peer, b.peer])
    const toA = tapIncoming(a.peer)
    const toB = tapIncoming(b.peer)
    // Level: A's round asks, B has nothing A lacks, so B does not answer.
    await a.syncNow()
    await settle(hub, [a.peer, b.peer])
    expect(toB.map((s) => s.m.t)).toEqual(['heads'])
    expect(ofType(toB, 'heads')[0]?.reply).toBe(true)
    expect(toA).toEqual([])
    // B behind (A's push lost): B's round asks, A answers once, B pulls; nobody answers an answer.
    hub.setFaults({ drop: 1 })
    a.store.dispatch(todos.actions.added('y'))
    await settle(hub, [a.peer, b.peer])
    hub.setFaults({})
    toA.length = 0
    toB.length = 0
    await b.syncNow()
    await settle(hub, [a.peer, b.peer])
    // A answered B's ask once. B stored what A sent: it does not announce it back to A.
    expect(ofType(toB, 'heads').map((h) => h.reply)).toEqual([false])
    expect(ofType(toA, 'heads').map((h) => h.reply)).toEqual([true])
    expect(ofType(toA, 'pull')).toHaveLength(1)
    expect(b.store.getState().todos.map((t) => t.text)).toEqual(['x', 'y'])
  })
})

describe('lost pulls', () => {
  async function writerAndFollower(hub: MemoryHub, options: Parameters<typeof serviceNode>[1]) {
    const id = ThreadId.create()
    const key = createThreadKey()
    const a = await node(hub)
    const eA = await a.open(id, key, true)
    for (let i = 0; i < 30; i++) eA.command({ type: 'n', payload: i })
    const c = await node(hub)
    const eC = await c.open(id, key, false)
    await c.net.dial(a.id)
    await settle(hub, [a, c])
    expect(eC.heads().get(a.id)?.seq).toBe(30)
    const b = await node(hub, options)
    return { id, key, a, c, b }
  }

  it('a pull that is lost is asked again after the pull timeout, of another peer that has the log', async () => {
    const hub = createMemoryHub({ seed: 603 })
    const { id, key, a, c, b } = await writerAndFollower(hub, { pullTimeoutMs: 100 })
    const dropped = dropSends(b, (t, to) => t === 'pull' && to === a.id)
    const toC = tapPulls(c)
    const eB = await b.open(id, key, false)
    await b.net.dial(a.id)
    await b.net.dial(c.id)
    await settle(hub, [a, b, c])
    // The pull went to the writer, and was lost.
    expect(dropped).toEqual([`pull->${a.id}`])
    expect(eB.heads().get(a.id)).toBeUndefined()
    await sleep(150)
    await settle(hub, [a, b, c])
    expect(toC.length).toBeGreaterThan(0)
    expect(eB.heads().get(a.id)?.seq).toBe(30)
    expect(eB.state).toEqual(Array.from({ length: 30 }, (_, i) => i))
  })

  it('a disconnect moves the pulls under way to another peer at once, without waiting for the timeout', async () => {
    const hub = createMemoryHub({ seed: 604 })
    const { id, key, a, c, b } = await writerAndFollower(hub, { pullTimeoutMs: 60_000 })
    // A takes B's pull and never answers it.
    const unanswered = dropSends(a, (t, to) => t === 'records' && to === b.id)
    const eB = await b.open(id, key, false)
    await b.net.dial(a.id)
    await b.net.dial(c.id)
    await settle(hub, [a, b, c])
    expect(unanswered.length).toBeGreaterThan(0)
    expect(eB.heads().get(a.id)).toBeUndefined()
    const toC = tapPulls(c)
    // A goes away: B's pull of A's log moves to C now.
    await a.net.hangUp(b.id)
    await settle(hub, [b, c])
    expect(toC.length).toBeGreaterThan(0)
    expect(eB.heads().get(a.id)?.seq).toBe(30)
  })
})

describe("a peer's own log", () => {
  it('damaged in storage, is pulled back from peers while the engine says it is recovering; then writing goes on', async () => {
    const hub = createMemoryHub({ seed: 605 })
    const id = ThreadId.create()
    const key = createThreadKey()
    const storage = memoryStorage()
    const identity = generateLogKey()
    const w = await serviceNode(hub, {}, { storage, identity })
    const eW = await w.open(id, key, true)
    for (let i = 0; i < 5; i++) eW.command({ type: 'n', payload: i })
    const x = await node(hub)
    const eX = await x.open(id, key, false)
    await x.net.dial(w.id)
    await settle(hub, [w, x])
    expect(eX.heads().get(w.id)?.seq).toBe(5)
    await w.idle()
    // W goes down; record 3 of its own log is damaged on disk meanwhile.
    await w.sync.stop()
    await w.net.stop()
    const thread = w.store.logstore.getThread(id)
    const log = w.store.logstore.log(id, w.id)
    if (log === undefined) throw new Error('W has no log')
    const at = keys.record(thread.n, log.n, 3)
    const stored = await storage.get(at)
    if (stored === undefined) throw new Error('record 3 is not stored')
    const damaged = Uint8Array.from(stored)
    damaged[damaged.length - 5] = (damaged[damaged.length - 5] as number) ^ 0xff
    await storage.batch([{ type: 'put', key: at, value: damaged }])
    // W comes back on the same storage: the engine finds the damage and asks for its log back.
    const w2 = await serviceNode(hub, {}, { storage, identity })
    open.push(w2)
    const eW2 = await w2.open(id, key, true)
    expect(eW2.ownLogRecovery).toBe(5)
    expect(eW2.heads().get(w.id)?.seq).toBe(2)
    await w2.net.dial(x.id)
    await settle(hub, [w2, x])
    expect(eW2.heads().get(w.id)?.seq).toBe(5)
    expect(eW2.ownLogRecovery).toBeUndefined()
    expect(eW2.writeBlocked).toBeUndefined()
    eW2.command({ type: 'n', payload: 5 })
    await settle(hub, [w2, x])
    expect(eX.heads().get(w.id)?.seq).toBe(6)
    expect(eX.state).toEqual([0, 1, 2, 3, 4, 5])
  })
})

describe("a peer's own log, written from storage it no longer has", () => {
  it('is taken back from a peer before the peer writes again: no fork', async () => {
    const hub = createMemoryHub({ seed: 606 })
    const id = ThreadId.create()
    const key = createThreadKey()
    const identity = generateLogKey()
    const w = await serviceNode(hub, {}, { identity })
    const eW = await w.open(id, key, true)
    for (let i = 0; i < 3; i++) eW.command({ type: 'n', payload: i })
    const x = await node(hub)
    const eX = await x.open(id, key, false)
    await x.net.dial(w.id)
    await settle(hub, [w, x])
    expect(eX.heads().get(w.id)?.seq).toBe(3)
    // W's storage is gone; the same identity comes back on fresh storage and says it may have written.
    await w.close()
    open.splice(open.indexOf(w), 1)
    const again = await serviceNode(hub, {}, { identity })
    open.push(again)
    const eAgain = await again.open(id, key, true)
    eAgain.recoverOwnLog()
    expect(eAgain.ownLogRecovery).toBe(Number.POSITIVE_INFINITY)
    expect(() => eAgain.command({ type: 'n', payload: 'too early' })).toThrow()
    await again.net.dial(x.id)
    await settle(hub, [again, x])
    expect(eAgain.heads().get(w.id)?.seq).toBe(3)
    expect(eAgain.ownLogRecovery).toBeUndefined()
    eAgain.command({ type: 'n', payload: 3 })
    await settle(hub, [again, x])
    expect(eX.heads().get(w.id)?.seq).toBe(4)
    expect(eX.forkOf(w.id)).toBeUndefined()
    expect(eX.state).toEqual([0, 1, 2, 3])
  })

  it('with a peer that never had it, recovery ends as soon as that peer answered', async () => {
    const hub = createMemoryHub({ seed: 607 })
    const id = ThreadId.create()
    const key = createThreadKey()
    const x = await node(hub)
    await x.open(id, key, false)
    const w = await node(hub)
    const eW = await w.open(id, key, true)
    eW.recoverOwnLog()
    await w.net.dial(x.id)
    await settle(hub, [w, x])
    expect(eW.ownLogRecovery).toBeUndefined()
    eW.command({ type: 'n', payload: 0 })
    expect(eW.heads().get(w.id)?.seq).toBe(1)
  })
})

function tapPulls(n: ServiceNode): string[] {
  const pulls: string[] = []
  n.net.on('message', ({ from, bytes }) => {
    if (decodeMessage(bytes).t === 'pull') pulls.push(from)
  })
  return pulls
}
