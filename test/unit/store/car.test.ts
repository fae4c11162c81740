import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { CarReader, CarWriter } from '@ipld/car'
import * as dagCbor from '@ipld/dag-cbor'
import type { CID } from 'multiformats/cid'
import { afterEach, describe, expect, it } from 'vitest'
import { levelStorage } from '../../../adapters/storage/level.js'
import { memoryStorage } from '../../../adapters/storage/memory.js'
import { boxOf, encodeBlock, encryptBlock, openBox } from '../../../src/core/block.js'
import { decodeCommand, encodeCommand, type Command } from '../../../src/core/command.js'
import {
  BadSignatureError,
  CidMismatchError,
  DecryptionError,
  EquivocationError,
  InvalidKeyError,
  MalformedRecordError,
  NotFoundError,
  UnsupportedFormatError,
  type ThreadsError
} from '../../../src/core/errors.js'
import { createThreadKey, followKey, generateLogKey, type LogKey, type ThreadKey } from '../../../src/core/keys.js'
import {
  createRecord,
  openEvent,
  openEventBoxes,
  openRecordNode,
  recordBlocks,
  verifyChain,
  verifyRecord,
  type LogHead,
  type LogRecord,
  type RecordBlocks
} from '../../../src/core/record.js'
import { recordIdOf } from '../../../src/core/recordId.js'
import { ThreadId } from '../../../src/core/threadId.js'
import { ThreadEngine } from '../../../src/engine/threadEngine.js'
import { CAR_MANIFEST_VERSION, exportThreadCar, exportThreadCarBytes, importThreadCar, type ImportProgress } from '../../../src/store/car.js'
import { EventStore } from '../../../src/store/eventStore.js'
import type { StorageAdapter } from '../../../src/store/storageAdapter.js'

function command(log: number, seq: number): Command {
  return { type: 'todos/added', payload: { log, seq, text: `item ${log}.${seq}` } }
}

/** `count` records of a log of `thread` continuing `prev`. */
function makeRecords(thread: ThreadId, logKey: LogKey, threadKey: ThreadKey, log: number, count: number, prev?: LogHead, tag = ''): LogRecord[] {
  const out: LogRecord[] = []
  let head = prev
  for (let i = 0; i < count; i++) {
    const seq = (head?.seq ?? 0) + 1
    const cmd = command(log, seq)
    const r = createRecord({
      logKey,
      threadKey,
      thread,
      body: encodeCommand(tag === '' ? cmd : { ...cmd, meta: { tag } }),
      clock: seq,
      time: 1_700_000_000_000 + seq,
      ...(head === undefined ? {} : { prev: head })
    })
    out.push(r)
    head = headOf(r)
  }
  return out
}

function headOf(r: LogRecord): LogHead {
  return { id: r.id, seq: r.seq }
}

interface Manifest {
  v: number
  thread: string
  logs: { id: string; head: CID; seq: number }[]
}

async function manifestOf(bytes: Uint8Array): Promise<{ roots: CID[]; manifest: Manifest }> {
  const reader = await CarReader.fromBytes(bytes)
  const roots = await reader.getRoots()
  const block = await reader.get(roots[0] as CID)
  return { roots, manifest: dagCbor.decode(block?.bytes as Uint8Array) as Manifest }
}

/** The same record block sealed again with the service key and a fresh nonce: what any key holder can do. */
function reseal(recordBlock: Uint8Array, serviceKey: Uint8Array): { cid: CID; bytes: Uint8Array } {
  const plain = openBox(serviceKey, boxOf(recordBlock, {}))
  if (plain === undefined) throw new Error('the record block does not open with the service key')
  return encryptBlock(serviceKey, plain)
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
    const records = makeRecords(threadId, key, threadKey, i, size)
    // Several appends without awaiting: one burst, one group commit.
    await Promise.all([store.append(threadId, records.slice(0, 3)), store.append(threadId, records.slice(3))])
    logs.push({ key, records })
  }
  return { store, threadId, threadKey, logs }
}

/** Everything observable of a thread in a store: heads, and every record's identity and record block CID per log. */
async function snapshot(store: EventStore, threadId: ThreadId): Promise<Record<string, { head: string; seq: number; ids: string[]; cids: string[] }>> {
  const out: Record<string, { head: string; seq: number; ids: string[]; cids: string[] }> = {}
  if (store.logstore.thread(threadId) === undefined) return out
  for (const [logId, head] of store.logstore.heads(threadId)) {
    const records = await store.records(threadId, logId)
    out[logId] = { head: head.id.toString(), seq: head.seq, ids: records.map((r) => r.id.toString()), cids: records.map((r) => r.cid.toString()) }
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
  it('writes a valid CAR: one root, the version 2 manifest naming each head by identity, sorted by log ID, then every block', async () => {
    const f = await fixture([5, 1, 23])
    const bytes = await exportThreadCarBytes(f.store, f.threadId, { pageSize: 4 })
    const reader = await CarReader.fromBytes(bytes)
    const roots = await reader.getRoots()
    const sorted = [...f.logs].sort((a, b) => (a.key.id < b.key.id ? -1 : 1))
    expect(roots).toHaveLength(1)
    const manifestBlock = await reader.get(roots[0] as CID)
    const manifest = dagCbor.decode(manifestBlock?.bytes as Uint8Array) as Manifest
    expect(Object.keys(manifest).sort()).toEqual(['logs', 'thread', 'v'])
    expect(manifest.v).toBe(2)
    expect(manifest.v).toBe(CAR_MANIFEST_VERSION)
    expect(manifest.thread).toBe(f.threadId.toString())
    expect(manifest.logs.map((l) => l.id)).toEqual(sorted.map((l) => l.key.id))
    expect(manifest.logs.map((l) => l.seq)).toEqual(sorted.map((l) => l.records.length))
    expect(encodeBlock(manifest).cid.equals(roots[0])).toBe(true)
    for (const [i, log] of sorted.entries()) {
      const head = log.records[log.records.length - 1] as LogRecord
      expect(Object.keys(manifest.logs[i]!).sort()).toEqual(['head', 'id', 'seq'])
      // The head's identity, not its record block CID (which a re-seal changes).
      expect(manifest.logs[i]?.head.equals(head.id)).toBe(true)
      expect(manifest.logs[i]?.head.equals(head.cid)).toBe(false)
    }
    // 1 manifest + 4 blocks per record, oldest first per log, in the manifest's log order.
    const cids: string[] = []
    for await (const cid of reader.cids()) cids.push(cid.toString())
    const expected = [roots[0]?.toString()]
    for (const log of sorted) for (const r of log.records) expected.push(...Object.values(r.blocks).map((b) => b.cid.toString()))
    expect(cids).toEqual(expected)
    for await (const block of reader.blocks()) expect(encodeBlock(dagCbor.decode(block.bytes)).cid.equals(block.cid)).toBe(true)
  })

  it('holds record blocks that open with the service key, whose identities chain from each manifest head back to seq 1', async () => {
    const f = await fixture([6, 2])
    const bytes = await exportThreadCarBytes(f.store, f.threadId)
    const reader = await CarReader.fromBytes(bytes)
    const { manifest } = await manifestOf(bytes)
    // Index every block that opens as a record node with the service key, by identity.
    const byId = new Map<string, { seq: number; prev: CID | undefined }>()
    let others = 0
    for await (const block of reader.blocks()) {
      try {
        const node = openRecordNode(f.threadKey.service, block.bytes, {})
        byId.set(recordIdOf({ thread: f.threadId.bytes, seq: node.seq, event: node.block, prev: node.prev }).toString(), { seq: node.seq, prev: node.prev })
      } catch {
        others++
      }
    }
    expect(byId.size).toBe(8)
    expect(others).toBe(1 + 3 * 8) // the manifest, and the event, header and body of each record
    for (const entry of manifest.logs) {
      const log = f.logs.find((l) => l.key.id === entry.id)!
      const walked: string[] = []
      let id: CID | undefined = entry.head
      for (let seq = entry.seq; seq >= 1; seq--) {
        const r = byId.get(id!.toString())
        expect(r?.seq).toBe(seq)
        walked.unshift(id!.toString())
        id = r?.prev
      }
      expect(id).toBeUndefined()
      expect(walked).toEqual(log.records.map((r) => r.id.toString()))
    }
    // Another thread's service key opens none of them.
    const stranger = createThreadKey()
    for await (const block of reader.blocks()) expect(() => openRecordNode(stranger.service, block.bytes, {})).toThrow()
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
    await f.store.append(f.threadId, makeRecords(f.threadId, log.key, f.threadKey, 0, 2, headOf(last)))
    const rest: Uint8Array[] = [first.value as Uint8Array]
    for await (const chunk of stream) rest.push(chunk)
    const streamed = Uint8Array.from(Buffer.concat(rest))
    const { manifest } = await manifestOf(streamed)
    expect(manifest.logs[0]?.head.equals(last.id)).toBe(true)
    expect(manifest.logs[0]?.seq).toBe(10)
    // And exactly the blocks of those 10 records.
    let blocks = 0
    for await (const _ of (await CarReader.fromBytes(streamed)).cids()) blocks++
    expect(blocks).toBe(1 + 4 * 10)
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
    const { roots, manifest } = await manifestOf(bytes)
    expect(roots).toHaveLength(1)
    expect(manifest).toEqual({ v: 2, thread: threadId.toString(), logs: [] })
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
      expect(restored.map((r) => r.id.toString())).toEqual(log.records.map((r) => r.id.toString()))
      // Byte for byte: the record blocks as they were sealed.
      expect(restored.map((r) => r.cid.toString())).toEqual(log.records.map((r) => r.cid.toString()))
      // The restored records verify as a chain and decrypt to the original commands.
      verifyChain({ thread: f.threadId, logId: log.key.id, serviceKey: f.threadKey.service }, restored.map(recordBlocks))
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

    // A flipped byte in an event or header block is a CID mismatch too.
    for (const which of ['event', 'header'] as const) {
      const block = (log.records[3] as LogRecord).blocks[which].bytes
      const i = Buffer.from(bytes).indexOf(Buffer.from(block))
      const copy = Uint8Array.from(bytes)
      flip(copy, i + block.length - 3, 0x80)
      const e = await rejection(importThreadCar(fresh, copy, { threadKey: f.threadKey }))
      expect(e.name).toBe(CidMismatchError.NAME)
      expect(e.seq).toBe(4)
    }
    // A record block is found by opening it with the service key: a damaged one does not open,
    // so the CAR lacks that record.
    const recordBlock = (log.records[3] as LogRecord).blocks.record.bytes
    const i = Buffer.from(bytes).indexOf(Buffer.from(recordBlock))
    const copy = Uint8Array.from(bytes)
    flip(copy, i + recordBlock.length - 3, 0x80)
    const e = await rejection(importThreadCar(fresh, copy, { threadKey: f.threadKey }))
    expect(e.name).toBe(MalformedRecordError.NAME)
    expect(e.logId).toBe(log.key.id)
    expect(e.seq).toBe(4)
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
    const forged = makeRecords(f.threadId, forger, f.threadKey, 0, 6, undefined, 'forged').map((r) => ({ ...r, logId: victim.key.id }))
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
    await ext.append(f.threadId, makeRecords(f.threadId, forger, f.threadKey, 0, 2, headOf(tail)).map((r) => ({ ...r, logId: victim.key.id })))
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
    await other.append(f.threadId, makeRecords(f.threadId, log.key, f.threadKey, 0, 4, headOf(first), 'fork'))
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
    const { roots, manifest } = await manifestOf(bytes)
    await expectMalformed(await rewriteCar(bytes, (b) => (b.cid.equals(roots[0]) ? undefined : b)))
    // More than the one root (the first format listed every head as a root too).
    const head = f.logs[0]?.records[2] as LogRecord
    await expectMalformed(await rewriteCar(bytes, (b) => b, [roots[0] as CID, head.cid]))
    // A manifest that lies about a head's seq.
    const withManifest = async (m: unknown): Promise<Uint8Array> => {
      const block = encodeBlock(m)
      return rewriteCar(bytes, (b) => (b.cid.equals(roots[0]) ? block : b), [block.cid])
    }
    await expectMalformed(await withManifest({ ...manifest, logs: manifest.logs.map((l) => ({ ...l, seq: l.seq + 1 })) }))
    // A manifest that names a head by its record block CID (the first format), or names no record.
    await expectMalformed(await withManifest({ ...manifest, logs: manifest.logs.map((l) => (l.id === head.logId ? { ...l, head: head.cid } : l)) }))
    const unknown = recordIdOf({ thread: f.threadId.bytes, seq: 1, event: head.eventCid, prev: undefined })
    await expectMalformed(await withManifest({ ...manifest, logs: manifest.logs.map((l) => (l.id === head.logId ? { ...l, head: unknown } : l)) }))
    // A head of another log of the CAR: found, but its walk does not reach this log's seq.
    await expectMalformed(await withManifest({ ...manifest, logs: [manifest.logs[0], { ...manifest.logs[1], head: manifest.logs[0]?.head }] }))
    // A log listed twice; a manifest that is not a map, or lacks its fields.
    await expectMalformed(await withManifest({ ...manifest, logs: [manifest.logs[0], manifest.logs[0]] }))
    await expectMalformed(await withManifest([manifest.v, manifest.thread, manifest.logs]))
    await expectMalformed(await withManifest({ v: 2, thread: manifest.thread }))
    // A thread that is not a thread ID: refused with a typed error.
    const notThread = await rejection(importThreadCar(fresh, await withManifest({ ...manifest, thread: 'nonsense' }), { threadKey: f.threadKey }))
    expect([MalformedRecordError.NAME, 'InvalidThreadIdError']).toContain(notThread.name)
    expect(fresh.logstore.thread(f.threadId)).toBeUndefined()
    // A manifest of another version is refused as such.
    const { v: _, ...unversioned } = manifest
    for (const m of [{ ...manifest, v: 1 }, { ...manifest, v: 3 }, { ...manifest, v: '2' }, unversioned]) {
      const e = await rejection(importThreadCar(fresh, await withManifest(m), { threadKey: f.threadKey }))
      expect(e).toBeInstanceOf(UnsupportedFormatError)
      expect(e.name).toBe(UnsupportedFormatError.NAME)
    }
    expect(fresh.logstore.thread(f.threadId)).toBeUndefined()
    // The thread must be held, or its key given.
    expect((await rejection(importThreadCar(fresh, bytes))).name).toBe(NotFoundError.NAME)
    expect(fresh.logstore.thread(f.threadId)).toBeUndefined()
  })

  it('refuses a CAR opened with a wrong thread key with DecryptionError (no record block opens), as documented', async () => {
    const f = await fixture([3, 2])
    const bytes = await exportThreadCarBytes(f.store, f.threadId)
    const fresh = await EventStore.open(memoryStorage())
    const e = await rejection(importThreadCar(fresh, bytes, { threadKey: createThreadKey() }))
    expect(e.name).toBe(DecryptionError.NAME)
    expect(fresh.logstore.thread(f.threadId)).toBeUndefined()
  })
})

describe('thread CAR with re-sealed record blocks', () => {
  /** The CAR with the record block of `record` replaced by a copy sealed again (new nonce, new CID). */
  async function resealed(bytes: Uint8Array, records: readonly LogRecord[], serviceKey: Uint8Array): Promise<{ car: Uint8Array; blocks: Map<string, { cid: CID; bytes: Uint8Array }> }> {
    const blocks = new Map<string, { cid: CID; bytes: Uint8Array }>()
    for (const r of records) blocks.set(r.cid.toString(), reseal(r.blocks.record.bytes, serviceKey))
    const car = await rewriteCar(bytes, (b) => blocks.get(b.cid.toString()) ?? b)
    return { car, blocks }
  }

  it('imports a CAR whose head record block was sealed again, links it by identity, and the writer\'s next record still ingests', async () => {
    const f = await fixture([3])
    const log = f.logs[0] as Fixture['logs'][number]
    const head = log.records[2] as LogRecord
    const bytes = await exportThreadCarBytes(f.store, f.threadId)
    const { car, blocks } = await resealed(bytes, [head], f.threadKey.service)
    const copy = blocks.get(head.cid.toString())!
    // Another record block: another CID and other bytes, the same record node inside.
    expect(copy.cid.equals(head.cid)).toBe(false)
    expect(Buffer.from(copy.bytes).equals(Buffer.from(head.blocks.record.bytes))).toBe(false)
    const resealedBlocks: RecordBlocks = { ...recordBlocks(head), record: copy.bytes }
    const at = { thread: f.threadId, logId: log.key.id, serviceKey: f.threadKey.service }
    expect(verifyRecord(at, resealedBlocks, { after: headOf(log.records[1]!) }).id.equals(head.id)).toBe(true)
    // The manifest is the same: it names the head by identity.
    expect((await manifestOf(car)).roots[0]?.equals((await manifestOf(bytes)).roots[0])).toBe(true)

    const fresh = await EventStore.open(memoryStorage())
    expect(await importThreadCar(fresh, car, { threadKey: f.threadKey })).toMatchObject({ logs: 1, records: 3 })
    expect(fresh.logstore.head(f.threadId, log.key.id)).toEqual(headOf(head))
    const restored = await fresh.records(f.threadId, log.key.id)
    expect(restored.map((r) => r.id.toString())).toEqual(log.records.map((r) => r.id.toString()))
    // The store keeps the copy it was given (its nonce), and serves those bytes.
    expect(restored[2]?.cid.equals(copy.cid)).toBe(true)
    expect(restored[1]?.cid.equals(log.records[1]!.cid)).toBe(true)
    verifyChain(at, restored.map(recordBlocks))

    // The same records, however sealed: importing either copy into either store adds nothing
    // and finds no fork.
    expect(await importThreadCar(fresh, bytes)).toMatchObject({ records: 0 })
    expect(await importThreadCar(f.store, car)).toMatchObject({ records: 0 })
    expect(fresh.logstore.head(f.threadId, log.key.id)).toEqual(headOf(head))

    // The writer's next record names the head by identity: it continues the re-sealed copy.
    const [next] = makeRecords(f.threadId, log.key, f.threadKey, 0, 1, headOf(head))
    expect(next!.prev?.equals(head.id)).toBe(true)
    expect(verifyRecord(at, recordBlocks(next!), { after: fresh.logstore.head(f.threadId, log.key.id)! }).seq).toBe(4)
    // Through the one ingest path of a peer that holds the re-sealed copy.
    const engine = await ThreadEngine.open({
      store: fresh,
      threadId: f.threadId,
      projection: { initial: [] as unknown[], fold: (st: unknown[], e) => [...st, e.command.payload] },
      snapshotEvery: 0
    })
    expect(engine.state).toEqual(log.records.map((_, j) => command(0, j + 1).payload))
    const result = await engine.ingest(log.key.id, [recordBlocks(next!)])
    expect(result.rejected).toEqual([])
    expect(result.stored).toBe(1)
    expect(result.added.map((e) => e.meta.id)).toEqual([next!.id.toString()])
    expect(engine.state).toEqual([...log.records, next!].map((_, j) => command(0, j + 1).payload))
    expect(fresh.logstore.head(f.threadId, log.key.id)).toEqual(headOf(next!))
    // An export of the peer that holds the copy imports back into the writer's store.
    await engine.flush()
    expect(await importThreadCar(f.store, await exportThreadCarBytes(fresh, f.threadId))).toMatchObject({ records: 1 })
    expect(f.store.logstore.head(f.threadId, log.key.id)).toEqual(headOf(next!))
  })

  it('imports a CAR in which every record block was sealed again, into a store holding a prefix of the log', async () => {
    const f = await fixture([6])
    const log = f.logs[0] as Fixture['logs'][number]
    const bytes = await exportThreadCarBytes(f.store, f.threadId)
    const { car } = await resealed(bytes, log.records, f.threadKey.service)
    const partial = await EventStore.open(memoryStorage())
    await partial.logstore.addThread(f.threadId, followKey(f.threadKey))
    await partial.logstore.addLog(f.threadId, log.key.id)
    await partial.append(f.threadId, log.records.slice(0, 2))
    expect(await importThreadCar(partial, car)).toMatchObject({ records: 4 })
    const restored = await partial.records(f.threadId, log.key.id)
    expect(restored.map((r) => r.id.toString())).toEqual(log.records.map((r) => r.id.toString()))
    // The prefix it had stays as it was sealed; the rest is the copies it was given.
    expect(restored.map((r, i) => r.cid.equals(log.records[i]!.cid))).toEqual([true, true, false, false, false, false])
  })

  it('still finds a fork when the conflicting record block is a re-sealed copy of another history', async () => {
    const f = await fixture([3])
    const log = f.logs[0] as Fixture['logs'][number]
    const other = await EventStore.open(memoryStorage())
    await other.logstore.addThread(f.threadId, f.threadKey)
    await other.logstore.addLog(f.threadId, log.key.id)
    await other.append(f.threadId, log.records.slice(0, 1))
    const fork = makeRecords(f.threadId, log.key, f.threadKey, 0, 3, headOf(log.records[0]!), 'fork')
    await other.append(f.threadId, fork)
    const { car } = await resealed(await exportThreadCarBytes(other, f.threadId), fork, f.threadKey.service)
    const before = await snapshot(f.store, f.threadId)
    const e = await rejection(importThreadCar(f.store, car))
    expect(e).toBeInstanceOf(EquivocationError)
    expect(e.seq).toBe(3)
    expect(await snapshot(f.store, f.threadId)).toEqual(before)
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
      verifyChain({ thread: f.threadId, logId: log.key.id, serviceKey: f.threadKey.service }, records.map(recordBlocks))
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
    await store.append(threadId, makeRecords(threadId, logKey, threadKey, 0, 2))
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
