/**
 * Attacks on the handshake (issue 7 sections 4 and 5), over the in-memory hub.
 *
 * - An outsider connected to a peer used to receive a challenge naming every thread the peer
 *   held, and `auth-reply` versus `nack` told it whether the peer held a given thread. Now it gets
 *   a hello and tags it cannot check, the same whichever threads the peer holds, and nothing it
 *   sends gets an answer that depends on them.
 * - A hub that duplicated every message made an honest peer refuse the other's proofs and hang
 *   up on it, and nothing synced. Duplicates and reordering never count as misbehaviour now.
 * - Work an unauthenticated peer can cause is bounded: unmatched tags and messages about unproven
 *   threads each have a budget per minute, past which the peer is hung up.
 */
import { afterEach, describe, expect, it } from 'vitest'
import { createMemoryHub, settle, type Faults, type MemoryHub } from '../../adapters/network/memory.js'
import type { ThreadsError } from '../../src/core/errors.js'
import { getCrypto } from '../../src/core/crypto/index.js'
import { ThreadId } from '../../src/core/threadId.js'
import { MAX_UNMATCHED_TAGS_PER_MINUTE, MAX_UNPROVEN_PER_MINUTE } from '../../src/net/limits.js'
import { encodeMessage, NONCE_BYTES, TAG_BYTES, type SyncMessage } from '../../src/net/messages.js'
import type { Peer } from '../../src/redux/createPeer.js'
import { makePeer, rawPeer, status, todos, type NetPeer, type RawPeer, type NetThread } from '../unit/net/helpers.js'

const open: Array<{ close(): Promise<void> }> = []
afterEach(async () => {
  for (const p of open.splice(0)) await p.close().catch(() => undefined)
})

async function peer(hub: MemoryHub): Promise<NetPeer> {
  const p = await makePeer(hub)
  open.push(p.peer)
  return p
}

function errorsOf(t: NetThread): ThreadsError[] {
  const errors: ThreadsError[] = []
  t.engine.events.on('rejected', (e) => errors.push(e))
  return errors
}

/** What the outsider saw from `from`: message types and byte sizes, in order. */
function view(raw: RawPeer, from: string): string[] {
  return raw.seen.filter((s) => s.from === from).map((s) => `${s.m.t}:${encodeMessage(s.m).length}`)
}

const randomTag = (): Uint8Array => getCrypto().randomBytes(TAG_BYTES)

describe('an outsider without the key', () => {
  it('sees the same from a peer that holds the thread it names as from one that does not, and gets no answer', async () => {
    const hub = createMemoryHub({ seed: 301 })
    const holder = await peer(hub)
    const stranger = await peer(hub)
    const tT = await holder.createThread({ slices: [todos] })
    // The stranger holds another thread (one, as the holder does).
    const tU = await stranger.createThread({ slices: [todos] })
    const errors = [...[tT, tU].map(errorsOf)]
    const raw = await rawPeer(hub)
    open.push({ close: () => raw.net.stop() })
    for (const target of [holder, stranger]) {
      await raw.net.dial(target.id)
      await settle(hub, [holder.peer, stranger.peer])
      await raw.hello(target.id)
      await settle(hub, [holder.peer, stranger.peer])
      // It knows thread T's ID (say, from a leaked link) and asks both about it, and claims it with
      // a tag it cannot make, and asks about another thread too.
      const probes: SyncMessage[] = [
        { t: 'auth', tag: randomTag(), nonce: raw.nonce },
        { t: 'heads', thread: tT.id.bytes, heads: [], addrs: [], reply: true },
        { t: 'pull', thread: tT.id.bytes, log: holder.id, from: 1, limit: 10 },
        { t: 'pull', thread: ThreadId.create().bytes, log: holder.id, from: 1, limit: 10 }
      ]
      for (const m of probes) await raw.sendMsg(target.id, m)
      await settle(hub, [holder.peer, stranger.peer])
    }
    // One hello and one tag from each, of the same sizes, and nothing else: no nack, no heads, no records.
    expect(view(raw, holder.id)).toEqual(view(raw, stranger.id))
    expect(view(raw, holder.id).map((v) => v.split(':')[0])).toEqual(['hello', 'auth'])
    // No thread is named in anything it received.
    for (const s of raw.seen) expect('thread' in s.m).toBe(false)
    // Nobody blamed anybody, and it is still connected (the probes were within budget).
    expect(errors.flat()).toEqual([])
    expect(holder.peer.network?.connectedPeers()).toContain(raw.net.peerId)
    expect(tT.peers()).toEqual([])
    expect((await status(tT)).peers).toEqual([])
  })

  it(`is hung up on after ${MAX_UNMATCHED_TAGS_PER_MINUTE} tags a minute that match nothing`, async () => {
    const hub = createMemoryHub({ seed: 302 })
    const a = await peer(hub)
    const tA = await a.createThread({ slices: [todos] })
    const banned: string[] = []
    const raw = await rawPeer(hub)
    open.push({ close: () => raw.net.stop() })
    await raw.net.dial(a.id)
    await raw.hello(a.id)
    await settle(hub, [a.peer])
    for (let i = 0; i < MAX_UNMATCHED_TAGS_PER_MINUTE; i++) await raw.sendMsg(a.id, { t: 'auth', tag: randomTag(), nonce: raw.nonce })
    await settle(hub, [a.peer])
    expect(a.peer.network?.connectedPeers()).toContain(raw.net.peerId)
    a.peer.network?.on('peer:disconnect', ({ peerId }) => banned.push(peerId))
    for (let i = 0; i < 10; i++) await raw.sendMsg(a.id, { t: 'auth', tag: randomTag(), nonce: raw.nonce })
    await settle(hub, [a.peer])
    expect(banned).toEqual([raw.net.peerId])
    expect(a.peer.network?.connectedPeers()).not.toContain(raw.net.peerId)
    const s = await status(tA)
    expect(s.lastError?.name).toBe('RateLimitedError')
  })

  it(`is hung up on after ${MAX_UNPROVEN_PER_MINUTE} messages a minute about threads it never proved, none answered`, async () => {
    const hub = createMemoryHub({ seed: 303 })
    const a = await peer(hub)
    const tA = await a.createThread({ slices: [todos] })
    a.store.dispatch(todos.actions.added('secret'))
    const raw = await rawPeer(hub)
    open.push({ close: () => raw.net.stop() })
    await raw.net.dial(a.id)
    await settle(hub, [a.peer])
    const pull: SyncMessage = { t: 'pull', thread: tA.id.bytes, log: a.id, from: 1, limit: 1000 }
    for (let i = 0; i < MAX_UNPROVEN_PER_MINUTE + 5; i++) await raw.sendMsg(a.id, pull)
    await settle(hub, [a.peer])
    expect(raw.seen.map((s) => s.m.t)).toEqual(['hello'])
    expect(a.peer.network?.connectedPeers()).not.toContain(raw.net.peerId)
    expect((await status(tA)).lastError?.name).toBe('RateLimitedError')
  })
})

describe('duplicated and reordered messages', () => {
  /** B joins A; A writes; B must get it with nobody blamed and nobody hung up. */
  async function joinAndWrite(seed: number, faults: Faults): Promise<void> {
    const hub = createMemoryHub({ seed, faults })
    const a = await peer(hub)
    const b = await peer(hub)
    const disconnects: string[] = []
    for (const p of [a, b]) p.peer.network?.on('peer:disconnect', ({ peerId }) => disconnects.push(peerId))
    const tA = await a.createThread({ slices: [todos] })
    const errorsA = errorsOf(tA)
    const tB = await b.joinThread(await tA.invite(), { slices: [todos] })
    const errorsB = errorsOf(tB)
    await settle(hub, [a.peer, b.peer])
    a.store.dispatch(todos.actions.added('one'))
    await settle(hub, [a.peer, b.peer])
    b.store.dispatch(todos.actions.added('two'))
    await settle(hub, [a.peer, b.peer])
    expect(b.store.getState().todos.map((t) => t.text).sort()).toEqual(['one', 'two'])
    expect(a.store.getState().todos).toEqual(b.store.getState().todos)
    expect([...errorsA, ...errorsB]).toEqual([])
    expect(disconnects).toEqual([])
    expect(tA.peers()).toEqual([b.id])
    expect(tB.peers()).toEqual([a.id])
    expect(hub.stats.duplicated + hub.stats.delivered).toBeGreaterThan(0)
  }

  it('every message duplicated (the reported case): the handshake holds, B gets A\'s command, nobody is blamed', async () => {
    await joinAndWrite(304, { duplicate: 1 })
  })

  it.each([305, 306, 307, 308, 309, 310])('seed %i: duplicated, reordered and delayed at random: the same', async (seed) => {
    await joinAndWrite(seed, { duplicate: 0.5, reorder: 0.5, delay: 0.5, maxDelay: 4 })
  })

  it('an auth that overtakes its hello is taken, and a repeated hello is answered, not blamed', async () => {
    const hub = createMemoryHub({ seed: 311 })
    const a = await peer(hub)
    const tA = await a.createThread({ slices: [todos] })
    const errorsA = errorsOf(tA)
    const raw = await rawPeer(hub)
    open.push({ close: () => raw.net.stop() })
    await raw.net.dial(a.id)
    await settle(hub, [a.peer])
    // Tag first, hello after (as reordering would deliver them).
    await raw.sendMsg(a.id, { t: 'auth', tag: raw.tagFor(a.id, tA), nonce: raw.nonce })
    await raw.hello(a.id)
    await raw.hello(a.id)
    await settle(hub, [a.peer])
    expect(tA.peers()).toEqual([raw.net.peerId])
    expect(errorsA).toEqual([])
    // A claimed its thread once on its own, and once more for the repeated hello (raw never acked).
    expect(raw.seen.filter((s) => s.m.t === 'auth').length).toBe(2)
    expect(raw.seen.filter((s) => s.m.t === 'heads').length).toBeGreaterThanOrEqual(1)
  })

  it('a hello with another nonce on the same connection changes nothing', async () => {
    const hub = createMemoryHub({ seed: 312 })
    const a = await peer(hub)
    const tA = await a.createThread({ slices: [todos] })
    const raw = await rawPeer(hub)
    open.push({ close: () => raw.net.stop() })
    await raw.net.dial(a.id)
    await raw.hello(a.id)
    await settle(hub, [a.peer])
    await raw.sendMsg(a.id, { t: 'hello', nonce: new Uint8Array(NONCE_BYTES).fill(9) })
    // A tag made for the second nonce does not match: the first nonce stands.
    await raw.sendMsg(a.id, { t: 'auth', tag: raw.tagFor(a.id, tA), nonce: new Uint8Array(NONCE_BYTES).fill(9) })
    await settle(hub, [a.peer])
    expect(tA.peers()).toEqual([])
    await raw.sendMsg(a.id, { t: 'auth', tag: raw.tagFor(a.id, tA), nonce: raw.nonce })
    await settle(hub, [a.peer])
    expect(tA.peers()).toEqual([raw.net.peerId])
  })
})

describe('lost handshake messages', () => {
  it('every message of the handshake lost: one round of either side completes it', async () => {
    const hub = createMemoryHub({ seed: 313 })
    const a = await peer(hub)
    const b = await peer(hub)
    const tA = await a.createThread({ slices: [todos] })
    a.store.dispatch(todos.actions.added('before'))
    const invite = await tA.invite()
    hub.setFaults({ drop: 1 })
    // Everything is lost: join returns at once (it would wait to catch up).
    const tB = await b.joinThread(invite, { slices: [todos], waitForSyncMs: 0 })
    await settle(hub, [a.peer, b.peer])
    expect(tB.peers()).toEqual([])
    hub.setFaults({})
    await b.syncNow()
    await settle(hub, [a.peer, b.peer])
    expect(tB.peers()).toEqual([a.id])
    expect(tA.peers()).toEqual([b.id])
    expect(b.store.getState().todos.map((t) => t.text)).toEqual(['before'])
  })
})

export type { Peer }
