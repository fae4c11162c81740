/**
 * Issue 7 §3, the engine's part: what records from one sender can make a peer hold. Out-of-order
 * records are held only if their writer signed them, within bounds in count and in bytes, and
 * are released after a while; nothing is persisted for a log until a verified run of it is
 * stored; the caches of records are bounded in bytes as well as in count.
 */
import { describe, expect, it } from 'vitest'
import { generateLogKey } from '../../src/core/keys.js'
import { MAX_HELD_BYTES, MAX_HELD_PER_LOG } from '../../src/engine/heldRecords.js'
import { RecentRecords } from '../../src/store/recentRecords.js'
import { blocksOf, newThread, openEngine, openWriter, write } from '../support/engines.js'
import { forgeChain } from '../support/forge.js'

describe('what one sender can make a peer hold (issue 7 §3)', () => {
  it('records beyond a gap are held within the count bound per log, and the furthest go first', async () => {
    const thread = newThread()
    const w = generateLogKey()
    const chain = forgeChain(w, thread, undefined, Array.from({ length: 60 }, (_, i) => `e${i + 1}`))
    const victim = await openEngine(thread, { engine: { maxHeldPerLog: 16 } })
    // Everything but seq 1: a gap the sender never closes.
    const result = await victim.engine.ingest(w.id, chain.slice(1).map((f) => f.blocks))
    expect(victim.engine.held).toBe(16)
    expect(result.rejected.filter((e) => e.name === 'TooLargeError').length).toBe(59 - 16)
    expect(victim.engine.gaps()).toEqual([{ logId: w.id, from: 1, to: 1 }])
    // The gap closes: what was kept (the nearest 16) applies at once.
    await victim.engine.ingest(w.id, [chain[0]!.blocks])
    expect(victim.engine.state).toEqual(Array.from({ length: 17 }, (_, i) => `e${i + 1}`))
    expect(victim.engine.held).toBe(0)
  })

  it('held bytes are bounded for the whole thread, whatever the number of logs', async () => {
    const thread = newThread()
    const victim = await openEngine(thread, { engine: { maxHeldBytes: 64 * 1024 } })
    for (let i = 0; i < 8; i++) {
      const w = generateLogKey()
      const big = 'x'.repeat(4000)
      const chain = forgeChain(w, thread, undefined, Array.from({ length: 12 }, () => big))
      await victim.engine.ingest(w.id, chain.slice(1).map((f) => f.blocks))
    }
    expect(victim.engine.heldBytes).toBeLessThanOrEqual(64 * 1024)
    expect(victim.engine.held).toBeGreaterThan(0)
    expect(MAX_HELD_BYTES).toBe(16 << 20)
    expect(MAX_HELD_PER_LOG).toBe(4096)
  })

  it('records nobody signed are never held, and a made-up log is never persisted', async () => {
    const thread = newThread()
    const victim = await openEngine(thread)
    const madeUp = generateLogKey()
    const mallory = generateLogKey()
    // Records signed by mallory, sent as madeUp's log: beyond a gap (held?) and at seq 1.
    const chain = forgeChain(mallory, thread, undefined, ['a', 'b', 'c'])
    const beyond = await victim.engine.ingest(madeUp.id, chain.slice(1).map((f) => f.blocks))
    expect(beyond.rejected.map((e) => e.name)).toEqual(['BadSignatureError', 'BadSignatureError'])
    const first = await victim.engine.ingest(madeUp.id, [chain[0]!.blocks])
    expect(first.rejected.map((e) => e.name)).toEqual(['BadSignatureError'])
    expect(victim.engine.held).toBe(0)
    expect(victim.store.logstore.log(thread.threadId, madeUp.id)).toBeUndefined()
    // Undecodable input for sixty made-up logs persists nothing either.
    for (let i = 0; i < 60; i++) await victim.engine.ingest(generateLogKey().id, [{ record: Uint8Array.of(1), event: Uint8Array.of(2), header: Uint8Array.of(3), body: Uint8Array.of(4) }])
    expect(victim.store.logstore.logs(thread.threadId)).toEqual([])
  })

  it('held records are released after their TTL when the gap never closes', async () => {
    const thread = newThread()
    const w = generateLogKey()
    const chain = forgeChain(w, thread, undefined, ['1', '2', '3'])
    let now = 1_000_000
    const victim = await openEngine(thread, { engine: { now: () => now } })
    await victim.engine.ingest(w.id, [chain[2]!.blocks])
    expect(victim.engine.held).toBe(1)
    now += 121_000
    // The next ingest (of anything) expires it.
    await victim.engine.ingest(w.id, [chain[1]!.blocks])
    expect(victim.engine.held).toBe(1) // seq 2 now held; seq 3 dropped
    expect(victim.engine.gaps()).toEqual([{ logId: w.id, from: 1, to: 1 }])
  })

  it('the event store keeps records as written within a byte bound, not only a count', async () => {
    const thread = newThread()
    const writer = await openWriter(thread)
    const big = 'y'.repeat(100_000)
    await write(writer, big, big, big)
    const blocks = await blocksOf(writer, writer.logKey!.id)
    expect(blocks).toHaveLength(3)
    const cache = new RecentRecords(1000, 250_000)
    const records = await writer.store.records(thread.threadId, writer.logKey!.id)
    records.forEach((r, i) => cache.set(String(i), r))
    expect(cache.bytes).toBeLessThanOrEqual(250_000)
    expect(cache.size).toBe(2)
    expect(cache.get('0')).toBeUndefined()
  })
})
