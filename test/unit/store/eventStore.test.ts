import * as dagCbor from '@ipld/dag-cbor'
import type { CID } from 'multiformats/cid'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { encodeKey } from '../../../adapters/storage/keyCodec.js'
import { levelStorage } from '../../../adapters/storage/level.js'
import { memoryStorage } from '../../../adapters/storage/memory.js'
import { boxOf } from '../../../src/core/block.js'
import { decodeCommand, encodeCommand, type Command } from '../../../src/core/command.js'
import { getCrypto } from '../../../src/core/crypto/index.js'
import { BrokenChainError, CorruptStoreError, NotFoundError, StorageFailedError, UnsupportedFormatError } from '../../../src/core/errors.js'
import { createThreadKey, generateLogKey, type LogKey, type ThreadKey } from '../../../src/core/keys.js'
import { createRecord, openEventBoxes, recordBlocks, signatureHolds, verifyRecord, type LogRecord } from '../../../src/core/record.js'
import { recordIdOfDigest } from '../../../src/core/recordId.js'
import { encodeStoredRecord } from '../../../src/core/storedRecord.js'
import { ThreadId } from '../../../src/core/threadId.js'
import { EventStore, type StoredEvent } from '../../../src/store/eventStore.js'
import type { StorageAdapter, StorageOp } from '../../../src/store/storageAdapter.js'
import { keys } from '../../../src/store/storageKeys.js'
import { caught, deferred, headOf, instrument, makeRecords, settle, tempDirs, type InstrumentedStorage } from './storeHelpers.js'

interface Setup {
  storage: InstrumentedStorage
  store: EventStore
  threadId: ThreadId
  threadKey: Required<ThreadKey>
  own: LogKey
  peer: LogKey
}

async function setup(inner: StorageAdapter = memoryStorage()): Promise<Setup> {
  const storage = instrument(inner)
  const store = await EventStore.open(storage)
  const threadId = ThreadId.create()
  const threadKey = createThreadKey()
  const own = generateLogKey()
  const peer = generateLogKey()
  await store.logstore.addThread(threadId, threadKey)
  await store.logstore.addLog(threadId, own.id, own)
  await store.logstore.addLog(threadId, peer.id)
  return { storage, store, threadId, threadKey, own, peer }
}

function expectSameRecord(got: LogRecord | undefined, want: LogRecord): void {
  expect(got).toBeDefined()
  const g = got as LogRecord
  expect(g.id.equals(want.id)).toBe(true)
  expect(g.cid.equals(want.cid)).toBe(true)
  expect(g.logId).toBe(want.logId)
  expect(g.seq).toBe(want.seq)
  expect(g.prev === undefined ? undefined : g.prev.toString()).toBe(want.prev === undefined ? undefined : want.prev.toString())
  expect(g.sig).toEqual(want.sig)
  expect(g.eventCid.equals(want.eventCid)).toBe(true)
  for (const name of ['record', 'event', 'header', 'body'] as const) {
    expect(g.blocks[name].cid.equals(want.blocks[name].cid)).toBe(true)
    expect(g.blocks[name].bytes).toEqual(want.blocks[name].bytes)
  }
}

function expectName(e: unknown, name: string): void {
  expect(e).toBeInstanceOf(Error)
  expect((e as Error).name).toBe(name)
}

function isHead(op: StorageOp): boolean {
  return op.key[0] === 'h'
}

function headSeq(op: StorageOp): number {
  if (op.type !== 'put') throw new Error('a head op is a put')
  return (dagCbor.decode(op.value) as { seq: number }).seq
}

async function collect(it: AsyncIterable<StoredEvent>): Promise<StoredEvent[]> {
  const out: StoredEvent[] = []
  for await (const e of it) out.push(e)
  return out
}

describe('EventStore.append', () => {
  let s: Setup
  beforeEach(async () => {
    s = await setup()
  })

  it('appends records that continue the head, one call or several, and moves the head', async () => {
    const rs = makeRecords(s.threadId, s.own, s.threadKey, 5)
    await s.store.append(s.threadId, rs.slice(0, 1))
    expect(s.store.logstore.head(s.threadId, s.own.id)).toEqual(headOf(rs[0]!))
    await s.store.append(s.threadId, rs.slice(1, 2))
    await s.store.append(s.threadId, rs.slice(2))
    expect(s.store.logstore.head(s.threadId, s.own.id)).toEqual(headOf(rs[4]!))
    expect((await s.store.records(s.threadId, s.own.id)).map((r) => r.seq)).toEqual([1, 2, 3, 4, 5])
    // The head in storage is the newest record.
    const th = s.store.logstore.getThread(s.threadId)
    const log = s.store.logstore.log(s.threadId, s.own.id)!
    const stored = dagCbor.decode((await s.storage.get(keys.head(th.n, log.n)))!) as { id: CID; seq: number }
    expect(stored.seq).toBe(5)
    // By identity, not by record block CID.
    expect(stored.id.equals(rs[4]!.id)).toBe(true)
    expect(Object.keys(stored).sort()).toEqual(['id', 'seq'])
  })

  it('appends records of several logs in one call as one batch', async () => {
    const mine = makeRecords(s.threadId, s.own, s.threadKey, 3)
    const theirs = makeRecords(s.threadId, s.peer, s.threadKey, 2)
    const before = s.storage.batches.length
    await s.store.append(s.threadId, [mine[0]!, theirs[0]!, mine[1]!, theirs[1]!, mine[2]!])
    expect(s.storage.batches.length).toBe(before + 1)
    expect(s.store.logstore.head(s.threadId, s.own.id)?.seq).toBe(3)
    expect(s.store.logstore.head(s.threadId, s.peer.id)?.seq).toBe(2)
    const batch = s.storage.batches.at(-1)!
    expect(batch.slice(-2).every(isHead)).toBe(true)
    expect(batch.slice(0, -2).some(isHead)).toBe(false)
  })

  it.each([
    ['a seq that skips one', (rs: LogRecord[]) => [rs[0]!, rs[2]!]],
    ['a seq that starts past 1', (rs: LogRecord[]) => [rs[1]!]],
    ['the same record twice', (rs: LogRecord[]) => [rs[0]!, rs[0]!]]
  ])('refuses %s with BrokenChainError and writes nothing', async (_, pick) => {
    const rs = makeRecords(s.threadId, s.own, s.threadKey, 3)
    const before = s.storage.batches.length
    const e = await caught(() => s.store.append(s.threadId, pick(rs)))
    expect(e).toBeInstanceOf(BrokenChainError)
    expectName(e, 'BrokenChainError')
    expect((e as BrokenChainError).logId).toBe(s.own.id)
    await s.store.flush()
    expect(s.storage.batches.length).toBe(before)
    expect(s.store.logstore.head(s.threadId, s.own.id)).toBeUndefined()
    expect(await s.store.records(s.threadId, s.own.id)).toEqual([])
    // The log is not harmed: the right records still go in.
    await s.store.append(s.threadId, rs)
    expect(s.store.logstore.head(s.threadId, s.own.id)?.seq).toBe(3)
  })

  it('refuses a record whose prev is not the head (a fork), writing nothing, not even the good records before it', async () => {
    const rs = makeRecords(s.threadId, s.own, s.threadKey, 2)
    await s.store.append(s.threadId, rs.slice(0, 1))
    // Seq 2 of another chain of the same log: right seq, wrong prev.
    const [otherFirst] = makeRecords(s.threadId, s.own, s.threadKey, 1)
    const [fork] = makeRecords(s.threadId, s.own, s.threadKey, 1, headOf(otherFirst!))
    expect(fork!.seq).toBe(2)
    const before = s.storage.batches.length
    expectName(await caught(() => s.store.append(s.threadId, [fork!])), 'BrokenChainError')
    // A good record of another log in the same call is not written either.
    const [theirs] = makeRecords(s.threadId, s.peer, s.threadKey, 1)
    expectName(await caught(() => s.store.append(s.threadId, [theirs!, fork!])), 'BrokenChainError')
    // A first record that claims a prev.
    const fake: LogRecord = { ...theirs!, prev: rs[0]!.id }
    expectName(await caught(() => s.store.append(s.threadId, [fake])), 'BrokenChainError')
    // A record with no prev after the first.
    const noPrev: LogRecord = { ...rs[1]!, prev: undefined }
    expectName(await caught(() => s.store.append(s.threadId, [noPrev])), 'BrokenChainError')
    await s.store.flush()
    expect(s.storage.batches.length).toBe(before)
    expect(s.store.logstore.head(s.threadId, s.own.id)).toEqual(headOf(rs[0]!))
    expect(s.store.logstore.head(s.threadId, s.peer.id)).toBeUndefined()
    await s.store.append(s.threadId, [rs[1]!, theirs!])
    expect((await s.store.records(s.threadId, s.own.id)).map((r) => r.id.toString())).toEqual(rs.map((r) => r.id.toString()))
  })

  it('refuses a record whose prev names the previous record block CID instead of its identity', async () => {
    const rs = makeRecords(s.threadId, s.own, s.threadKey, 2)
    await s.store.append(s.threadId, rs.slice(0, 1))
    // Links are by identity: a prev that names how seq 1 was sealed does not link it.
    const byBlock: LogRecord = { ...rs[1]!, prev: rs[0]!.cid }
    expectName(await caught(() => s.store.append(s.threadId, [byBlock])), 'BrokenChainError')
    await s.store.append(s.threadId, [rs[1]!])
    expect(s.store.logstore.head(s.threadId, s.own.id)).toEqual(headOf(rs[1]!))
  })

  it('refuses a record of a log that was not added, or of a thread it does not hold, with NotFoundError', async () => {
    const stranger = generateLogKey()
    const [r] = makeRecords(s.threadId, stranger, s.threadKey, 1)
    const before = s.storage.batches.length
    const e = await caught(() => s.store.append(s.threadId, [r!]))
    expect(e).toBeInstanceOf(NotFoundError)
    expectName(e, 'NotFoundError')
    expect((e as NotFoundError).logId).toBe(stranger.id)
    expectName(await caught(() => s.store.append(ThreadId.create(), [r!])), 'NotFoundError')
    await s.store.flush()
    expect(s.storage.batches.length).toBe(before)
    expect(s.store.logstore.log(s.threadId, stranger.id)).toBeUndefined()
    expectName(await caught(() => s.store.records(s.threadId, stranger.id)), 'NotFoundError')
  })
})

describe.each([
  ['memory', async (_dir: string) => memoryStorage()],
  ['LevelDB', async (dir: string) => levelStorage(dir)]
])('EventStore reads over %s', (_, makeStorage) => {
  const dirs = tempDirs()
  let s: Setup
  let rs: LogRecord[]
  let theirs: LogRecord[]

  beforeEach(async () => {
    s = await setup(await makeStorage(await dirs.make()))
    rs = makeRecords(s.threadId, s.own, s.threadKey, 8)
    theirs = makeRecords(s.threadId, s.peer, s.threadKey, 2)
    await s.store.append(s.threadId, rs.slice(0, 3))
    await s.store.append(s.threadId, [...rs.slice(3), ...theirs])
  })
  afterEach(async () => {
    await s.store.close()
    await dirs.cleanup()
  })

  it('rebuilds every record byte for byte, with its CIDs', async () => {
    const all = await s.store.records(s.threadId, s.own.id)
    expect(all).toHaveLength(8)
    all.forEach((r, i) => expectSameRecord(r, rs[i]!))
    const other = await s.store.records(s.threadId, s.peer.id)
    other.forEach((r, i) => expectSameRecord(r, theirs[i]!))
  })

  it('reads ranges by from, to and limit', async () => {
    const seqs = async (range: { from?: number; to?: number; limit?: number }): Promise<number[]> =>
      (await s.store.records(s.threadId, s.own.id, range)).map((r) => r.seq)
    expect(await seqs({ from: 3, to: 5 })).toEqual([3, 4, 5])
    expect(await seqs({ from: 4, limit: 2 })).toEqual([4, 5])
    expect(await seqs({ to: 2 })).toEqual([1, 2])
    expect(await seqs({ from: 7, to: 100 })).toEqual([7, 8])
    expect(await seqs({ from: 0, limit: 1 })).toEqual([1])
    expect(await seqs({ from: 9 })).toEqual([])
    expect(await seqs({ from: 20 })).toEqual([])
    expect(await seqs({ from: 5, to: 4 })).toEqual([])
    expect(await seqs({ from: 2, limit: 0 })).toEqual([])
    // A range that starts in the middle still rebuilds byte-identical records (prev from the record before).
    const mid = await s.store.records(s.threadId, s.own.id, { from: 6, to: 7 })
    mid.forEach((r, i) => expectSameRecord(r, rs[5 + i]!))
  })

  it('yields stored events still encrypted, in seq order, that open with the read key', async () => {
    const events = await collect(s.store.events(s.threadId, s.own.id))
    expect(events.map((e) => e.seq)).toEqual([1, 2, 3, 4, 5, 6, 7, 8])
    events.forEach((e, i) => {
      const r = rs[i]!
      expect(e.logId).toBe(s.own.id)
      expect(e.id.equals(r.id)).toBe(true)
      expect(e.eventCid.equals(r.eventCid)).toBe(true)
      expect(e.sig).toEqual(r.sig)
      expect(e.idDigest).toEqual(r.id.multihash.digest)
      expect(Uint8Array.from(e.recordNonce)).toEqual(Uint8Array.from(boxOf(r.blocks.record.bytes, {}).subarray(0, 12)))
      expect(e.headerBox).toEqual(boxOf(r.blocks.header.bytes, {}))
      expect(e.bodyBox).toEqual(boxOf(r.blocks.body.bytes, {}))
      const { header, body } = openEventBoxes(s.threadKey.read, e.headerBox, e.bodyBox, {})
      expect(header.clock).toBe(r.seq)
      expect(decodeCommand(body)).toEqual({ type: 'todos/added', payload: { seq: r.seq, text: `item ${r.seq}` } })
    })
    expect((await collect(s.store.events(s.threadId, s.own.id, { from: 2, to: 4 }))).map((e) => e.seq)).toEqual([2, 3, 4])
    expect((await collect(s.store.events(s.threadId, s.own.id, { from: 7, limit: 5 }))).map((e) => e.seq)).toEqual([7, 8])
    expect((await collect(s.store.events(s.threadId, s.peer.id))).map((e) => e.id.toString())).toEqual(theirs.map((r) => r.id.toString()))
    // A range chained to a head the caller knows (`after`) reads the same.
    const after = headOf(rs[3]!)
    expect((await collect(s.store.events(s.threadId, s.own.id, { from: 5, after }))).map((e) => e.id.toString())).toEqual(rs.slice(4).map((r) => r.id.toString()))
  })

  it('refuses a range chained to a head it does not continue (`after`) with CorruptStoreError', async () => {
    // The caller's head for seq 4 is another record's identity: seq 5 does not chain to it.
    const e = await caught(() => collect(s.store.events(s.threadId, s.own.id, { from: 5, after: { id: rs[0]!.id, seq: 4 } })))
    expectName(e, 'CorruptStoreError')
    expect((e as CorruptStoreError).seq).toBe(5)
  })

  it('reads one record by seq, and its identity alone', async () => {
    expectSameRecord(await s.store.record(s.threadId, s.own.id, 1), rs[0]!)
    expectSameRecord(await s.store.record(s.threadId, s.own.id, 5), rs[4]!)
    expect(await s.store.record(s.threadId, s.own.id, 9)).toBeUndefined()
    for (const r of rs) expect((await s.store.idAt(s.threadId, s.own.id, r.seq))?.equals(r.id)).toBe(true)
    expect((await s.store.idAt(s.threadId, s.peer.id, 2))?.equals(theirs[1]!.id)).toBe(true)
    expect(await s.store.idAt(s.threadId, s.own.id, 9)).toBeUndefined()
    expect(await s.store.idAt(s.threadId, s.own.id, 0)).toBeUndefined()
  })

  it('reads identities from storage after a reopen (no recent records in memory)', async () => {
    await s.store.flush()
    const again = await EventStore.open(s.storage.inner)
    for (const r of rs) expect((await again.idAt(s.threadId, s.own.id, r.seq))?.equals(r.id)).toBe(true)
  })

  it('finds a record and its record block by identity, and nothing for an unknown identity', async () => {
    for (const r of [rs[0]!, rs[6]!, theirs[1]!]) {
      expectSameRecord(await s.store.getRecord(r.id), r)
      const block = await s.store.getBlock(r.id)
      expect(block?.cid.equals(r.cid)).toBe(true)
      expect(block?.bytes).toEqual(r.blocks.record.bytes)
    }
    // The index is by identity: the record block CID names nothing.
    expect(await s.store.getRecord(rs[0]!.cid)).toBeUndefined()
    const unknown = recordIdOfDigest(getCrypto().randomBytes(32))
    expect(await s.store.getRecord(unknown)).toBeUndefined()
    expect(await s.store.getBlock(unknown)).toBeUndefined()
    // Same first 12 digest bytes as a stored identity, different identity: the index is confirmed.
    const lookalike = Uint8Array.from(rs[2]!.id.multihash.digest)
    lookalike[31] = (lookalike[31] as number) ^ 0xff
    expect(await s.store.getRecord(recordIdOfDigest(lookalike))).toBeUndefined()
    // A record that was never appended.
    const [stray] = makeRecords(s.threadId, s.own, s.threadKey, 1, headOf(rs[7]!))
    expect(await s.store.getRecord(stray!.id)).toBeUndefined()
  })

  it('rebuilds a range that starts past seq 1 from storage after a reopen (chained to the stored record before it)', async () => {
    await s.store.flush()
    const again = await EventStore.open(s.storage.inner)
    const mid = await again.records(s.threadId, s.own.id, { from: 3, to: 6 })
    expect(mid.map((r) => r.seq)).toEqual([3, 4, 5, 6])
    mid.forEach((r, i) => expectSameRecord(r, rs[2 + i]!))
    expectSameRecord(await again.record(s.threadId, s.own.id, 8), rs[7]!)
    expectSameRecord(await again.getRecord(theirs[1]!.id), theirs[1]!)
  })

  it('serves the same records after a reopen over the same storage', async () => {
    await s.store.flush()
    const again = await EventStore.open(s.storage.inner)
    ;(await again.records(s.threadId, s.own.id)).forEach((r, i) => expectSameRecord(r, rs[i]!))
    expectSameRecord(await again.getRecord(theirs[0]!.id), theirs[0]!)
    // And it continues the logs where they were.
    const [next] = makeRecords(s.threadId, s.own, s.threadKey, 1, headOf(rs[7]!))
    await again.append(s.threadId, [next!])
    expect(again.logstore.head(s.threadId, s.own.id)?.seq).toBe(9)
  })
})

describe('EventStore group commit', () => {
  it('writes 1,000 appends made in one tick in very few batches, heads last in each', async () => {
    const s = await setup()
    const rs = makeRecords(s.threadId, s.own, s.threadKey, 1000)
    const before = s.storage.batches.length
    const pending = rs.map((r) => s.store.append(s.threadId, [r]))
    // Every append is applied to the head in memory at once, before any write.
    expect(s.store.logstore.head(s.threadId, s.own.id)).toEqual(headOf(rs[999]!))
    await Promise.all(pending)
    const batches = s.storage.batches.slice(before)
    expect(batches.length).toBeGreaterThanOrEqual(1)
    expect(batches.length).toBeLessThanOrEqual(3)
    let lastSeq = 0
    for (const batch of batches) {
      const firstHead = batch.findIndex(isHead)
      expect(firstHead).toBeGreaterThan(0)
      // Records and the CID index first, then heads only: the head is the commit point.
      expect(batch.slice(firstHead).every(isHead)).toBe(true)
      const last = batch.at(-1)!
      expect(isHead(last)).toBe(true)
      const records = batch.filter((op) => op.key[0] === 'r')
      const newest = Math.max(...records.map((op) => parseInt(op.key[3]!, 16)))
      expect(headSeq(last)).toBe(newest)
      expect(newest).toBeGreaterThan(lastSeq)
      lastSeq = newest
    }
    expect(lastSeq).toBe(1000)
    expect(batches.flat().filter((op) => op.key[0] === 'r')).toHaveLength(1000)
    expect(batches.flat().filter((op) => op.key[0] === 'c')).toHaveLength(1000)
    expect((await s.store.idAt(s.threadId, s.own.id, 1000))?.equals(rs[999]!.id)).toBe(true)
  })

  it('puts every append made while a batch is being written into the next batch', async () => {
    const s = await setup()
    const rs = makeRecords(s.threadId, s.own, s.threadKey, 21)
    const before = s.storage.batches.length
    const gate = deferred()
    s.storage.hold = gate.promise
    const first = s.store.append(s.threadId, [rs[0]!])
    await s.storage.called(before + 1)
    const rest = rs.slice(1).map((r) => s.store.append(s.threadId, [r]))
    await settle()
    expect(s.storage.batches.length).toBe(before + 1)
    s.storage.hold = undefined
    gate.resolve()
    await Promise.all([first, ...rest])
    expect(s.storage.batches.length).toBe(before + 2)
    expect(s.storage.batches[before + 1]!.filter((op) => op.key[0] === 'r')).toHaveLength(20)
  })

  it('resolves flush() only when every append is durable', async () => {
    const s = await setup()
    await s.store.flush() // nothing pending: resolves at once
    const rs = makeRecords(s.threadId, s.own, s.threadKey, 5)
    const gate = deferred()
    s.storage.hold = gate.promise
    const appended = rs.map((r) => s.store.append(s.threadId, [r]))
    let flushed = false
    const flushing = s.store.flush().then(() => {
      flushed = true
    })
    await settle()
    expect(flushed).toBe(false)
    const th = s.store.logstore.getThread(s.threadId)
    const log = s.store.logstore.log(s.threadId, s.own.id)!
    expect(await s.storage.inner.get(keys.head(th.n, log.n))).toBeUndefined()
    s.storage.hold = undefined
    gate.resolve()
    await flushing
    expect(flushed).toBe(true)
    const stored = dagCbor.decode((await s.storage.inner.get(keys.head(th.n, log.n)))!) as { seq: number }
    expect(stored.seq).toBe(5)
    for (const r of rs) expect(await s.storage.inner.get(keys.record(th.n, log.n, r.seq))).toBeDefined()
    await Promise.all(appended)
  })

  it('reads wait for appends that are not yet durable', async () => {
    const s = await setup()
    const rs = makeRecords(s.threadId, s.own, s.threadKey, 3)
    void s.store.append(s.threadId, rs)
    const read = await s.store.records(s.threadId, s.own.id)
    expect(read.map((r) => r.seq)).toEqual([1, 2, 3])
    const [r] = makeRecords(s.threadId, s.own, s.threadKey, 1, headOf(rs[2]!))
    void s.store.append(s.threadId, [r!])
    expect((await collect(s.store.events(s.threadId, s.own.id, { from: 4 }))).map((e) => e.seq)).toEqual([4])
  })
})

describe('EventStore storage failure', () => {
  it('rejects the appends of a failed batch with StorageFailedError, goes back to the durable heads, and refuses appends until retry()', async () => {
    const s = await setup()
    const rs = makeRecords(s.threadId, s.own, s.threadKey, 6)
    await s.store.append(s.threadId, rs.slice(0, 2))
    expect(s.store.failed).toBeUndefined()
    const durable = s.storage.batches.length
    s.storage.failOnBatch = durable + 1
    const gate = deferred()
    s.storage.hold = gate.promise
    const failing = [s.store.append(s.threadId, [rs[2]!]), s.store.append(s.threadId, [rs[3]!])]
    await s.storage.called(durable + 1)
    // Made while the failing batch is in flight: queued for the next one.
    const queued = s.store.append(s.threadId, [rs[4]!])
    // Memory heads run ahead of storage meanwhile.
    expect(s.store.logstore.head(s.threadId, s.own.id)).toEqual(headOf(rs[4]!))
    s.storage.hold = undefined
    gate.resolve()
    for (const p of [...failing, queued]) {
      const e = await caught(() => p)
      expect(e).toBeInstanceOf(StorageFailedError)
      expectName(e, 'StorageFailedError')
      expect((e as Error).cause).toBeInstanceOf(Error)
      expect(e).toBe(s.store.failed)
    }
    // The heads in memory went back to what storage holds, and nothing unstored is served.
    expect(s.store.logstore.head(s.threadId, s.own.id)).toEqual(headOf(rs[1]!))
    expect((await s.store.records(s.threadId, s.own.id)).map((r) => r.seq)).toEqual([1, 2])
    expect(await s.store.idAt(s.threadId, s.own.id, 3)).toBeUndefined()
    // Every later append is refused until storage works again, even one that continues the head.
    expectName(await caught(() => s.store.append(s.threadId, [rs[2]!])), 'StorageFailedError')
    const [theirs] = makeRecords(s.threadId, s.peer, s.threadKey, 1)
    expectName(await caught(() => s.store.append(s.threadId, [theirs!])), 'StorageFailedError')
    await s.store.flush()
    // No batch after the failed one: memory is never written over what is on disk.
    expect(s.storage.batches.length).toBe(durable + 1)
    // Storage holds exactly what was durable; a reopened store continues from there.
    const again = await EventStore.open(s.storage.inner)
    expect(again.logstore.head(s.threadId, s.own.id)).toEqual(headOf(rs[1]!))
    expect(again.logstore.head(s.threadId, s.peer.id)).toBeUndefined()
    expect((await again.records(s.threadId, s.own.id)).map((r) => r.seq)).toEqual([1, 2])
    expect(await again.getRecord(rs[2]!.id)).toBeUndefined()

    // A retry while storage still fails keeps refusing; one that lands lets appends go on.
    s.storage.failOnBatch = durable + 2
    expect(await s.store.retry()).toBe(false)
    expectName(s.store.failed, 'StorageFailedError')
    expectName(await caught(() => s.store.append(s.threadId, [rs[2]!])), 'StorageFailedError')
    expect(await s.store.retry()).toBe(true)
    expect(s.store.failed).toBeUndefined()
    await s.store.append(s.threadId, rs.slice(2))
    await s.store.append(s.threadId, [theirs!])
    expect(s.store.logstore.head(s.threadId, s.own.id)).toEqual(headOf(rs[5]!))
    ;(await s.store.records(s.threadId, s.own.id)).forEach((r, i) => expectSameRecord(r, rs[i]!))
    const third = await EventStore.open(s.storage.inner)
    expect(third.logstore.head(s.threadId, s.own.id)?.seq).toBe(6)
    expect(third.logstore.head(s.threadId, s.peer.id)?.seq).toBe(1)
  })

  it('retry() with nothing failed writes nothing', async () => {
    const s = await setup()
    const before = s.storage.batches.length
    expect(await s.store.retry()).toBe(true)
    expect(s.storage.batches.length).toBe(before)
  })

  it('goes back to the head of the last batch that landed, for a log appended to while a batch was in flight', async () => {
    const s = await setup()
    const rs = makeRecords(s.threadId, s.own, s.threadKey, 5)
    await s.store.append(s.threadId, rs.slice(0, 1))
    const durable = s.storage.batches.length
    const gate = deferred()
    s.storage.hold = gate.promise
    const landing = s.store.append(s.threadId, [rs[1]!])
    await s.storage.called(durable + 1)
    // Queued behind the batch that will land; its own batch fails.
    const failing = s.store.append(s.threadId, rs.slice(2, 4))
    s.storage.failOnBatch = durable + 2
    s.storage.hold = undefined
    gate.resolve()
    await landing
    expectName(await caught(() => failing), 'StorageFailedError')
    expect(s.store.logstore.head(s.threadId, s.own.id)).toEqual(headOf(rs[1]!))
    expect((await EventStore.open(s.storage.inner)).logstore.head(s.threadId, s.own.id)).toEqual(headOf(rs[1]!))
  })
})

describe('EventStore damaged storage', () => {
  let s: Setup
  let rs: LogRecord[]
  let recordKey: (seq: number) => string[]

  beforeEach(async () => {
    s = await setup()
    rs = makeRecords(s.threadId, s.own, s.threadKey, 4)
    await s.store.append(s.threadId, rs)
    const th = s.store.logstore.getThread(s.threadId)
    const log = s.store.logstore.log(s.threadId, s.own.id)!
    recordKey = (seq) => keys.record(th.n, log.n, seq)
  })

  // Damage at rest: the bytes change under a closed store, and a store opened over them reads
  // them (a live store serves records it wrote lately from memory, as written).
  async function damage(seq: number, change: (bytes: Uint8Array) => Uint8Array): Promise<void> {
    const stored = (await s.storage.inner.get(recordKey(seq)))!
    await s.storage.inner.batch([{ type: 'put', key: recordKey(seq), value: change(Uint8Array.from(stored)) }])
    s = { ...s, store: await EventStore.open(s.storage) }
  }

  /** The events read before the error, and the error. */
  async function eventsUntilError(): Promise<{ seqs: number[]; error: unknown }> {
    const seqs: number[] = []
    try {
      for await (const e of s.store.events(s.threadId, s.own.id)) seqs.push(e.seq)
    } catch (error) {
      return { seqs, error }
    }
    throw new Error('expected events() to throw')
  }

  function flip(at: number): (b: Uint8Array) => Uint8Array {
    return (b) => {
      const i = at < 0 ? b.length + at : at
      b[i] = (b[i] as number) ^ 0x5a
      return b
    }
  }

  // Offsets in the stored layout: version(1) nonce(12) sig(64) digest(32) len header body.
  it.each([
    ['the digest (the stored identity)', 100],
    ['the header length', 109],
    ['the header box', 130],
    ['the body box (its tag)', -1]
  ])('reports a flipped byte in %s as CorruptStoreError on read', async (_, at) => {
    await damage(3, flip(at))
    const e = await caught(() => s.store.record(s.threadId, s.own.id, 3))
    expectName(e, 'CorruptStoreError')
    expect((e as CorruptStoreError).seq).toBe(3)
    expectName(await caught(() => s.store.records(s.threadId, s.own.id)), 'CorruptStoreError')
    expectName(await caught(() => s.store.getRecord(rs[2]!.id)), 'CorruptStoreError')
    // events() yields every event before the damaged one, then throws at it.
    const { seqs, error } = await eventsUntilError()
    expect(seqs).toEqual([1, 2])
    expectName(error, 'CorruptStoreError')
    expect((error as CorruptStoreError).seq).toBe(3)
    // The records before it still read.
    expect((await s.store.records(s.threadId, s.own.id, { to: 2 })).map((r) => r.seq)).toEqual([1, 2])
  })

  it('finds damage below a range when the range chains to it: seq 4 read alone does not chain to a damaged seq 3', async () => {
    await damage(3, flip(100))
    // The stored identity of seq 3 is what seq 4's statement must name as prev.
    expectName(await caught(() => s.store.records(s.threadId, s.own.id, { from: 4 })), 'CorruptStoreError')
  })

  it('reports a valid record stored at the wrong seq (a broken chain) as CorruptStoreError', async () => {
    const two = (await s.storage.inner.get(recordKey(2)))!
    await damage(3, () => Uint8Array.from(two))
    const { seqs, error } = await eventsUntilError()
    expect(seqs).toEqual([1, 2])
    expectName(error, 'CorruptStoreError')
    expect((error as CorruptStoreError).seq).toBe(3)
    expectName(await caught(() => s.store.records(s.threadId, s.own.id)), 'CorruptStoreError')
  })

  it('refuses a record of another layout version with UnsupportedFormatError, a flipped version byte included', async () => {
    await damage(3, (b) => {
      b[0] = 1
      return b
    })
    const e = await caught(() => s.store.records(s.threadId, s.own.id))
    expect(e).toBeInstanceOf(UnsupportedFormatError)
    expectName(e, 'UnsupportedFormatError')
    expect((await eventsUntilError()).seqs).toEqual([1, 2])
    // A damaged version byte cannot be told from another layout: the same error.
    await damage(2, flip(0))
    expectName(await caught(() => s.store.record(s.threadId, s.own.id, 2)), 'UnsupportedFormatError')
  })

  it('serves a record whose stored nonce changed as the same record sealed again (the nonce is not its identity)', async () => {
    await damage(3, flip(5))
    const got = (await s.store.records(s.threadId, s.own.id))[2]!
    expect(got.id.equals(rs[2]!.id)).toBe(true)
    expect(got.eventCid.equals(rs[2]!.eventCid)).toBe(true)
    expect(got.sig).toEqual(rs[2]!.sig)
    // Another record block (another nonce), which still opens with the service key.
    expect(got.cid.equals(rs[2]!.cid)).toBe(false)
    expect(verifyRecord({ thread: s.threadId, logId: s.own.id, serviceKey: s.threadKey.service }, recordBlocks(got), { after: headOf(rs[1]!) }).id.equals(rs[2]!.id)).toBe(true)
    expect((await collect(s.store.events(s.threadId, s.own.id))).map((e) => e.seq)).toEqual([1, 2, 3, 4])
  })

  it('reads a record whose stored signature changed, but its signature no longer holds (checked where a receiver relies on it)', async () => {
    await damage(3, flip(40))
    // The signature is not part of the identity: the store reads the record...
    const all = await s.store.records(s.threadId, s.own.id)
    const got = all[2]!
    expect(got.id.equals(rs[2]!.id)).toBe(true)
    expect((await collect(s.store.events(s.threadId, s.own.id))).map((e) => e.seq)).toEqual([1, 2, 3, 4])
    // ...and whoever relies on the signature finds it broken (the engine checks a page's newest).
    expect(signatureHolds(s.threadId, got)).toBe(false)
    expect(signatureHolds(s.threadId, all[1]!)).toBe(true)
  })

  it('reports a truncated record as CorruptStoreError', async () => {
    await damage(2, (b) => b.subarray(0, 100))
    expectName(await caught(() => s.store.record(s.threadId, s.own.id, 2)), 'CorruptStoreError')
    expectName(await caught(() => collect(s.store.events(s.threadId, s.own.id))), 'CorruptStoreError')
    expectName(await caught(() => s.store.idAt(s.threadId, s.own.id, 2)), 'CorruptStoreError')
  })

  it('reports a record missing below the head as CorruptStoreError', async () => {
    await s.storage.inner.batch([{ type: 'del', key: recordKey(2) }])
    s = { ...s, store: await EventStore.open(s.storage) }
    const { seqs, error } = await eventsUntilError()
    expect(seqs).toEqual([1])
    expectName(error, 'CorruptStoreError')
    expect((error as CorruptStoreError).seq).toBe(2)
    expectName(await caught(() => s.store.records(s.threadId, s.own.id)), 'CorruptStoreError')
  })
})

describe('EventStore orphans and setHead', () => {
  let s: Setup
  let rs: LogRecord[]
  let recordKey: (seq: number) => string[]

  beforeEach(async () => {
    s = await setup()
    rs = makeRecords(s.threadId, s.own, s.threadKey, 8)
    await s.store.append(s.threadId, rs.slice(0, 4))
    const th = s.store.logstore.getThread(s.threadId)
    const log = s.store.logstore.log(s.threadId, s.own.id)!
    recordKey = (seq) => keys.record(th.n, log.n, seq)
  })

  /** Records written without their head: what a crash between a batch's records and its head leaves. */
  async function writeWithoutHead(records: LogRecord[]): Promise<void> {
    await s.storage.inner.batch(records.map((r) => ({ type: 'put' as const, key: recordKey(r.seq), value: encodeStoredRecord(r) })))
  }

  it('has no orphans when storage holds nothing beyond the head', async () => {
    expect(await s.store.orphans(s.threadId, s.own.id)).toEqual([])
    expect(await s.store.orphans(s.threadId, s.peer.id)).toEqual([])
  })

  it('lists records stored beyond the head, oldest first, up to the first gap, and up to the limit', async () => {
    await writeWithoutHead([rs[4]!, rs[5]!, rs[7]!])
    const orphans = await s.store.orphans(s.threadId, s.own.id)
    expect(orphans.map((o) => o.seq)).toEqual([5, 6])
    for (const o of orphans) {
      if (!('stored' in o)) throw new Error('expected a stored record')
      expect(o.stored.idDigest).toEqual(rs[o.seq - 1]!.id.multihash.digest)
      expect(o.stored.sig).toEqual(rs[o.seq - 1]!.sig)
    }
    expect((await s.store.orphans(s.threadId, s.own.id, 1)).map((o) => o.seq)).toEqual([5])
    // They are not part of the log: reads stop at the head.
    expect((await s.store.records(s.threadId, s.own.id)).map((r) => r.seq)).toEqual([1, 2, 3, 4])
    expect(await s.store.idAt(s.threadId, s.own.id, 5)).toBeUndefined()
  })

  it('lists an orphan that cannot be decoded with its error, and none past a gap at the head', async () => {
    await writeWithoutHead([rs[4]!])
    await s.storage.inner.batch([{ type: 'put', key: recordKey(6), value: Uint8Array.of(2, 1) }])
    const orphans = await s.store.orphans(s.threadId, s.own.id)
    expect(orphans.map((o) => o.seq)).toEqual([5, 6])
    const bad = orphans[1]!
    expect('error' in bad && bad.error.name).toBe('CorruptStoreError')
    // Nothing at head + 1: nothing beyond can continue the head.
    await s.storage.inner.batch([{ type: 'del', key: recordKey(5) }])
    expect(await s.store.orphans(s.threadId, s.own.id)).toEqual([])
  })

  it('moves a head up onto orphans durably, after which they read as the log', async () => {
    await writeWithoutHead([rs[4]!, rs[5]!])
    await s.store.setHead(s.threadId, s.own.id, headOf(rs[5]!))
    expect(s.store.logstore.head(s.threadId, s.own.id)).toEqual(headOf(rs[5]!))
    ;(await s.store.records(s.threadId, s.own.id)).forEach((r, i) => expectSameRecord(r, rs[i]!))
    const again = await EventStore.open(s.storage.inner)
    expect(again.logstore.head(s.threadId, s.own.id)).toEqual(headOf(rs[5]!))
    expect(await again.orphans(s.threadId, s.own.id)).toEqual([])
    await again.append(s.threadId, rs.slice(6))
    expect(again.logstore.head(s.threadId, s.own.id)?.seq).toBe(8)
  })

  it('lowers a head durably (repair): the records above stay stored, as orphans, until an append replaces them', async () => {
    await s.store.setHead(s.threadId, s.own.id, headOf(rs[1]!))
    expect(s.store.logstore.head(s.threadId, s.own.id)).toEqual(headOf(rs[1]!))
    expect((await s.store.records(s.threadId, s.own.id)).map((r) => r.seq)).toEqual([1, 2])
    expect((await s.store.orphans(s.threadId, s.own.id)).map((o) => o.seq)).toEqual([3, 4])
    const again = await EventStore.open(s.storage.inner)
    expect(again.logstore.head(s.threadId, s.own.id)).toEqual(headOf(rs[1]!))
    // A record that continues the lowered head replaces the one stored above it; no memory of the
    // old record at seq 3 is served.
    const [other] = makeRecords(s.threadId, s.own, s.threadKey, 1, headOf(rs[1]!), (seq) => ({ type: 'todos/other', payload: seq }))
    await s.store.append(s.threadId, [other!])
    expectSameRecord(await s.store.record(s.threadId, s.own.id, 3), other!)
    expect((await s.store.idAt(s.threadId, s.own.id, 3))?.equals(other!.id)).toBe(true)
    expect((await s.store.records(s.threadId, s.own.id)).map((r) => r.id.toString())).toEqual([rs[0]!.id, rs[1]!.id, other!.id].map(String))
  })

  it('forgets a head set to undefined', async () => {
    await s.store.setHead(s.threadId, s.own.id, undefined)
    expect(s.store.logstore.head(s.threadId, s.own.id)).toBeUndefined()
    expect(await s.store.records(s.threadId, s.own.id)).toEqual([])
    expect((await s.store.orphans(s.threadId, s.own.id)).map((o) => o.seq)).toEqual([1, 2, 3, 4])
    expect((await EventStore.open(s.storage.inner)).logstore.head(s.threadId, s.own.id)).toBeUndefined()
  })
})

describe('EventStore footprint', () => {
  it('stores a record of a 50-byte command in under 300 bytes of value, under a key of at most 20 bytes', async () => {
    const s = await setup()
    let command: Command | undefined
    for (let n = 0; n < 60 && command === undefined; n++) {
      const c: Command = { type: 'todos/added', payload: { id: 'a1', text: 'x'.repeat(n) } }
      if (encodeCommand(c).length === 50) command = c
    }
    expect(command).toBeDefined()
    const body = encodeCommand(command!)
    expect(body.length).toBe(50)
    const r = createRecord({ logKey: s.own, threadKey: s.threadKey, thread: s.threadId, body, clock: 1, time: Date.now() })
    const before = s.storage.batches.length
    await s.store.append(s.threadId, [r])
    const ops = s.storage.batches.slice(before).flat()
    const put = (tag: string): Extract<StorageOp, { type: 'put' }> => ops.find((op) => op.key[0] === tag) as Extract<StorageOp, { type: 'put' }>
    const record = put('r')
    const index = put('c')
    const head = put('h')
    const fourBlocks = r.blocks.record.bytes.length + r.blocks.event.bytes.length + r.blocks.header.bytes.length + r.blocks.body.bytes.length
    expect(record.value.length).toBeLessThan(300)
    expect(record.value.length).toBeLessThan(fourBlocks)
    expect(Buffer.byteLength(encodeKey(record.key))).toBeLessThanOrEqual(20)
    expect(Buffer.byteLength(encodeKey(index.key))).toBeLessThanOrEqual(20)
    expect(index.value.length).toBeLessThanOrEqual(16)
    expect(Buffer.byteLength(encodeKey(head.key))).toBeLessThanOrEqual(20)
    // What storage holds is exactly that value, and it reads back as the same record.
    expect((await s.storage.inner.get(record.key))?.length).toBe(record.value.length)
    expectSameRecord(await s.store.record(s.threadId, s.own.id, 1), r)
  })
})
