/**
 * Records held beyond a gap in their log (DESIGN.md section 6: every resource an input can cost is
 * bounded): by count per log, by bytes per thread, by time; linked to the head by identity.
 */
import { describe, expect, it } from 'vitest'
import { boxOf, encryptBlock, openBox } from '../../../src/core/block.js'
import { encodeCommand } from '../../../src/core/command.js'
import { createThreadKey, generateLogKey, type LogKey } from '../../../src/core/keys.js'
import { createRecord, recordBlocks, verifyRecord, type LogHead, type LogRecord } from '../../../src/core/record.js'
import { ThreadId } from '../../../src/core/threadId.js'
import { HELD_TTL_MS, HeldRecords, MAX_HELD_BYTES, MAX_HELD_PER_LOG } from '../../../src/engine/heldRecords.js'
import { headOf, makeRecords } from '../store/storeHelpers.js'

const thread = ThreadId.create()
const threadKey = createThreadKey()

function sizeOf(r: LogRecord): number {
  const b = r.blocks
  return b.record.bytes.length + b.event.bytes.length + b.header.bytes.length + b.body.bytes.length
}

function chain(logKey: LogKey, count: number, prev?: LogHead): LogRecord[] {
  return makeRecords(thread, logKey, threadKey, count, prev)
}

/** One record of `logKey` after `prev` whose command is `bytes` long (padded to its bucket). */
function sized(logKey: LogKey, prev: LogHead | undefined, bytes: number): LogRecord {
  const body = encodeCommand({ type: 't', payload: 'x'.repeat(bytes) })
  return createRecord({ logKey, threadKey, thread, body, clock: (prev?.seq ?? 0) + 1, time: 0, ...(prev === undefined ? {} : { prev }) })
}

function seqs(held: HeldRecords, logId: string, upTo = 50): number[] {
  const out: number[] = []
  for (let s = 1; s <= upTo; s++) if (held.get(logId, s) !== undefined) out.push(s)
  return out
}

describe('HeldRecords', () => {
  const a = generateLogKey()
  const b = generateLogKey()
  const rs = chain(a, 12)
  const theirs = chain(b, 12)

  it('defaults: 4,096 records per log, 16 MiB per thread, two minutes', () => {
    expect(MAX_HELD_PER_LOG).toBe(4096)
    expect(MAX_HELD_BYTES).toBe(16 << 20)
    expect(HELD_TTL_MS).toBe(120_000)
  })

  it('holds records by log and seq, counting them and their bytes', () => {
    const held = new HeldRecords()
    expect(held.count).toBe(0)
    expect(held.bytes).toBe(0)
    expect(held.hold(rs[4]!, 0)).toBe(true)
    expect(held.hold(rs[6]!, 0)).toBe(true)
    expect(held.hold(theirs[2]!, 0)).toBe(true)
    expect(held.count).toBe(3)
    expect(held.bytes).toBe(sizeOf(rs[4]!) + sizeOf(rs[6]!) + sizeOf(theirs[2]!))
    expect(held.get(a.id, 5)).toBe(rs[4])
    expect(held.get(a.id, 6)).toBeUndefined()
    expect(held.get(b.id, 3)).toBe(theirs[2])
    expect(held.get(generateLogKey().id, 5)).toBeUndefined()
  })

  it('keeps the first record held for a seq (the chain decides later which one continues the log)', () => {
    const held = new HeldRecords()
    const [other] = chain(a, 5).slice(4) // another seq 5 of the same log (another history)
    expect(other!.seq).toBe(5)
    held.hold(rs[4]!, 0)
    const bytes = held.bytes
    expect(held.hold(other!, 0)).toBe(true)
    expect(held.hold(rs[4]!, 10)).toBe(true)
    expect(held.get(a.id, 5)).toBe(rs[4])
    expect(held.count).toBe(1)
    expect(held.bytes).toBe(bytes)
  })

  describe('bounded by count per log', () => {
    it('refuses a record further than every held one when the log is full', () => {
      const held = new HeldRecords({ maxPerLog: 3 })
      for (const s of [5, 6, 7]) expect(held.hold(rs[s - 1]!, 0)).toBe(true)
      expect(held.hold(rs[7]!, 0)).toBe(false) // seq 8: furthest from closing the gap
      expect(seqs(held, a.id)).toEqual([5, 6, 7])
      expect(held.count).toBe(3)
      expect(held.bytes).toBe([5, 6, 7].reduce((n, s) => n + sizeOf(rs[s - 1]!), 0))
    })

    it('evicts the furthest seq for a record that closes the gap sooner', () => {
      const held = new HeldRecords({ maxPerLog: 3 })
      for (const s of [5, 9, 7]) held.hold(rs[s - 1]!, 0)
      expect(held.hold(rs[3]!, 0)).toBe(true) // seq 4
      expect(seqs(held, a.id)).toEqual([4, 5, 7])
      expect(held.hold(rs[5]!, 0)).toBe(true) // seq 6
      expect(seqs(held, a.id)).toEqual([4, 5, 6])
      expect(held.count).toBe(3)
      expect(held.bytes).toBe([4, 5, 6].reduce((n, s) => n + sizeOf(rs[s - 1]!), 0))
    })

    it('bounds each log on its own: a full log does not push out another', () => {
      const held = new HeldRecords({ maxPerLog: 2 })
      held.hold(theirs[4]!, 0)
      held.hold(theirs[5]!, 0)
      for (let s = 3; s <= 12; s++) held.hold(rs[s - 1]!, 0)
      expect(seqs(held, a.id)).toEqual([3, 4])
      expect(seqs(held, b.id)).toEqual([5, 6])
      expect(held.count).toBe(4)
    })
  })

  describe('bounded by bytes per thread', () => {
    it('never holds more bytes than its bound, evicting the furthest seq of the log that holds the most', () => {
      const [r1, r2, r3, r4] = [sized(a, headOf(rs[1]!), 10), sized(a, headOf(rs[2]!), 10), sized(a, headOf(rs[3]!), 10), sized(a, headOf(rs[4]!), 10)]
      const one = sizeOf(r3!)
      const held = new HeldRecords({ maxBytes: 3 * one + one / 2 })
      for (const r of [r1!, r2!, r3!]) expect(held.hold(r, 0)).toBe(true)
      // A record of another log: the log holding the most bytes gives up its furthest record.
      const small = sized(b, headOf(theirs[3]!), 10)
      expect(held.hold(small, 0)).toBe(true)
      expect(held.get(b.id, 5)).toBe(small)
      expect(seqs(held, a.id)).toEqual([3, 4])
      expect(held.bytes).toBeLessThanOrEqual(3 * one + one / 2)
      expect(held.bytes).toBe(sizeOf(r1!) + sizeOf(r2!) + sizeOf(small))
      // The largest holder's own furthest record is refused.
      expect(held.hold(r4!, 0)).toBe(false)
      expect(seqs(held, a.id)).toEqual([3, 4])
    })

    it('refuses one record larger than the bound, keeping what it holds', () => {
      const held = new HeldRecords({ maxBytes: 4096 })
      held.hold(rs[2]!, 0)
      const big = sized(b, headOf(theirs[0]!), 10_000)
      expect(sizeOf(big)).toBeGreaterThan(4096)
      expect(held.hold(big, 0)).toBe(false)
      expect(held.get(b.id, 2)).toBeUndefined()
      expect(held.get(a.id, 3)).toBe(rs[2])
      expect(held.bytes).toBe(sizeOf(rs[2]!))
      expect(held.count).toBe(1)
    })

    it('a flood of large records from one log pushes out that log, not the small records of others', () => {
      const near = sized(a, headOf(rs[1]!), 10)
      const bound = 64 * 1024
      const held = new HeldRecords({ maxBytes: bound })
      held.hold(near, 0)
      let prev = headOf(theirs[3]!)
      let refused = 0
      for (let i = 0; i < 12; i++) {
        const r = sized(b, prev, 8_000)
        prev = headOf(r)
        if (!held.hold(r, 0)) refused++
        expect(held.bytes).toBeLessThanOrEqual(bound)
      }
      expect(refused).toBeGreaterThan(0)
      expect(held.get(a.id, 3)).toBe(near)
      // What is left of the flood is its lowest seqs: those that close its gap first.
      const kept = seqs(held, b.id, 30)
      expect(kept[0]).toBe(5)
      expect(kept).toEqual(Array.from({ length: kept.length }, (_, i) => 5 + i))
    })
  })

  describe('expiry', () => {
    it('drops records held for the TTL or longer, and counts them', () => {
      const held = new HeldRecords()
      held.hold(rs[4]!, 0)
      held.hold(rs[5]!, 60_000)
      held.hold(theirs[3]!, 100_000)
      expect(held.expire(HELD_TTL_MS - 1)).toBe(0)
      expect(held.expire(HELD_TTL_MS)).toBe(1)
      expect(seqs(held, a.id)).toEqual([6])
      expect(held.expire(60_000 + HELD_TTL_MS)).toBe(1)
      expect(held.count).toBe(1)
      expect(held.expire(10 * HELD_TTL_MS)).toBe(1)
      expect(held.count).toBe(0)
      expect(held.bytes).toBe(0)
      expect(held.gaps(() => 0)).toEqual([])
    })

    it('takes its TTL from the options', () => {
      const held = new HeldRecords({ ttlMs: 10 })
      held.hold(rs[4]!, 100)
      expect(held.expire(109)).toBe(0)
      expect(held.expire(110)).toBe(1)
    })

    it('a record held again keeps its first time (holding a duplicate does not extend it)', () => {
      const held = new HeldRecords({ ttlMs: 100 })
      held.hold(rs[4]!, 0)
      held.hold(rs[4]!, 90)
      expect(held.expire(100)).toBe(1)
    })
  })

  describe('takeRun', () => {
    it('takes the contiguous run that continues the head, linked by identity, and leaves what lies beyond a gap', () => {
      const held = new HeldRecords()
      for (const s of [3, 4, 5, 7, 8]) held.hold(rs[s - 1]!, 0)
      const { run, broken } = held.takeRun(a.id, headOf(rs[1]!))
      expect(run).toEqual([rs[2], rs[3], rs[4]])
      expect(broken).toBeUndefined()
      expect(seqs(held, a.id)).toEqual([7, 8])
      expect(held.count).toBe(2)
      expect(held.bytes).toBe(sizeOf(rs[6]!) + sizeOf(rs[7]!))
    })

    it('starts a log with no head at seq 1', () => {
      const held = new HeldRecords()
      for (const s of [2, 1, 3]) held.hold(rs[s - 1]!, 0)
      expect(held.takeRun(a.id, undefined).run.map((r) => r.seq)).toEqual([1, 2, 3])
      expect(held.count).toBe(0)
    })

    it('takes nothing when the next seq is not held (a gap), or the log holds nothing', () => {
      const held = new HeldRecords()
      held.hold(rs[5]!, 0)
      expect(held.takeRun(a.id, headOf(rs[3]!))).toEqual({ run: [] })
      expect(held.takeRun(b.id, undefined)).toEqual({ run: [] })
      expect(held.count).toBe(1)
    })

    it('links by identity: a head from a re-sealed copy of the record continues the same, a head that names the record block CID does not', () => {
      const held = new HeldRecords()
      held.hold(rs[3]!, 0)
      // Seq 3 as another peer holds it: sealed again, another record block CID, the same identity.
      const plain = openBox(threadKey.service, boxOf(rs[2]!.blocks.record.bytes, {}))!
      const copy = verifyRecord({ thread, logId: a.id, serviceKey: threadKey.service }, { ...recordBlocks(rs[2]!), record: encryptBlock(threadKey.service, plain).bytes })
      expect(copy.cid.equals(rs[2]!.cid)).toBe(false)
      expect(copy.id.equals(rs[2]!.id)).toBe(true)
      expect(held.takeRun(a.id, { id: copy.id, seq: 3 }).run).toEqual([rs[3]])
      held.hold(rs[3]!, 0)
      const { run, broken } = held.takeRun(a.id, { id: rs[2]!.cid, seq: 3 })
      expect(run).toEqual([])
      expect(broken).toBe(rs[3])
    })

    it('returns a held record at the next seq that does not link the head as broken, and drops it', () => {
      const held = new HeldRecords()
      // Seq 3 and 4 of another history of the same log (its writer signed both).
      const other = chain(a, 4)
      held.hold(other[2]!, 0)
      held.hold(other[3]!, 0)
      const { run, broken } = held.takeRun(a.id, headOf(rs[1]!))
      expect(run).toEqual([])
      expect(broken).toBe(other[2])
      expect(held.get(a.id, 3)).toBeUndefined()
      // What follows it stays held (the caller decides: a fork freezes the log there).
      expect(seqs(held, a.id)).toEqual([4])
    })

    it('stops a run at the first record that does not link, returning the run before it', () => {
      const held = new HeldRecords()
      const other = chain(a, 5)
      held.hold(rs[2]!, 0)
      held.hold(rs[3]!, 0)
      held.hold(other[4]!, 0) // seq 5 of another history
      const { run, broken } = held.takeRun(a.id, headOf(rs[1]!))
      expect(run.map((r) => r.seq)).toEqual([3, 4])
      expect(broken).toBe(other[4])
      expect(held.count).toBe(0)
    })
  })

  it('take() takes one held record out', () => {
    const held = new HeldRecords()
    held.hold(rs[4]!, 0)
    held.hold(rs[5]!, 0)
    expect(held.take(a.id, 5)).toBe(rs[4])
    expect(held.take(a.id, 5)).toBeUndefined()
    expect(held.take(b.id, 6)).toBeUndefined()
    expect(seqs(held, a.id)).toEqual([6])
    expect(held.bytes).toBe(sizeOf(rs[5]!))
  })

  it('drops a log from a seq on (a fork froze it there), or all of it', () => {
    const held = new HeldRecords()
    for (const s of [4, 5, 6, 8]) held.hold(rs[s - 1]!, 0)
    held.hold(theirs[6]!, 0)
    held.dropFrom(a.id, 6)
    expect(seqs(held, a.id)).toEqual([4, 5])
    held.dropFrom(a.id)
    expect(seqs(held, a.id)).toEqual([])
    held.dropFrom(generateLogKey().id)
    expect(held.count).toBe(1)
    expect(held.bytes).toBe(sizeOf(theirs[6]!))
  })

  it('reports the gap below the lowest held record of each log, given each head', () => {
    const held = new HeldRecords()
    for (const s of [6, 9]) held.hold(rs[s - 1]!, 0)
    held.hold(theirs[3]!, 0)
    const heads: Record<string, number> = { [a.id]: 2, [b.id]: 3 }
    // Log b's held record continues its head: no gap there.
    expect(held.gaps((logId) => heads[logId] ?? 0)).toEqual([{ logId: a.id, from: 3, to: 5 }])
    expect(held.gaps(() => 0)).toEqual([
      { logId: a.id, from: 1, to: 5 },
      { logId: b.id, from: 1, to: 3 }
    ])
    held.dropFrom(a.id)
    held.dropFrom(b.id)
    expect(held.gaps(() => 0)).toEqual([])
  })
})
