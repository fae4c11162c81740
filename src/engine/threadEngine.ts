import { decodeCommand, encodeCommand, type Command } from '../core/command.js'
import { BrokenChainError, NotWriterError, ThreadsError, TooLargeError } from '../core/errors.js'
import { publicKeyFromLogId, verifierForLog, type LogKey } from '../core/keys.js'
import {
  checkDuplicate,
  createRecord,
  openEvent,
  openEventBoxes,
  signedBytes,
  verifyRecord,
  type LogHead,
  type LogRecord,
  type RecordBlocks
} from '../core/record.js'
import { concat } from 'uint8arrays/concat'
import { equals } from 'uint8arrays/equals'
import { toString } from 'uint8arrays/to-string'
import { getCrypto } from '../core/crypto/index.js'
import type { ThreadId } from '../core/threadId.js'
import type { EventStore } from '../store/eventStore.js'
import type { ThreadInfo } from '../store/logstore/logstore.js'
import type { CheckpointPolicy } from './checkpointPolicy.js'
import { Emitter } from '../core/emitter.js'
import { readSnapshot, writeSnapshot, type Snapshot } from './snapshot.js'
import { compareOrder, type EventMeta, type OrderKey, type ThreadEvent } from './threadEvent.js'
import { BehindBaseError, Timeline, type Fold } from './timeline.js'

/** A thread's projection: the state every peer folds from the thread's events. */
export interface Projection<S> {
  readonly initial: S
  readonly fold: Fold<S>
}

/** Progress of long work (loading, replay, import). */
export interface Progress {
  readonly phase: 'load' | 'replay' | 'import' | 'sync'
  readonly done: number
  readonly total: number
}

export interface ThreadEngineOptions<S> {
  readonly store: EventStore
  readonly threadId: ThreadId | string
  readonly projection: Projection<S>
  readonly checkpoints?: CheckpointPolicy
  /** Write a snapshot every this many applied events (default 1,000; 0 turns snapshots off). */
  readonly snapshotEvery?: number
  /** Compact the timeline after every snapshot (default false): memory stays bounded by the unstable suffix. */
  readonly compactOnSnapshot?: boolean
  /** Out-of-order records held per log while a gap is open (default 10,000). */
  readonly maxHeldPerLog?: number
  readonly now?: () => number
  readonly onProgress?: (p: Progress) => void
}

/** What a local command produced. */
export interface CommandResult<S> {
  readonly event: ThreadEvent
  readonly record: LogRecord
  readonly state: S
  /** Resolves when the event is durable (rejects if storage failed). */
  readonly durable: Promise<void>
}

/** What an ingest of peer records did. */
export interface IngestResult<S> {
  /** Events newly applied, in their total order. */
  readonly added: readonly ThreadEvent[]
  readonly state: S
  /** True when a late event rolled the state back and replayed the suffix. */
  readonly replayed: boolean
  /** Reducer calls spent. */
  readonly folds: number
  /** Records refused, each with the typed error that names the problem. */
  readonly rejected: readonly ThreadsError[]
  /** Records waiting for a gap in their log to close. */
  readonly held: number
  /** Records verified and stored by this ingest (a follower stores without applying). */
  readonly stored: number
  readonly durable: Promise<void>
}

/** What the engine tells its observers. */
export interface EngineEvents<S> {
  /** Events applied, in order, with the state after them. */
  applied: { events: readonly ThreadEvent[]; state: S; replayed: boolean }
  /** A record refused (bad signature, broken chain, equivocation, …). */
  rejected: ThreadsError
  progress: Progress
  /** Durable writes changed (pending count). */
  durability: { pending: number }
  /** This peer wrote records to its own log (the network pushes them). */
  recorded: { records: readonly LogRecord[] }
}

interface Transaction {
  readonly records: LogRecord[]
  readonly head: LogHead | undefined
  readonly clock: number
  readonly ownClock: number | undefined
  /** Settles with the transaction: its commands are durable when it is, and never if it aborts. */
  readonly durable: Promise<void>
  readonly settle: { resolve: () => void; reject: (e: unknown) => void }
}

function yieldToEventLoop(): Promise<void> {
  return new Promise((resolve) => (typeof setImmediate === 'function' ? setImmediate(resolve) : setTimeout(resolve, 0)))
}

/**
 * What this engine stored lately: record digest → digest of the record's other three blocks.
 * A copy of a stored record then costs two hashes and no decryption; a copy whose event, header
 * or body differs is not taken for a duplicate, and full verification names what is wrong.
 */
class RecentRecords {
  #map = new Map<string, string>()

  static #key(digest: Uint8Array): string {
    return toString(digest.subarray(0, 16), 'base64')
  }

  static #rest(event: Uint8Array, header: Uint8Array, body: Uint8Array): string {
    return toString(concat([event.subarray(0, 12), header.subarray(0, 12), body.subarray(0, 12)]), 'base64')
  }

  /** Remember a stored record: its digests are known already, so this hashes nothing. */
  add(record: LogRecord): void {
    if (this.#map.size >= 200_000) this.#map = new Map()
    const b = record.blocks
    const d = (block: { cid: { multihash: { digest: Uint8Array } } }): Uint8Array => block.cid.multihash.digest
    this.#map.set(RecentRecords.#key(d(record)), RecentRecords.#rest(d(b.event), d(b.header), d(b.body)))
  }

  /**
   * Whether these are exactly the four blocks of a record stored lately. The record block's
   * digest is computed once and returned, for verification to reuse when it is new.
   */
  check(blocks: RecordBlocks | undefined): { duplicate: boolean; recordDigest?: Uint8Array } {
    if (blocks === undefined || blocks === null) return { duplicate: false }
    const { record, event, header, body } = blocks
    if (!(record instanceof Uint8Array && event instanceof Uint8Array && header instanceof Uint8Array && body instanceof Uint8Array)) return { duplicate: false }
    const recordDigest = getCrypto().sha256(record)
    const rest = this.#map.get(RecentRecords.#key(recordDigest))
    if (rest === undefined) return { duplicate: false, recordDigest }
    const c = getCrypto()
    return { duplicate: rest === RecentRecords.#rest(c.sha256(event), c.sha256(header), c.sha256(body)), recordDigest }
  }
}

function sameSignedContent(a: LogRecord, b: LogRecord): boolean {
  return a.eventCid.equals(b.eventCid) && equals(a.sig, b.sig) && (a.prev === undefined ? b.prev === undefined : b.prev !== undefined && a.prev.equals(b.prev))
}


/**
 * The event-sourcing engine of one thread (paper section 4): the dispatcher that turns commands
 * into signed, encrypted, stored events; the single ingest path of peer records; one total order
 * with checkpoints; snapshots. Independent of Redux: a projection is any pure fold.
 *
 * @example
 * ```ts
 * const engine = await ThreadEngine.open({ store, threadId, projection: { initial: [], fold: (s, e) => [...s, e.command] } })
 * const { durable } = engine.command({ type: 'todos/added', payload: 'milk' })
 * await durable
 * ```
 */
export class ThreadEngine<S> {
  readonly thread: ThreadInfo
  readonly store: EventStore
  /** This peer's log key in the thread; undefined for a follower. */
  readonly logKey: LogKey | undefined
  readonly events = new Emitter<EngineEvents<S>>()
  readonly #projection: Projection<S>
  readonly #options: ThreadEngineOptions<S>
  #timeline: Timeline<S>
  /** Highest effective clock applied: a new local event gets one more (DESIGN.md section 4 rule 4). */
  #clock = 0
  /** Effective clock of each log's head: clocks of a log only grow, whatever a writer claims. */
  readonly #logClocks = new Map<string, number>()
  readonly #held = new Map<string, Map<number, LogRecord>>()
  /** Per log, the last seq the projection has taken in (folded, or skipped as unreadable). */
  readonly #folded = new Map<string, number>()
  #ownHead: LogHead | undefined
  #txn: Transaction | undefined
  #pending = 0
  #sinceSnapshot = 0
  #snapshotting: Promise<void> | undefined
  #snapshotKey: OrderKey | undefined
  #ingesting: Promise<void> = Promise.resolve()
  /** Record CIDs stored lately, so duplicates cost one hash. */
  readonly #seen = new RecentRecords()

  private constructor(options: ThreadEngineOptions<S>, thread: ThreadInfo, logKey: LogKey | undefined) {
    this.#options = options
    this.store = options.store
    this.thread = thread
    this.logKey = logKey
    this.#projection = options.projection
    this.#timeline = this.#newTimeline(options.projection.initial, undefined)
    this.#ownHead = logKey === undefined ? undefined : this.store.logstore.head(thread.id, logKey.id)
  }

  /** Open a thread's engine: load the newest snapshot and fold the events after it. */
  static async open<S>(options: ThreadEngineOptions<S>): Promise<ThreadEngine<S>> {
    const thread = options.store.logstore.getThread(options.threadId)
    const own = options.store.logstore.ownLog(thread.id)
    const engine = new ThreadEngine(options, thread, own?.key)
    await engine.#load(true)
    return engine
  }

  #newTimeline(base: S, baseKey: OrderKey | undefined): Timeline<S> {
    return new Timeline(this.#projection.fold, base, {
      ...(this.#options.checkpoints === undefined ? {} : { policy: this.#options.checkpoints }),
      ...(baseKey === undefined ? {} : { baseKey })
    })
  }

  /** The projection's state after every applied event. */
  get state(): S {
    return this.#timeline.state
  }

  /** The timeline (events in total order), read-only. */
  get timeline(): Timeline<S> {
    return this.#timeline
  }

  /** The thread ID string. */
  get id(): string {
    return this.thread.id.toString()
  }

  /** Records written but not yet durable. */
  get pending(): number {
    return this.#pending
  }

  /** Records held while waiting for a gap in their log to close. */
  get held(): number {
    let n = 0
    for (const m of this.#held.values()) n += m.size
    return n
  }

  #progress(p: Progress): void {
    this.#options.onProgress?.(p)
    this.events.emit('progress', p)
  }

  async #load(useSnapshot: boolean): Promise<void> {
    const readKey = this.thread.key.read
    const snap: Snapshot<S> | undefined =
      useSnapshot && readKey !== undefined ? await readSnapshot<S>(this.store.logstore.storage, this.thread.n, readKey) : undefined
    // Everything is read into locals and swapped in at the end, in one synchronous step: a
    // rebuild (a late event behind the snapshot) reads storage while commands keep coming, and
    // they must go on seeing the engine's clocks and timeline whole, never half rebuilt.
    const logClocks = new Map<string, number>()
    const folded = new Map<string, number>()
    let maxClock = 0
    if (snap !== undefined) {
      for (const [log, c] of Object.entries(snap.clocks)) logClocks.set(log, c)
      for (const [log, seq] of Object.entries(snap.heads)) folded.set(log, seq)
      maxClock = snap.lastKey?.clock ?? 0
      for (const c of logClocks.values()) maxClock = Math.max(maxClock, c)
    }
    const events: ThreadEvent[] = []
    let total = 0
    if (readKey !== undefined) {
      const logs = this.store.logstore.logs(this.thread.id)
      for (const log of logs) total += (this.store.logstore.head(this.thread.id, log.id)?.seq ?? 0) - (snap?.heads[log.id] ?? 0)
      const own = this.logKey?.id
      for (const log of logs) {
        let prevClock = snap?.clocks[log.id] ?? -1
        for await (const stored of this.store.events(this.thread.id, log.id, { from: (snap?.heads[log.id] ?? 0) + 1 })) {
          const ctx = { threadId: this.id, logId: log.id, seq: stored.seq, cid: stored.cid.toString() }
          folded.set(log.id, stored.seq)
          let opened: ReturnType<typeof openEventBoxes>
          let command: Command
          try {
            opened = openEventBoxes(readKey, stored.headerBox, stored.bodyBox, ctx)
            command = decodeCommand(opened.body)
          } catch (e) {
            // Stored because the writer signed it, skipped because nobody can read it: as on ingest.
            if (e instanceof ThreadsError) this.events.emit('rejected', e)
            continue
          }
          const clock = Math.max(opened.header.clock, prevClock + 1)
          prevClock = clock
          events.push(this.#event(command, log.id, stored.seq, clock, opened.header.time, stored.cid.toString(), log.id === own))
          if (events.length % 1000 === 0) this.#progress({ phase: 'load', done: events.length, total })
        }
        if (prevClock >= 0) logClocks.set(log.id, prevClock)
        maxClock = Math.max(maxClock, prevClock)
      }
    }
    // From here to the end nothing awaits (but the fallback, which starts over).
    const timeline = this.#newTimeline(snap?.state ?? this.#projection.initial, snap?.lastKey)
    try {
      timeline.insert(events)
    } catch (e) {
      // An event sorts before the snapshot (it arrived late, after the snapshot was written):
      // the snapshot no longer describes a prefix of the order, so fold everything.
      if (e instanceof BehindBaseError && useSnapshot) {
        await this.#load(false)
        this.#sinceSnapshot = Number.POSITIVE_INFINITY // the stored snapshot is stale: replace it
        return
      }
      throw e
    }
    // Events applied while storage was being read (local commands) that the reads missed.
    const meanwhile = this.#timeline.events.filter((e) => !timeline.has(e.meta) && (folded.get(e.meta.logId) ?? 0) < e.meta.seq)
    if (meanwhile.length > 0) timeline.insert(meanwhile)
    for (const e of meanwhile) {
      logClocks.set(e.meta.logId, Math.max(logClocks.get(e.meta.logId) ?? -1, e.meta.clock))
      folded.set(e.meta.logId, Math.max(folded.get(e.meta.logId) ?? 0, e.meta.seq))
      maxClock = Math.max(maxClock, e.meta.clock)
    }
    this.#timeline = timeline
    this.#snapshotKey = snap?.lastKey
    this.#logClocks.clear()
    for (const [log, c] of logClocks) this.#logClocks.set(log, c)
    this.#folded.clear()
    for (const [log, seq] of folded) this.#folded.set(log, seq)
    // Clocks only grow: the events only ever grow too.
    this.#clock = Math.max(this.#clock, maxClock)
    if (readKey !== undefined) this.#progress({ phase: 'load', done: events.length, total })
  }

  #event(command: Command, logId: string, seq: number, clock: number, time: number, cid: string, local: boolean): ThreadEvent {
    const meta: EventMeta = { threadId: this.id, author: logId, logId, seq, clock, time, cid, local }
    return { command, meta }
  }

  /**
   * Turn a command into an event of this peer's log: signed, encrypted, appended (durable when
   * `durable` resolves) and applied, all before this returns. `apply` lets the caller fold the
   * event itself (Redux runs its reducers) and hand back the state after it.
   */
  command(command: Command, apply?: (event: ThreadEvent) => S): CommandResult<S> {
    const logKey = this.logKey
    if (logKey === undefined) throw new NotWriterError('this peer has no log in the thread (it was invited to read or follow): it cannot write', { threadId: this.id })
    const body = encodeCommand(command)
    const clock = this.#clock + 1
    const time = (this.#options.now ?? Date.now)()
    const record = createRecord({
      logKey,
      threadKey: this.thread.key,
      body,
      clock,
      time,
      ...(this.#ownHead === undefined ? {} : { prev: this.#ownHead })
    })
    // Fold what every other peer will decode, not the object dispatched: dag-cbor normalises a
    // few values (-0, lone surrogates), and the author must not see a different action.
    const event = this.#event(decodeCommand(body), logKey.id, record.seq, clock, time, record.cid.toString(), true)
    // Reducers run before anything is committed: if one throws, the command leaves no trace.
    const stateAfter = apply?.(event)
    this.#ownHead = { cid: record.cid, seq: record.seq }
    this.#clock = clock
    this.#logClocks.set(logKey.id, clock)
    this.#folded.set(logKey.id, record.seq)
    const state = this.#timeline.append(event, stateAfter)
    let durable: Promise<void>
    if (this.#txn !== undefined) {
      this.#txn.records.push(record)
      durable = this.#txn.durable
    } else {
      durable = this.#append([record])
      this.events.emit('recorded', { records: [record] })
    }
    this.events.emit('applied', { events: [event], state, replayed: false })
    this.#afterApply(1)
    return { event, record, state, durable }
  }

  /**
   * Run `fn` as one transaction (paper section 4.1.3): the commands it makes are applied as
   * they are made, and stored all or nothing. If `fn` throws, none is stored, the state returns
   * to what it was, and the error is rethrown after `rollback` has been told the state.
   */
  transaction<T>(fn: () => T, rollback?: (state: S) => void): { result: T; durable: Promise<void> } {
    if (this.#txn !== undefined) return { result: fn(), durable: this.#txn.durable }
    let settle: Transaction['settle'] = { resolve: () => undefined, reject: () => undefined }
    const txnDurable = new Promise<void>((resolve, reject) => (settle = { resolve, reject }))
    // Nobody need wait on it: an abort must not surface as an unhandled rejection.
    txnDurable.catch(() => undefined)
    const txn: Transaction = {
      records: [],
      head: this.#ownHead,
      clock: this.#clock,
      ownClock: this.logKey === undefined ? undefined : this.#logClocks.get(this.logKey.id),
      durable: txnDurable,
      settle
    }
    this.#txn = txn
    let result: T
    try {
      result = fn()
      if (result instanceof Promise) throw new TypeError('a transaction function must be synchronous: it runs between two dispatches')
    } catch (e) {
      this.#txn = undefined
      const state = this.#timeline.dropNewest(txn.records.length)
      this.#ownHead = txn.head
      this.#clock = txn.clock
      if (this.logKey !== undefined) {
        if (txn.ownClock === undefined) this.#logClocks.delete(this.logKey.id)
        else this.#logClocks.set(this.logKey.id, txn.ownClock)
        if (txn.head === undefined) this.#folded.delete(this.logKey.id)
        else this.#folded.set(this.logKey.id, txn.head.seq)
      }
      txn.settle.reject(e)
      rollback?.(state)
      throw e
    }
    this.#txn = undefined
    if (txn.records.length === 0) {
      txn.settle.resolve()
      return { result, durable: txn.durable }
    }
    const durable = this.#append(txn.records)
    durable.then(txn.settle.resolve, txn.settle.reject)
    this.events.emit('recorded', { records: txn.records })
    return { result, durable }
  }

  #append(records: LogRecord[]): Promise<void> {
    for (const r of records) this.#seen.add(r)
    this.#pending += records.length
    this.events.emit('durability', { pending: this.#pending })
    const done = (): void => {
      this.#pending -= records.length
      this.events.emit('durability', { pending: this.#pending })
    }
    const p = this.store.append(this.thread.id, records)
    p.then(done, done)
    return p
  }

  /**
   * The one path for records from other peers (push, pull, gossip, files): any records of one
   * log, in any order, with duplicates. Each is checked (CIDs, shape, signature, chain); records
   * beyond a gap are held until it closes; the rest are stored and applied in the total order.
   * Bad records are refused with a typed error in `rejected` (and on `events`), never thrown.
   */
  ingest(logId: string, blocks: readonly RecordBlocks[]): Promise<IngestResult<S>> {
    // One ingest at a time per thread: each reads the heads the previous one moved.
    // …and a turn of the event loop between two: a long sync must not starve timers and sockets
    // (libp2p drops connections whose pings go unanswered).
    const run = this.#ingesting.then(yieldToEventLoop).then(() => this.#ingest(logId, blocks))
    this.#ingesting = run.then(
      () => undefined,
      () => undefined
    )
    return run
  }

  async #ingest(logId: string, blocks: readonly RecordBlocks[]): Promise<IngestResult<S>> {
    const rejected: ThreadsError[] = []
    const reject = (e: unknown): void => {
      const err = e instanceof ThreadsError ? e : new ThreadsError(`unexpected failure: ${String(e)}`, { threadId: this.id, logId })
      rejected.push(err)
      this.events.emit('rejected', err)
    }
    const nothing = (): IngestResult<S> => ({ added: [], state: this.state, replayed: false, folds: 0, rejected, held: this.held, stored: 0, durable: Promise.resolve() })
    try {
      publicKeyFromLogId(logId)
    } catch (e) {
      reject(e)
      return nothing()
    }
    if (logId === this.logKey?.id) {
      reject(new BrokenChainError('a peer writes its own log; it does not take it from others', { threadId: this.id, logId }))
      return nothing()
    }
    // Shape and CIDs first, signatures later: one per contiguous run.
    const candidates: LogRecord[] = []
    for (const b of blocks) {
      // The same four blocks as a record already stored (a duplicate push, gossip or pull): two
      // hashes, no decryption.
      const seen = this.#seen.check(b)
      if (seen.duplicate) continue
      try {
        candidates.push(
          verifyRecord(logId, this.thread.key.service, b, {
            threadId: this.id,
            skipSignature: true,
            ...(seen.recordDigest === undefined ? {} : { recordDigest: seen.recordDigest })
          })
        )
      } catch (e) {
        reject(e)
      }
    }
    if (this.store.logstore.log(this.thread.id, logId) === undefined && candidates.length > 0) {
      await this.store.logstore.addLog(this.thread.id, logId)
    }
    const head = (): LogHead | undefined => this.store.logstore.head(this.thread.id, logId)
    let held = this.#held.get(logId)
    if (held === undefined) this.#held.set(logId, (held = new Map()))
    for (const r of candidates) {
      const h = head()
      if (h !== undefined && r.seq <= h.seq) {
        // A copy (nothing to do) or an equivocation (keep the first, report the second).
        const stored = r.seq === h.seq ? h.cid : await this.store.cidAt(this.thread.id, logId, r.seq)
        if (stored === undefined || stored.equals(r.cid)) continue
        // A different record block at a seq we have. If it carries the same signed content
        // (event, signature, prev) it is the same record sealed again with another nonce, which
        // anyone holding the service key can do: a duplicate, not the writer's equivocation.
        const kept = await this.store.record(this.thread.id, logId, r.seq)
        if (kept !== undefined && sameSignedContent(kept, r)) continue
        try {
          checkDuplicate({ cid: stored, seq: r.seq, logId }, r, this.id)
        } catch (e) {
          reject(e)
        }
        continue
      }
      const other = held.get(r.seq)
      if (other !== undefined && !other.cid.equals(r.cid)) {
        // Two candidates for one seq beyond a gap: keep the first; the chain decides later.
        continue
      }
      if (held.size >= (this.#options.maxHeldPerLog ?? 10_000)) {
        reject(new TooLargeError('too many out-of-order records held for this log', { threadId: this.id, logId, seq: r.seq }))
        continue
      }
      held.set(r.seq, r)
    }
    // Take the contiguous run that continues the head.
    const run: LogRecord[] = []
    let at = head()
    for (;;) {
      const next = held.get((at?.seq ?? 0) + 1)
      if (next === undefined) break
      held.delete(next.seq)
      if (at === undefined ? next.prev !== undefined : next.prev === undefined || !next.prev.equals(at.cid)) {
        reject(new BrokenChainError(`record does not link the head ${at?.cid.toString() ?? '(none)'}: an equivocation or a forgery`, { threadId: this.id, logId, seq: next.seq, cid: next.cid.toString() }))
        break
      }
      run.push(next)
      at = { cid: next.cid, seq: next.seq }
    }
    const verified = this.#verifyRun(logId, run, reject)
    if (verified.length === 0) return nothing()
    const readKey = this.thread.key.read
    const events: ThreadEvent[] = []
    let prevClock = this.#logClocks.get(logId) ?? -1
    if (readKey !== undefined) {
      for (const r of verified) {
        let opened: ReturnType<typeof openEvent>
        let command: Command
        try {
          opened = openEvent(readKey, r)
          command = decodeCommand(opened.body)
        } catch (e) {
          // Signed by the writer but unreadable: store it (the log stays whole) and apply nothing.
          reject(e)
          continue
        }
        const clock = Math.max(opened.header.clock, prevClock + 1)
        prevClock = clock
        events.push(this.#event(command, logId, r.seq, clock, opened.header.time, r.cid.toString(), false))
      }
    }
    const durable = this.#append(verified)
    if (prevClock >= 0) this.#logClocks.set(logId, prevClock)
    this.#folded.set(logId, (verified[verified.length - 1] as LogRecord).seq)
    return { ...(await this.#apply(events, rejected, durable)), stored: verified.length }
  }

  /** Check signatures of a hash-linked run: the newest signs for all; on failure, find the valid prefix. */
  #verifyRun(logId: string, run: LogRecord[], reject: (e: unknown) => void): LogRecord[] {
    if (run.length === 0) return run
    const verifier = verifierForLog(logId)
    const newest = run[run.length - 1] as LogRecord
    if (verifier.verify(signedBytes(newest.eventCid, newest.prev), newest.sig)) return run
    const ok: LogRecord[] = []
    for (const r of run) {
      try {
        verifyRecord(logId, this.thread.key.service, { record: r.blocks.record.bytes, event: r.blocks.event.bytes, header: r.blocks.header.bytes, body: r.blocks.body.bytes }, { threadId: this.id })
        ok.push(r)
      } catch (e) {
        reject(e)
        break
      }
    }
    return ok
  }

  async #apply(events: ThreadEvent[], rejected: ThreadsError[], durable: Promise<void>): Promise<Omit<IngestResult<S>, 'stored'>> {
    for (const e of events) this.#clock = Math.max(this.#clock, e.meta.clock)
    let result
    try {
      result = this.#timeline.insert(events)
    } catch (e) {
      if (!(e instanceof BehindBaseError)) throw e
      // Later than the snapshot the timeline starts from: fold the whole thread again.
      this.#progress({ phase: 'replay', done: 0, total: events.length })
      await durable
      await this.#load(false)
      const added = events.filter((ev) => this.#timeline.has(ev.meta))
      this.events.emit('applied', { events: added, state: this.state, replayed: true })
      // The stored snapshot no longer describes a prefix of the order: write a fresh one, or
      // every restart folds the whole thread again.
      this.#sinceSnapshot = Number.POSITIVE_INFINITY
      this.#afterApply(added.length)
      return { added, state: this.state, replayed: true, folds: this.#timeline.length, rejected, held: this.held, durable }
    }
    if (result.replayed && this.#snapshotKey !== undefined && result.added.some((e) => compareOrder(e.meta, this.#snapshotKey as OrderKey) <= 0)) {
      this.#sinceSnapshot = Number.POSITIVE_INFINITY // the stored snapshot is now stale
    }
    if (result.added.length > 0) this.events.emit('applied', { events: result.added, state: result.state, replayed: result.replayed })
    this.#afterApply(result.added.length)
    return { added: result.added, state: result.state, replayed: result.replayed, folds: result.folds, rejected, held: this.held, durable }
  }

  #afterApply(count: number): void {
    const every = this.#options.snapshotEvery ?? 1000
    if (every <= 0 || this.thread.key.read === undefined) return
    this.#sinceSnapshot += count
    if (this.#sinceSnapshot >= every && this.#snapshotting === undefined && this.#txn === undefined) {
      this.#snapshotting = this.snapshot().finally(() => {
        this.#snapshotting = undefined
      })
    }
  }

  /**
   * Write a snapshot of the current state, after the events in it are durable (a snapshot must
   * never hold an event that a crash could lose).
   */
  async snapshot(): Promise<void> {
    const readKey = this.thread.key.read
    if (readKey === undefined) return
    const snap: Snapshot<S> = {
      state: this.state,
      count: this.#timeline.length,
      lastKey: this.#timeline.lastKey,
      heads: Object.fromEntries(this.#folded),
      clocks: Object.fromEntries(this.#logClocks)
    }
    this.#sinceSnapshot = 0
    await this.store.flush()
    await writeSnapshot(this.store.logstore.storage, this.thread.n, readKey, snap)
    this.#snapshotKey = snap.lastKey
    if (this.#options.compactOnSnapshot === true) this.compact()
  }

  /**
   * Compact the timeline (paper section 5.5.1), locally: fold the events no future event of a
   * known log can sort before into the base, and drop them from memory. Every known log's next
   * event has a clock above that log's current effective clock, so everything below the smallest
   * of those clocks is stable. Records stay in storage: they are what peers pull, and what the
   * engine folds again should an event from a log it has never seen sort earlier after all.
   *
   * @returns the number of events compacted.
   */
  compact(): number {
    if (this.#logClocks.size === 0) return 0
    let frontier = Number.POSITIVE_INFINITY
    for (const c of this.#logClocks.values()) frontier = Math.min(frontier, c)
    const position = this.#timeline.positionOf({ clock: frontier, logId: '', seq: 0 })
    return this.#timeline.rebase(position)
  }

  /** For each log with held records: the missing seq range to ask peers for. */
  gaps(): Array<{ logId: string; from: number; to: number }> {
    const out: Array<{ logId: string; from: number; to: number }> = []
    for (const [logId, held] of this.#held) {
      if (held.size === 0) continue
      const from = (this.store.logstore.head(this.thread.id, logId)?.seq ?? 0) + 1
      const to = Math.min(...held.keys()) - 1
      if (to >= from) out.push({ logId, from, to })
    }
    return out
  }

  /** Resolves when every event so far is durable. */
  async flush(): Promise<void> {
    await this.store.flush()
    await this.#snapshotting
  }

  /** The log heads of the thread as this peer has them. */
  heads(): Map<string, LogHead> {
    return this.store.logstore.heads(this.thread.id)
  }

}
