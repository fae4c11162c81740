import { describe, expect, it } from 'vitest'
import { encodeCommand } from '../../../src/core/command.js'
import { createThreadKey, generateLogKey } from '../../../src/core/keys.js'
import { createRecord, type LogRecord } from '../../../src/core/record.js'
import { ThreadId } from '../../../src/core/threadId.js'
import { RECENT_RECORDS_MAX, RECENT_RECORDS_MAX_BYTES, RecentRecords } from '../../../src/store/recentRecords.js'

const thread = ThreadId.create()
const threadKey = createThreadKey()
const logKey = generateLogKey()

/** A first record whose body is `text` (padded to its bucket), so sizes can be chosen. */
function record(text: string): LogRecord {
  return createRecord({ logKey, threadKey, thread, body: encodeCommand({ type: 't', payload: text }), clock: 1, time: 0 })
}

function sizeOf(r: LogRecord): number {
  const b = r.blocks
  return b.record.bytes.length + b.event.bytes.length + b.header.bytes.length + b.body.bytes.length
}

describe('RecentRecords', () => {
  it('is bounded by default in count and in bytes (32 MiB)', () => {
    expect(RECENT_RECORDS_MAX).toBe(20_000)
    expect(RECENT_RECORDS_MAX_BYTES).toBe(32 << 20)
  })

  it('keeps records by key, counting their bytes, and forgets them', () => {
    const cache = new RecentRecords()
    const a = record('a')
    const b = record('b')
    cache.set('a', a)
    cache.set('b', b)
    expect(cache.get('a')).toBe(a)
    expect(cache.size).toBe(2)
    expect(cache.bytes).toBe(sizeOf(a) + sizeOf(b))
    // Replacing an entry does not count it twice.
    cache.set('a', b)
    expect(cache.bytes).toBe(2 * sizeOf(b))
    cache.delete('a')
    cache.delete('missing')
    expect(cache.get('a')).toBeUndefined()
    expect(cache.bytes).toBe(sizeOf(b))
    cache.clear()
    expect(cache.size).toBe(0)
    expect(cache.bytes).toBe(0)
  })

  it('drops the least recently used first when over its count', () => {
    const cache = new RecentRecords(3)
    const r = record('x')
    for (const k of ['1', '2', '3']) cache.set(k, r)
    cache.get('1') // used: now the newest
    cache.set('4', r)
    expect(cache.get('2')).toBeUndefined()
    expect([cache.get('1'), cache.get('3'), cache.get('4')].every((v) => v === r)).toBe(true)
    expect(cache.size).toBe(3)
  })

  it('is bounded by bytes: large records push out old ones, and one larger than the bound is not kept', () => {
    const small = record('s')
    const large = record('L'.repeat(20_000))
    const bound = 2 * sizeOf(large) + sizeOf(small)
    const cache = new RecentRecords(1000, bound)
    for (let i = 0; i < 10; i++) cache.set(`s${i}`, small)
    cache.set('L1', large)
    cache.set('L2', large)
    expect(cache.bytes).toBeLessThanOrEqual(bound)
    expect(cache.get('L1')).toBe(large)
    expect(cache.get('L2')).toBe(large)
    expect(cache.get('s0')).toBeUndefined()
    // Never over the bound, whatever comes in.
    cache.set('L3', large)
    expect(cache.bytes).toBeLessThanOrEqual(bound)
    const tiny = new RecentRecords(1000, sizeOf(large) - 1)
    tiny.set('s', small)
    tiny.set('L', large)
    expect(tiny.get('L')).toBeUndefined()
    expect(tiny.get('s')).toBe(small)
    expect(tiny.bytes).toBe(sizeOf(small))
  })

  it('forgets every entry under a prefix (a repaired log)', () => {
    const cache = new RecentRecords()
    const r = record('p')
    for (const k of ['t\u0000a\u00001', 't\u0000a\u00002', 't\u0000b\u00001']) cache.set(k, r)
    cache.deletePrefix('t\u0000a\u0000')
    expect(cache.size).toBe(1)
    expect(cache.get('t\u0000b\u00001')).toBe(r)
    expect(cache.bytes).toBe(sizeOf(r))
  })
})
