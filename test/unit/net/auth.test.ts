/**
 * Authentication of the sync protocol (DESIGN.md section 6): a peer proves it holds a thread's
 * service key (a MAC over a challenge, bound to both peer IDs) before it may pull or push that
 * thread's records; bad input is reported and struck, and repeated bad input disconnects.
 */
import { afterEach, describe, expect, it } from 'vitest'
import { createMemoryHub, settle, type MemoryHub } from '../../../adapters/network/memory.js'
import { createThreadKey, generateLogKey } from '../../../src/core/keys.js'
import { ThreadId } from '../../../src/core/threadId.js'
import { MAC_BYTES, NONCE_BYTES, encodeMessage, type SyncMessage } from '../../../src/net/messages.js'
import { authMac } from '../../../src/net/syncService.js'
import type { Peer, Thread } from '../../../src/redux/createPeer.js'
import type { ThreadsError } from '../../../src/core/errors.js'
import { makePeer, ofType, rawPeer, serviceNode, status, tapGossip, tapIncoming, todos, type NetPeer } from './helpers.js'

describe('authMac', () => {
  const key = Uint8Array.from({ length: 32 }, (_, i) => i)
  const thread = ThreadId.create().bytes
  const nonce = new Uint8Array(NONCE_BYTES).fill(3)
  const alice = generateLogKey().id
  const bob = generateLogKey().id
  const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex')
  const base = authMac(key, thread, nonce, alice, bob)

  it('is a deterministic 32-byte MAC', () => {
    expect(base).toHaveLength(MAC_BYTES)
    expect(hex(authMac(Uint8Array.from(key), Uint8Array.from(thread), Uint8Array.from(nonce), alice, bob))).toBe(hex(base))
  })

  it('binds the service key, thread, nonce, prover and verifier', () => {
    const otherKey = Uint8Array.from(key)
    otherKey[31] = (otherKey[31] as number) ^ 1
    const otherNonce = Uint8Array.from(nonce)
    otherNonce[0] = (otherNonce[0] as number) ^ 0x80
    const variants = {
      key: authMac(otherKey, thread, nonce, alice, bob),
      thread: authMac(key, ThreadId.create().bytes, nonce, alice, bob),
      nonce: authMac(key, thread, otherNonce, alice, bob),
      prover: authMac(key, thread, nonce, generateLogKey().id, bob),
      verifier: authMac(key, thread, nonce, alice, generateLogKey().id),
      // Reflection: the same challenge answered with the roles swapped.
      swapped: authMac(key, thread, nonce, bob, alice)
    }
    const all = [hex(base), ...Object.values(variants).map(hex)]
    expect(new Set(all).size).toBe(all.length)
  })

  it('separates the prover and verifier IDs (no ambiguity at their boundary)', () => {
    expect(hex(authMac(key, thread, nonce, 'ab', 'c'))).not.toBe(hex(authMac(key, thread, nonce, 'a', 'bc')))
  })
})

interface Honest {
  readonly hub: MemoryHub
  readonly a: NetPeer
  readonly b: NetPeer
  readonly tA: Thread
  readonly tB: Thread
  /** Every refusal reported on A's thread (the sync service's errors land there). */
  readonly errorsA: ThreadsError[]
}

const open: Peer[] = []
afterEach(async () => {
  for (const p of open.splice(0)) await p.close()
})

/** A creates a thread with one todo; B joins with a write invite; both settled. */
async function honestPair(seed: number): Promise<Honest> {
  const hub = createMemoryHub({ seed })
  const a = await makePeer(hub)
  const b = await makePeer(hub)
  open.push(a.peer, b.peer)
  const tA = await a.peer.createThread({ slices: [todos] })
  a.store.dispatch(todos.actions.added('before'))
  const tB = await b.peer.joinThread(tA.invite(), { slices: [todos] })
  await settle(hub, [a.peer, b.peer])
  expect(b.store.getState().todos.map((t) => t.text)).toEqual(['before'])
  const errorsA: ThreadsError[] = []
  tA.engine.events.on('rejected', (e) => errorsA.push(e))
  return { hub, a, b, tA, tB, errorsA }
}

/** B writes; A must receive it: the honest pair keeps syncing. */
async function stillSyncing(h: Honest, text: string): Promise<void> {
  h.b.store.dispatch(todos.actions.added(text))
  await settle(h.hub, [h.a.peer, h.b.peer])
  expect(h.a.store.getState().todos.map((t) => t.text)).toContain(text)
}

describe('sync authentication over a memory hub', () => {
  it('a peer with the wrong service key never gets the thread: refused, reported, then disconnected', async () => {
    const h = await honestPair(11)
    const { hub, a, b, tA } = h
    const m = await makePeer(hub)
    open.push(m.peer)
    // Same thread ID, a key of its own.
    const tM = await m.peer.openThread(tA.id, { slices: [todos], key: createThreadKey() })
    const toM = tapIncoming(m.peer)
    const gossipToM = tapGossip(m.peer)
    const errorsM: ThreadsError[] = []
    tM.engine.events.on('rejected', (e) => errorsM.push(e))
    const all = [a.peer, b.peer, m.peer]

    await m.peer.connect(a.peer.addresses()[0] as string)
    await settle(hub, all)
    // Each side challenged the other; each proof failed; each side reports it.
    expect(h.errorsA.map((e) => e.name)).toEqual(['UnauthorizedError'])
    expect(h.errorsA[0]?.threadId).toBe(tA.id.toString())
    expect(errorsM.map((e) => e.name)).toEqual(['UnauthorizedError'])
    const sA = await status(tA)
    expect(sA.lastError?.name).toBe('UnauthorizedError')
    expect(sA.peers).toEqual([b.peer.id])
    expect(tA.peers()).toEqual([b.peer.id])
    expect((await status(tM)).peers).toEqual([])
    expect(a.peer.network?.connectedPeers()).toContain(m.peer.id)

    // M asks for A's log anyway: refused, struck, answered with nothing.
    await m.peer.network?.send(a.peer.id, encodeMessage({ t: 'pull', thread: tA.id.bytes, log: a.peer.id, from: 1, limit: 100 }))
    await settle(hub, all)
    expect(h.errorsA.map((e) => e.name)).toEqual(['UnauthorizedError', 'UnauthorizedError'])
    expect(h.errorsA[1]?.message).toMatch(/pull message before the peer proved/)

    // A writes while M is still connected: direct pushes go to B only. Gossip may carry the
    // record to any subscriber of the topic, sealed with the service key: M cannot open it.
    a.store.dispatch(todos.actions.added('while M is connected'))
    await settle(hub, all)
    expect(b.store.getState().todos).toHaveLength(2)
    expect(ofType(toM, 'records')).toEqual([])
    expect(ofType(toM, 'heads')).toEqual([])
    expect(toM.map((s) => s.m.t).sort()).toEqual(['auth', 'auth-reply'])
    const gossiped = ofType(gossipToM, 'records')
    for (const g of gossiped) expect(g.log).toBe(a.peer.id)
    // Every gossiped record was refused by M: it does not open with M's service key.
    expect(errorsM.filter((e) => e.name === 'DecryptionError')).toHaveLength(gossiped.reduce((n, g) => n + g.records.length, 0))
    expect([...tM.engine.heads().keys()]).toEqual([])
    expect(tM.engine.timeline.length).toBe(0)
    expect(m.store.getState().todos).toEqual([])

    // A's next round challenges M again: a third failed proof disconnects it.
    await a.peer.syncNow()
    await settle(hub, all)
    expect(h.errorsA.map((e) => e.name)).toEqual(['UnauthorizedError', 'UnauthorizedError', 'UnauthorizedError'])
    expect(a.peer.network?.connectedPeers()).not.toContain(m.peer.id)
    expect(m.peer.network?.connectedPeers()).not.toContain(a.peer.id)
    expect(a.peer.network?.connectedPeers()).toContain(b.peer.id)
    expect(m.store.getState().todos).toEqual([])

    await stillSyncing(h, 'after the ban')
    expect(h.errorsA).toHaveLength(3)
  })

  it('a pull before authenticating gets nothing and is struck; three strikes disconnect', async () => {
    const h = await honestPair(12)
    const { hub, a, tA } = h
    const raw = await rawPeer(hub)
    await raw.net.dial(a.peer.id)
    await settle(hub, [a.peer, h.b.peer])
    // A challenged the newcomer and is waiting for a proof.
    expect(raw.seen.map((s) => s.m.t)).toEqual(['auth'])
    expect(raw.seen[0]?.m.thread).toEqual(tA.id.bytes)

    const pull: SyncMessage = { t: 'pull', thread: tA.id.bytes, log: a.peer.id, from: 1, limit: 10 }
    await raw.sendMsg(a.peer.id, pull)
    await settle(hub, [a.peer, h.b.peer])
    expect(raw.seen.map((s) => s.m.t)).toEqual(['auth'])
    expect(h.errorsA.map((e) => e.name)).toEqual(['UnauthorizedError'])
    expect((await status(tA)).lastError?.message).toMatch(/pull message before the peer proved/)
    expect(tA.peers()).toEqual([h.b.peer.id])
    expect(a.peer.network?.connectedPeers()).toContain(raw.net.peerId)

    // Heads and a push before proving: refused the same way; the third strike hangs up.
    await raw.sendMsg(a.peer.id, { t: 'heads', thread: tA.id.bytes, heads: [[a.peer.id, 99]], addrs: [] })
    await raw.sendMsg(a.peer.id, { t: 'records', thread: tA.id.bytes, log: raw.net.peerId, records: [], more: false, push: true })
    await settle(hub, [a.peer, h.b.peer])
    expect(h.errorsA.map((e) => e.name)).toEqual(['UnauthorizedError', 'UnauthorizedError', 'UnauthorizedError'])
    expect(raw.seen.map((s) => s.m.t)).toEqual(['auth'])
    expect(a.peer.network?.connectedPeers()).not.toContain(raw.net.peerId)
    expect(raw.net.connectedPeers()).toEqual([])
    await stillSyncing(h, 'after the pull')
  })

  it('a proof made with the service key opens the thread; a reflected or replayed proof does not', async () => {
    const h = await honestPair(13)
    const { hub, a, tA } = h
    const key = tA.key.service
    const thread = tA.id.bytes
    const raw = await rawPeer(hub)
    await raw.net.dial(a.peer.id)
    await settle(hub, [a.peer, h.b.peer])
    const challenge = ofType(raw.seen, 'auth')[0]
    if (challenge === undefined) throw new Error('A sent no challenge')

    // Reflection: A's own proof for this challenge (prover and verifier swapped) is refused.
    const mine = new Uint8Array(NONCE_BYTES).fill(42)
    await raw.sendMsg(a.peer.id, { t: 'auth-reply', thread, mac: authMac(key, thread, challenge.nonce, a.peer.id, raw.net.peerId), nonce: mine })
    await settle(hub, [a.peer, h.b.peer])
    expect(h.errorsA.map((e) => e.name)).toEqual(['UnauthorizedError'])
    expect(tA.peers()).toEqual([h.b.peer.id])

    // The right proof: A authorizes the peer, proves itself in turn, and sends its heads.
    const proof = authMac(key, thread, challenge.nonce, raw.net.peerId, a.peer.id)
    await raw.sendMsg(a.peer.id, { t: 'auth-reply', thread, mac: proof, nonce: mine })
    await settle(hub, [a.peer, h.b.peer])
    expect(tA.peers()).toEqual([raw.net.peerId, h.b.peer.id].sort())
    const done = ofType(raw.seen, 'auth-done')
    expect(done).toHaveLength(1)
    expect(done[0]?.mac).toEqual(authMac(key, thread, mine, a.peer.id, raw.net.peerId))
    const heads = ofType(raw.seen, 'heads')
    expect(heads).toHaveLength(1)
    expect(heads[0]?.heads).toContainEqual([a.peer.id, 1])

    // Replay of the same proof: its nonce was spent.
    await raw.sendMsg(a.peer.id, { t: 'auth-reply', thread, mac: proof, nonce: mine })
    await settle(hub, [a.peer, h.b.peer])
    expect(h.errorsA.map((e) => e.name)).toEqual(['UnauthorizedError', 'UnauthorizedError'])

    // Authorized, it may pull: it gets A's record.
    await raw.sendMsg(a.peer.id, { t: 'pull', thread, log: a.peer.id, from: 1, limit: 10 })
    await settle(hub, [a.peer, h.b.peer])
    const records = ofType(raw.seen, 'records')
    expect(records).toHaveLength(1)
    expect(records[0]?.records).toHaveLength(1)
    expect(records[0]?.more).toBe(false)
  })

  it('a thread this peer does not hold is nacked, never served', async () => {
    const h = await honestPair(14)
    const raw = await rawPeer(h.hub)
    await raw.net.dial(h.a.peer.id)
    const unknown = ThreadId.create().bytes
    await raw.sendMsg(h.a.peer.id, { t: 'auth', thread: unknown, nonce: new Uint8Array(NONCE_BYTES) })
    await raw.sendMsg(h.a.peer.id, { t: 'pull', thread: unknown, log: h.a.peer.id, from: 1, limit: 1 })
    await settle(h.hub, [h.a.peer, h.b.peer])
    const nacks = ofType(raw.seen, 'nack')
    expect(nacks).toHaveLength(1)
    expect(nacks[0]?.thread).toEqual(unknown)
    expect(ofType(raw.seen, 'records')).toEqual([])
    expect(ofType(raw.seen, 'auth-reply')).toEqual([])
  })

  it('garbage is reported as MalformedMessageError; honest sync goes on; repeated garbage disconnects', async () => {
    const h = await honestPair(15)
    const { hub, a, tA } = h
    const raw = await rawPeer(hub)
    await raw.net.dial(a.peer.id)
    await settle(hub, [a.peer, h.b.peer])

    await raw.net.send(a.peer.id, Uint8Array.of(0xff, 0x00, 0x13, 0x37))
    await settle(hub, [a.peer, h.b.peer])
    expect(h.errorsA.map((e) => e.name)).toEqual(['MalformedMessageError'])
    const s = await status(tA)
    expect(s.lastError?.name).toBe('MalformedMessageError')
    expect(s.rejected).toBe(1)
    await stillSyncing(h, 'after garbage')
    expect(a.peer.network?.connectedPeers()).toContain(raw.net.peerId)

    // A thread field that is no thread ID, then a second garbage frame: the third strike.
    await raw.net.send(a.peer.id, encodeMessage({ t: 'auth', thread: new Uint8Array(20).fill(0xee), nonce: new Uint8Array(NONCE_BYTES) }))
    await raw.net.send(a.peer.id, new TextEncoder().encode('GET / HTTP/1.1\r\n\r\n'))
    await settle(hub, [a.peer, h.b.peer])
    expect(h.errorsA.map((e) => e.name)).toEqual(['MalformedMessageError', 'InvalidThreadIdError', 'MalformedMessageError'])
    expect(a.peer.network?.connectedPeers()).not.toContain(raw.net.peerId)
    expect(raw.net.connectedPeers()).toEqual([])
    await stillSyncing(h, 'after the ban')
    expect(h.a.store.getState().todos.map((t) => t.text)).toEqual(h.b.store.getState().todos.map((t) => t.text))
  })

  it('garbage gossip on the thread topic is reported and struck too', async () => {
    const h = await honestPair(16)
    const raw = await rawPeer(h.hub)
    await raw.net.dial(h.a.peer.id)
    raw.net.subscribe(h.tA.id.toString())
    await raw.net.publish(h.tA.id.toString(), Uint8Array.of(1, 2, 3))
    await settle(h.hub, [h.a.peer, h.b.peer])
    expect(h.errorsA.map((e) => e.name)).toEqual(['MalformedMessageError'])
    await stillSyncing(h, 'after bad gossip')
  })

  it("SyncService reports each refusal on 'error' and the disconnect on 'banned', after its `strikes` option", async () => {
    const hub = createMemoryHub({ seed: 17 })
    const node = await serviceNode(hub, { strikes: 2 })
    const id = ThreadId.create()
    await node.open(id, createThreadKey(), true)
    const errors: Array<{ peerId: string; name: string; threadId: string | undefined }> = []
    const banned: Array<{ peerId: string; reason: string }> = []
    node.sync.events.on('error', ({ peerId, error }) => errors.push({ peerId, name: error.name, threadId: error.threadId }))
    node.sync.events.on('banned', (b) => banned.push(b))
    const raw = await rawPeer(hub)
    await raw.net.dial(node.id)
    await settle(hub, [node])
    await raw.sendMsg(node.id, { t: 'pull', thread: id.bytes, log: node.id, from: 1, limit: 5 })
    await settle(hub, [node])
    expect(errors).toEqual([{ peerId: raw.net.peerId, name: 'UnauthorizedError', threadId: id.toString() }])
    expect(banned).toEqual([])
    await raw.net.send(node.id, Uint8Array.of(0x00))
    await settle(hub, [node])
    expect(errors.map((e) => e.name)).toEqual(['UnauthorizedError', 'MalformedMessageError'])
    expect(banned).toEqual([{ peerId: raw.net.peerId, reason: expect.stringMatching(/dag-cbor|map/) }])
    expect(node.net.connectedPeers()).toEqual([])
    expect(raw.net.connectedPeers()).toEqual([])
    // Banning is a disconnect with a fresh count: the peer may dial again, and is challenged again.
    await raw.net.dial(node.id)
    await settle(hub, [node])
    expect(ofType(raw.seen, 'auth')).toHaveLength(2)
    await node.close()
    await raw.net.stop()
  })
})
