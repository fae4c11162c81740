import * as dagCbor from '@ipld/dag-cbor'
import type { CID } from 'multiformats/cid'
import { equals } from 'uint8arrays/equals'
import { cidOfDigest, type Block } from '../core/block.js'
import { BrokenChainError, CorruptStoreError, NotFoundError } from '../core/errors.js'
import type { LogHead, LogRecord } from '../core/record.js'
import { decodeStoredRecord, encodeStoredRecord, rebuildRecord, type StoredRecord } from '../core/storedRecord.js'
import type { ThreadId } from '../core/threadId.js'
import { Logstore, type LogInfo, type ThreadInfo } from './logstore/logstore.js'
import type { StorageAdapter, StorageOp } from './storageAdapter.js'
import { keys, seqKey } from './storageKeys.js'

/** One stored event, as replay needs it: still encrypted, not rebuilt into blocks. */
export interface StoredEvent extends StoredRecord {
  readonly logId: string
  readonly seq: number
  /** The record CID. */
  readonly cid: CID
}

/** A range of a log, by `seq`, both ends included. */
export interface SeqRange {
  /** First seq (default 1). */
  readonly from?: number
  /** Last seq (default: the head). */
  readonly to?: number
  /** At most this many records. */
  readonly limit?: number
}

/** A Map that forgets its least recently used entries past `capacity`. */
class LruMap<K, V> {
  readonly #map = new Map<K, V>()
  readonly #capacity: number

  constructor(capacity: number) {
    this.#capacity = capacity
  }

  get(key: K): V | undefined {
    const v = this.#map.get(key)
    if (v !== undefined) {
      this.#map.delete(key)
      this.#map.set(key, v)
    }
    return v
  }

  set(key: K, value: V): void {
    this.#map.delete(key)
    this.#map.set(key, value)
    if (this.#map.size > this.#capacity) this.#map.delete(this.#map.keys().next().value as K)
  }

  clear(): void {
    this.#map.clear()
  }
}

interface Pending {
  readonly ops: StorageOp[]
  readonly resolve: () => void
  readonly reject: (e: unknown) => void
}

/**
 * The event store: every log of every thread, as records in storage.
 *
 * Appends are validated against the head in memory at once (so a burst of appends chains
 * correctly) and made durable by group commit: every append made while a batch is being
 * written goes into the next batch, one `storage.batch` per burst. In a batch, records and the
 * CID index come first and heads last, so the head is the commit point even on a backend
 * without transactions.
 *
 * @example
 * ```ts
 * const store = await EventStore.open(memoryStorage())
 * const thread = await store.logstore.addThread(ThreadId.create(), createThreadKey())
 * await store.append(thread.id, [record])         // durable when this resolves
 * const again = await store.records(thread.id, record.logId, { from: 1 })
 * ```
 */
/** Records kept as written, to serve pulls without rebuilding them. */
const RECENT_RECORDS = 20_000

function recentKey(t: string, l: string, seq: number): string {
  return `${t}\u0000${l}\u0000${seq}`
}

export class EventStore {
  readonly logstore: Logstore
  readonly #recent = new LruMap<string, LogRecord>(RECENT_RECORDS)
  readonly #storage: StorageAdapter
  #queue: Pending[] = []
  #writing = false
  #failed: unknown = undefined
  #idle: Array<() => void> = []

  constructor(logstore: Logstore) {
    this.logstore = logstore
    this.#storage = logstore.storage
  }

  /** Open the logstore and event store over one storage adapter. */
  static async open(storage: StorageAdapter, options: { now?: () => number } = {}): Promise<EventStore> {
    return new EventStore(await Logstore.open(storage, options))
  }

  /**
   * Append verified records (any logs of one thread, each log's records in order, each
   * continuing its head). All of them become durable together, or none: one transaction.
   * Resolves when they are durable.
   *
   * Rejects with {@link BrokenChainError}, writing nothing, if a record does not continue its log
   * (checked at once, before the append is queued).
   */
  append(threadId: ThreadId | string, records: readonly LogRecord[]): Promise<void> {
    // Every failure is a rejected promise, whether found now (a broken chain) or in storage.
    try {
      return this.#appendNow(threadId, records)
    } catch (e) {
      return Promise.reject(e)
    }
  }

  #appendNow(threadId: ThreadId | string, records: readonly LogRecord[]): Promise<void> {
    if (this.#failed !== undefined) return Promise.reject(this.#failed)
    const thread = this.logstore.getThread(threadId)
    const ops: StorageOp[] = []
    const heads = new Map<LogInfo, LogHead>()
    for (const r of records) {
      const log = this.logstore.log(thread.id, r.logId)
      if (log === undefined) throw new NotFoundError('append to a log that was not added (logstore.addLog)', { threadId: thread.id.toString(), logId: r.logId })
      const head = heads.get(log) ?? this.logstore.head(thread.id, log.id)
      const expected = (head?.seq ?? 0) + 1
      if (r.seq !== expected || (head === undefined ? r.prev !== undefined : r.prev === undefined || !r.prev.equals(head.cid))) {
        throw new BrokenChainError(`append expected seq ${expected} linking the head`, { threadId: thread.id.toString(), logId: r.logId, seq: r.seq })
      }
      ops.push({ type: 'put', key: keys.record(thread.n, log.n, r.seq), value: encodeStoredRecord(r) })
      ops.push({ type: 'put', key: keys.cid(r.cid.multihash.digest), value: dagCbor.encode([thread.n, log.n, r.seq]) })
      heads.set(log, { cid: r.cid, seq: r.seq })
      this.#recent.set(recentKey(thread.n, log.n, r.seq), r)
    }
    for (const [log, head] of heads) ops.push(this.logstore.advanceHead(thread, log, head))
    return this.#enqueue(ops)
  }

  #enqueue(ops: StorageOp[]): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      this.#queue.push({ ops, resolve, reject })
      if (!this.#writing) void this.#drain()
    })
  }

  async #drain(): Promise<void> {
    this.#writing = true
    // Let the rest of this tick's appends join the first batch of a burst.
    await Promise.resolve()
    while (this.#queue.length > 0) {
      const batch = this.#queue
      this.#queue = []
      const records: StorageOp[] = []
      // Only the newest head of each log: a burst of 1,000 appends writes its head once.
      const heads = new Map<string, StorageOp>()
      for (const p of batch) for (const op of p.ops) op.key[0] === 'h' ? heads.set(op.key.join('\u0000'), op) : records.push(op)
      try {
        await this.#storage.batch(records.concat([...heads.values()]))
        for (const p of batch) p.resolve()
      } catch (cause) {
        // Memory heads have moved past what is durable: refuse further writes rather than fork.
        this.#failed = new CorruptStoreError('a storage batch failed; reopen the store', {}, { cause })
        for (const p of batch.concat(this.#queue)) p.reject(this.#failed)
        this.#queue = []
      }
    }
    this.#writing = false
    for (const done of this.#idle.splice(0)) done()
  }

  /** Resolves when every append made so far is durable. */
  flush(): Promise<void> {
    if (!this.#writing && this.#queue.length === 0) return Promise.resolve()
    return new Promise((resolve) => this.#idle.push(resolve))
  }

  #where(threadId: ThreadId | string, logId: string): { thread: ThreadInfo; log: LogInfo } {
    const thread = this.logstore.getThread(threadId)
    const log = this.logstore.log(thread.id, logId)
    if (log === undefined) throw new NotFoundError('no such log in the thread', { threadId: thread.id.toString(), logId })
    return { thread, log }
  }

  /**
   * Stored events of a log in `seq` order, still encrypted: what replay decrypts.
   */
  async *events(threadId: ThreadId | string, logId: string, range: SeqRange = {}): AsyncGenerator<StoredEvent> {
    const { thread, log } = this.#where(threadId, logId)
    const head = this.logstore.head(thread.id, logId)
    if (head === undefined) return
    const from = Math.max(1, range.from ?? 1)
    const to = Math.min(head.seq, range.to ?? head.seq)
    if (from > to) return
    // The head moves when a record is appended, storage when its batch lands: wait for it.
    if (this.#writing || this.#queue.length > 0) await this.flush()
    let expect = from
    const opts = { gte: [seqKey(from)], lt: [seqKey(to + 1)], ...(range.limit === undefined ? {} : { limit: range.limit }) }
    for await (const { value } of this.#storage.range(keys.records(thread.n, log.n), opts)) {
      const ctx = { threadId: thread.id.toString(), logId, seq: expect }
      const stored = decodeStoredRecord(value, ctx)
      yield { ...stored, logId, seq: expect, cid: cidOfDigest(stored.digest) }
      expect++
    }
    if (expect <= to && (range.limit === undefined || expect - from < range.limit)) {
      throw new CorruptStoreError(`log has a gap: seq ${expect} is missing below the head ${head.seq}`, { threadId: thread.id.toString(), logId })
    }
  }

  /**
   * Records of a log, rebuilt into their four blocks and checked against their stored digests:
   * what a pull serves and a CAR file holds.
   */
  async records(threadId: ThreadId | string, logId: string, range: SeqRange = {}): Promise<LogRecord[]> {
    const { thread, log } = this.#where(threadId, logId)
    // Appended records are in the head before they are in storage: wait for them.
    if (this.#writing || this.#queue.length > 0) await this.flush()
    // Records written lately are served as they were written: no rebuild (the common case of a
    // pull right after a push, or of a burst being replicated).
    const cached: LogRecord[] = []
    const last = Math.min(range.to ?? Number.MAX_SAFE_INTEGER, this.logstore.head(thread.id, logId)?.seq ?? 0)
    const limit = range.limit ?? Number.MAX_SAFE_INTEGER
    for (let seq = Math.max(1, range.from ?? 1); seq <= last && cached.length < limit; seq++) {
      const r = this.#recent.get(recentKey(thread.n, log.n, seq))
      if (r === undefined) break
      cached.push(r)
    }
    const tail = cached.at(-1)
    if (tail !== undefined && (tail.seq >= last || cached.length >= limit)) return cached
    const from = Math.max(1, range.from ?? 1) + cached.length
    const rest = range.limit === undefined ? {} : { limit: range.limit - cached.length }
    if (cached.length > 0) return cached.concat(await this.#rebuild(thread, logId, { ...range, ...rest, from }, tail?.cid))
    return this.#rebuild(thread, logId, { ...range, from }, undefined)
  }

  async #rebuild(thread: ThreadInfo, logId: string, range: SeqRange & { from: number }, before: CID | undefined): Promise<LogRecord[]> {
    const threadId = thread.id
    const from = range.from
    let prev = before
    if (from > 1 && prev === undefined) {
      const stored = await this.#storage.get(keys.record(thread.n, this.#where(threadId, logId).log.n, from - 1))
      if (stored === undefined) return []
      prev = cidOfDigest(decodeStoredRecord(stored, { logId, seq: from - 1 }).digest)
    }
    const out: LogRecord[] = []
    for await (const ev of this.events(threadId, logId, { ...range, from })) {
      const r = rebuildRecord(ev, { logId, seq: ev.seq, prev, serviceKey: thread.key.service, threadId: thread.id.toString() })
      out.push(r)
      prev = r.cid
    }
    return out
  }

  /** The CID of the record at `seq` of a log, without rebuilding it (duplicate checks). */
  async cidAt(threadId: ThreadId | string, logId: string, seq: number): Promise<CID | undefined> {
    const { thread, log } = this.#where(threadId, logId)
    const bytes = await this.#storage.get(keys.record(thread.n, log.n, seq))
    return bytes === undefined ? undefined : cidOfDigest(decodeStoredRecord(bytes, { logId, seq }).digest)
  }

  /** The record at `seq` of a log, or `undefined`. */
  async record(threadId: ThreadId | string, logId: string, seq: number): Promise<LogRecord | undefined> {
    const [r] = await this.records(threadId, logId, { from: seq, to: seq })
    return r
  }

  /** Find the record a record CID names, in any thread this peer holds. */
  async getRecord(cid: CID): Promise<LogRecord | undefined> {
    const loc = await this.#storage.get(keys.cid(cid.multihash.digest))
    if (loc === undefined) return undefined
    const [t, l, seq] = dagCbor.decode(loc) as [string, string, number]
    const thread = this.logstore.threads().find((x) => x.n === t)
    const log = thread === undefined ? undefined : this.logstore.logs(thread.id).find((x) => x.n === l)
    if (thread === undefined || log === undefined) return undefined
    const r = await this.record(thread.id, log.id, seq)
    // The index keys on a digest prefix: confirm the whole CID.
    return r !== undefined && equals(r.cid.multihash.digest, cid.multihash.digest) ? r : undefined
  }

  /**
   * A block by CID: a record block, or the event, header or body block of a record this store
   * has seen by its record CID (`getRecord`). The event store indexes record CIDs only, to keep
   * the per-event footprint small; the other three blocks are reached through their record.
   */
  async getBlock(cid: CID): Promise<Block | undefined> {
    const r = await this.getRecord(cid)
    return r?.blocks.record
  }

  /** Close the storage after the last pending write. */
  async close(): Promise<void> {
    await this.flush()
    await this.#storage.close()
  }
}

