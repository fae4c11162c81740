/**
 * The libp2p network adapter over real sockets on 127.0.0.1: the shared conformance suite over
 * TCP, then what only this adapter has (WebSockets, the frame limit, the identity key).
 */
import { afterEach, describe, expect, it } from 'vitest'
import { libp2pNetwork, Libp2pNetwork, DEFAULT_SYNC_PROTOCOL } from '../../../adapters/network/libp2p.js'
import { payload, record, runNetworkAdapterTests, sameBytes, staysFalse, waitFor } from '../../../adapters/network/conformance.js'
import { generateLogKey } from '../../../src/core/keys.js'
import type { Libp2pNetworkInit } from '../../../adapters/network/libp2p.js'

runNetworkAdapterTests('libp2p over TCP', async () => ({
  create: (identity) => libp2pNetwork({ listen: ['/ip4/127.0.0.1/tcp/0'] })({ identity })
}))

describe('libp2p network adapter', () => {
  const adapters: Libp2pNetwork[] = []
  afterEach(async () => {
    await Promise.allSettled(adapters.splice(0).map((a) => a.stop()))
  })

  async function started(init: Libp2pNetworkInit = {}) {
    const identity = generateLogKey()
    const adapter = libp2pNetwork(init)({ identity }) as Libp2pNetwork
    adapters.push(adapter)
    const events = record(adapter)
    await adapter.start()
    return { adapter, events, identity }
  }

  /** Streams of the sync protocol open on `adapter`'s connections. */
  function syncStreams(adapter: Libp2pNetwork): number {
    const node = adapter.libp2p
    if (node === undefined) return 0
    return node.getConnections().flatMap((c) => c.streams).filter((s) => s.protocol === DEFAULT_SYNC_PROTOCOL && s.status === 'open').length
  }

  it('has the identity key: its peer ID is the log ID, and a mismatched identity is refused', async () => {
    const { adapter, identity } = await started()
    expect(adapter.peerId).toBe(identity.id)
    expect(adapter.libp2p?.peerId.toString()).toBe(identity.id)
    const other = generateLogKey()
    expect(() => libp2pNetwork()({ identity: { ...identity, id: other.id } })).toThrow(/identity mismatch/)
  })

  it('listens on TCP and WebSockets on loopback by default', async () => {
    const { adapter } = await started()
    const addrs = adapter.addresses()
    expect(addrs.some((a) => /^\/ip4\/127\.0\.0\.1\/tcp\/\d+\/p2p\//.test(a))).toBe(true)
    expect(addrs.some((a) => /^\/ip4\/127\.0\.0\.1\/tcp\/\d+\/ws\/p2p\//.test(a))).toBe(true)
  })

  it('exchanges messages between a WebSocket-only pair', async () => {
    const a = await started({ listen: ['/ip4/127.0.0.1/tcp/0/ws'] })
    const b = await started({ listen: ['/ip4/127.0.0.1/tcp/0/ws'] })
    const wsAddrs = b.adapter.addresses()
    expect(wsAddrs.length).toBeGreaterThan(0)
    expect(wsAddrs.every((x) => x.includes('/ws/'))).toBe(true)
    await a.adapter.dial(b.adapter.peerId, wsAddrs)
    const conns = a.adapter.libp2p?.getConnections() ?? []
    expect(conns).toHaveLength(1)
    expect(conns[0]?.remoteAddr.toString()).toContain('/ws')
    const toB = [payload(1), payload(2, 300_000), payload(3)]
    for (const m of toB) await a.adapter.send(b.adapter.peerId, m)
    await b.adapter.send(a.adapter.peerId, payload(9))
    await waitFor(() => b.events.messages.length === 3 && a.events.messages.length === 1, 'messages over ws')
    toB.forEach((m, i) => expect(sameBytes(b.events.messages[i]?.bytes ?? new Uint8Array(), m)).toBe(true))
    expect(sameBytes(a.events.messages[0]?.bytes ?? new Uint8Array(), payload(9))).toBe(true)
  })

  it('keeps one message stream per direction, reused across sends', async () => {
    const a = await started({ listen: ['/ip4/127.0.0.1/tcp/0'] })
    const b = await started({ listen: ['/ip4/127.0.0.1/tcp/0'] })
    await a.adapter.dial(b.adapter.peerId, b.adapter.addresses())
    for (let i = 0; i < 20; i++) await a.adapter.send(b.adapter.peerId, payload(i))
    await waitFor(() => b.events.messages.length === 20, '20 messages')
    expect(syncStreams(a.adapter)).toBe(1)
    await b.adapter.send(a.adapter.peerId, payload(99))
    await waitFor(() => a.events.messages.length === 1, 'reply')
    expect(syncStreams(a.adapter)).toBe(2) // A's outbound and B's, inbound at A
  })

  it('respects backpressure: a 24 MB burst of 512 KB messages fills the stream, drains and arrives in order', async () => {
    const a = await started({ listen: ['/ip4/127.0.0.1/tcp/0'] })
    const b = await started({ listen: ['/ip4/127.0.0.1/tcp/0'] })
    await a.adapter.dial(b.adapter.peerId, b.adapter.addresses())
    await a.adapter.send(b.adapter.peerId, payload(0)) // opens the stream
    const n = 48
    let sawFull = false
    const sends: Array<Promise<void>> = []
    for (let i = 1; i <= n; i++) {
      sends.push(a.adapter.send(b.adapter.peerId, payload(i, 512 * 1024)))
      const stream = a.adapter.libp2p?.getConnections().flatMap((c) => c.streams).find((s) => s.protocol === DEFAULT_SYNC_PROTOCOL)
      if (stream?.writableNeedsDrain === true) sawFull = true
    }
    await Promise.all(sends)
    expect(sawFull, 'the stream signalled a full buffer').toBe(true)
    await waitFor(() => b.events.messages.length === n + 1, `${n + 1} messages`, 20_000)
    b.events.messages.forEach((m, i) => expect(sameBytes(m.bytes, i === 0 ? payload(0) : payload(i, 512 * 1024)), `message ${i}`).toBe(true))
  })

  it('refuses a frame over the receiver maxMessageBytes: not emitted, the stream is reset, later sends use a new stream', async () => {
    const limit = 64 * 1024
    const sender = await started({ listen: ['/ip4/127.0.0.1/tcp/0'] })
    const receiver = await started({ listen: ['/ip4/127.0.0.1/tcp/0'], maxMessageBytes: limit })
    await sender.adapter.dial(receiver.adapter.peerId, receiver.adapter.addresses())
    const to = receiver.adapter.peerId

    await sender.adapter.send(to, payload(1))
    await sender.adapter.send(to, payload(2, limit)) // exactly the limit: accepted
    await waitFor(() => receiver.events.messages.length === 2, 'messages up to the limit')

    // One byte over the receiver's limit (the sender's own limit is 8 MiB, so it sends it).
    await sender.adapter.send(to, payload(3, limit + 1))
    // The receiver resets the stream as soon as it reads the length; the sender's stream closes.
    await waitFor(() => syncStreams(sender.adapter) === 0, "the sender's message stream is reset")
    expect(receiver.events.messages).toHaveLength(2)
    expect(receiver.adapter.connectedPeers()).toEqual([sender.adapter.peerId]) // only the stream failed

    // The next send opens a new stream and is delivered.
    await sender.adapter.send(to, payload(4))
    await waitFor(() => receiver.events.messages.length === 3, 'a message after the reset')
    expect(sameBytes(receiver.events.messages[2]?.bytes ?? new Uint8Array(), payload(4))).toBe(true)
    await staysFalse(() => receiver.events.messages.some((m) => m.bytes.byteLength > limit), 'the oversize frame is never emitted')
  })

  it("rejects a send over the sender's own maxMessageBytes", async () => {
    const a = await started({ listen: ['/ip4/127.0.0.1/tcp/0'], maxMessageBytes: 1000 })
    const b = await started({ listen: ['/ip4/127.0.0.1/tcp/0'] })
    await a.adapter.dial(b.adapter.peerId, b.adapter.addresses())
    await expect(a.adapter.send(b.adapter.peerId, new Uint8Array(1001))).rejects.toThrow(RangeError)
    await a.adapter.send(b.adapter.peerId, new Uint8Array(1000))
    await waitFor(() => b.events.messages.length === 1, 'a message at the limit')
  })
})
