/**
 * Durable appends per second to a real LevelDB (a temporary directory, removed afterwards), and
 * the bytes an event costs: logically (keys and values written), on disk, and as IPLD blocks.
 */

import { mkdtemp, readdir, rm, stat } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Level } from 'level'
import { levelStorage } from '../adapters/storage/level.js'
import { memoryStorage } from '../adapters/storage/memory.js'
import type { ThreadId } from '../src/core/threadId.js'
import type { LogRecord } from '../src/core/record.js'
import { EventStore } from '../src/store/eventStore.js'
import type { StorageAdapter, StorageOp } from '../src/store/storageAdapter.js'
import { ACTION_BYTES, ChainWriter } from './fixtures.js'
import { once, sig, target, time, type Bench, type Reporter } from './harness.js'

const MAX_BYTES_PER_EVENT = 350
const bytesTarget = (value: number) => target(`<= ${MAX_BYTES_PER_EVENT} bytes stored per ${ACTION_BYTES}-byte action`, 'max', MAX_BYTES_PER_EVENT, value)

const utf8 = new TextEncoder()

interface Opened {
  readonly dir: string
  readonly store: EventStore
  readonly threadId: ThreadId
  readonly writer: ChainWriter
  /** Records appended so far (the log's head seq). */
  appended: number
}

/** One LevelDB event store for every storage bench; the `disk` bench closes and removes it. */
const level = once(async (): Promise<Opened> => {
  const dir = await mkdtemp(join(tmpdir(), 'redux-threads-bench-'))
  const store = await EventStore.open(levelStorage(dir))
  const writer = new ChainWriter()
  // The records are signed into the writer's thread: store them under it.
  const threadId = writer.thread
  await store.logstore.addThread(threadId, writer.threadKey)
  await store.logstore.addLog(threadId, writer.logKey.id, writer.logKey)
  return { dir, store, threadId, writer, appended: 0 }
})

let removeDir: string | undefined
let openStore: EventStore | undefined

/** Close the LevelDB store and remove its directory if a bench left them behind (index.ts calls it). */
export async function cleanupStorage(): Promise<void> {
  const store = openStore
  openStore = undefined
  if (store !== undefined) await store.close()
  if (removeDir !== undefined) await rm(removeDir, { recursive: true, force: true })
  removeDir = undefined
}

async function appendBench(r: Reporter, name: string, n: number, note: string, body: (db: Opened, records: LogRecord[]) => Promise<void>): Promise<void> {
  const db = await level()
  removeDir = db.dir
  openStore = db.store
  // Records are created in each run's setup, outside the timed region, continuing the chain.
  const timing = await time({ n, runs: 7, setup: () => db.writer.take(n) }, async (records) => {
    await body(db, records)
    db.appended += records.length
  })
  r.rate(name, 'appends/s', timing, { note, backend: 'level (classic-level), sync: false' })
}

/** Sum of file sizes (apparent bytes) and of allocated blocks (what `du` reports) under `dir`. */
async function dirSize(dir: string): Promise<{ bytes: number; du: number; files: number }> {
  let bytes = 0
  let du = 0
  let files = 0
  for (const entry of await readdir(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name)
    if (entry.isDirectory()) {
      const sub = await dirSize(path)
      bytes += sub.bytes
      du += sub.du
      files += sub.files
    } else {
      const s = await stat(path)
      bytes += s.size
      du += s.blocks * 512
      files++
    }
  }
  return { bytes, du, files }
}

interface Count {
  puts: number
  keyBytes: number
  valueBytes: number
}

/** A storage adapter that counts the key and value bytes of every put it is given. */
function counting(inner: StorageAdapter): { adapter: StorageAdapter; byKind: Map<string, Count>; reset(): void } {
  const byKind = new Map<string, Count>()
  const adapter: StorageAdapter = {
    atomic: inner.atomic,
    get: (key) => inner.get(key),
    range: (prefix, options) => inner.range(prefix, options),
    close: () => inner.close(),
    batch(ops: readonly StorageOp[]) {
      for (const op of ops) {
        if (op.type !== 'put') continue
        const kind = op.key[0] ?? ''
        let c = byKind.get(kind)
        if (c === undefined) byKind.set(kind, (c = { puts: 0, keyBytes: 0, valueBytes: 0 }))
        c.puts++
        c.keyBytes += utf8.encode(op.key.join('\u0000')).length
        c.valueBytes += op.value.length
      }
      return inner.batch(ops)
    }
  }
  return { adapter, byKind, reset: () => byKind.clear() }
}

const KIND_NAMES: Record<string, string> = { r: 'record', c: 'id_index', h: 'head' }

/** Bytes written per event when `records` are appended `perCall` at a time. */
async function logicalBytes(perCall: number, events: number): Promise<{ perEvent: number; breakdown: Record<string, unknown>; records: LogRecord[] }> {
  const counter = counting(memoryStorage())
  const store = await EventStore.open(counter.adapter)
  const writer = new ChainWriter()
  const threadId = writer.thread
  await store.logstore.addThread(threadId, writer.threadKey)
  await store.logstore.addLog(threadId, writer.logKey.id, writer.logKey)
  const records = writer.take(events)
  counter.reset()
  for (let i = 0; i < events; i += perCall) await store.append(threadId, records.slice(i, i + perCall))
  let total = 0
  const breakdown: Record<string, unknown> = {}
  for (const [kind, c] of counter.byKind) {
    total += c.keyBytes + c.valueBytes
    breakdown[KIND_NAMES[kind] ?? kind] = { per_event: sig((c.keyBytes + c.valueBytes) / events, 4), key: sig(c.keyBytes / c.puts, 4), value: sig(c.valueBytes / c.puts, 4), puts_per_event: sig(c.puts / events, 3) }
  }
  await store.close()
  return { perEvent: total / events, breakdown, records }
}

export const storageBenches: Bench[] = [
  {
    name: 'storage.append.one_by_one',
    run: (r) =>
      appendBench(r, 'storage.append.one_by_one', 2_000, 'await each single-record append before the next', async (db, records) => {
        for (const record of records) await db.store.append(db.threadId, [record])
      })
  },
  {
    name: 'storage.append.group_commit',
    run: (r) =>
      appendBench(r, 'storage.append.group_commit', 5_000, 'single-record appends without awaiting, then await all (group commit)', async (db, records) => {
        await Promise.all(records.map((record) => db.store.append(db.threadId, [record])))
      })
  },
  {
    name: 'storage.append.100_per_call',
    run: (r) =>
      appendBench(r, 'storage.append.100_per_call', 5_000, '100 records per append call, each call awaited', async (db, records) => {
        for (let i = 0; i < records.length; i += 100) await db.store.append(db.threadId, records.slice(i, i + 100))
      })
  },
  {
    name: 'storage.bytes.logical',
    async run(r) {
      const one = await logicalBytes(1, 1_000)
      r.emit({
        bench: 'storage.bytes.logical.one_by_one',
        unit: 'bytes/event',
        value: sig(one.perEvent, 4),
        target: bytesTarget(one.perEvent),
        n: 1_000,
        command_bytes: ACTION_BYTES,
        note: 'key (joined with \\u0000, UTF-8) + value bytes of every put, one record per append (head written each time)',
        breakdown: one.breakdown
      })
      const hundred = await logicalBytes(100, 1_000)
      r.emit({
        bench: 'storage.bytes.logical.100_per_call',
        unit: 'bytes/event',
        value: sig(hundred.perEvent, 4),
        target: bytesTarget(hundred.perEvent),
        n: 1_000,
        command_bytes: ACTION_BYTES,
        note: '100 records per append (one head write per call)',
        breakdown: hundred.breakdown
      })
      // The four IPLD blocks of the same records, for comparison (seq > 1: records with a prev).
      const linked = one.records.slice(1)
      const avg = (pick: (x: LogRecord) => number) => linked.reduce((s, x) => s + pick(x), 0) / linked.length
      const blocks = {
        record: sig(avg((x) => x.blocks.record.bytes.length), 4),
        event: sig(avg((x) => x.blocks.event.bytes.length), 4),
        header: sig(avg((x) => x.blocks.header.bytes.length), 4),
        body: sig(avg((x) => x.blocks.body.bytes.length), 4)
      }
      const sum = blocks.record + blocks.event + blocks.header + blocks.body
      const cidBytes = avg((x) => x.blocks.record.cid.bytes.length + x.blocks.event.cid.bytes.length + x.blocks.header.cid.bytes.length + x.blocks.body.cid.bytes.length)
      r.emit({
        bench: 'storage.bytes.ipld_blocks',
        unit: 'bytes/event',
        value: sig(sum, 4),
        n: linked.length,
        command_bytes: ACTION_BYTES,
        blocks,
        with_cid_keys: sig(sum + cidBytes, 4),
        note: 'the four blocks as a blockstore would keep them; with_cid_keys adds their binary CIDs as keys'
      })
    }
  },
  {
    name: 'storage.bytes.disk',
    async run(r) {
      const db = await level()
      removeDir = db.dir
      openStore = db.store
      // Run alone (filtered), the store is still empty: give it something to measure.
      if (db.appended === 0) {
        const records = db.writer.take(10_000)
        for (let i = 0; i < records.length; i += 100) await db.store.append(db.threadId, records.slice(i, i + 100))
        db.appended = records.length
      }
      openStore = undefined
      await db.store.close()
      const closed = await dirSize(db.dir)
      // Reopen with level itself and compact: the write-ahead log becomes sorted tables.
      const raw = new Level<string, Uint8Array>(db.dir, { keyEncoding: 'utf8', valueEncoding: 'view' })
      await raw.open()
      const compactable = raw as unknown as { compactRange?: (start: string, end: string) => Promise<void> }
      const compacted = typeof compactable.compactRange === 'function'
      if (compacted) await compactable.compactRange?.('\u0000', '\uffff')
      await raw.close()
      const after = await dirSize(db.dir)
      const events = db.appended
      r.emit({
        bench: 'storage.bytes.disk.after_close',
        unit: 'bytes/event',
        value: sig(closed.bytes / events, 4),
        target: bytesTarget(closed.bytes / events),
        n: events,
        du_bytes_per_event: sig(closed.du / events, 4),
        dir_bytes: closed.bytes,
        files: closed.files,
        command_bytes: ACTION_BYTES,
        note: 'apparent size of the LevelDB directory after close (write-ahead log included); du_bytes_per_event = allocated blocks'
      })
      r.emit({
        bench: 'storage.bytes.disk.compacted',
        unit: 'bytes/event',
        value: sig(after.bytes / events, 4),
        target: bytesTarget(after.bytes / events),
        n: events,
        du_bytes_per_event: sig(after.du / events, 4),
        dir_bytes: after.bytes,
        files: after.files,
        compacted,
        command_bytes: ACTION_BYTES,
        note: 'after reopening and compactRange over every key'
      })
      await cleanupStorage()
    }
  }
]
