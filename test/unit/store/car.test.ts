import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { CarReader, CarWriter } from '@ipld/car'
import * as dagCbor from '@ipld/dag-cbor'
import type { CID } from 'multiformats/cid'
import { afterEach, describe, expect, it } from 'vitest'
import { levelStorage } from '../../../adapters/storage/level.js'
import { memoryStorage } from '../../../adapters/storage/memory.js'
import { encodeBlock } from '../../../src/core/block.js'
import { decodeCommand, encodeCommand, type Command } from '../../../src/core/command.js'
import {
  BadSignatureError,
  CidMismatchError,
  DecryptionError,
  EquivocationError,
  InvalidKeyError,
  MalformedRecordError,
  NotFoundError,
  type ThreadsError
} from '../../../src/core/errors.js'
import { createThreadKey, followKey, generateLogKey, type LogKey, type ThreadKey } from '../../../src/core/keys.js'
import { createRecord, openEvent, openEventBoxes, recordBlocks, verifyChain, type LogHead, type LogRecord } from '../../../src/core/record.js'
import { ThreadId } from '../../../src/core/threadId.js'
import { exportThreadCar, exportThreadCarBytes, importThreadCar, type ImportProgress } from '../../../src/store/car.js'
import { EventStore } from '../../../src/store/eventStore.js'
import type { StorageAdapter } from '../../../src/store/storageAdapter.js'

function command(log: number, seq: number): Command {
  return { type: 'todos/added', payload: { log, seq, text: `item ${log}.${seq}` } }
}

/** Records `from..to` of a log continuing `prev`. */
function makeRecords(logKey: LogKey, threadKey: ThreadKey, log: number, count: number, prev?: LogHead, tag = ''): LogRecord[] {
  const out: LogRecord[] = []
  let head = prev
  for (let i = 0; i < count; i++) {
    const seq = (head?.seq ?? 0) + 1
    const cmd = command(log, seq)
    const r = createRecord({
      logKey,
      threadKey,
      body: encodeCommand(tag === '' ? cmd : { ...cmd, meta: { tag } }),
      clock: seq,
      time: 1_700_000_000_000 + seq,
      ...(head === undefined ? {} : { prev: head })
    })
    out.push(r)
    head = { cid: r.cid, seq: r.seq }
  }
  return out
}

interface Fixture {
  store: EventStore
  threadId: ThreadId
  threadKey: Required<ThreadKey>
  logs: { key: LogKey; records: LogRecord[] }[]
}

/** A store holding one thread with a log per entry of `sizes`, each from its own log key. */
async function fixture(sizes: number[], storage: StorageAdapter = memoryStorage()): Promise<Fixture> {
  const store = await EventStore.open(storage)
  const threadId = ThreadId.create()
  const threadKey = createThreadKey()
  await store.logstore.addThread(threadId, threadKey)
  const logs: Fixture['logs'] = []
  for (const [i, size] of sizes.entries()) {
    const key = generateLogKey()
    await store.logstore.addLog(threadId, key.id, key)
    const records = makeRecords(key, threadKey, i, size)
    // Several appends without awaiting: one burst, one group commit.
    await Promise.all([store.append(threadId, records.slice(0, 3)), store.append(threadId, records.slice(3))])
    logs.push({ key, records })
  }
  return { store, threadId, threadKey, logs }
}

/** Everything observable of a thread in a store: heads and every record CID per log. */
async function snapshot(store: EventStore, threadId: ThreadId): Promise<Record<string, { head: string; seq: number; cids: string[] }>> {
  const out: Record<string, { head: string; seq: number; cids: string[] }> = {}
  if (store.logstore.thread(threadId) === undefined) return out
  for (const [logId, head] of store.logstore.heads(threadId)) {
    const records = await store.records(threadId, logId)
    out[logId] = { head: head.cid.toString(), seq: head.seq, cids: records.map((r) => r.cid.toString()) }
  }
  return out
}

/** Rewrite a CAR block by block (same roots unless given). */
async function rewriteCar(bytes: Uint8Array, edit: (block: { cid: CID; bytes: Uint8Array }) => { cid: CID; bytes: Uint8Array } | undefined, roots?: CID[]): Promise<Uint8Array> {
  const reader = await CarReader.fromBytes(bytes)
  const { writer, out } = CarWriter.create(roots ?? (await reader.getRoots()))
  const feeding = (async () => {
    for await (const block of reader.blocks()) {
      const next = edit(block)
      if (next !== undefined) await writer.put(next)
    }
    await writer.close()
  })()
  const chunks: Uint8Array[] = []
  for await (const c of out) chunks.push(c)
  await feeding
  return Uint8Array.from(Buffer.concat(chunks))
}

function flip(bytes: Uint8Array, at: number, mask: number): void {
  bytes[at] = (bytes[at] as number) ^ mask
}

async function rejection(p: Promise<unknown>): Promise<ThreadsError> {
  try {
    await p
  } catch (e) {
    return e as ThreadsError
  }
  throw new Error('expected a rejection')
}

describe('thread CAR export', () => {
  it('writes a valid CAR: the manifest first, then one head per log sorted by log ID, and every block', async () => {
    const f = await fixture([5, 1, 23])
    const bytes = await exportThreadCarBytes(f.store, f.threadId, { pageSize: 4 })
    const reader = await CarReader.fromBytes(bytes)
    const roots = await reader.getRoots()
    const sorted = [...f.logs].sort((a, b) => (a.key.id < b.key.id ? -1 : 1))
    expect(roots).toHaveLength(4)
    const manifestBlock = await reader.get(roots[0] as CID)
    const manifest = dagCbor.decode(manifestBlock?.bytes as Uint8Array) as { thread: string; logs: { id: string; head: CID; seq: number }[] }
    expect(manifest.thread).toBe(f.threadId.toString())
    expect(manifest.logs.map((l) => l.id)).toEqual(sorted.map((l) => l.key.id))
    expect(manifest.logs.map((l) => l.seq)).toEqual(sorted.map((l) => l.records.length))
    expect(encodeBlock(manifest).cid.equals(roots[0])).toBe(true)
    for (const [i, log] of sorted.entries()) {
      const head = log.records[log.records.length - 1] as LogRecord
      expect(roots[i + 1]?.equals(head.cid)).toBe(true)
      expect(manifest.logs[i]?.head.equals(head.cid)).toBe(true)
    }
    // 1 manifest + 4 blocks per record, oldest first per log, in the manifest's log order.
    const cids: string[] = []
    for await (const cid of reader.cids()) cids.push(cid.toString())
    const expected = [roots[0]?.toString()]
    for (const log of sorted) for (const r of log.records) expected.push(...Object.values(r.blocks).map((b) => b.cid.toString()))
    expect(cids).toEqual(expected)
    for await (const block of reader.blocks()) expect(encodeBlock(dagCbor.decode(block.bytes)).cid.equals(block.cid)).toBe(true)
  })

  it('is deterministic and independent of the page size', async () => {
    const f = await fixture([7, 3])
    const a = await exportThreadCarBytes(f.store, f.threadId)
    const b = await exportThreadCarBytes(f.store, f.threadId, { pageSize: 2 })
    const c = await exportThreadCarBytes(f.store, f.threadId, { pageSize: 1 })
    expect(Buffer.from(a).equals(Buffer.from(b))).toBe(true)
    expect(Buffer.from(a).equals(Buffer.from(c))).toBe(true)
  })

  it('streams: a consumer that stops early leaves nothing running, and heads are taken at the start', async () => {
    const f = await fixture([10])
    const log = f.logs[0] as Fixture['logs'][number]
    const stream = exportThreadCar(f.store, f.threadId)
    const first = await stream.next()
    expect(first.done).toBe(false)
    // Appends after the export started are not part of it.
    const last = log.records[log.records.length - 1] as LogRecord
    await f.store.append(f.threadId, makeRecords(log.key, f.threadKey, 0, 2, { cid: last.cid, seq: last.seq }))
    const rest: Uint8Array[] = [first.value as Uint8Array]
    for await (const chunk of stream) rest.push(chunk)
    const reader = await CarReader.fromBytes(Uint8Array.from(Buffer.concat(rest)))
    expect((await reader.getRoots())[1]?.equals(last.cid)).toBe(true)
    // Early stop.
    const again = exportThreadCar(f.store, f.threadId)
    await again.next()
    await again.return(undefined)
  })

  it('an empty thread exports a manifest with no logs; an unknown thread is refused', async () => {
    const store = await EventStore.open(memoryStorage())
    const threadId = ThreadId.create()
    const threadKey = createThreadKey()
    await store.logstore.addThread(threadId, threadKey)
    const bytes = await exportThreadCarBytes(store, threadId)
    const reader = await CarReader.fromBytes(bytes)
    expect(await reader.getRoots()).toHaveLength(1)
    const fresh = await EventStore.open(memoryStorage())
    expect(await importThreadCar(fresh, bytes, { threadKey })).toMatchObject({ logs: 0, records: 0 })
    expect(fresh.logstore.thread(threadId)).toBeDefined()
    expect((await rejection(exportThreadCarBytes(store, ThreadId.create()))).name).toBe(NotFoundError.NAME)
  })
})

describe('thread CAR import', () => {
  it('restores every log into a fresh store: same heads, same records, same commands; twice is idempotent', async () => {
    const sizes = [5, 1, 23]
    const f = await fixture(sizes)
    const bytes = await exportThreadCarBytes(f.store, f.threadId)
    const fresh = await EventStore.open(memoryStorage())
    const progress: ImportProgress[] = []
    const result = await importThreadCar(fresh, bytes, { threadKey: f.threadKey, onProgress: (p) => progress.push(p), chunkSize: 10 })
    expect(result.threadId.equals(f.threadId)).toBe(true)
    expect(result).toMatchObject({ logs: 3, records: 29 })
    expect(await snapshot(fresh, f.threadId)).toEqual(await snapshot(f.store, f.threadId))

    for (const [i, log] of f.logs.entries()) {
      const restored = await fresh.records(f.threadId, log.key.id)
      expect(restored.map((r) => r.cid.toString())).toEqual(log.records.map((r) => r.cid.toString()))
      // The restored records verify as a chain and decrypt to the original commands.
      verifyChain(log.key.id, f.threadKey.service, restored.map(recordBlocks))
      restored.forEach((r, j) => {
        expect(decodeCommand(openEvent(f.threadKey.read, r).body)).toEqual(command(i, j + 1))
      })
      const events: Command[] = []
      for await (const ev of fresh.events(f.threadId, log.key.id)) {
        events.push(decodeCommand(openEventBoxes(f.threadKey.read, ev.headerBox, ev.bodyBox, { logId: log.key.id }).body))
      }
      expect(events).toEqual(log.records.map((_, j) => command(i, j + 1)))
      // Progress: increasing per log, ending at the head, in chunks of at most 10.
      const mine = progress.filter((p) => p.logId === log.key.id)
      expect(mine.map((p) => p.seq)).toEqual(mine.map((_, k) => Math.min((k + 1) * 10, log.records.length)))
      expect(mine.every((p) => p.total === log.records.length)).toBe(true)
    }
    expect(progress).toHaveLength(1 + 1 + 3)

    const before = await snapshot(fresh, f.threadId)
    const twice: ImportProgress[] = []
    expect(await importThreadCar(fresh, bytes, { onProgress: (p) => twice.push(p) })).toMatchObject({ logs: 3, records: 0 })
    expect(await snapshot(fresh, f.threadId)).toEqual(before)
    expect(twice.map((p) => p.seq === p.total)).toEqual([true, true, true])
    // Importing into the store it came from changes nothing either.
    expect(await importThreadCar(f.store, bytes)).toMatchObject({ records: 0 })
  })

  it('imports a streamed export (AsyncIterable) and a follower imports with the service key alone', async () => {
    const f = await fixture([4, 6])
    const follower = await EventStore.open(memoryStorage())
    const result = await importThreadCar(follower, exportThreadCar(f.store, f.threadId, { pageSize: 3 }), { threadKey: followKey(f.threadKey) })
    expect(result.records).toBe(10)
    expect(await snapshot(follower, f.threadId)).toEqual(await snapshot(f.store, f.threadId))
    expect(follower.logstore.getThread(f.threadId).key.read).toBeUndefined()
    // Given the read key later (a second import with the full key), the follower can read.
    await importThreadCar(follower, await exportThreadCarBytes(f.store, f.threadId), { threadKey: f.threadKey })
    expect(follower.logstore.getThread(f.threadId).key.read).toBeDefined()
  })

  it('adds only what the store lacks: a store holding a prefix of a log gets the rest', async () => {
    const f = await fixture([12, 3])
    const bytes = await exportThreadCarBytes(f.store, f.threadId)
    const partial = await EventStore.open(memoryStorage())
    await partial.logstore.addThread(f.threadId, f.threadKey)
    const log0 = f.logs[0] as Fixture['logs'][number]
    await partial.logstore.addLog(f.threadId, log0.key.id)
    await partial.append(f.threadId, log0.records.slice(0, 5))
    const progress: ImportProgress[] = []
    const result = await importThreadCar(partial, bytes, { onProgress: (p) => progress.push(p), chunkSize: 4 })
    expect(result.records).toBe(7 + 3)
    expect(await snapshot(partial, f.threadId)).toEqual(await snapshot(f.store, f.threadId))
    expect(progress.filter((p) => p.logId === log0.key.id).map((p) => p.seq)).toEqual([9, 12])
  })

  it('rejects a CAR with one flipped byte in a body block (CidMismatchError) and leaves the store unchanged', async () => {
    const f = await fixture([8, 9, 7])
    const bytes = await exportThreadCarBytes(f.store, f.threadId)
    // The log imported last, so that an import that wrote log by log would have written the others.
    const log = [...f.logs].sort((a, b) => (a.key.id < b.key.id ? 1 : -1))[0] as Fixture['logs'][number]
    const body = (log.records[6] as LogRecord).blocks.body.bytes
    const at = Buffer.from(bytes).indexOf(Buffer.from(body))
    expect(at).toBeGreaterThan(0)
    const bad = Uint8Array.from(bytes)
    flip(bad, at + Math.floor(body.length / 2), 0x01)

    // Into a fresh store: nothing at all is added, not even the thread.
    const fresh = await EventStore.open(memoryStorage())
    const e1 = await rejection(importThreadCar(fresh, bad, { threadKey: f.threadKey }))
    expect(e1).toBeInstanceOf(CidMismatchError)
    expect(e1.logId).toBe(log.key.id)
    expect(e1.seq).toBe(7)
    expect(fresh.logstore.thread(f.threadId)).toBeUndefined()

    // Into a store holding part of the thread: unchanged, including logs that were fine.
    const partial = await EventStore.open(memoryStorage())
    await partial.logstore.addThread(f.threadId, f.threadKey)
    await partial.logstore.addLog(f.threadId, log.key.id)
    await partial.append(f.threadId, log.records.slice(0, 2))
    const before = await snapshot(partial, f.threadId)
    expect(await rejection(importThreadCar(partial, bad))).toBeInstanceOf(CidMismatchError)
    expect(await snapshot(partial, f.threadId)).toEqual(before)
    expect(partial.logstore.logs(f.threadId)).toHaveLength(1)

    // A flipped byte in a record block or an event block is a CID mismatch too.
    for (const which of ['record', 'event', 'header'] as const) {
      const block = (log.records[3] as LogRecord).blocks[which].bytes
      const i = Buffer.from(bytes).indexOf(Buffer.from(block))
      const copy = Uint8Array.from(bytes)
      flip(copy, i + block.length - 3, 0x80)
      expect((await rejection(importThreadCar(fresh, copy, { threadKey: f.threadKey }))).name).toBe(CidMismatchError.NAME)
    }
    expect(fresh.logstore.thread(f.threadId)).toBeUndefined()
  })

  it('rejects a log signed by another key that claims the log ID (BadSignatureError), leaving the store unchanged', async () => {
    const f = await fixture([3])
    const victim = f.logs[0] as Fixture['logs'][number]
    const forger = generateLogKey()
    // The forger holds the thread key and writes a longer history under the victim's log ID.
    const forgedStore = await EventStore.open(memoryStorage())
    await forgedStore.logstore.addThread(f.threadId, f.threadKey)
    await forgedStore.logstore.addLog(f.threadId, victim.key.id)
    const forged = makeRecords(forger, f.threadKey, 0, 6, undefined, 'forged').map((r) => ({ ...r, logId: victim.key.id }))
    await forgedStore.append(f.threadId, forged)
    const bytes = await exportThreadCarBytes(forgedStore, f.threadId)

    const fresh = await EventStore.open(memoryStorage())
    const e = await rejection(importThreadCar(fresh, bytes, { threadKey: f.threadKey }))
    expect(e).toBeInstanceOf(BadSignatureError)
    expect(e.logId).toBe(victim.key.id)
    expect(fresh.logstore.thread(f.threadId)).toBeUndefined()

    // Against the victim's own store, it is a forgery, not an equivocation of the victim.
    const before = await snapshot(f.store, f.threadId)
    expect(await rejection(importThreadCar(f.store, bytes))).toBeInstanceOf(BadSignatureError)
    expect(await snapshot(f.store, f.threadId)).toEqual(before)

    // The same forgery with the forger's key extending the victim's real head.
    const tail = victim.records[2] as LogRecord
    const ext = await EventStore.open(memoryStorage())
    await ext.logstore.addThread(f.threadId, f.threadKey)
    await ext.logstore.addLog(f.threadId, victim.key.id)
    await ext.append(f.threadId, victim.records)
    await ext.append(f.threadId, makeRecords(forger, f.threadKey, 0, 2, { cid: tail.cid, seq: tail.seq }).map((r) => ({ ...r, logId: victim.key.id })))
    expect(await rejection(importThreadCar(f.store, await exportThreadCarBytes(ext, f.threadId)))).toBeInstanceOf(BadSignatureError)
    expect(await snapshot(f.store, f.threadId)).toEqual(before)
  })

  it('reports a writer that signed two histories (EquivocationError), keeping the first', async () => {
    const f = await fixture([3])
    const log = f.logs[0] as Fixture['logs'][number]
    const other = await EventStore.open(memoryStorage())
    await other.logstore.addThread(f.threadId, f.threadKey)
    await other.logstore.addLog(f.threadId, log.key.id)
    await other.append(f.threadId, log.records.slice(0, 1))
    const first = log.records[0] as LogRecord
    await other.append(f.threadId, makeRecords(log.key, f.threadKey, 0, 4, { cid: first.cid, seq: 1 }, 'fork'))
    const longer = await exportThreadCarBytes(other, f.threadId)
    const shorter = await exportThreadCarBytes(f.store, f.threadId)

    const before = await snapshot(f.store, f.threadId)
    const e = await rejection(importThreadCar(f.store, longer))
    expect(e).toBeInstanceOf(EquivocationError)
    expect(e.seq).toBe(3)
    expect(await snapshot(f.store, f.threadId)).toEqual(before)

    const otherBefore = await snapshot(other, f.threadId)
    expect(await rejection(importThreadCar(other, shorter))).toBeInstanceOf(EquivocationError)
    expect(await snapshot(other, f.threadId)).toEqual(otherBefore)
  })

  it('rejects CARs that are not thread CARs or lack a block (MalformedRecordError), and unknown threads without a key', async () => {
    const f = await fixture([3, 2])
    const bytes = await exportThreadCarBytes(f.store, f.threadId)
    const fresh = await EventStore.open(memoryStorage())
    const expectMalformed = async (car: Uint8Array | AsyncIterable<Uint8Array>): Promise<void> => {
      const e = await rejection(importThreadCar(fresh, car, { threadKey: f.threadKey }))
      expect(e.name).toBe(MalformedRecordError.NAME)
    }
    // Not a CAR at all.
    await expectMalformed(new Uint8Array([1, 2, 3, 4, 5]))
    await expectMalformed(bytes.subarray(0, bytes.length - 10))
    // A CAR whose root is some other block.
    const other = encodeBlock({ hello: 'world' })
    await expectMalformed(await rewriteCar(bytes, (b) => b, [other.cid]))
    await expectMalformed(await rewriteCar(bytes, (b) => b).then((b2) => rewriteCar(b2, (b) => b, [])))
    // A CAR missing a body block.
    const body = (f.logs[0]?.records[1] as LogRecord).blocks.body.cid
    await expectMalformed(await rewriteCar(bytes, (b) => (b.cid.equals(body) ? undefined : b)))
    // A CAR missing the manifest block.
    const roots = await (await CarReader.fromBytes(bytes)).getRoots()
    await expectMalformed(await rewriteCar(bytes, (b) => (b.cid.equals(roots[0]) ? undefined : b)))
    // Roots that are not the manifest's heads in its order.
    await expectMalformed(await rewriteCar(bytes, (b) => b, [roots[0] as CID, roots[2] as CID, roots[1] as CID]))
    // A manifest that lies about a head's seq.
    const manifest = dagCbor.decode((await (await CarReader.fromBytes(bytes)).get(roots[0] as CID))?.bytes as Uint8Array) as {
      thread: string
      logs: { id: string; head: CID; seq: number }[]
    }
    const lying = encodeBlock({ ...manifest, logs: manifest.logs.map((l) => ({ ...l, seq: l.seq + 1 })) })
    await expectMalformed(await rewriteCar(bytes, (b) => (b.cid.equals(roots[0]) ? lying : b), [lying.cid, ...roots.slice(1)]))
    expect(fresh.logstore.thread(f.threadId)).toBeUndefined()
    // The thread must be held, or its key given; a wrong key does not open the records.
    expect((await rejection(importThreadCar(fresh, bytes))).name).toBe(NotFoundError.NAME)
    expect((await rejection(importThreadCar(fresh, bytes, { threadKey: createThreadKey() }))).name).toBe(DecryptionError.NAME)
    expect(fresh.logstore.thread(f.threadId)).toBeUndefined()
  })
})

describe('thread CAR with LevelDB', () => {
  const dirs: string[] = []
  afterEach(async () => {
    await Promise.all(dirs.splice(0).map((d) => rm(d, { recursive: true, force: true })))
  })
  async function tempDir(): Promise<string> {
    const d = await mkdtemp(join(tmpdir(), 'redux-threads-car-'))
    dirs.push(d)
    return d
  }

  it('round-trips a thread between two LevelDB stores, durably', async () => {
    const f = await fixture([30, 2, 11], levelStorage(await tempDir()))
    const bytes = await exportThreadCarBytes(f.store, f.threadId, { pageSize: 8 })
    const dir = await tempDir()
    const target = await EventStore.open(levelStorage(dir))
    expect(await importThreadCar(target, bytes, { threadKey: f.threadKey, chunkSize: 7 })).toMatchObject({ logs: 3, records: 43 })
    const expected = await snapshot(f.store, f.threadId)
    await target.close()

    const reopened = await EventStore.open(levelStorage(dir))
    expect(await snapshot(reopened, f.threadId)).toEqual(expected)
    for (const [i, log] of f.logs.entries()) {
      const records = await reopened.records(f.threadId, log.key.id)
      verifyChain(log.key.id, f.threadKey.service, records.map(recordBlocks))
      expect(records.map((r) => decodeCommand(openEvent(f.threadKey.read, r).body))).toEqual(log.records.map((_, j) => command(i, j + 1)))
    }
    expect(await importThreadCar(reopened, bytes)).toMatchObject({ records: 0 })
    // The re-export from the restored store is byte-identical.
    const again = await exportThreadCarBytes(reopened, f.threadId)
    expect(Buffer.from(again).equals(Buffer.from(bytes))).toBe(true)
    await reopened.close()
    await f.store.close()
  })
})

describe('thread keys held by the logstore', () => {
  // A wrong key must never replace the service key: every stored record would stop rebuilding.
  it('addThread refuses a key whose service key differs from the held one', async () => {
    const store = await EventStore.open(memoryStorage())
    const threadId = ThreadId.create()
    const threadKey = createThreadKey()
    const logKey = generateLogKey()
    await store.logstore.addThread(threadId, followKey(threadKey))
    await store.logstore.addLog(threadId, logKey.id)
    await store.append(threadId, makeRecords(logKey, threadKey, 0, 2))
    const wrong = createThreadKey()
    await expect(store.logstore.addThread(threadId, wrong)).rejects.toThrow(/service key/)
    expect(await store.records(threadId, logKey.id)).toHaveLength(2)
  })

  it('importThreadCar refuses a key that does not match the thread held', async () => {
    const f = await fixture([2])
    const follower = await EventStore.open(memoryStorage())
    const bytes = await exportThreadCarBytes(f.store, f.threadId)
    await importThreadCar(follower, bytes, { threadKey: followKey(f.threadKey) })
    expect((await rejection(importThreadCar(follower, bytes, { threadKey: createThreadKey() }))).name).toBe(InvalidKeyError.NAME)
    expect(await follower.records(f.threadId, f.logs[0]?.key.id as string)).toHaveLength(2)
  })
})
