/**
 * The sync protocol end to end over a memory hub (DESIGN.md section 6): convergence of several
 * writers, paged pulls of long logs, followers serving offline writers, gaps held and pulled,
 * no record traffic when heads match, catch-up after a partition, and the peers on status$.
 */
import { afterEach, describe, expect, it } from 'vitest'
import { createMemoryHub, settle, type MemoryHub } from '../../../adapters/network/memory.js'
import { ThreadId } from '../../../src/core/threadId.js'
import type { Peer } from '../../../src/redux/createPeer.js'
import { makePeer, ofType, serviceNode, status, tapGossip, tapIncoming, todos, type NetPeer, type ServiceNode, type NetThread } from './helpers.js'
import { createThreadKey, generateLogKey } from '../../../src/core/keys.js'
import { decodeMessage, DEFAULT_PULL_LIMIT } from '../../../src/net/messages.js'

const open: Array<{ close(): Promise<void> }> = []
afterEach(async () => {
  for (const p of open.splice(0)) await p.close()
})

async function peers(hub: MemoryHub, n: number): Promise<NetPeer[]> {
  const out: NetPeer[] = []
  for (let i = 0; i < n; i++) out.push(await makePeer(hub))
  open.push(...out.map((p) => p.peer))
  return out
}

const texts = (p: NetPeer): string[] => p.store.getState().todos.map((t) => t.text)
const headsOf = (t: NetThread): Record<string, number> => Object.fromEntries([...t.engine.heads()].map(([log, h]) => [log, h.seq]))

/** Seqs of `logId`'s events as `p`'s store saw their actions (each event once), in order. */
function appliedSeqs(p: NetPeer, logId: string): number[] {
  const seqs: number[] = []
  p.onEvent((meta) => {
    if (meta.logId === logId) seqs.push(meta.seq)
  })
  return seqs
}

describe('sync over a memory hub', () => {
  it('three writers converge: each writes, all get all, in the same order', async () => {
    const hub = createMemoryHub({ seed: 31 })
    const [a, b, c] = (await peers(hub, 3)) as [NetPeer, NetPeer, NetPeer]
    const tA = await a.createThread({ slices: [todos] })
    const tB = await b.joinThread(await tA.invite(), { slices: [todos] })
    const tC = await c.joinThread(await tA.invite({ role: 'write', to: c.id }), { slices: [todos] })
    const all = [a.peer, b.peer, c.peer]
    await settle(hub, all)
    for (let i = 0; i < 4; i++) {
      a.store.dispatch(todos.actions.added(`a${i}`))
      b.store.dispatch(todos.actions.added(`b${i}`))
      c.store.dispatch(todos.actions.added(`c${i}`))
      if (i % 2 === 1) await settle(hub, all)
    }
    const first = a.store.getState().todos[0]
    if (first !== undefined) b.store.dispatch(todos.actions.toggled(first.id))
    await settle(hub, all)
    expect(texts(a)).toHaveLength(12)
    expect(new Set(texts(a))).toEqual(new Set(['a', 'b', 'c'].flatMap((p) => [0, 1, 2, 3].map((i) => `${p}${i}`))))
    expect(b.store.getState().todos).toEqual(a.store.getState().todos)
    expect(c.store.getState().todos).toEqual(a.store.getState().todos)
    expect(a.store.getState().todos[0]?.done).toBe(true)
    expect(headsOf(tB)).toEqual(headsOf(tA))
    expect(headsOf(tC)).toEqual(headsOf(tA))
    expect(headsOf(tA)).toEqual({ [a.id]: 4, [b.id]: 5, [c.id]: 4 })
    // Heads carry addresses: C, invited by A, found B too.
    expect(tA.peers()).toEqual([b.id, c.id].sort())
    expect(tC.peers()).toEqual([a.id, b.id].sort())
  })

  it('a 3,000-event log reaches a new peer in pages of the default pull limit', async () => {
    const hub = createMemoryHub({ seed: 32 })
    const [a, b] = (await peers(hub, 2)) as [NetPeer, NetPeer]
    const tA = await a.createThread({ slices: [todos] })
    for (let i = 0; i < 3000; i++) a.store.dispatch(todos.actions.added(`t${i}`))
    // Let A's push of them go out (to nobody) first: else a peer connecting in the same turn
    // gets the batch by gossip instead of by pulls.
    await settle(hub, [a.peer])
    const toB = tapIncoming(b.peer)
    const tB = await b.joinThread(await tA.invite(), { slices: [todos] })
    await settle(hub, [a.peer, b.peer])
    expect(b.store.getState().todos).toHaveLength(3000)
    expect(b.store.getState().todos).toEqual(a.store.getState().todos)
    expect(headsOf(tB)).toEqual({ [a.id]: 3000 })
    const pages = ofType(toB, 'records', a.id).filter((m) => !m.push)
    expect(DEFAULT_PULL_LIMIT).toBe(1000)
    expect(pages.map((p) => p.records.length)).toEqual([1000, 1000, 1000])
    expect(pages.map((p) => p.more)).toEqual([true, true, false])
    expect(tB.engine.held).toBe(0)
  }, 30_000)

  it('pages follow a configured pull limit (SyncService option)', async () => {
    const hub = createMemoryHub({ seed: 33 })
    const a: ServiceNode = await serviceNode(hub)
    const b: ServiceNode = await serviceNode(hub, { pullLimit: 100 })
    open.push(a, b)
    const id = ThreadId.create()
    const key = createThreadKey()
    const eA = await a.open(id, key, true)
    for (let i = 0; i < 1050; i++) eA.command({ type: 'n', payload: i })
    await settle(hub, [a])
    const eB = await b.open(id, key, false)
    const pulls: number[] = []
    const pages: Array<[number, boolean]> = []
    a.net.on('message', ({ bytes }) => {
      const m = decodeMessage(bytes)
      if (m.t === 'pull') pulls.push(m.from)
    })
    b.net.on('message', ({ bytes }) => {
      const m = decodeMessage(bytes)
      if (m.t === 'records') pages.push([m.records.length, m.more])
    })
    await b.net.dial(a.id)
    await settle(hub, [a, b])
    expect(eB.state).toEqual(Array.from({ length: 1050 }, (_, i) => i))
    expect(pulls).toEqual([1, 101, 201, 301, 401, 501, 601, 701, 801, 901, 1001])
    expect(pages).toEqual([...Array.from({ length: 10 }, (): [number, boolean] => [100, true]), [50, false]])
    expect(b.sync.peersOf(id.toString())).toEqual([a.id])
  })

  it('a late joiner gets everything from a follower while every writer is offline', async () => {
    const hub = createMemoryHub({ seed: 34 })
    const [a, w, f, late] = (await peers(hub, 4)) as [NetPeer, NetPeer, NetPeer, NetPeer]
    const tA = await a.createThread({ slices: [todos] })
    await w.joinThread(await tA.invite(), { slices: [todos] })
    const tF = await f.joinThread(await tA.invite({ role: 'follow' }))
    await settle(hub, [a.peer, w.peer, f.peer])
    for (let i = 0; i < 20; i++) {
      a.store.dispatch(todos.actions.added(`a${i}`))
      w.store.dispatch(todos.actions.added(`w${i}`))
    }
    await settle(hub, [a.peer, w.peer, f.peer])
    expect(headsOf(tF)).toEqual({ [a.id]: 20, [w.id]: 20 })
    const finalState = a.store.getState().todos
    expect(w.store.getState().todos).toEqual(finalState)
    const invite = await tA.invite({ role: 'read' })

    // Every writer goes offline; the invite's address (A's) now leads nowhere.
    await a.peer.close()
    await w.peer.close()
    open.splice(open.indexOf(a.peer), 1)
    open.splice(open.indexOf(w.peer), 1)
    // No address in the invite leads anywhere: join returns at once (it would wait to catch up).
    const tL = await late.joinThread(invite, { slices: [todos], waitForSyncMs: 0 })
    await settle(hub, [f.peer, late.peer])
    expect(late.store.getState().todos).toEqual([])
    expect(late.peer.network?.connectedPeers()).toEqual([])

    await late.connect(f.peer.addresses()[0] as string)
    await settle(hub, [f.peer, late.peer])
    expect(late.store.getState().todos).toEqual(finalState)
    expect(texts(late)).toHaveLength(40)
    expect(headsOf(tL)).toEqual(headsOf(tF))
    expect(tL.peers()).toEqual([f.id])
    expect(tF.engine.timeline.length).toBe(0)
  })

  it('records past a gap are held, never applied early; the gap is pulled; duplicates apply once', async () => {
    const hub = createMemoryHub({ seed: 35 })
    const [a, b, c] = (await peers(hub, 3)) as [NetPeer, NetPeer, NetPeer]
    const tA = await a.createThread({ slices: [todos] })
    a.store.dispatch(todos.actions.added('s1'))
    const tB = await b.joinThread(await tA.invite(), { slices: [todos] })
    await settle(hub, [a.peer, b.peer])
    const seqsB = appliedSeqs(b, a.id)
    const toA = tapIncoming(a.peer)
    // C holds the thread's keys but its handshake with A is lost: connected, not authenticated.
    const tC = await c.openThread(tA.id, { slices: [todos], key: tA.key })
    const seqsC = appliedSeqs(c, a.id)
    const gossipToC = tapGossip(c.peer, tA)
    const all = [a.peer, b.peer, c.peer]
    hub.setFaults({ drop: 1 })
    await c.connect(a.peer.addresses()[0] as string)
    // A writes s2 and s3: the pushes are lost.
    a.store.dispatch(todos.actions.added('s2'))
    a.store.dispatch(todos.actions.added('s3'))
    await settle(hub, all)
    expect(texts(b)).toEqual(['s1'])
    expect(tC.peers()).toEqual([])
    expect(c.peer.network?.connectedPeers()).toEqual([a.id])

    // s4 arrives by push at B and by gossip at C: beyond a gap at both.
    hub.setFaults({})
    a.store.dispatch(todos.actions.added('s4'))
    await settle(hub, all)
    // B pulled the gap from A and applied s2..s4 in order.
    expect(ofType(toA, 'pull', b.id)).toContainEqual(expect.objectContaining({ log: a.id, from: 2 }))
    expect(texts(b)).toEqual(['s1', 's2', 's3', 's4'])
    expect(seqsB).toEqual([2, 3, 4])
    expect(tB.engine.held).toBe(0)
    // C has nobody authenticated to pull from: it holds s4 and applies nothing.
    expect(ofType(gossipToC, 'records').map((m) => m.records.length)).toEqual([1])
    expect(tC.engine.held).toBe(1)
    expect(tC.engine.gaps()).toEqual([{ logId: a.id, from: 1, to: 3 }])
    expect(texts(c)).toEqual([])
    expect(seqsC).toEqual([])
    expect((await status(tC)).held).toBe(1)

    // A round: C authenticates to A, pulls 1..4 and applies them in order; s4 is not applied twice.
    await c.syncNow()
    await settle(hub, all)
    // (A's heads carried B's address: C found B as well.)
    expect(tC.peers()).toEqual([a.id, b.id].sort())
    expect(texts(c)).toEqual(['s1', 's2', 's3', 's4'])
    expect(seqsC).toEqual([1, 2, 3, 4])
    expect(tC.engine.held).toBe(0)
    expect(tC.engine.gaps()).toEqual([])

    // Every message duplicated: each event still applies once, in order, everywhere.
    hub.setFaults({ duplicate: 1 })
    a.store.dispatch(todos.actions.added('s5'))
    await settle(hub, all)
    a.store.dispatch(todos.actions.added('s6'))
    await settle(hub, all)
    hub.setFaults({})
    expect(hub.stats.duplicated).toBeGreaterThanOrEqual(4)
    expect(seqsB).toEqual([2, 3, 4, 5, 6])
    expect(seqsC).toEqual([1, 2, 3, 4, 5, 6])
    expect(texts(b)).toEqual(['s1', 's2', 's3', 's4', 's5', 's6'])
    expect(c.store.getState().todos).toEqual(a.store.getState().todos)
    expect(headsOf(tC)).toEqual({ [a.id]: 6 })
  })

  it('peers whose heads already match exchange heads and nothing else', async () => {
    const hub = createMemoryHub({ seed: 36 })
    const [a, b] = (await peers(hub, 2)) as [NetPeer, NetPeer]
    const tA = await a.createThread({ slices: [todos] })
    await b.joinThread(await tA.invite(), { slices: [todos] })
    for (let i = 0; i < 10; i++) (i % 2 === 0 ? a : b).store.dispatch(todos.actions.added(`x${i}`))
    await settle(hub, [a.peer, b.peer])
    expect(b.store.getState().todos).toEqual(a.store.getState().todos)

    const toA = tapIncoming(a.peer)
    const toB = tapIncoming(b.peer)
    const delivered = hub.stats.delivered
    await a.syncNow()
    await b.syncNow()
    await settle(hub, [a.peer, b.peer])
    expect(toA.map((s) => s.m.t)).toEqual(['heads'])
    expect(toB.map((s) => s.m.t)).toEqual(['heads'])
    expect(hub.stats.delivered - delivered).toBe(2)
  })

  it('a partitioned peer catches up after heal on syncNow; status$ lists authenticated peers only', async () => {
    const hub = createMemoryHub({ seed: 37 })
    const [a, b] = (await peers(hub, 2)) as [NetPeer, NetPeer]
    const tA = await a.createThread({ slices: [todos] })
    a.store.dispatch(todos.actions.added('before'))
    const tB = await b.joinThread(await tA.invite(), { slices: [todos] })
    await settle(hub, [a.peer, b.peer])
    expect((await status(tA)).peers).toEqual([b.id])
    expect((await status(tB)).peers).toEqual([a.id])
    // A bare adapter connects: connected, never authenticated, never listed.
    const raw = hub.network()({ identity: generateLogKey() })
    await raw.start()
    await raw.dial(a.id, a.peer.addresses())
    await settle(hub, [a.peer, b.peer])
    expect(a.peer.network?.connectedPeers()).toContain(raw.peerId)
    expect((await status(tA)).peers).toEqual([b.id])

    hub.partition([a.id, raw.peerId], [b.id])
    await settle(hub, [a.peer, b.peer])
    expect((await status(tA)).peers).toEqual([])
    expect(tB.peers()).toEqual([])
    for (let i = 0; i < 3; i++) a.store.dispatch(todos.actions.added(`a${i}`))
    for (let i = 0; i < 2; i++) b.store.dispatch(todos.actions.added(`b${i}`))
    await settle(hub, [a.peer, b.peer])
    // A sync round during the partition reaches nobody.
    await b.syncNow()
    await settle(hub, [a.peer, b.peer])
    expect(texts(a)).toHaveLength(4)
    expect(texts(b)).toHaveLength(3)

    hub.heal()
    await b.syncNow()
    await settle(hub, [a.peer, b.peer])
    expect(texts(a)).toHaveLength(6)
    expect(b.store.getState().todos).toEqual(a.store.getState().todos)
    expect((await status(tA)).peers).toEqual([b.id])
    expect((await status(tB)).peers).toEqual([a.id])
    await raw.stop()
  })
})
