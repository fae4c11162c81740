/**
 * Authentication of the sync protocol, version 2 (DESIGN.md section 6): each side says hello with a
 * nonce; a peer claims a thread with an HMAC tag under the thread's service key, bound to both
 * nonces and both peer IDs, that names no thread. A matching tag authorises the sender; anything
 * else is ignored without a word. Bad input that can only be the sender's doing is struck, and
 * strikes ban.
 */
import { afterEach, describe, expect, it } from 'vitest'
import { createMemoryHub, settle, type MemoryHub } from '../../../adapters/network/memory.js'
import { createThreadKey, generateLogKey } from '../../../src/core/keys.js'
import { ThreadId } from '../../../src/core/threadId.js'
import { authTag } from '../../../src/net/auth.js'
import { NONCE_BYTES, TAG_BYTES, encodeMessage, type SyncMessage } from '../../../src/net/messages.js'
import type { Peer } from '../../../src/redux/createPeer.js'
import type { ThreadsError } from '../../../src/core/errors.js'
import { makePeer, ofType, rawPeer, serviceNode, status, tapGossip, tapIncoming, todos, type NetPeer, type NetThread } from './helpers.js'

describe('authTag', () => {
  const key = Uint8Array.from({ length: 32 }, (_, i) => i)
  const thread = ThreadId.create().bytes
  const mine = new Uint8Array(NONCE_BYTES).fill(3)
  const theirs = new Uint8Array(NONCE_BYTES).fill(4)
  const alice = generateLogKey().id
  const bob = generateLogKey().id
  const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex')
  const base = authTag(key, { recipientNonce: theirs, senderNonce: mine, sender: alice, recipient: bob, thread })

  it('is a deterministic 32-byte HMAC', () => {
    expect(base).toHaveLength(TAG_BYTES)
    const again = authTag(Uint8Array.from(key), { recipientNonce: Uint8Array.from(theirs), senderNonce: Uint8Array.from(mine), sender: alice, recipient: bob, thread: Uint8Array.from(thread) })
    expect(hex(again)).toBe(hex(base))
  })

  it('binds the service key, thread, both nonces, the sender and the recipient, in their roles', () => {
    const otherKey = Uint8Array.from(key)
    otherKey[31] = (otherKey[31] as number) ^ 1
    const flipped = Uint8Array.from(theirs)
    flipped[0] = (flipped[0] as number) ^ 0x80
    const input = { recipientNonce: theirs, senderNonce: mine, sender: alice, recipient: bob, thread }
    const variants = {
      key: authTag(otherKey, input),
      thread: authTag(key, { ...input, thread: ThreadId.create().bytes }),
      recipientNonce: authTag(key, { ...input, recipientNonce: flipped }),
      senderNonce: authTag(key, { ...input, senderNonce: flipped }),
      sender: authTag(key, { ...input, sender: generateLogKey().id }),
      recipient: authTag(key, { ...input, recipient: generateLogKey().id }),
      // Reflection: the recipient's own tag for this connection.
      reflected: authTag(key, { recipientNonce: mine, senderNonce: theirs, sender: bob, recipient: alice, thread }),
      // The nonces swapped but not the peers.
      nonces: authTag(key, { ...input, recipientNonce: mine, senderNonce: theirs })
    }
    const all = [hex(base), ...Object.values(variants).map(hex)]
    expect(new Set(all).size).toBe(all.length)
  })

  it('separates the sender and recipient IDs (no ambiguity at their boundary)', () => {
    const a = authTag(key, { recipientNonce: theirs, senderNonce: mine, sender: 'ab', recipient: 'c', thread })
    const b = authTag(key, { recipientNonce: theirs, senderNonce: mine, sender: 'a', recipient: 'bc', thread })
    expect(hex(a)).not.toBe(hex(b))
  })
})

interface Honest {
  readonly hub: MemoryHub
  readonly a: NetPeer
  readonly b: NetPeer
  readonly tA: NetThread
  readonly tB: NetThread
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
  const tA = await a.createThread({ slices: [todos] })
  a.store.dispatch(todos.actions.added('before'))
  const tB = await b.joinThread(await tA.invite(), { slices: [todos] })
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
  it('a peer with the wrong service key learns nothing and gets nothing, and nobody is blamed', async () => {
    const h = await honestPair(11)
    const { hub, a, b, tA } = h
    const m = await makePeer(hub)
    open.push(m.peer)
    // Same thread ID, a key of its own.
    const tM = await m.openThread(tA.id, { slices: [todos], key: createThreadKey() })
    const toM = tapIncoming(m.peer)
    const gossipToM = tapGossip(m.peer, tM)
    const errorsM: ThreadsError[] = []
    tM.engine.events.on('rejected', (e) => errorsM.push(e))
    const all = [a.peer, b.peer, m.peer]

    await m.connect(a.peer.addresses()[0] as string)
    await settle(hub, all)
    // Each side's tag matched nothing on the other: ignored without a word, on both sides.
    expect(h.errorsA).toEqual([])
    expect(errorsM).toEqual([])
    expect(toM.map((s) => s.m.t).sort()).toEqual(['auth', 'hello'])
    expect((await status(tA)).peers).toEqual([b.id])
    expect((await status(tM)).peers).toEqual([])
    expect(a.peer.network?.connectedPeers()).toContain(m.id)

    // M asks for A's log anyway: nothing, and no strike (it might have been a reordered message).
    await m.peer.network?.send(a.id, encodeMessage({ t: 'pull', thread: tA.id.bytes, log: a.id, from: 1, limit: 100 }))
    await settle(hub, all)
    expect(h.errorsA).toEqual([])
    expect(ofType(toM, 'records')).toEqual([])

    // A writes while M is connected: pushes go to B only, and A's gossip topic is not M's.
    a.store.dispatch(todos.actions.added('while M is connected'))
    await settle(hub, all)
    expect(b.store.getState().todos).toHaveLength(2)
    expect(ofType(toM, 'records')).toEqual([])
    expect(ofType(toM, 'heads')).toEqual([])
    expect(gossipToM).toEqual([])
    expect(errorsM).toEqual([])
    expect([...tM.engine.heads().keys()]).toEqual([])
    expect(m.store.getState().todos).toEqual([])

    // Rounds change nothing: still connected, still nothing, still no blame.
    await a.syncNow()
    await m.syncNow()
    await settle(hub, all)
    expect(h.errorsA).toEqual([])
    expect(ofType(toM, 'records')).toEqual([])
    await stillSyncing(h, 'after M')
  })

  it('a proof made with the service key opens the thread; a reflected proof, or one replayed on a new connection, does not', async () => {
    const h = await honestPair(13)
    const { hub, a, tA } = h
    const raw = await rawPeer(hub)
    await raw.net.dial(a.id)
    await settle(hub, [a.peer, h.b.peer])
    // A said hello, and claimed its thread with a tag the raw peer cannot check.
    expect(raw.seen.map((s) => s.m.t)).toEqual(['hello'])
    await raw.hello(a.id)
    await settle(hub, [a.peer, h.b.peer])
    const claims = ofType(raw.seen, 'auth')
    expect(claims).toHaveLength(1)
    const aHello = ofType(raw.seen, 'hello')[0]?.nonce as Uint8Array

    // Reflection: A's own tag for this connection, sent back to it.
    const reflected = authTag(tA.key.service, { recipientNonce: raw.nonce, senderNonce: aHello, sender: a.id, recipient: raw.net.peerId, thread: tA.id.bytes })
    expect(reflected).toEqual(claims[0]?.tag)
    await raw.sendMsg(a.id, { t: 'auth', tag: reflected, nonce: raw.nonce })
    await settle(hub, [a.peer, h.b.peer])
    expect(tA.peers()).toEqual([h.b.id])

    // The right proof: A authorises the peer, and sends its heads.
    const proof = raw.tagFor(a.id, tA)
    await raw.sendMsg(a.id, { t: 'auth', tag: proof, nonce: raw.nonce })
    await settle(hub, [a.peer, h.b.peer])
    expect(tA.peers()).toEqual([raw.net.peerId, h.b.id].sort())
    const heads = ofType(raw.seen, 'heads')
    expect(heads).toHaveLength(1)
    expect(heads[0]?.heads.map(([log, seq]) => [log, seq])).toContainEqual([a.id, 1])
    expect(heads[0]?.reply).toBe(true)

    // Authorised, it may pull: it gets A's record.
    await raw.sendMsg(a.id, { t: 'pull', thread: tA.id.bytes, log: a.id, from: 1, limit: 10 })
    await settle(hub, [a.peer, h.b.peer])
    const records = ofType(raw.seen, 'records')
    expect(records).toHaveLength(1)
    expect(records[0]?.records).toHaveLength(1)
    expect(records[0]?.more).toBe(false)

    // A new connection has new nonces: the old proof means nothing there.
    await raw.net.hangUp(a.id)
    await raw.net.dial(a.id)
    await settle(hub, [a.peer, h.b.peer])
    await raw.sendMsg(a.id, { t: 'auth', tag: proof, nonce: raw.nonce })
    await raw.sendMsg(a.id, { t: 'pull', thread: tA.id.bytes, log: a.id, from: 1, limit: 10 })
    await settle(hub, [a.peer, h.b.peer])
    expect(tA.peers()).toEqual([h.b.id])
    expect(ofType(raw.seen, 'records')).toHaveLength(1)
    expect(h.errorsA).toEqual([])
    await raw.net.stop()
  })

  it('garbage is reported as MalformedMessageError and struck; honest sync goes on; three strikes disconnect', async () => {
    const h = await honestPair(15)
    const { hub, a, tA } = h
    const raw = await rawPeer(hub)
    await raw.net.dial(a.id)
    await settle(hub, [a.peer, h.b.peer])

    await raw.net.send(a.id, Uint8Array.of(0xff, 0x00, 0x13, 0x37))
    await settle(hub, [a.peer, h.b.peer])
    expect(h.errorsA.map((e) => e.name)).toEqual(['MalformedMessageError'])
    const s = await status(tA)
    expect(s.lastError?.name).toBe('MalformedMessageError')
    expect(s.rejected).toBe(1)
    await stillSyncing(h, 'after garbage')
    expect(a.peer.network?.connectedPeers()).toContain(raw.net.peerId)

    // A message of another version, then a second garbage frame: the third strike.
    await raw.net.send(a.id, new Uint8Array([0xa2, 0x61, 0x74, 0x65, 0x68, 0x65, 0x6c, 0x6c, 0x6f, 0x61, 0x76, 0x01]))
    await raw.net.send(a.id, new TextEncoder().encode('GET / HTTP/1.1\r\n\r\n'))
    await settle(hub, [a.peer, h.b.peer])
    expect(h.errorsA.map((e) => e.name)).toEqual(['MalformedMessageError', 'UnsupportedFormatError', 'MalformedMessageError'])
    expect(a.peer.network?.connectedPeers()).not.toContain(raw.net.peerId)
    expect(raw.net.connectedPeers()).toEqual([])
    await stillSyncing(h, 'after the ban')
    expect(h.a.store.getState().todos.map((t) => t.text)).toEqual(h.b.store.getState().todos.map((t) => t.text))
  })

  it("SyncService reports each strike on 'error' and the ban on 'banned'; a banned peer is hung up on when it comes back", async () => {
    const hub = createMemoryHub({ seed: 17 })
    const node = await serviceNode(hub, { strikes: 2, banMs: 60_000 })
    const id = ThreadId.create()
    await node.open(id, createThreadKey(), true)
    const errors: Array<{ peerId: string; name: string }> = []
    const banned: Array<{ peerId: string; reason: string }> = []
    node.sync.events.on('error', ({ peerId, error }) => errors.push({ peerId, name: error.name }))
    node.sync.events.on('banned', (b) => banned.push(b))
    const raw = await rawPeer(hub)
    await raw.net.dial(node.id)
    await settle(hub, [node])
    // A pull for a thread it never proved: dropped, not struck.
    await raw.sendMsg(node.id, { t: 'pull', thread: id.bytes, log: node.id, from: 1, limit: 5 })
    await settle(hub, [node])
    expect(errors).toEqual([])
    await raw.net.send(node.id, Uint8Array.of(0x00))
    await settle(hub, [node])
    expect(errors).toEqual([{ peerId: raw.net.peerId, name: 'MalformedMessageError' }])
    expect(banned).toEqual([])
    await raw.net.send(node.id, Uint8Array.of(0x01))
    await settle(hub, [node])
    expect(errors.map((e) => e.name)).toEqual(['MalformedMessageError', 'MalformedMessageError'])
    expect(banned).toEqual([{ peerId: raw.net.peerId, reason: expect.stringMatching(/map|dag-cbor/) }])
    expect(node.net.connectedPeers()).toEqual([])
    expect(raw.net.connectedPeers()).toEqual([])
    // Banned: dialing again gets a connection that is closed at once, with no hello.
    const hellos = ofType(raw.seen, 'hello').length
    await raw.net.dial(node.id)
    await settle(hub, [node])
    expect(raw.net.connectedPeers()).toEqual([])
    expect(ofType(raw.seen, 'hello')).toHaveLength(hellos)
    await node.close()
    await raw.net.stop()
  })

  it('a thread message that names a thread the sender never proved gets no answer and no strike, within a budget', async () => {
    const h = await honestPair(18)
    const raw = await rawPeer(h.hub)
    await raw.net.dial(h.a.id)
    const messages: SyncMessage[] = [
      { t: 'pull', thread: h.tA.id.bytes, log: h.a.id, from: 1, limit: 1 },
      { t: 'heads', thread: h.tA.id.bytes, heads: [], addrs: [], reply: true },
      { t: 'pull', thread: ThreadId.create().bytes, log: h.a.id, from: 1, limit: 1 }
    ]
    for (const m of messages) await raw.sendMsg(h.a.id, m)
    await settle(h.hub, [h.a.peer, h.b.peer])
    expect(raw.seen.map((s) => s.m.t)).toEqual(['hello'])
    expect(h.errorsA).toEqual([])
    expect(h.a.peer.network?.connectedPeers()).toContain(raw.net.peerId)
    await raw.net.stop()
  })
})
