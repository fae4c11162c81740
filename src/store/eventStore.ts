import * as dagCbor from '@ipld/dag-cbor'
import type { CID } from 'multiformats/cid'
import { equals } from 'uint8arrays/equals'
import type { Block } from '../core/block.js'
import { BrokenChainError, CorruptStoreError, NotFoundError, StorageFailedError, ThreadsError } from '../core/errors.js'
import { linksHead, type LogHead, type LogRecord } from '../core/record.js'
import { recordIdOfDigest } from '../core/recordId.js'
import { checkStored, decodeStoredRecord, encodeStoredRecord, rebuildRecord, type StoredRecord } from '../core/storedRecord.js'
import type { ThreadId } from '../core/threadId.js'
import { serviceKeyring } from '../core/serviceKey.js'
import { Logstore, type LogInfo, type ThreadInfo } from './logstore/logstore.js'
import { RecentRecords } from './recentRecords.js'
import type { StorageAdapter, StorageOp } from './storageAdapter.js'
import { keys, seqKey } from './storageKeys.js'

/**
 * One stored event, as replay needs it: still encrypted, not rebuilt into blocks, and checked
 * against its stored identity (so a damaged box or chain is a {@link CorruptStoreError}, never
 * a wrong event).
 */
export interface StoredEvent extends StoredRecord {
  readonly logId: string
  readonly seq: number
  /** The record's identity. */
  readonly id: CID
  /** The CID of its event block. */
  readonly eventCid: CID
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

interface Pending {
  /** Records and their index entries: written before any head. */
  readonly records: StorageOp[]
  /** Head moves: the commit point, written last. */
  readonly heads: StorageOp[]
  /** The heads those ops store, to know what is durable (and to go back to it on failure). */
  readonly moved: ReadonlyArray<{ readonly thread: ThreadInfo; readonly log: LogInfo; readonly head: LogHead }>
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
function recentKey(t: string, l: string, seq: number): string {
  return `${t}\u0000${l}\u0000${seq}`
}

export class EventStore {
  readonly logstore: Logstore
  readonly #recent = new RecentRecords()
  readonly #storage: StorageAdapter
  #queue: Pending[] = []
  #writing = false
  #failed: StorageFailedError | undefined = undefined
  /** Per log whose memory head is ahead of storage: the head storage holds (undefined: none). */
  readonly #durable = new Map<string, { thread: ThreadInfo; log: LogInfo; head: LogHead | undefined }>()
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
      if (!linksHead(r, head)) {
        throw new BrokenChainError(`append expected seq ${(head?.seq ?? 0) + 1} linking the head`, { threadId: thread.id.toString(), logId: r.logId, seq: r.seq })
      }
      ops.push({ type: 'put', key: keys.record(thread.n, log.n, r.seq), value: encodeStoredRecord(r) })
      ops.push({ type: 'put', key: keys.id(r.id.multihash.digest), value: dagCbor.encode([thread.n, log.n, r.seq]) })
      heads.set(log, { id: r.id, seq: r.seq })
      this.#recent.set(recentKey(thread.n, log.n, r.seq), r)
    }
    const headOps = [...heads].map(([log, head]) => {
      this.#remember(thread, log)
      return this.logstore.advanceHead(thread, log, head)
    })
    return this.#enqueue(ops, headOps, [...heads].map(([log, head]) => ({ thread, log, head })))
  }

  /** Note a log's durable head before its memory head first moves past it. */
  #remember(thread: ThreadInfo, log: LogInfo): void {
    const k = `${thread.n}\u0000${log.n}`
    if (!this.#durable.has(k)) this.#durable.set(k, { thread, log, head: this.logstore.head(thread.id, log.id) })
  }

  #enqueue(records: StorageOp[], heads: StorageOp[], moved: Pending['moved']): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      this.#queue.push({ records, heads, moved, resolve, reject })
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
      for (const p of batch) {
        for (const op of p.records) records.push(op)
        for (const op of p.heads) heads.set(op.key.join('\u0000'), op)
      }
      try {
        await this.#storage.batch(records.concat([...heads.values()]))
        for (const p of batch) for (const m of p.moved) this.#durable.set(`${m.thread.n}\u0000${m.log.n}`, m)
        if (this.#queue.length === 0) this.#durable.clear() // every memory head is durable now
        for (const p of batch) p.resolve()
      } catch (cause) {
        // Memory heads moved past what is durable: go back to what storage holds, refuse writes
        // until storage takes them again (retry), and let every caller know.
        const failed = new StorageFailedError(`storage refused a write: ${cause instanceof Error ? cause.message : String(cause)}`, {}, { cause })
        this.#failed = failed
        const rejected = batch.concat(this.#queue)
        this.#queue = []
        for (const { thread, log, head } of this.#durable.values()) {
          this.logstore.restoreHead(thread, log, head)
          this.#recent.deletePrefix(`${thread.n}\u0000${log.n}\u0000`)
        }
        this.#durable.clear()
        for (const p of rejected) p.reject(failed)
      }
    }
    this.#writing = false
    for (const done of this.#idle.splice(0)) done()
  }

  /** The storage failure that stopped appends, until {@link retry} finds storage working again. */
  get failed(): StorageFailedError | undefined {
    return this.#failed
  }

  /**
   * Try storage again after a failure: a small write that, if it lands, lets appends go on.
   * Resolves `true` when storage works again.
   */
  async retry(): Promise<boolean> {
    if (this.#failed === undefined) return true
    try {
      await this.#storage.batch([{ type: 'put', key: keys.probe(), value: Uint8Array.of(1) }])
    } catch {
      return false
    }
    this.#failed = undefined
    return true
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
   * Stored events of a log in `seq` order, still encrypted: what replay decrypts. Each is checked
   * against its stored identity and chained to the one before (`after`, when the caller knows it,
   * else the stored record before `from`).
   *
   * @throws {@link CorruptStoreError} at the first damaged record (every event before it was
   * yielded), or when the log has a gap below its head.
   */
  async *events(threadId: ThreadId | string, logId: string, range: SeqRange & { after?: LogHead } = {}): AsyncGenerator<StoredEvent> {
    const { thread, log } = this.#where(threadId, logId)
    const head = this.logstore.head(thread.id, logId)
    if (head === undefined) return
    const from = Math.max(1, range.from ?? 1)
    const to = Math.min(head.seq, range.to ?? head.seq)
    if (from > to) return
    // The head moves when a record is appended, storage when its batch lands: wait for it.
    if (this.#writing || this.#queue.length > 0) await this.flush()
    let prev = range.after?.seq === from - 1 ? range.after.id : from > 1 ? await this.#storedIdAt(thread, log, from - 1) : undefined
    let expect = from
    const opts = { gte: [seqKey(from)], lt: [seqKey(to + 1)], ...(range.limit === undefined ? {} : { limit: range.limit }) }
    for await (const { value } of this.#storage.range(keys.records(thread.n, log.n), opts)) {
      const ctx = { threadId: thread.id.toString(), logId, seq: expect }
      const stored = decodeStoredRecord(value, ctx)
      const { id, eventCid } = checkStored(stored, { thread: thread.id, logId, seq: expect, prev })
      yield { ...stored, logId, seq: expect, id, eventCid }
      prev = id
      expect++
    }
    if (expect <= to && (range.limit === undefined || expect - from < range.limit)) {
      throw new CorruptStoreError(`log has a gap: seq ${expect} is missing below the head ${head.seq}`, { threadId: thread.id.toString(), logId, seq: expect })
    }
  }

  /** The stored identity at `seq` (unchecked: reading it alone, damage shows in the next check). */
  async #storedIdAt(thread: ThreadInfo, log: LogInfo, seq: number): Promise<CID | undefined> {
    const bytes = await this.#storage.get(keys.record(thread.n, log.n, seq))
    return bytes === undefined ? undefined : recordIdOfDigest(decodeStoredRecord(bytes, { threadId: thread.id.toString(), logId: log.id, seq }).idDigest)
  }

  /**
   * Records of a log, rebuilt into their four blocks and checked against their stored identities:
   * what a pull serves and a CAR file holds.
   *
   * @throws {@link CorruptStoreError} when a record in the range is damaged.
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
    const after = tail === undefined ? undefined : { id: tail.id, seq: tail.seq }
    const rebuilt = await this.#rebuild(thread, log, { ...range, ...rest, from }, after)
    return cached.length > 0 ? cached.concat(rebuilt) : rebuilt
  }

  async #rebuild(thread: ThreadInfo, log: LogInfo, range: SeqRange & { from: number }, after: LogHead | undefined): Promise<LogRecord[]> {
    const out: LogRecord[] = []
    // The identity before the range: from the caller, else stored (a reopen or a cache miss).
    let prev = after?.id ?? (range.from > 1 ? await this.#storedIdAt(thread, log, range.from - 1) : undefined)
    for await (const ev of this.events(thread.id, log.id, after === undefined ? range : { ...range, after })) {
      const r = rebuildRecord(ev, { thread: thread.id, logId: log.id, seq: ev.seq, prev, serviceKey: serviceKeyring(thread.key.service, thread.serviceKeys) })
      out.push(r)
      prev = r.id
    }
    return out
  }

  /** The identity of the record at `seq` of a log, without rebuilding it (duplicate and fork checks). */
  async idAt(threadId: ThreadId | string, logId: string, seq: number): Promise<CID | undefined> {
    const { thread, log } = this.#where(threadId, logId)
    const head = this.logstore.head(thread.id, logId)
    if (head === undefined || seq < 1 || seq > head.seq) return undefined
    if (seq === head.seq) return head.id
    const cached = this.#recent.get(recentKey(thread.n, log.n, seq))
    if (cached !== undefined) return cached.id
    if (this.#writing || this.#queue.length > 0) await this.flush()
    return this.#storedIdAt(thread, log, seq)
  }

  /** The record at `seq` of a log, or `undefined`. */
  async record(threadId: ThreadId | string, logId: string, seq: number): Promise<LogRecord | undefined> {
    const [r] = await this.records(threadId, logId, { from: seq, to: seq })
    return r
  }

  /**
   * Records stored beyond a log's head, oldest first, up to the first gap: what a crash between a
   * batch's records and its head leaves on a backend without transactions, or what a lowered
   * head hides. They are never overwritten blindly: the engine adopts those that continue the head.
   */
  async orphans(threadId: ThreadId | string, logId: string, limit = 1000): Promise<Array<{ seq: number; stored: StoredRecord } | { seq: number; error: ThreadsError }>> {
    const { thread, log } = this.#where(threadId, logId)
    if (this.#writing || this.#queue.length > 0) await this.flush()
    const from = (this.logstore.head(thread.id, logId)?.seq ?? 0) + 1
    const out: Array<{ seq: number; stored: StoredRecord } | { seq: number; error: ThreadsError }> = []
    let expect = from
    for await (const { key, value } of this.#storage.range(keys.records(thread.n, log.n), { gte: [seqKey(from)], limit })) {
      // Past a gap, nothing can continue the head.
      const seq = parseInt(String(key[3]), 16)
      if (seq !== expect++) break
      try {
        out.push({ seq, stored: decodeStoredRecord(value, { threadId: thread.id.toString(), logId, seq }) })
      } catch (e) {
        out.push({ seq, error: e instanceof ThreadsError ? e : new CorruptStoreError(String(e)) })
      }
    }
    return out
  }

  /**
   * Move a log's head, durably, outside an append: to adopt orphans that continue it, or to lower
   * it below a damaged record so that peers can fill the log again (repair). Records are not
   * deleted: a record above the head is overwritten only by an append that continues the head.
   */
  async setHead(threadId: ThreadId | string, logId: string, head: LogHead | undefined): Promise<void> {
    const { thread, log } = this.#where(threadId, logId)
    await this.flush()
    this.#recent.deletePrefix(`${thread.n}\u0000${log.n}\u0000`)
    await this.#storage.batch([this.logstore.setHead(thread, log, head)])
  }

  /** Find the record an identity names, in any thread this peer holds. */
  async getRecord(id: CID): Promise<LogRecord | undefined> {
    const loc = await this.#storage.get(keys.id(id.multihash.digest))
    if (loc === undefined) return undefined
    let at: [string, string, number]
    try {
      at = dagCbor.decode(loc) as [string, string, number]
    } catch {
      return undefined
    }
    const [t, l, seq] = at
    const thread = this.logstore.threads().find((x) => x.n === t)
    const log = thread === undefined ? undefined : this.logstore.logs(thread.id).find((x) => x.n === l)
    if (thread === undefined || log === undefined) return undefined
    const r = await this.record(thread.id, log.id, seq)
    // The index keys on a digest prefix: confirm the whole identity.
    return r !== undefined && equals(r.id.multihash.digest, id.multihash.digest) ? r : undefined
  }

  /**
   * The record block of the record an identity names. The event store indexes identities only, to
   * keep the per-event footprint small; a record's other blocks are reached through it.
   */
  async getBlock(id: CID): Promise<Block | undefined> {
    const r = await this.getRecord(id)
    return r?.blocks.record
  }

  /** Close the storage after the last pending write. */
  async close(): Promise<void> {
    await this.flush()
    await this.#storage.close()
  }
}

