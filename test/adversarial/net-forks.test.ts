/**
 * Attack (issue 7 section 2): a writer signs two different records at seq 2 and gives one to peer
 * X, the other to peer Y. Before version 2 of the protocol neither noticed: X showed one history
 * and Y another, for good. Now heads carry each head's identity, so the heads exchange finds the
 * fork, the proof travels to every peer of the thread (also to Z, who saw neither branch), and
 * every honest peer freezes the writer's log before seq 2 and reports the fork on status$.
 */
import { afterEach, describe, expect, it } from 'vitest'
import { createMemoryHub, settle, type Faults, type MemoryHub } from '../../adapters/network/memory.js'
import { encodeCommand } from '../../src/core/command.js'
import type { ThreadsError } from '../../src/core/errors.js'
import { createRecord, recordBlocks, type RecordBlocks } from '../../src/core/record.js'
import { signedStatementOf, type SignedStatement } from '../../src/core/forkProof.js'
import type { Peer } from '../../src/redux/createPeer.js'
import { seededRandom } from '../support/random.js'
import { makePeer, ofType, rawPeer, status, tapIncoming, todos, type NetPeer, type NetThread } from '../unit/net/helpers.js'

const open: Peer[] = []
afterEach(async () => {
  for (const p of open.splice(0)) await p.close().catch(() => undefined)
})

interface Member {
  readonly p: NetPeer
  readonly t: NetThread
  readonly errors: ThreadsError[]
}

interface Forked {
  readonly hub: MemoryHub
  readonly w: NetPeer
  readonly x: Member
  readonly y: Member
  readonly z: Member
  /** W's second record as Y got it (the one W never pushed), and its signed statement. */
  readonly b2: RecordBlocks
  readonly b2Statement: SignedStatement
}

const texts = (m: Member): string[] => m.p.store.getState().todos.map((t) => t.text)

/**
 * W creates the thread and writes `w1`; X, Y and Z join and get it. W then writes `A2`, which only
 * X receives, and signs another seq 2, `B2`, which only Y receives (by hand: as a second device of
 * W with its own storage would). W goes offline for good.
 */
async function forkedThread(seed: number): Promise<Forked> {
  const hub = createMemoryHub({ seed })
  const w = await makePeer(hub)
  open.push(w.peer)
  const tW = await w.createThread({ slices: [todos] })
  const member = async (): Promise<Member> => {
    const p = await makePeer(hub)
    open.push(p.peer)
    const t = await p.joinThread(await tW.invite(), { slices: [todos] })
    const errors: ThreadsError[] = []
    t.engine.events.on('rejected', (e) => errors.push(e))
    return { p, t, errors }
  }
  const x = await member()
  const y = await member()
  const z = await member()
  const all = [w.peer, x.p.peer, y.p.peer, z.p.peer]
  await settle(hub, all)
  w.store.dispatch(todos.actions.added('w1'))
  await settle(hub, all)
  for (const m of [x, y, z]) expect(texts(m)).toEqual(['w1'])
  const w1 = tW.engine.heads().get(w.id)
  if (w1 === undefined) throw new Error('W has no head')

  // A2 reaches X only.
  hub.partition([w.id, x.p.id], [y.p.id, z.p.id])
  w.store.dispatch(todos.actions.added('A2'))
  await settle(hub, all)
  expect(texts(x)).toEqual(['w1', 'A2'])
  // B2: the same log, the same seq, another event, signed by W's key.
  const b2 = createRecord({
    logKey: w.identity,
    threadKey: tW.key,
    thread: tW.id,
    body: encodeCommand({ type: todos.actions.added.type, payload: { id: 'bbbbbbbb', text: 'B2' }, meta: {} }),
    clock: 5,
    time: Date.now(),
    prev: w1
  })
  await w.peer.close()
  open.splice(open.indexOf(w.peer), 1)
  hub.heal()
  const pushed = await y.t.ingest(w.id, [recordBlocks(b2)])
  expect(pushed.stored).toBe(1)
  expect(texts(y)).toEqual(['w1', 'B2'])
  expect(texts(z)).toEqual(['w1'])
  return { hub, w, x, y, z, b2: recordBlocks(b2), b2Statement: signedStatementOf(b2) }
}

async function rounds(hub: MemoryHub, members: readonly Member[], n: number): Promise<void> {
  for (let i = 0; i < n; i++) {
    await Promise.all(members.map((m) => m.p.syncNow()))
    await settle(hub, members.map((m) => m.p.peer))
  }
}

async function expectForkReported(members: readonly Member[], logId: string): Promise<void> {
  for (const m of members) {
    const s = await status(m.t)
    expect(s.forks, m.p.id).toEqual([{ logId, seq: 2 }])
    expect(m.errors.map((e) => e.name)).toContain('EquivocationError')
    expect(texts(m)).toEqual(['w1'])
    expect(m.t.engine.forkOf(logId)).toBe(2)
  }
}

describe('a writer that forks its log', () => {
  it('is found by the heads exchange; the proof reaches every peer; all freeze the log at seq 1 and report it', async () => {
    const { hub, w, x, y, z } = await forkedThread(101)
    const members = [x, y, z]
    const toZ = tapIncoming(z.p.peer)
    // One round: X, Y and Z reconnect (the partition closed X's connections), exchange heads with
    // identities, and X or Y pulls the other's seq 2, which proves the fork.
    await rounds(hub, members, 2)
    await expectForkReported(members, w.id)
    // Z never held either branch: the proof came to it as a `fork` message.
    expect(ofType(toZ, 'fork').length).toBeGreaterThan(0)
    // Same state everywhere, and it stays so: more rounds change nothing and pull nothing of W's log past 1.
    const toX = tapIncoming(x.p.peer)
    await rounds(hub, members, 2)
    expect(new Set(members.map((m) => JSON.stringify(m.p.store.getState().todos))).size).toBe(1)
    expect(ofType(toX, 'records').filter((r) => r.log === w.id && r.records.length > 0)).toEqual([])
    // No honest peer was blamed for carrying either branch.
    for (const m of members) expect(m.errors.map((e) => e.name).filter((n) => n !== 'EquivocationError')).toEqual([])
  })

  it('writing goes on for everyone else', async () => {
    const { hub, w, x, y, z } = await forkedThread(102)
    const members = [x, y, z]
    await rounds(hub, members, 2)
    x.p.store.dispatch(todos.actions.added('from X'))
    y.p.store.dispatch(todos.actions.added('from Y'))
    await settle(hub, members.map((m) => m.p.peer))
    await rounds(hub, members, 1)
    for (const m of members) expect([...texts(m)].sort()).toEqual(['from X', 'from Y', 'w1'])
    expect(new Set(members.map((m) => JSON.stringify(m.p.store.getState().todos))).size).toBe(1)
    expect(x.t.engine.forkOf(w.id)).toBe(2)
  })

  it('a fork proof that does not check out is struck; a good one from a stranger to the fork is taken', async () => {
    const { hub, w, x, b2Statement } = await forkedThread(103)
    const raw = await rawPeer(hub)
    await raw.net.dial(x.p.id)
    await settle(hub, [x.p.peer])
    await raw.prove(x.p.id, x.t)
    await settle(hub, [x.p.peer])
    expect(x.t.peers()).toContain(raw.net.peerId)
    const [a2] = await x.t.engine.records(w.id, 2, 1)
    if (a2 === undefined) throw new Error('X has no A2')
    const a = signedStatementOf(a2)
    // B2's statement with a signature W never made.
    await raw.sendMsg(x.p.id, { t: 'fork', thread: x.t.id.bytes, proof: { logId: w.id, a, b: { ...b2Statement, sig: new Uint8Array(64).fill(1) } } })
    await settle(hub, [x.p.peer])
    expect(x.errors.map((e) => e.name)).toEqual(['BadSignatureError'])
    expect(x.t.engine.forkOf(w.id)).toBeUndefined()
    expect(texts(x)).toEqual(['w1', 'A2'])
    // The real proof, from a peer that holds neither branch: taken, and X freezes W's log.
    await raw.sendMsg(x.p.id, { t: 'fork', thread: x.t.id.bytes, proof: { logId: w.id, a, b: b2Statement } })
    await settle(hub, [x.p.peer])
    expect(x.t.engine.forkOf(w.id)).toBe(2)
    expect(texts(x)).toEqual(['w1'])
    expect(x.errors.map((e) => e.name)).toEqual(['BadSignatureError', 'EquivocationError'])
    await raw.net.stop()
  })

  it.each([201, 202, 203, 204, 205, 206, 207, 208])('seed %i: under drops, duplicates, reordering and partitions every honest peer ends with the same state and reports the fork', async (seed) => {
    const { hub, w, x, y, z } = await forkedThread(seed)
    const members = [x, y, z]
    const random = seededRandom(seed)
    const faults: Faults = { drop: 0.15, duplicate: 0.15, reorder: 0.3, delay: 0.3, maxDelay: 4 }
    hub.setFaults(faults)
    for (let step = 0; step < 12; step++) {
      const r = random()
      const m = members[Math.floor(random() * members.length)] as Member
      if (r < 0.2) {
        const ids = members.map((mm) => mm.p.id)
        const cut = 1 + Math.floor(random() * 2)
        hub.partition(ids.slice(0, cut), ids.slice(cut))
      } else if (r < 0.35) hub.heal()
      else if (r < 0.55) m.p.store.dispatch(todos.actions.added(`s${seed}-${step}`))
      else await m.p.syncNow()
      await settle(hub, members.map((mm) => mm.p.peer))
    }
    hub.heal()
    hub.setFaults({})
    // Rounds until all agree (a lost pull is asked again by a later round).
    const realNow = Date.now
    let skew = 0
    Date.now = () => realNow() + skew
    try {
      for (let i = 0; i < 10; i++) {
        skew += 10_000
        await rounds(hub, members, 1)
        const states = new Set(members.map((mm) => JSON.stringify(mm.p.store.getState().todos)))
        if (states.size === 1 && members.every((mm) => mm.t.engine.forkOf(w.id) === 2)) break
      }
    } finally {
      Date.now = realNow
    }
    expect(new Set(members.map((mm) => JSON.stringify(mm.p.store.getState().todos))).size).toBe(1)
    for (const m of members) {
      expect((await status(m.t)).forks).toEqual([{ logId: w.id, seq: 2 }])
      expect(m.errors.map((e) => e.name)).toContain('EquivocationError')
      expect(texts(m)).toContain('w1')
      expect(texts(m)).not.toContain('A2')
      expect(texts(m)).not.toContain('B2')
      // Nobody honest was struck: every refusal is the fork itself.
      expect(m.errors.map((e) => e.name).filter((n) => n !== 'EquivocationError')).toEqual([])
    }
  })
})

