/**
 * The attacks of issue 7 that concern libp2p, over real libp2p on 127.0.0.1 (TCP, Noise, Yamux,
 * gossipsub):
 *
 * - An outsider sent three undecodable gossip messages; honest Alice relayed them; Bob struck
 *   Alice three times and disconnected her. Now gossipsub's topic validator runs the sync
 *   service's check before anything is forwarded: Alice rejects them (gossipsub's score penalises
 *   the outsider too), Alice strikes the outsider, and Bob never sees them.
 * - A reader that stopped reading while sending pulls made the server queue 350 MiB. Now the bytes
 *   waiting for one peer are bounded (`MAX_UNSENT_BYTES_PER_PEER`), and a peer past it is hung up.
 * - An outsider that connects gets a hello and tags it cannot check, on the version 2 protocol.
 */
import { afterEach, describe, expect, it } from 'vitest'
import { DEFAULT_SYNC_PROTOCOL, FrameDecoder, libp2pNetwork, type Libp2pNetwork } from '../../adapters/network/libp2p.js'
import { getCrypto } from '../../src/core/crypto/index.js'
import { createThreadKey, generateLogKey, type LogKey, type ThreadKey } from '../../src/core/keys.js'
import { ThreadId } from '../../src/core/threadId.js'
import { authTag } from '../../src/net/auth.js'
import { MAX_UNSENT_BYTES_PER_PEER, SYNC_PROTOCOL } from '../../src/net/limits.js'
import { decodeMessage, encodeMessage, MAX_MESSAGE_BYTES, NONCE_BYTES, TAG_BYTES, type SyncMessage } from '../../src/net/messages.js'
import { gossipTopic } from '../../src/net/protocol/gossipEnvelope.js'
import { waitFor } from '../../adapters/network/conformance.js'
import { libp2pServiceNode, livePeer, LOOPBACK, Resources, statusWhere, todos, until } from '../integration/libp2p/helpers.js'

const resources = new Resources()
afterEach(async () => {
  await resources.closeAll()
})

interface Received {
  readonly from: string
  readonly m: SyncMessage
}

/** A bare libp2p adapter: no sync service, messages decoded as they come. */
async function rawNode(identity: LogKey = generateLogKey()) {
  const net = libp2pNetwork({ listen: LOOPBACK })({ identity }) as Libp2pNetwork
  resources.add(() => net.stop())
  await net.start()
  const received: Received[] = []
  const notify: Array<() => void> = []
  const changed = (): void => {
    for (const n of [...notify]) n()
  }
  net.on('message', ({ from, bytes }) => {
    received.push({ from, m: decodeMessage(bytes) })
    changed()
  })
  net.on('peer:disconnect', changed)
  return {
    net,
    identity,
    received,
    source: (n: () => void) => {
      notify.push(n)
      return () => notify.splice(notify.indexOf(n), 1)
    },
    send: (to: string, m: SyncMessage) => net.send(to, encodeMessage(m))
  }
}

describe('over libp2p', () => {
  it('speaks version 2 of the protocol', () => {
    expect(DEFAULT_SYNC_PROTOCOL).toBe(SYNC_PROTOCOL)
    expect(SYNC_PROTOCOL).toBe('/redux-threads/sync/2.0.0')
  })

  it('an outsider gets a hello and a tag it cannot check; its own tags and probes get nothing and blame nobody', async () => {
    // No timer rounds: a round resends the hello to a peer that has sent no tag yet (a lost
    // hello), so one that fell between the outsider's hello and its tags would add a hello.
    const a = await livePeer(resources, 'A', { syncIntervalMs: 0 })
    const tA = await a.createThread({ slices: [todos] })
    const outsider = await rawNode()
    let takenFromOutsider = 0
    const network = a.peer.network
    if (network === undefined) throw new Error('A has no network')
    const offTap = network.on('message', ({ from }) => {
      if (from === outsider.identity.id) takenFromOutsider++
    })
    await outsider.net.dial(a.id, [a.peer.addresses()[0] as string])
    await until(outsider.source, () => outsider.received.length >= 1, 'A said hello')
    const nonce = getCrypto().randomBytes(NONCE_BYTES)
    await outsider.send(a.id, { t: 'hello', nonce })
    await until(outsider.source, () => outsider.received.some((r) => r.m.t === 'auth'), 'A claimed its thread')
    for (let i = 0; i < 5; i++) await outsider.send(a.id, { t: 'auth', tag: getCrypto().randomBytes(TAG_BYTES), nonce })
    await outsider.send(a.id, { t: 'pull', thread: tA.id.bytes, log: a.id, from: 1, limit: 10 })
    await outsider.send(a.id, { t: 'heads', thread: tA.id.bytes, heads: [], addrs: [], reply: true })
    // A took all 8 (hello, 5 tags, 2 probes) before its round, as it would over time.
    await until((notify) => network.on('message', notify), () => takenFromOutsider >= 8, 'A received the outsider\'s messages')
    offTap()
    // A round of A's, and a write: still nothing more for the outsider.
    a.store.dispatch(todos.actions.added('private'))
    await a.syncNow()
    await new Promise((resolve) => setTimeout(resolve, 300))
    expect(outsider.received.map((r) => r.m.t)).toEqual(['hello', 'auth'])
    const s = await statusWhere(tA, () => true, 'status')
    expect(s.rejected).toBe(0)
    expect(s.peers).toEqual([])
    expect(a.peer.network?.connectedPeers()).toContain(outsider.identity.id)
  })

  it("an outsider's undecodable gossip through honest Alice: Bob never sees it and never blames Alice; Alice bans the outsider", async () => {
    const alice = await livePeer(resources, 'Alice', { syncIntervalMs: 0 })
    const bob = await livePeer(resources, 'Bob', { syncIntervalMs: 0 })
    const tAlice = await alice.createThread({ slices: [todos] })
    const tBob = await bob.joinThread(await tAlice.invite({ role: 'write', to: bob.id }), { slices: [todos] })
    await statusWhere(tBob, (s) => s.peers.length === 1, 'Bob and Alice are authenticated')
    const topic = gossipTopic(tAlice.key.service, tAlice.id.bytes)
    const atBob: Uint8Array[] = []
    bob.peer.network?.on('pubsub', ({ bytes }) => atBob.push(bytes))
    // Bob is in Alice's mesh for the topic: what Alice accepts reaches him.
    await waitFor(() => alice.peer.network?.topicPeers(topic).includes(bob.id) === true, "Bob is among Alice's topic peers")
    // The outsider connects to Alice only, and subscribes to the topic (learnt from Alice's subscriptions).
    const outsider = await rawNode()
    await outsider.net.dial(alice.id, [alice.peer.addresses()[0] as string])
    outsider.net.subscribe(topic)
    await waitFor(() => outsider.net.topicPeers(topic).includes(alice.id), "Alice is among the outsider's topic peers")
    expect(outsider.net.connectedPeers()).toEqual([alice.id])
    for (let i = 0; i < 3; i++) await outsider.net.publish(topic, Uint8Array.of(0xba, 0xd0, i))
    await statusWhere(tAlice, (s) => s.rejected >= 3, 'Alice refused the three messages')
    await until(outsider.source, () => !outsider.net.connectedPeers().includes(alice.id), 'Alice hung up on the outsider')
    await new Promise((resolve) => setTimeout(resolve, 300))
    expect(atBob).toEqual([])
    const sBob = await statusWhere(tBob, () => true, 'status')
    expect(sBob.rejected).toBe(0)
    expect(sBob.peers).toEqual([alice.id])
    expect(bob.peer.network?.connectedPeers()).toContain(alice.id)
    // And the pair still syncs.
    alice.store.dispatch(todos.actions.added('after the outsider'))
    await until(bob.store, () => bob.store.getState().todos.some((t) => t.text === 'after the outsider'), 'Bob got it')
  })

  it('a member that authenticates and never reads: the bytes queued for it stay under the bound, and it is hung up', async () => {
    const server = await libp2pServiceNode(resources)
    const id = ThreadId.create()
    const key: ThreadKey = createThreadKey()
    const engine = await server.open(id, key, true)
    // About 18 MB of records already there, and more to come.
    const big = 'x'.repeat(900_000)
    for (let i = 0; i < 20; i++) engine.command({ type: 'n', payload: `${i}${big}` })
    await engine.flush()
    const slowErrors: string[] = []
    server.sync.events.on('error', ({ error }) => slowErrors.push(error.name))

    // The reader: reads until it is authorised (it needs the server's nonce), then pauses its stream for good.
    const identity = generateLogKey()
    const reader = await rawNode(identity)
    const node = reader.net.libp2p
    if (node === undefined) throw new Error('no libp2p node')
    await node.unhandle(DEFAULT_SYNC_PROTOCOL)
    const nonce = getCrypto().randomBytes(NONCE_BYTES)
    let authorised = false
    await node.handle(
      DEFAULT_SYNC_PROTOCOL,
      (stream, connection) => {
        const decoder = new FrameDecoder(MAX_MESSAGE_BYTES)
        const from = connection.remotePeer.toString()
        stream.addEventListener('message', (evt) => {
          if (authorised) return
          const chunk = evt.data instanceof Uint8Array ? evt.data : evt.data.subarray()
          for (const frame of decoder.push(chunk)) {
            const m = decodeMessage(frame)
            if (m.t === 'hello') {
              const tag = authTag(key.service, { recipientNonce: m.nonce, senderNonce: nonce, sender: identity.id, recipient: from, thread: id.bytes })
              void reader.send(from, { t: 'auth', tag, nonce })
            }
            if (m.t === 'heads') {
              authorised = true
              stream.pause()
              break
            }
          }
        })
      },
      { maxInboundStreams: 8, maxOutboundStreams: 8 }
    )
    await reader.net.dial(server.id, [server.net.addresses()[0] as string])
    await reader.send(server.id, { t: 'hello', nonce })
    await waitFor(() => authorised, 'the reader is authorised')
    let most = 0
    const sampler = setInterval(() => {
      most = Math.max(most, server.sync.unsentBytes(identity.id))
    }, 2)
    try {
      // Pulls it never reads the answers to, and the server keeps writing (pushes to it).
      for (let from = 1; from <= 20; from += 2) await reader.send(server.id, { t: 'pull', thread: id.bytes, log: server.id, from, limit: 2 })
      for (let i = 0; i < 40 && server.net.connectedPeers().includes(identity.id); i++) {
        engine.command({ type: 'n', payload: `more ${i}${big}` })
        await new Promise((r) => setTimeout(r, 20))
      }
      await waitFor(() => !server.net.connectedPeers().includes(identity.id), 'the server hung up on the reader')
    } finally {
      clearInterval(sampler)
    }
    expect(server.net.connectedPeers()).not.toContain(identity.id)
    expect(slowErrors).toContain('SlowPeerError')
    expect(most).toBeGreaterThan(0)
    expect(most).toBeLessThanOrEqual(MAX_UNSENT_BYTES_PER_PEER)
    expect(server.sync.unsentBytes(identity.id)).toBe(0)
  }, 60_000)
})
