/**
 * The shared conformance suite of the {@link NetworkAdapter} contract (automerge-repo style):
 * every network adapter runs it from its own test file.
 *
 * @example
 * ```ts
 * import { runNetworkAdapterTests } from '../../adapters/network/conformance.js'
 * runNetworkAdapterTests('my adapter', async () => ({ create: (identity) => myNetwork()({ identity }) }))
 * ```
 *
 * @packageDocumentation
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { generateLogKey } from '../../src/core/keys.js'
import type { NetworkAdapter, NetworkComponents, NetworkEvents } from '../../src/net/networkAdapter.js'

export type NetworkIdentity = NetworkComponents['identity']

/** What a test file gives the suite: how to build an adapter, and how to clean up after a test. */
export interface NetworkAdapterTestSetup {
  create: (identity: NetworkIdentity) => NetworkAdapter
  teardown?: () => Promise<void>
}

/** Everything an adapter emitted, in order, recorded from before `start()`. */
export interface Recorded {
  readonly connects: string[]
  readonly disconnects: string[]
  readonly messages: Array<NetworkEvents['message']>
  readonly pubsub: Array<NetworkEvents['pubsub']>
}

export function record(adapter: NetworkAdapter): Recorded {
  const r: Recorded = { connects: [], disconnects: [], messages: [], pubsub: [] }
  adapter.on('peer:connect', (e) => r.connects.push(e.peerId))
  adapter.on('peer:disconnect', (e) => r.disconnects.push(e.peerId))
  adapter.on('message', (e) => r.messages.push(e))
  adapter.on('pubsub', (e) => r.pubsub.push(e))
  return r
}

/**
 * Wait until `condition()` holds, checking every 10 ms, for at most `timeoutMs`; fails the test
 * with `what` if it never does. The only polling in the suite: gossip mesh formation and delivery
 * over real sockets have no single event to await.
 */
export async function waitFor(condition: () => boolean, what: string, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for: ${what}`)
    await new Promise((resolve) => setTimeout(resolve, 10))
  }
  expect(condition(), what).toBe(true)
}

/** Assert `condition()` stays false for `ms` (for "delivers nothing" checks). */
export async function staysFalse(condition: () => boolean, what: string, ms = 150): Promise<void> {
  const deadline = Date.now() + ms
  while (Date.now() < deadline) {
    expect(condition(), what).toBe(false)
    await new Promise((resolve) => setTimeout(resolve, 10))
  }
  expect(condition(), what).toBe(false)
}

/** Byte equality without building a diff (fast for megabytes). */
export function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.byteLength !== b.byteLength) return false
  for (let i = 0; i < a.byteLength; i++) if (a[i] !== b[i]) return false
  return true
}

/** Deterministic test payload: `index` in the first 4 bytes, then a pattern derived from it. */
export function payload(index: number, size = 64): Uint8Array {
  const bytes = new Uint8Array(Math.max(size, 4))
  new DataView(bytes.buffer).setUint32(0, index)
  for (let i = 4; i < bytes.length; i++) bytes[i] = (index * 31 + i * 7) & 0xff
  return bytes
}

function indexOf(bytes: Uint8Array): number {
  return new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength).getUint32(0)
}

function from(r: Recorded, peerId: string): Uint8Array[] {
  return r.messages.filter((m) => m.from === peerId).map((m) => m.bytes)
}

/**
 * Run the conformance suite for a network adapter. `setup` runs before each test; every adapter
 * it creates is stopped after the test, then `teardown` runs.
 */
export function runNetworkAdapterTests(name: string, setup: () => Promise<NetworkAdapterTestSetup>): void {
  describe(`NetworkAdapter conformance: ${name}`, () => {
    let ctx: NetworkAdapterTestSetup
    let adapters: NetworkAdapter[] = []

    beforeEach(async () => {
      ctx = await setup()
      adapters = []
    })

    afterEach(async () => {
      const all = adapters
      adapters = []
      await Promise.allSettled(all.map((a) => a.stop()))
      await ctx.teardown?.()
    })

    function create(): { adapter: NetworkAdapter; events: Recorded; identity: NetworkIdentity } {
      const identity = generateLogKey()
      const adapter = ctx.create(identity)
      adapters.push(adapter)
      return { adapter, events: record(adapter), identity }
    }

    async function started(): Promise<{ adapter: NetworkAdapter; events: Recorded }> {
      const peer = create()
      await peer.adapter.start()
      return peer
    }

    /** Three started peers; A dials B and C, and each side has seen 'peer:connect'. */
    async function trio() {
      const [a, b, c] = await Promise.all([started(), started(), started()])
      await a.adapter.dial(b.adapter.peerId, b.adapter.addresses())
      await a.adapter.dial(c.adapter.peerId, c.adapter.addresses())
      await waitFor(
        () =>
          a.events.connects.includes(b.adapter.peerId) &&
          a.events.connects.includes(c.adapter.peerId) &&
          b.events.connects.includes(a.adapter.peerId) &&
          c.events.connects.includes(a.adapter.peerId),
        'peer:connect on both sides of A-B and A-C'
      )
      return { a, b, c }
    }

    it('uses the identity as peer ID, and start() twice is harmless', async () => {
      const { adapter, identity } = create()
      expect(adapter.peerId).toBe(identity.id)
      await Promise.all([adapter.start(), adapter.start()])
      const addresses = adapter.addresses()
      await adapter.start()
      expect(adapter.peerId).toBe(identity.id)
      expect(adapter.addresses()).toEqual(addresses)
      expect(addresses.length).toBeGreaterThan(0)
      for (const a of addresses) expect(a.endsWith(`/p2p/${identity.id}`), a).toBe(true)
      expect(adapter.connectedPeers()).toEqual([])
    })

    it('stop() is idempotent and safe before start()', async () => {
      const { adapter } = create()
      await adapter.stop()
      await adapter.stop()
      await adapter.start()
      await Promise.all([adapter.stop(), adapter.stop()])
      await adapter.stop()
      expect(adapter.connectedPeers()).toEqual([])
    })

    it('connects A to B and C: peer:connect on both sides, connectedPeers on both sides', async () => {
      const { a, b, c } = await trio()
      expect(new Set(a.adapter.connectedPeers())).toEqual(new Set([b.adapter.peerId, c.adapter.peerId]))
      expect(b.adapter.connectedPeers()).toEqual([a.adapter.peerId])
      expect(c.adapter.connectedPeers()).toEqual([a.adapter.peerId])
      // Dialing a connected peer again is harmless and opens no second "connect".
      await a.adapter.dial(b.adapter.peerId, b.adapter.addresses())
      expect(a.events.connects.filter((p) => p === b.adapter.peerId)).toHaveLength(1)
    })

    it('delivers direct messages both ways, in order and byte-identical, including 1 MB', async () => {
      const { a, b, c } = await trio()
      const big = payload(3, 1024 * 1024)
      const toB = [payload(0), payload(1), new Uint8Array(0), big, payload(4)]
      const toA = [payload(10), payload(11, 1000), payload(12)]
      const toC = [payload(20), payload(21)]
      for (const m of toB) await a.adapter.send(b.adapter.peerId, m)
      for (const m of toA) await b.adapter.send(a.adapter.peerId, m)
      for (const m of toC) await a.adapter.send(c.adapter.peerId, m)
      await waitFor(
        () =>
          from(b.events, a.adapter.peerId).length >= toB.length &&
          from(a.events, b.adapter.peerId).length >= toA.length &&
          from(c.events, a.adapter.peerId).length >= toC.length,
        'every direct message delivered'
      )
      const check = (got: Uint8Array[], sent: Uint8Array[]) => {
        expect(got.length).toBe(sent.length)
        sent.forEach((m, i) => expect(sameBytes(got[i] as Uint8Array, m), `message ${i} of ${sent.length}`).toBe(true))
      }
      check(from(b.events, a.adapter.peerId), toB)
      check(from(a.events, b.adapter.peerId), toA)
      check(from(c.events, a.adapter.peerId), toC)
      // Nothing leaked to the peer a message was not for.
      expect(from(c.events, b.adapter.peerId)).toHaveLength(0)
    })

    it('delivers a burst of 1,000 small messages in order, both ways at once', async () => {
      const { a, b } = await trio()
      const n = 1000
      // Not awaited one by one: sends are issued back to back, as a busy peer would.
      await Promise.all([
        ...Array.from({ length: n }, (_, i) => a.adapter.send(b.adapter.peerId, payload(i, 32))),
        ...Array.from({ length: n }, (_, i) => b.adapter.send(a.adapter.peerId, payload(i, 48)))
      ])
      await waitFor(
        () => from(b.events, a.adapter.peerId).length >= n && from(a.events, b.adapter.peerId).length >= n,
        `${n} messages each way`
      )
      const atB = from(b.events, a.adapter.peerId)
      const atA = from(a.events, b.adapter.peerId)
      expect(atB.map(indexOf)).toEqual(Array.from({ length: n }, (_, i) => i))
      expect(atA.map(indexOf)).toEqual(Array.from({ length: n }, (_, i) => i))
      expect(atB.every((m, i) => sameBytes(m, payload(i, 32)))).toBe(true)
      expect(atA.every((m, i) => sameBytes(m, payload(i, 48)))).toBe(true)
    })

    it('publishes to subscribed peers, and not to a peer that unsubscribed', async () => {
      const { a, b, c } = await trio()
      const topic = 'conformance-topic'
      for (const p of [a, b, c]) p.adapter.subscribe(topic)
      await waitFor(() => {
        const peers = a.adapter.topicPeers(topic)
        return peers.includes(b.adapter.peerId) && peers.includes(c.adapter.peerId)
      }, "A's topicPeers include B and C")
      const first = payload(100, 200)
      await a.adapter.publish(topic, first)
      await waitFor(() => b.events.pubsub.length >= 1 && c.events.pubsub.length >= 1, 'B and C receive the publication')
      for (const p of [b, c]) {
        const e = p.events.pubsub[0]
        expect(e?.topic).toBe(topic)
        expect(sameBytes(e?.bytes ?? new Uint8Array(), first)).toBe(true)
        // A star: the message came straight from A (or the adapter does not know the relay).
        expect([a.adapter.peerId, undefined]).toContain(e?.from)
      }
      expect(a.events.pubsub).toHaveLength(0) // no echo to the publisher

      c.adapter.unsubscribe(topic)
      const second = payload(101, 200)
      await a.adapter.publish(topic, second)
      await waitFor(() => b.events.pubsub.length >= 2, 'B receives the second publication')
      expect(sameBytes(b.events.pubsub[1]?.bytes ?? new Uint8Array(), second)).toBe(true)
      await staysFalse(() => c.events.pubsub.length > 1, 'C, unsubscribed, receives nothing more')
      // Publishing to a topic nobody follows is not an error.
      await a.adapter.publish('nobody-listens', payload(102))
    })

    it('a topic validator sees each message before it is delivered or forwarded; only accepted ones go on', async () => {
      const { a, b, c } = await trio()
      const validated = a.adapter.setTopicValidator
      // Optional part of the contract: an adapter that never forwards may leave it out.
      if (typeof validated !== 'function') return
      const topic = 'conformance-validated'
      const asked: Array<string | undefined> = []
      a.adapter.setTopicValidator?.(topic, async (from, bytes) => {
        asked.push(from)
        await new Promise((resolve) => setTimeout(resolve, 1))
        return bytes[0] === 1 ? 'accept' : bytes[0] === 2 ? 'ignore' : 'reject'
      })
      for (const p of [a, b, c]) p.adapter.subscribe(topic)
      await waitFor(
        () =>
          b.adapter.topicPeers(topic).includes(a.adapter.peerId) &&
          c.adapter.topicPeers(topic).includes(a.adapter.peerId) &&
          a.adapter.topicPeers(topic).includes(b.adapter.peerId) &&
          a.adapter.topicPeers(topic).includes(c.adapter.peerId),
        'every peer sees the others of the star on the topic'
      )
      // B reaches C only through A. Publish accepted messages until one went through A to C
      // (gossipsub forwards once its mesh formed).
      let sent = 0
      const deadline = Date.now() + 10_000
      while (c.events.pubsub.length === 0 && Date.now() < deadline) {
        await b.adapter.publish(topic, Uint8Array.of(1, sent++))
        await new Promise((resolve) => setTimeout(resolve, 50))
      }
      expect(c.events.pubsub.length).toBeGreaterThan(0)
      expect(c.events.pubsub[0]?.from).toBe(a.adapter.peerId)
      // A rejected and an ignored message: not delivered at A, not forwarded to C.
      const atA = a.events.pubsub.length
      const atC = c.events.pubsub.length
      await b.adapter.publish(topic, Uint8Array.of(3, 0))
      await b.adapter.publish(topic, Uint8Array.of(2, 0))
      await waitFor(() => asked.length >= sent + 2, 'A validated both')
      await b.adapter.publish(topic, Uint8Array.of(1, 200))
      await waitFor(() => c.events.pubsub.some((e) => e.bytes[1] === 200), 'a later accepted message still goes through')
      expect(a.events.pubsub.slice(atA).map((e) => e.bytes[0])).toEqual([1])
      expect(c.events.pubsub.slice(atC).map((e) => e.bytes[0])).toEqual([1])
      // The validator was told who the message came from.
      expect(new Set(asked)).toEqual(new Set([b.adapter.peerId]))
      // Removing the validator delivers everything again.
      a.adapter.setTopicValidator?.(topic, undefined)
      await b.adapter.publish(topic, Uint8Array.of(3, 201))
      await waitFor(() => a.events.pubsub.some((e) => e.bytes[1] === 201), 'delivered without a validator')
    })

    it('hangUp: peer:disconnect on both sides, later sends deliver nothing, dialing again works', async () => {
      const { a, b, c } = await trio()
      await a.adapter.send(b.adapter.peerId, payload(1))
      await waitFor(() => from(b.events, a.adapter.peerId).length === 1, 'message before hangUp')

      await a.adapter.hangUp(b.adapter.peerId)
      await waitFor(
        () => a.events.disconnects.includes(b.adapter.peerId) && b.events.disconnects.includes(a.adapter.peerId),
        'peer:disconnect on both sides'
      )
      expect(a.adapter.connectedPeers()).toEqual([c.adapter.peerId])
      expect(b.adapter.connectedPeers()).toEqual([])

      // Sends to a peer with no connection resolve and are dropped; nothing dials implicitly.
      await a.adapter.send(b.adapter.peerId, payload(2))
      await b.adapter.send(a.adapter.peerId, payload(3))
      await staysFalse(
        () => from(b.events, a.adapter.peerId).length > 1 || from(a.events, b.adapter.peerId).length > 0,
        'no delivery after hangUp'
      )
      expect(a.adapter.connectedPeers()).toEqual([c.adapter.peerId])
      // The other connection is untouched.
      await a.adapter.send(c.adapter.peerId, payload(4))
      await waitFor(() => from(c.events, a.adapter.peerId).length === 1, 'A-C still delivers')

      // Reconnect (from the other side this time) and messages flow both ways again.
      await b.adapter.dial(a.adapter.peerId, a.adapter.addresses())
      await waitFor(
        () =>
          a.events.connects.filter((p) => p === b.adapter.peerId).length === 2 &&
          b.events.connects.filter((p) => p === a.adapter.peerId).length === 2,
        'peer:connect again on both sides'
      )
      await a.adapter.send(b.adapter.peerId, payload(5))
      await b.adapter.send(a.adapter.peerId, payload(6))
      await waitFor(
        () => from(b.events, a.adapter.peerId).length === 2 && from(a.events, b.adapter.peerId).length === 1,
        'messages after reconnecting'
      )
      expect(from(b.events, a.adapter.peerId).map(indexOf)).toEqual([1, 5])
      expect(from(a.events, b.adapter.peerId).map(indexOf)).toEqual([6])
    })

    it('a peer that stops is disconnected from the others', async () => {
      const { a, b, c } = await trio()
      await b.adapter.stop()
      await waitFor(() => a.events.disconnects.includes(b.adapter.peerId), 'A sees B disconnect')
      expect(a.adapter.connectedPeers()).toEqual([c.adapter.peerId])
      await a.adapter.send(b.adapter.peerId, payload(1))
      expect(b.adapter.connectedPeers()).toEqual([])
      // B can start again and be dialed.
      await b.adapter.start()
      await a.adapter.dial(b.adapter.peerId, b.adapter.addresses())
      await waitFor(() => b.events.connects.filter((p) => p === a.adapter.peerId).length === 2, 'B connects again')
      await a.adapter.send(b.adapter.peerId, payload(2))
      await waitFor(() => from(b.events, a.adapter.peerId).length === 1, 'message after restart')
      expect(indexOf(from(b.events, a.adapter.peerId)[0] as Uint8Array)).toBe(2)
    })
  })
}
