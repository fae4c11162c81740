/**
 * Attacks on gossip (issue 7 sections 4 and 5), over the in-memory hub (which relays pubsub
 * messages hop by hop and, like gossipsub, forwards only what a peer's validator accepted).
 *
 * - The topic was the thread ID and gossip was plaintext records: an outsider's subscription
 *   turned gossip on, and each message showed the writer's log ID, the timing and the exact command
 *   size. Now the topic is an HMAC of the thread ID under the service key, and gossip is sealed
 *   with a key derived from it: an outsider that learns the topic string sees ciphertext whose size
 *   tells only the padded bucket.
 * - Undecodable gossip an outsider sent through honest Alice got Alice struck three times and
 *   disconnected by Bob. Now gossip is validated before it is forwarded, and the peer that made it
 *   is blamed.
 */
import { afterEach, describe, expect, it } from 'vitest'
import { createMemoryHub, settle, type MemoryHub } from '../../adapters/network/memory.js'
import { encodeCommand } from '../../src/core/command.js'
import type { ThreadsError } from '../../src/core/errors.js'
import { paddedLength } from '../../src/core/padding.js'
import { createRecord, recordBlocks } from '../../src/core/record.js'
import { ThreadId } from '../../src/core/threadId.js'
import { encodeMessage, decodeMessage } from '../../src/net/messages.js'
import { gossipKey, gossipTopic, sealGossip } from '../../src/net/protocol/gossipEnvelope.js'
import { generateLogKey } from '../../src/core/keys.js'
import { indexOfBytes, makePeer, rawPeer, todos, type NetPeer, type NetThread } from '../unit/net/helpers.js'

const open: Array<{ close(): Promise<void> }> = []
afterEach(async () => {
  for (const p of open.splice(0)) await p.close().catch(() => undefined)
})

async function peer(hub: MemoryHub): Promise<NetPeer> {
  const p = await makePeer(hub)
  open.push(p.peer)
  return p
}

const utf8 = new TextEncoder()

function topicOf(t: NetThread): string {
  return gossipTopic(t.key.service, t.id.bytes)
}

describe('the gossip topic and its payload', () => {
  it('is named by the service key: not the thread ID, different per thread and per key', async () => {
    const hub = createMemoryHub({ seed: 401 })
    const a = await peer(hub)
    const t1 = await a.createThread({ slices: [todos] })
    const b = await peer(hub)
    const t2 = await b.createThread({ slices: [todos] })
    const topic = topicOf(t1)
    expect(topic).toMatch(/^\/rt\/2\/[a-z2-7]{26}$/)
    expect(topic).not.toContain(t1.id.toString())
    expect(topicOf(t2)).not.toBe(topic)
    // The same thread ID under another key has another topic.
    expect(gossipTopic(new Uint8Array(32).fill(1), t1.id.bytes)).not.toBe(topic)
    // The peer is subscribed to that topic (a peer that subscribes to it is counted), not to the thread ID.
    const raw = await rawPeer(hub)
    open.push({ close: () => raw.net.stop() })
    await raw.net.dial(a.id)
    raw.net.subscribe(topic)
    raw.net.subscribe(t1.id.toString())
    expect(a.peer.network?.topicPeers(topic)).toEqual([raw.net.peerId])
    expect(a.peer.network?.topicPeers(t1.id.toString())).toEqual([raw.net.peerId])
    // Unsubscribe it from the topic: the thread ID string was never one of A's topics.
    raw.net.unsubscribe(topic)
    expect(a.peer.network?.topicPeers(topic)).toEqual([])
  })

  it('shows an outsider that learnt the topic only ciphertext, whose size tells only the padded bucket', async () => {
    const hub = createMemoryHub({ seed: 402 })
    const a = await peer(hub)
    const tA = await a.createThread({ slices: [todos] })
    const raw = await rawPeer(hub)
    open.push({ close: () => raw.net.stop() })
    const got: Uint8Array[] = []
    raw.net.on('pubsub', ({ bytes }) => got.push(bytes))
    // One record first: every later one has a `prev`, so only the body's bucket differs between them.
    a.store.dispatch(todos.actions.added('first'))
    await settle(hub, [a.peer])
    await raw.net.dial(a.id)
    raw.net.subscribe(topicOf(tA))
    await settle(hub, [a.peer])
    const texts = ['hello', 'x'.repeat(12), 'y'.repeat(50), 'z'.repeat(500), 'w'.repeat(5000)]
    for (const text of texts) {
      a.store.dispatch(todos.actions.added(text))
      await settle(hub, [a.peer])
    }
    expect(got).toHaveLength(texts.length)
    const bodies = a.store.getState().todos.slice(1).map((t) => encodeCommand({ type: todos.actions.added.type, payload: { id: t.id, text: t.text }, meta: {} }).length)
    for (const [i, bytes] of got.entries()) {
      // Not a sync message, and nothing in it names the writer, the thread or the text.
      expect(() => decodeMessage(bytes)).toThrow()
      expect(indexOfBytes(bytes, utf8.encode(a.id))).toBe(-1)
      expect(indexOfBytes(bytes, tA.id.bytes)).toBe(-1)
      expect(indexOfBytes(bytes, utf8.encode(texts[i] as string))).toBe(-1)
      // Its size is a constant plus the body's bucket (and the length prefixes of the CBOR byte
      // strings around it, which grow with the bucket: a few bytes, a function of the bucket too).
      const overhead = bytes.length - paddedLength((bodies[i] as number) + 1)
      const first = (got[0] as Uint8Array).length - paddedLength((bodies[0] as number) + 1)
      expect(overhead - first).toBeGreaterThanOrEqual(0)
      expect(overhead - first).toBeLessThanOrEqual(6)
    }
    // The two short commands (5 and 12 characters) fall in one bucket: the same size.
    expect(got[0]?.length).toBe(got[1]?.length)
  })
})

interface Line {
  readonly hub: MemoryHub
  readonly alice: NetPeer
  readonly bob: NetPeer
  readonly tAlice: NetThread
  readonly tBob: NetThread
  /** Refusals on Bob's thread (everything Bob blamed anyone for). */
  readonly bobBlames: Array<{ peerId: string; error: ThreadsError }>
  readonly aliceBlames: Array<{ peerId: string; error: ThreadsError }>
}

/** Alice and Bob share a thread and are connected; a third party will reach Bob only through Alice. */
async function line(seed: number): Promise<Line> {
  const hub = createMemoryHub({ seed })
  const alice = await peer(hub)
  const bob = await peer(hub)
  const tAlice = await alice.createThread({ slices: [todos] })
  const tBob = await bob.joinThread(await tAlice.invite(), { slices: [todos] })
  await settle(hub, [alice.peer, bob.peer])
  // What each sync service blames reaches its thread's status as a refusal: collect them.
  const blames = (t: NetThread): Array<{ peerId: string; error: ThreadsError }> => {
    const out: Array<{ peerId: string; error: ThreadsError }> = []
    t.engine.events.on('rejected', (error) => out.push({ peerId: '', error }))
    return out
  }
  const bobBlames = blames(tBob)
  const aliceBlames = blames(tAlice)
  return { hub, alice, bob, tAlice, tBob, bobBlames, aliceBlames }
}

describe('gossip is validated before it is forwarded, and its maker is blamed', () => {
  it('an outsider\'s undecodable gossip through Alice: Alice strikes and bans the outsider, Bob never sees it, nobody blames Alice', async () => {
    const l = await line(403)
    const outsider = await rawPeer(l.hub)
    open.push({ close: () => outsider.net.stop() })
    const atBob: Uint8Array[] = []
    l.bob.peer.network?.on('pubsub', ({ bytes }) => atBob.push(bytes))
    await outsider.net.dial(l.alice.id)
    // It learnt the topic (from Alice's subscriptions, say).
    outsider.net.subscribe(topicOf(l.tAlice))
    await settle(l.hub, [l.alice.peer, l.bob.peer])
    for (let i = 0; i < 3; i++) {
      await outsider.net.publish(topicOf(l.tAlice), Uint8Array.of(0xde, 0xad, i))
      await settle(l.hub, [l.alice.peer, l.bob.peer])
    }
    expect(atBob).toEqual([])
    expect(l.bobBlames).toEqual([])
    expect(l.aliceBlames.map((b) => b.error.name)).toEqual(['DecryptionError', 'DecryptionError', 'DecryptionError'])
    expect(l.alice.peer.network?.connectedPeers()).not.toContain(outsider.net.peerId)
    expect(l.bob.peer.network?.connectedPeers()).toContain(l.alice.id)
    expect(l.tBob.peers()).toEqual([l.alice.id])
  })

  it("a member's forged gossip through Alice: Alice refuses it and strikes the member; Bob never sees it", async () => {
    const l = await line(404)
    const member = await rawPeer(l.hub)
    open.push({ close: () => member.net.stop() })
    await member.net.dial(l.alice.id)
    member.net.subscribe(topicOf(l.tAlice))
    await settle(l.hub, [l.alice.peer, l.bob.peer])
    const key = gossipKey(l.tAlice.key.service, l.tAlice.id.bytes)
    // A record of Bob's log, signed by someone else: sealed properly, so it opens and decodes.
    l.bob.store.dispatch(todos.actions.added('from Bob'))
    await settle(l.hub, [l.alice.peer, l.bob.peer])
    const head = l.tAlice.engine.heads().get(l.bob.id)
    const forged = createRecord({
      logKey: generateLogKey(),
      threadKey: l.tAlice.key,
      thread: l.tAlice.id,
      body: encodeCommand({ type: todos.actions.added.type, payload: { id: 'forged01', text: 'forged' }, meta: {} }),
      clock: 9,
      time: Date.now(),
      ...(head === undefined ? {} : { prev: head })
    })
    const m = encodeMessage({ t: 'records', thread: l.tAlice.id.bytes, log: l.bob.id, records: [recordBlocks(forged)], more: false, push: true })
    await member.net.publish(topicOf(l.tAlice), sealGossip(key, m))
    await settle(l.hub, [l.alice.peer, l.bob.peer])
    expect(l.aliceBlames.map((b) => b.error.name)).toEqual(['BadSignatureError'])
    expect(l.bobBlames).toEqual([])
    expect(l.bob.store.getState().todos.map((t) => t.text)).not.toContain('forged')
    // Gossip of another thread's topic, or a message that is not a push, is refused the same way.
    const otherThread = encodeMessage({ t: 'records', thread: ThreadId.create().bytes, log: l.alice.id, records: [], more: false, push: true })
    await member.net.publish(topicOf(l.tAlice), sealGossip(key, otherThread))
    await settle(l.hub, [l.alice.peer, l.bob.peer])
    expect(l.aliceBlames.map((b) => b.error.name)).toEqual(['BadSignatureError', 'MalformedMessageError'])
    expect(l.bobBlames).toEqual([])
  })

  it("a member's good gossip is forwarded by Alice to Bob, and a duplicate of it blames nobody", async () => {
    const l = await line(405)
    const member = await rawPeer(l.hub)
    open.push({ close: () => member.net.stop() })
    await member.net.dial(l.alice.id)
    member.net.subscribe(topicOf(l.tAlice))
    await settle(l.hub, [l.alice.peer, l.bob.peer])
    const key = gossipKey(l.tAlice.key.service, l.tAlice.id.bytes)
    const writer = generateLogKey()
    const record = createRecord({
      logKey: writer,
      threadKey: l.tAlice.key,
      thread: l.tAlice.id,
      body: encodeCommand({ type: todos.actions.added.type, payload: { id: 'gossip01', text: 'by gossip' }, meta: {} }),
      clock: 3,
      time: Date.now()
    })
    const sealed = sealGossip(key, encodeMessage({ t: 'records', thread: l.tAlice.id.bytes, log: writer.id, records: [recordBlocks(record)], more: false, push: true }))
    const relayedBy: Array<string | undefined> = []
    l.bob.peer.network?.on('pubsub', ({ from }) => relayedBy.push(from))
    await member.net.publish(topicOf(l.tAlice), sealed)
    await settle(l.hub, [l.alice.peer, l.bob.peer])
    expect(l.bob.store.getState().todos.map((t) => t.text)).toContain('by gossip')
    expect(relayedBy).toEqual([l.alice.id])
    // The same bytes again (a new message to the hub): a duplicate at Alice, ignored, blamed on nobody.
    await member.net.publish(topicOf(l.tAlice), sealed)
    await settle(l.hub, [l.alice.peer, l.bob.peer])
    expect(relayedBy).toEqual([l.alice.id])
    expect(l.aliceBlames).toEqual([])
    expect(l.bobBlames).toEqual([])
    expect(l.alice.peer.network?.connectedPeers()).toContain(member.net.peerId)
  })
})
