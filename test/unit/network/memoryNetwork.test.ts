/**
 * The in-memory network: the shared conformance suite, then its fault injection (seeded, so a
 * failing seed replays), partitions and `idle()`.
 */
import { describe, expect, it } from 'vitest'
import { createMemoryHub, type Faults, type MemoryHub } from '../../../adapters/network/memory.js'
import { payload, record, runNetworkAdapterTests, type Recorded } from '../../../adapters/network/conformance.js'
import { generateLogKey } from '../../../src/core/keys.js'
import type { NetworkAdapter } from '../../../src/net/networkAdapter.js'

runNetworkAdapterTests('memory', async () => {
  const factory = createMemoryHub().network()
  return { create: (identity) => factory({ identity }) }
})

function indexOf(bytes: Uint8Array): number {
  return new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength).getUint32(0)
}

async function peers(hub: MemoryHub, n: number): Promise<Array<{ adapter: NetworkAdapter; events: Recorded }>> {
  const factory = hub.network()
  const out = []
  for (let i = 0; i < n; i++) {
    const adapter = factory({ identity: generateLogKey() })
    const events = record(adapter)
    await adapter.start()
    out.push({ adapter, events })
  }
  return out
}

describe('memory network faults', () => {
  const faults: Faults = { drop: 0.1, duplicate: 0.1, reorder: 0.2, delay: 0.2, maxDelay: 4 }

  /** Send 200 messages each way under `faults` and return what each side received, in order. */
  async function run(seed: number) {
    const hub = createMemoryHub({ seed })
    const [a, b] = await peers(hub, 2)
    if (a === undefined || b === undefined) throw new Error('unreachable')
    await a.adapter.dial(b.adapter.peerId, b.adapter.addresses())
    await hub.idle()
    hub.setFaults(faults)
    for (let i = 0; i < 200; i++) {
      await a.adapter.send(b.adapter.peerId, payload(i))
      await b.adapter.send(a.adapter.peerId, payload(1000 + i))
    }
    await hub.idle()
    const result = {
      atB: b.events.messages.map((m) => indexOf(m.bytes)),
      atA: a.events.messages.map((m) => indexOf(m.bytes)),
      stats: { ...hub.stats }
    }
    await a.adapter.stop()
    await b.adapter.stop()
    return result
  }

  it('drop, duplicate, reorder and delay give the same delivery sequence for the same seed', async () => {
    const first = await run(42)
    const second = await run(42)
    expect(second).toEqual(first)
    // The faults really happened.
    const inOrder = Array.from({ length: 200 }, (_, i) => i)
    expect(first.atB).not.toEqual(inOrder)
    expect(first.stats.dropped).toBeGreaterThan(0)
    expect(first.stats.duplicated).toBeGreaterThan(0)
    expect(new Set(first.atB).size).toBeLessThan(200) // some dropped
    expect(first.atB.length).toBeGreaterThan(new Set(first.atB).size) // some duplicated
    expect(first.atB.some((x, i) => i > 0 && x < (first.atB[i - 1] as number))).toBe(true) // some reordered
    // Another seed, another sequence.
    const other = await run(7)
    expect(other.atB).not.toEqual(first.atB)
  })

  it('partition stops delivery between groups and closes cross connections; heal allows dialing again', async () => {
    const hub = createMemoryHub({ seed: 1 })
    const [a, b, c] = await peers(hub, 3)
    if (a === undefined || b === undefined || c === undefined) throw new Error('unreachable')
    await a.adapter.dial(b.adapter.peerId, [])
    await a.adapter.dial(c.adapter.peerId, [])
    await b.adapter.dial(c.adapter.peerId, [])
    await hub.idle()

    // A message in flight when the partition starts is not delivered across it.
    await a.adapter.send(c.adapter.peerId, payload(1))
    hub.partition([a.adapter.peerId, b.adapter.peerId], [c.adapter.peerId])
    await hub.idle()
    expect(c.events.messages).toHaveLength(0)
    expect(a.adapter.connectedPeers()).toEqual([b.adapter.peerId])
    expect(b.adapter.connectedPeers()).toEqual([a.adapter.peerId])
    expect(c.adapter.connectedPeers()).toEqual([])
    expect(new Set(c.events.disconnects)).toEqual(new Set([a.adapter.peerId, b.adapter.peerId]))
    expect(a.events.disconnects).toEqual([c.adapter.peerId])

    // Across groups: sends are dropped and dials fail. Within a group: delivery continues.
    await a.adapter.send(c.adapter.peerId, payload(2))
    await c.adapter.send(a.adapter.peerId, payload(3))
    await expect(a.adapter.dial(c.adapter.peerId, [])).rejects.toThrow(/not reachable/)
    await a.adapter.send(b.adapter.peerId, payload(4))
    await hub.idle()
    expect(c.events.messages).toHaveLength(0)
    expect(a.events.messages).toHaveLength(0)
    expect(b.events.messages.map((m) => indexOf(m.bytes))).toEqual([4])

    // Healing does not reconnect by itself; dialing again does.
    hub.heal()
    await hub.idle()
    expect(a.adapter.connectedPeers()).toEqual([b.adapter.peerId])
    await a.adapter.dial(c.adapter.peerId, [])
    await a.adapter.send(c.adapter.peerId, payload(5))
    await hub.idle()
    expect(c.events.messages.map((m) => indexOf(m.bytes))).toEqual([5])
    expect(c.events.connects.filter((p) => p === a.adapter.peerId)).toHaveLength(2)
    for (const p of [a, b, c]) await p.adapter.stop()
  })

  it('idle() resolves at once with nothing in flight, and after every delayed message otherwise', async () => {
    const hub = createMemoryHub({ seed: 3 })
    await hub.idle() // nothing at all in flight
    const [a, b] = await peers(hub, 2)
    if (a === undefined || b === undefined) throw new Error('unreachable')
    await a.adapter.dial(b.adapter.peerId, [])
    await hub.idle()
    expect(b.events.connects).toEqual([a.adapter.peerId])
    hub.setFaults({ delay: 1, maxDelay: 5 })
    for (let i = 0; i < 50; i++) await a.adapter.send(b.adapter.peerId, payload(i))
    expect(b.events.messages.length).toBeLessThan(50) // delayed: still in flight
    await hub.idle()
    expect(b.events.messages).toHaveLength(50)
    expect(new Set(b.events.messages.map((m) => indexOf(m.bytes))).size).toBe(50)
    const delivered = hub.stats.delivered
    await hub.idle() // idle again: resolves at once, delivers nothing new
    expect(hub.stats.delivered).toBe(delivered)
    await a.adapter.stop()
    await b.adapter.stop()
  })

  it('pubsub hops from peer to peer over connections; each peer takes a message once; an unsubscribed peer does not relay', async () => {
    const hub = createMemoryHub({ seed: 5 })
    const [a, b, c, d] = await peers(hub, 4)
    if (a === undefined || b === undefined || c === undefined || d === undefined) throw new Error('unreachable')
    // A line A - B - C, and D connected to both A and C: two paths from A to C.
    await a.adapter.dial(b.adapter.peerId, [])
    await b.adapter.dial(c.adapter.peerId, [])
    await d.adapter.dial(a.adapter.peerId, [])
    await d.adapter.dial(c.adapter.peerId, [])
    await hub.idle()
    for (const p of [a, b, c, d]) p.adapter.subscribe('t')
    await a.adapter.publish('t', payload(1))
    await hub.idle()
    expect(b.events.pubsub.map((e) => indexOf(e.bytes))).toEqual([1])
    expect(c.events.pubsub.map((e) => indexOf(e.bytes))).toEqual([1])
    expect(d.events.pubsub.map((e) => indexOf(e.bytes))).toEqual([1])
    expect(a.events.pubsub).toEqual([])
    // C got it from a relay, never from A (not connected).
    expect([b.adapter.peerId, d.adapter.peerId]).toContain(c.events.pubsub[0]?.from)
    // B leaves the topic: the line through B is cut, the path through D still works.
    b.adapter.unsubscribe('t')
    d.adapter.unsubscribe('t')
    await a.adapter.publish('t', payload(2))
    await hub.idle()
    expect(c.events.pubsub.map((e) => indexOf(e.bytes))).toEqual([1])
    for (const p of [a, b, c, d]) await p.adapter.stop()
  })
})
