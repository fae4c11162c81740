import * as dagCbor from '@ipld/dag-cbor'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { levelStorage } from '../../../adapters/storage/level.js'
import { memoryStorage } from '../../../adapters/storage/memory.js'
import { createThreadKey, generateLogKey } from '../../../src/core/keys.js'
import { ThreadId } from '../../../src/core/threadId.js'
import { PERMANENT_TTL, type AddrEntry } from '../../../src/store/logstore/addrBook.js'
import { Logstore } from '../../../src/store/logstore/logstore.js'
import type { StorageAdapter } from '../../../src/store/storageAdapter.js'
import { keys } from '../../../src/store/storageKeys.js'
import { HOUR, MINUTE, instrument, tempDirs } from './storeHelpers.js'

const A = '/ip4/10.0.0.1/tcp/4006'
const B = '/ip4/10.0.0.2/tcp/4006'
const C = '/ip4/10.0.0.3/tcp/4006'
const T0 = 1_700_000_000_000

/** A controllable clock injected into the logstore. */
function clock(start = T0): { now: () => number; advance: (ms: number) => void; set: (ms: number) => void } {
  let t = start
  return {
    now: () => t,
    advance: (ms) => {
      t += ms
    },
    set: (ms) => {
      t = ms
    }
  }
}

function addrList(entries: AddrEntry[]): string[] {
  return entries.map((e) => e.addr)
}

function expiryOf(entries: AddrEntry[], addr: string): number | undefined {
  return entries.find((e) => e.addr === addr)?.expires
}

/** What storage holds for a log's addresses: addr → expiry, read below the address book. */
async function storedAddrs(storage: StorageAdapter, t: string, logId: string): Promise<Map<string, number>> {
  const bytes = await storage.get(keys.addrs(t, logId))
  if (bytes === undefined) return new Map()
  const list = dagCbor.decode(bytes) as Array<[string, number, ...unknown[]]>
  return new Map(list.map(([a, e]) => [a, e]))
}

describe('AddrBook', () => {
  let c: ReturnType<typeof clock>
  let storage: StorageAdapter
  let ls: Logstore
  let t: string
  const logId = generateLogKey().id

  beforeEach(async () => {
    c = clock()
    storage = memoryStorage()
    ls = await Logstore.open(storage, { now: c.now })
    t = (await ls.addThread(ThreadId.create(), createThreadKey())).n
  })

  it('returns an address with its expiry until its TTL runs out', async () => {
    await ls.addrs.addAddrs(t, logId, [A], HOUR)
    expect(await ls.addrs.addrs(t, logId)).toEqual([{ addr: A, expires: T0 + HOUR }])
    c.advance(HOUR - 1)
    expect(addrList(await ls.addrs.addrs(t, logId))).toEqual([A])
  })

  it('drops an address once its TTL has run out: not returned, and removed from storage', async () => {
    await ls.addrs.addAddrs(t, logId, [A], MINUTE)
    await ls.addrs.addAddrs(t, logId, [B], HOUR)
    expect((await storedAddrs(storage, t, logId)).has(A)).toBe(true)
    c.advance(MINUTE)
    expect(addrList(await ls.addrs.addrs(t, logId))).toEqual([B])
    expect([...(await storedAddrs(storage, t, logId)).keys()]).toEqual([B])
    // A new logstore over the same storage does not see it either.
    const again = await Logstore.open(storage, { now: c.now })
    expect(addrList(await again.addrs.addrs(t, logId))).toEqual([B])
  })

  it('removes the storage entry of a log whose last address expired', async () => {
    await ls.addrs.addAddrs(t, logId, [A], MINUTE)
    c.advance(2 * MINUTE)
    expect(await ls.addrs.addrs(t, logId)).toEqual([])
    expect(await storage.get(keys.addrs(t, logId))).toBeUndefined()
  })

  it('does not write expired addresses back when another address is added', async () => {
    await ls.addrs.addAddrs(t, logId, [A], MINUTE)
    c.advance(2 * MINUTE)
    // No read in between: the write itself must leave A out.
    await ls.addrs.addAddrs(t, logId, [B], HOUR)
    expect([...(await storedAddrs(storage, t, logId)).keys()]).toEqual([B])
  })

  it('never shortens an expiry when an address is added again (1 h then 1 min is still 1 h)', async () => {
    await ls.addrs.addAddrs(t, logId, [A], HOUR)
    await ls.addrs.addAddrs(t, logId, [A], MINUTE)
    expect(expiryOf(await ls.addrs.addrs(t, logId), A)).toBe(T0 + HOUR)
    c.advance(30 * MINUTE)
    await ls.addrs.addAddrs(t, logId, [A], MINUTE)
    expect(expiryOf(await ls.addrs.addrs(t, logId), A)).toBe(T0 + HOUR)
    c.advance(29 * MINUTE)
    expect(addrList(await ls.addrs.addrs(t, logId))).toEqual([A])
    c.advance(MINUTE)
    expect(await ls.addrs.addrs(t, logId)).toEqual([])
  })

  it('extends an expiry when an address is added again with a longer TTL', async () => {
    await ls.addrs.addAddrs(t, logId, [A], MINUTE)
    c.advance(30_000)
    await ls.addrs.addAddrs(t, logId, [A], HOUR)
    expect(expiryOf(await ls.addrs.addrs(t, logId), A)).toBe(T0 + 30_000 + HOUR)
    c.advance(2 * MINUTE)
    expect(addrList(await ls.addrs.addrs(t, logId))).toEqual([A])
  })

  it('brings back an expired address that is added again, with the new TTL only', async () => {
    await ls.addrs.addAddrs(t, logId, [A], MINUTE)
    c.advance(2 * MINUTE)
    await ls.addrs.addAddrs(t, logId, [A], MINUTE)
    expect(await ls.addrs.addrs(t, logId)).toEqual([{ addr: A, expires: T0 + 3 * MINUTE }])
  })

  it('lets setAddrs shorten an expiry, and removes an address set with a TTL of 0', async () => {
    await ls.addrs.addAddrs(t, logId, [A, B], HOUR)
    await ls.addrs.setAddrs(t, logId, [A], MINUTE)
    let list = await ls.addrs.addrs(t, logId)
    expect(expiryOf(list, A)).toBe(T0 + MINUTE)
    expect(expiryOf(list, B)).toBe(T0 + HOUR)
    await ls.addrs.setAddrs(t, logId, [B], 0)
    list = await ls.addrs.addrs(t, logId)
    expect(addrList(list)).toEqual([A])
    expect([...(await storedAddrs(storage, t, logId)).keys()]).toEqual([A])
    c.advance(MINUTE)
    expect(await ls.addrs.addrs(t, logId)).toEqual([])
  })

  it('lets setAddrs add a new address and lengthen one', async () => {
    await ls.addrs.setAddrs(t, logId, [A], MINUTE)
    await ls.addrs.setAddrs(t, logId, [A], HOUR)
    expect(await ls.addrs.addrs(t, logId)).toEqual([{ addr: A, expires: T0 + HOUR }])
  })

  it('moves addresses from one TTL to another with updateAddrs', async () => {
    await ls.addrs.addAddrs(t, logId, [A, B], HOUR)
    await ls.addrs.addAddrs(t, logId, [C], PERMANENT_TTL)
    c.advance(10 * MINUTE)
    await ls.addrs.updateAddrs(t, logId, HOUR, 5 * MINUTE)
    const list = await ls.addrs.addrs(t, logId)
    expect(expiryOf(list, A)).toBe(T0 + 15 * MINUTE)
    expect(expiryOf(list, B)).toBe(T0 + 15 * MINUTE)
    expect(expiryOf(list, C)).toBe(PERMANENT_TTL)
    c.advance(5 * MINUTE)
    expect(addrList(await ls.addrs.addrs(t, logId))).toEqual([C])
  })

  it('updateAddrs can lengthen a TTL, and a new TTL of 0 removes the addresses', async () => {
    await ls.addrs.addAddrs(t, logId, [A], MINUTE)
    await ls.addrs.addAddrs(t, logId, [B], HOUR)
    await ls.addrs.updateAddrs(t, logId, MINUTE, 2 * HOUR)
    expect(expiryOf(await ls.addrs.addrs(t, logId), A)).toBe(T0 + 2 * HOUR)
    await ls.addrs.updateAddrs(t, logId, HOUR, 0)
    expect(addrList(await ls.addrs.addrs(t, logId))).toEqual([A])
  })

  it('updateAddrs moves only the addresses that were given oldTtl, not every shorter one', async () => {
    await ls.addrs.addAddrs(t, logId, [A], HOUR)
    await ls.addrs.addAddrs(t, logId, [B], 10 * MINUTE)
    await ls.addrs.updateAddrs(t, logId, HOUR, 2 * HOUR)
    const list = await ls.addrs.addrs(t, logId)
    expect(expiryOf(list, A)).toBe(T0 + 2 * HOUR)
    // B was given 10 min, not 1 h: an update of the 1 h addresses must not extend it.
    expect(expiryOf(list, B)).toBe(T0 + 10 * MINUTE)
  })

  it('updateAddrs of the permanent addresses leaves the others alone', async () => {
    await ls.addrs.addAddrs(t, logId, [A], PERMANENT_TTL)
    await ls.addrs.addAddrs(t, logId, [B], MINUTE)
    await ls.addrs.updateAddrs(t, logId, PERMANENT_TTL, HOUR)
    const list = await ls.addrs.addrs(t, logId)
    expect(expiryOf(list, A)).toBe(T0 + HOUR)
    expect(expiryOf(list, B)).toBe(T0 + MINUTE)
  })

  it('updateAddrs never brings back an address that has already expired', async () => {
    await ls.addrs.addAddrs(t, logId, [A], MINUTE)
    c.advance(2 * MINUTE)
    // Nothing has read the book since A expired.
    await ls.addrs.updateAddrs(t, logId, MINUTE, HOUR)
    expect(await ls.addrs.addrs(t, logId)).toEqual([])
  })

  it('clearAddrs forgets every address of the log, in storage too', async () => {
    await ls.addrs.addAddrs(t, logId, [A, B], HOUR)
    await ls.addrs.addAddrs(t, logId, [C], PERMANENT_TTL)
    await ls.addrs.clearAddrs(t, logId)
    expect(await ls.addrs.addrs(t, logId)).toEqual([])
    expect(await storage.get(keys.addrs(t, logId))).toBeUndefined()
    const again = await Logstore.open(storage, { now: c.now })
    expect(await again.addrs.addrs(t, logId)).toEqual([])
  })

  it('never expires an address added with PERMANENT_TTL', async () => {
    await ls.addrs.addAddrs(t, logId, [A], PERMANENT_TTL)
    await ls.addrs.addAddrs(t, logId, [A], MINUTE)
    c.advance(100 * 365 * 24 * HOUR)
    expect(await ls.addrs.addrs(t, logId)).toEqual([{ addr: A, expires: PERMANENT_TTL }])
    // A TTL above the permanent one is permanent too, never an overflowing expiry.
    await ls.addrs.addAddrs(t, logId, [B], Number.MAX_VALUE)
    expect(expiryOf(await ls.addrs.addrs(t, logId), B)).toBe(PERMANENT_TTL)
  })

  it('returns addresses sorted, with no duplicates', async () => {
    await ls.addrs.addAddrs(t, logId, [C, A, B, A], HOUR)
    expect(addrList(await ls.addrs.addrs(t, logId))).toEqual([A, B, C])
  })

  it('keeps the addresses of each (thread, log) apart', async () => {
    const otherLog = generateLogKey().id
    const t2 = (await ls.addThread(ThreadId.create(), createThreadKey())).n
    await ls.addrs.addAddrs(t, logId, [A], HOUR)
    await ls.addrs.addAddrs(t, otherLog, [B], HOUR)
    await ls.addrs.addAddrs(t2, logId, [C], HOUR)
    expect(addrList(await ls.addrs.addrs(t, logId))).toEqual([A])
    expect(addrList(await ls.addrs.addrs(t, otherLog))).toEqual([B])
    expect(addrList(await ls.addrs.addrs(t2, logId))).toEqual([C])
    await ls.addrs.clearAddrs(t, logId)
    await ls.addrs.setAddrs(t2, logId, [C], 0)
    expect(await ls.addrs.addrs(t, logId)).toEqual([])
    expect(addrList(await ls.addrs.addrs(t, otherLog))).toEqual([B])
    expect(await ls.addrs.addrs(t2, logId)).toEqual([])
    expect(await ls.addrs.addrs(t2, otherLog)).toEqual([])
  })

  it('keeps both of two addresses added at once to a log it has not read yet', async () => {
    const fresh = await Logstore.open(storage, { now: c.now })
    await Promise.all([fresh.addrs.addAddrs(t, logId, [A], HOUR), fresh.addrs.addAddrs(t, logId, [B], HOUR)])
    expect(addrList(await fresh.addrs.addrs(t, logId))).toEqual([A, B])
    const again = await Logstore.open(storage, { now: c.now })
    expect(addrList(await again.addrs.addrs(t, logId))).toEqual([A, B])
  })

  it('reads address lists stored as [addr, expiry] pairs, without the TTL they were given', async () => {
    await storage.batch([{ type: 'put', key: keys.addrs(t, logId), value: dagCbor.encode([[A, T0 + HOUR], [B, PERMANENT_TTL]]) }])
    const book = (await Logstore.open(storage, { now: c.now })).addrs
    expect(await book.addrs(t, logId)).toEqual([
      { addr: A, expires: T0 + HOUR },
      { addr: B, expires: PERMANENT_TTL }
    ])
    // The TTL of A is unknown, so no update moves it; a permanent address is known to be one.
    await book.updateAddrs(t, logId, HOUR, MINUTE)
    await book.updateAddrs(t, logId, PERMANENT_TTL, 2 * HOUR)
    expect(await book.addrs(t, logId)).toEqual([
      { addr: A, expires: T0 + HOUR },
      { addr: B, expires: T0 + 2 * HOUR }
    ])
  })

  it('writes one batch per change', async () => {
    const counted = instrument(memoryStorage())
    const book = (await Logstore.open(counted, { now: c.now })).addrs
    await book.addAddrs('0', logId, [A, B, C], HOUR)
    await book.setAddrs('0', logId, [A], MINUTE)
    expect(counted.batches.length).toBe(2)
  })

  describe('persistence', () => {
    const dirs = tempDirs()
    afterEach(() => dirs.cleanup())

    it('keeps addresses and expiries across a reopen over the same memory adapter', async () => {
      await ls.addrs.addAddrs(t, logId, [A], HOUR)
      await ls.addrs.addAddrs(t, logId, [B], PERMANENT_TTL)
      await ls.addrs.setAddrs(t, logId, [C], MINUTE)
      const again = await Logstore.open(storage, { now: c.now })
      expect(await again.addrs.addrs(t, logId)).toEqual([
        { addr: A, expires: T0 + HOUR },
        { addr: B, expires: PERMANENT_TTL },
        { addr: C, expires: T0 + MINUTE }
      ])
      // The TTL rules still hold after the reopen: no shortening, expiry by the clock.
      await again.addrs.addAddrs(t, logId, [A], MINUTE)
      c.advance(2 * MINUTE)
      expect(addrList(await again.addrs.addrs(t, logId))).toEqual([A, B])
    })

    it('keeps addresses across a reopen of LevelDB, and expires them by the clock after it', async () => {
      const dir = await dirs.make()
      const first = levelStorage(dir)
      const ls1 = await Logstore.open(first, { now: c.now })
      const tn = (await ls1.addThread(ThreadId.create(), createThreadKey())).n
      const otherLog = generateLogKey().id
      await ls1.addrs.addAddrs(tn, logId, [A, B], HOUR)
      await ls1.addrs.addAddrs(tn, logId, [C], PERMANENT_TTL)
      await ls1.addrs.addAddrs(tn, otherLog, [A], MINUTE)
      await ls1.addrs.updateAddrs(tn, logId, HOUR, 2 * HOUR)
      await first.close()

      const second = levelStorage(dir)
      try {
        const ls2 = await Logstore.open(second, { now: c.now })
        expect(await ls2.addrs.addrs(tn, logId)).toEqual([
          { addr: A, expires: T0 + 2 * HOUR },
          { addr: B, expires: T0 + 2 * HOUR },
          { addr: C, expires: PERMANENT_TTL }
        ])
        expect(await ls2.addrs.addrs(tn, otherLog)).toEqual([{ addr: A, expires: T0 + MINUTE }])
        c.advance(HOUR)
        expect(await ls2.addrs.addrs(tn, otherLog)).toEqual([])
        // updateAddrs still knows which TTL each address was given.
        await ls2.addrs.updateAddrs(tn, logId, 2 * HOUR, 0)
        expect(addrList(await ls2.addrs.addrs(tn, logId))).toEqual([C])
      } finally {
        await second.close()
      }
    })
  })
})
