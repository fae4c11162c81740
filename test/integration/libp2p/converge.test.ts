/**
 * Convergence over real libp2p (TCP on loopback, Noise, Yamux, gossipsub) and real LevelDB:
 * writers that dispatch at the same time end with identical todo lists, in the same order, and
 * every peer finds every other one (heads carry addresses beyond the inviter).
 */
import { afterEach, describe, expect, it } from 'vitest'
import { converged, describePeers, headsOf, livePeer, Resources, seqsOf, statusNow, statusWhere, texts, todos, until, type LivePeer, type NetThread } from './helpers.js'

const resources = new Resources()
afterEach(async () => {
  await resources.closeAll()
})

interface Member {
  readonly p: LivePeer
  readonly t: NetThread
}

/** A creates a thread; the others join with A's invites (a bearer link, then sealed ones). */
async function group(n: number): Promise<Member[]> {
  const names = ['A', 'B', 'C', 'D', 'E'].slice(0, n)
  const peers: LivePeer[] = []
  for (const name of names) peers.push(await livePeer(resources, name))
  const [a, ...rest] = peers as [LivePeer, ...LivePeer[]]
  const tA = await a.createThread({ slices: [todos] })
  const members: Member[] = [{ p: a, t: tA }]
  for (const [i, p] of rest.entries()) {
    const invite = i === 0 ? await tA.invite() : await tA.invite({ role: 'write', to: p.id })
    members.push({ p, t: await p.joinThread(invite, { slices: [todos] }) })
  }
  // Everyone authenticated with everyone: B and C learn of each other from A's heads.
  await Promise.all(members.map((m) => statusWhere(m.t, (s) => s.peers.length === n - 1, `${m.p.name} has ${n - 1} authenticated peers`)))
  return members
}

function sources(members: readonly Member[]) {
  return members.flatMap((m) => [m.t.status$, m.p.store])
}

describe('convergence over libp2p and LevelDB', () => {
  it('three peers writing at once converge to identical todos in the same order', async () => {
    const members = await group(3)
    const [a, b, c] = members as [Member, Member, Member]
    for (const m of members) {
      const s = await statusNow(m.p, m.t)
      expect(s.peers).toEqual(members.filter((o) => o !== m).map((o) => o.p.id).sort())
      expect(m.t.peers()).toEqual(s.peers)
    }

    // Five todos each, dispatched in the same turn on all three stores.
    for (let i = 0; i < 5; i++) for (const m of members) m.p.store.dispatch(todos.actions.added(`${m.p.name}${i}`))
    await until(sources(members), () => converged(members.map((m) => m.p), 15), 'all three hold the same 15 todos', {
      describe: () => describePeers(members)
    })
    const expected = members.flatMap((m) => [0, 1, 2, 3, 4].map((i) => `${m.p.name}${i}`))
    expect(new Set(texts(a.p))).toEqual(new Set(expected))
    // Each writer's own todos keep their dispatch order in the shared order.
    for (const m of members) expect(texts(a.p).filter((x) => x.startsWith(m.p.name))).toEqual([0, 1, 2, 3, 4].map((i) => `${m.p.name}${i}`))
    expect(b.p.store.getState().todos).toEqual(a.p.store.getState().todos)
    expect(c.p.store.getState().todos).toEqual(a.p.store.getState().todos)
    // Authors come from the signed events.
    expect(new Set(a.p.store.getState().todos.map((t) => t.by))).toEqual(new Set(members.map((m) => m.p.id)))

    // Then edits of each other's todos, at once: still one state everywhere.
    const list = a.p.store.getState().todos
    b.p.store.dispatch(todos.actions.toggled((list[0] as { id: string }).id))
    c.p.store.dispatch(todos.actions.renamed({ id: (list[1] as { id: string }).id, text: 'renamed by C' }))
    a.p.store.dispatch(todos.actions.removed((list[2] as { id: string }).id))
    await until(
      sources(members),
      () => converged(members.map((m) => m.p), 14) && members.every((m) => m.p.store.getState().todos.some((t) => t.text === 'renamed by C')) && members.every((m) => m.p.store.getState().todos[0]?.done === true),
      'all three applied the toggle, the rename and the removal',
      { describe: () => describePeers(members) }
    )
    expect(headsOf(b.t)).toEqual(headsOf(a.t))
    expect(headsOf(c.t)).toEqual(headsOf(a.t))
    expect(seqsOf(a.t)).toEqual({ [a.p.id]: 6, [b.p.id]: 6, [c.p.id]: 6 })
    for (const m of members) expect((await statusNow(m.p, m.t)).peers).toHaveLength(2)
  })

  it('four peers each writing 50 events all get all 200, in the same order', async () => {
    const members = await group(4)
    // Five bursts of ten per peer, yielding to the network between bursts (no sleeping).
    for (let burst = 0; burst < 5; burst++) {
      for (let i = 0; i < 10; i++) for (const m of members) m.p.store.dispatch(todos.actions.added(`${m.p.name}-${burst * 10 + i}`))
      await new Promise((r) => setImmediate(r))
    }
    await until(sources(members), () => converged(members.map((m) => m.p), 200), 'all four hold the same 200 todos', {
      describe: () => describePeers(members)
    })
    const [a, ...others] = members as [Member, ...Member[]]
    for (const m of others) {
      expect(m.p.store.getState().todos).toEqual(a.p.store.getState().todos)
      expect(headsOf(m.t)).toEqual(headsOf(a.t))
    }
    expect(Object.values(seqsOf(a.t))).toEqual([50, 50, 50, 50])
    expect(new Set(texts(a.p)).size).toBe(200)
    for (const m of members) {
      const s = await statusNow(m.p, m.t)
      expect(s.peers).toHaveLength(3)
      expect(s.rejected).toBe(0)
      expect(s.events).toBe(200)
    }
  })
})
