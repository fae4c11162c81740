import type { CID } from 'multiformats/cid'
import { decodeCommand, encodeCommand, type Command } from '../core/command.js'
import { BadSignatureError, BrokenChainError, CorruptStoreError, ForkedLogError, NotWriterError, ReducerError, SnapshotError, StorageFailedError, ThreadsError, TooLargeError } from '../core/errors.js'
import { forkProofOf, signedStatementOf, type ForkProof } from '../core/forkProof.js'
import { publicKeyFromLogId, type LogKey } from '../core/keys.js'
import {
  createRecord,
  linksHead,
  openEvent,
  openEventBoxes,
  signatureHolds,
  verifyRecord,
  type LogHead,
  type LogRecord,
  type RecordBlocks
} from '../core/record.js'
import { sameId } from '../core/recordId.js'
import { checkStored } from '../core/storedRecord.js'
import type { ThreadId } from '../core/threadId.js'
import type { EventStore } from '../store/eventStore.js'
import type { ThreadInfo } from '../store/logstore/logstore.js'
import type { CheckpointPolicy } from './checkpointPolicy.js'
import { Emitter } from '../core/emitter.js'
import { Forks, type ForkedLog } from './forks.js'
import { HeldRecords, type Gap } from './heldRecords.js'
import { SeenRecords } from './seenRecords.js'
import { deleteSnapshot, readSnapshot, writeSnapshot, type Snapshot } from './snapshot.js'
import { compareOrder, effectiveClock, type EventMeta, type OrderKey, type ThreadEvent } from './threadEvent.js'
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
  /**
   * The version of the projection (its reducers and state shape). A snapshot written by another
   * version is not used: the state is folded again from the events, so a restart never yields a
   * state that a fresh peer running this code would not compute.
   */
  readonly version?: string
  /** Out-of-order records held per log while a gap is open (default 4,096). */
  readonly maxHeldPerLog?: number
  /** Bytes of out-of-order records held for the whole thread (default 16 MiB). */
  readonly maxHeldBytes?: number
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
  /**
   * Records refused, each with the typed error that names the problem. `EquivocationError` is
   * the writer's doing (a fork found), never the sender's.
   */
  readonly rejected: readonly ThreadsError[]
  /** Records waiting for a gap in their log to close. */
  readonly held: number
  /** Records verified and stored by this ingest (a follower stores without applying). */
  readonly stored: number
  /** Logs found forked by this ingest (their proofs go to every peer of the thread). */
  readonly forks: readonly ForkedLog[]
  readonly durable: Promise<void>
}

/** What the engine tells its observers. */
export interface EngineEvents<S> {
  /** Events applied, in order, with the state after them. */
  applied: { events: readonly ThreadEvent[]; state: S; replayed: boolean }
  /** A record refused (bad signature, broken chain, equivocation, damaged storage, …). */
  rejected: ThreadsError
  progress: Progress
  /** Durable writes changed (pending count). */
  durability: { pending: number }
  /** This peer wrote records to its own log (the network pushes them). */
  recorded: { records: readonly LogRecord[] }
  /** Records held beyond gaps changed. */
  held: { count: number; bytes: number }
  /** A log was found forked: its proof should reach every peer of the thread. */
  fork: ForkedLog
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

/** Orphans looked at past a head when a thread opens (one crashed batch is far fewer). */
const MAX_ORPHANS = 10_000

/**
 * The event-sourcing engine of one thread (paper section 4): the dispatcher that turns commands
 * into signed, encrypted, stored events; the single ingest path of peer records; one total order
 * with checkpoints; snapshots; forks found and frozen; storage checked where it is read.
 * Independent of Redux: a projection is any pure fold.
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
  readonly #forks: Forks
  #timeline: Timeline<S>
  /** Highest effective clock applied: a new local event gets one more (DESIGN.md section 4 rule 4). */
  #clock = 0
  /** Effective clock of each log's head: clocks of a log only grow, whatever a writer claims. */
  readonly #logClocks = new Map<string, number>()
  readonly #held: HeldRecords
  /** Per log, the last record the projection has taken in (folded, or skipped as unreadable). */
  readonly #folded = new Map<string, LogHead>()
  #ownHead: LogHead | undefined
  /** Why this peer may not write now (damaged keys, its own log forked or being recovered). */
  #writeBlocked: ThreadsError | undefined
  /** While this peer's own log is being filled again from peers: the seq it must reach. */
  #ownRecovery: number | undefined
  #txn: Transaction | undefined
  #pending = 0
  #sinceSnapshot = 0
  #snapshotting: Promise<void> | undefined
  #snapshotKey: OrderKey | undefined
  #ingesting: Promise<void> = Promise.resolve()
  #lastExpiry = 0
  #failing: Promise<void> | undefined
  #retrying = false
  #lastRetry = 0
  /** Record block digests stored lately, so exact duplicates cost two hashes. */
  readonly #seen = new SeenRecords()

  private constructor(options: ThreadEngineOptions<S>, thread: ThreadInfo, logKey: LogKey | undefined, forks: Forks) {
    this.#options = options
    this.store = options.store
    this.thread = thread
    this.logKey = logKey
    this.#forks = forks
    this.#projection = options.projection
    this.#held = new HeldRecords({
      ...(options.maxHeldPerLog === undefined ? {} : { maxPerLog: options.maxHeldPerLog }),
      ...(options.maxHeldBytes === undefined ? {} : { maxBytes: options.maxHeldBytes })
    })
    this.#timeline = this.#newTimeline(options.projection.initial, undefined)
    this.#ownHead = logKey === undefined ? undefined : this.store.logstore.head(thread.id, logKey.id)
  }

  /**
   * Open a thread's engine: check what storage holds (keys, heads, records beyond them), load the
   * newest snapshot and fold the events after it. Damage found is reported on `events`
   * (`rejected`, as {@link CorruptStoreError}) once a listener can hear it: see {@link damage}.
   */
  static async open<S>(options: ThreadEngineOptions<S>): Promise<ThreadEngine<S>> {
    const thread = options.store.logstore.getThread(options.threadId)
    const own = options.store.logstore.ownLog(thread.id)
    const { forks, damage } = await Forks.load(thread.id, options.store.logstore.metadata, thread.n)
    const engine = new ThreadEngine(options, thread, own?.key, forks)
    engine.#damage.push(...(thread.damage ?? []), ...damage)
    if (thread.keyDamaged === true) {
      // Keys that do not check out: fold nothing (it would be noise), write nothing.
      engine.#writeBlocked = thread.damage?.[0]
      return engine
    }
    for (const fork of forks.all()) if (fork.logId === own?.id) engine.#writeBlocked = engine.#forkedOwnLog(fork)
    await engine.#adoptOrphans()
    await engine.#load(true)
    return engine
  }

  readonly #damage: ThreadsError[] = []

  /**
   * Damage found when the thread was opened (keys, heads, records, snapshot), each a
   * {@link CorruptStoreError} or {@link UnsupportedFormatError}. Also emitted as `rejected` by
   * {@link reportDamage}, which the peer calls once its status stream listens.
   */
  get damage(): readonly ThreadsError[] {
    return this.#damage
  }

  /** Emit the damage found at open on `events` (once), for the status stream. */
  reportDamage(): void {
    for (const e of this.#damage.splice(0)) this.events.emit('rejected', e)
  }

  #report(e: ThreadsError): void {
    this.#damage.push(e)
    if (this.events.listenerCount('rejected') > 0) this.reportDamage()
  }

  /**
   * The projection's fold, made total: a reducer that throws on an event leaves the state as it
   * was, on every peer alike (the same code throws on the same event everywhere), and the event
   * is reported once as a {@link ReducerError} with its context. The timeline never holds an
   * event whose fold did not complete.
   */
  readonly #fold: Fold<S> = (state, event) => {
    try {
      return this.#projection.fold(state, event)
    } catch (cause) {
      const key = `${event.meta.logId}\u0000${event.meta.seq}`
      if (!this.#reducerFailures.has(key)) {
        if (this.#reducerFailures.size >= 1024) this.#reducerFailures.clear()
        this.#reducerFailures.add(key)
        const m = event.meta
        this.events.emit(
          'rejected',
          new ReducerError(`a reducer threw on \`${event.command.type}\`: the event is skipped on every peer (${cause instanceof Error ? cause.message : String(cause)})`, { threadId: m.threadId, logId: m.logId, seq: m.seq, cid: m.id }, { cause })
        )
      }
      return state
    }
  }

  readonly #reducerFailures = new Set<string>()

  #newTimeline(base: S, baseKey: OrderKey | undefined): Timeline<S> {
    return new Timeline(this.#fold, base, {
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
    return this.#held.count
  }

  /** Bytes of the records held while waiting for gaps to close. */
  get heldBytes(): number {
    return this.#held.bytes
  }

  /** Logs found forked by their writers, with the proofs. */
  forks(): ForkedLog[] {
    return this.#forks.all()
  }

  /** The first disputed seq of a forked log (its records from there on are ignored), or undefined. */
  forkOf(logId: string): number | undefined {
    return this.#forks.seqOf(logId)
  }

  /** Why a command would be refused now (damaged storage, a forked or recovering own log), if it would. */
  get writeBlocked(): ThreadsError | undefined {
    return this.#writeBlocked
  }

  #progress(p: Progress): void {
    this.#options.onProgress?.(p)
    this.events.emit('progress', p)
  }

  #forkedOwnLog(fork: ForkedLog): ThreadsError {
    return new ForkedLogError(`this peer's own log was forked at seq ${fork.seq} (its storage was lost or copied): it can no longer write to this thread under this identity`, {
      threadId: this.id,
      logId: fork.logId,
      seq: fork.seq
    })
  }

  /**
   * Records stored beyond a head: a crash between a batch's records and its head (backends
   * without transactions), or a head lowered outside this library. Those that continue the head,
   * chain by identity and are signed are adopted (the head moves up); they are never overwritten.
   * What cannot be adopted below the highest stored seq of this peer's own log blocks writing until
   * peers give that log back (writing there would fork it).
   */
  async #adoptOrphans(): Promise<void> {
    for (const log of this.store.logstore.logs(this.thread.id)) {
      const orphans = await this.store.orphans(this.thread.id, log.id, MAX_ORPHANS)
      if (orphans.length === 0) continue
      const head = this.store.logstore.head(this.thread.id, log.id)
      let prev = head?.id
      const good: Array<{ id: CID; seq: number; stored: { sig: Uint8Array }; eventCid: CID; prev: CID | undefined }> = []
      let bad: ThreadsError | undefined
      for (const o of orphans) {
        if ('error' in o) {
          bad = o.error
          break
        }
        try {
          const { id, eventCid } = checkStored(o.stored, { thread: this.thread.id, logId: log.id, seq: o.seq, prev })
          good.push({ id, seq: o.seq, stored: o.stored, eventCid, prev })
          prev = id
        } catch (e) {
          bad = e instanceof ThreadsError ? e : new CorruptStoreError(String(e))
          break
        }
      }
      // The newest signature authenticates the chain below it; without one, adopt nothing above.
      while (good.length > 0) {
        const last = good[good.length - 1] as (typeof good)[number]
        if (signatureHolds(this.thread.id, { logId: log.id, seq: last.seq, eventCid: last.eventCid, prev: last.prev, sig: last.stored.sig })) break
        good.pop()
        bad ??= new CorruptStoreError('a record stored beyond the head is not signed by its log key', { threadId: this.id, logId: log.id, seq: last.seq })
      }
      const top = good.at(-1)
      if (top !== undefined) await this.store.setHead(this.thread.id, log.id, { id: top.id, seq: top.seq })
      if (bad !== undefined) {
        this.#report(bad)
        if (log.id === this.logKey?.id) this.#blockOwnLog((orphans.at(-1) as { seq: number }).seq, bad)
      }
    }
    if (this.logKey !== undefined) this.#ownHead = this.store.logstore.head(this.thread.id, this.logKey.id)
  }

  /** Refuse commands until this peer's own log is back to `target` (from peers). */
  #blockOwnLog(target: number, cause: ThreadsError): void {
    this.#ownRecovery = Math.max(this.#ownRecovery ?? 0, target)
    this.#writeBlocked ??= new CorruptStoreError(
      `this peer's own log is damaged in storage up to seq ${target}: commands are refused until peers give it back (writing now would fork it)`,
      { threadId: this.id, ...(this.logKey === undefined ? {} : { logId: this.logKey.id }) },
      { cause }
    )
  }

  /**
   * A damaged record found where it was read (at open, or serving a pull): report it, and lower
   * the log's head below it so that sync fills the log again from peers. The records above stay
   * in storage until records that continue the head replace them.
   */
  async repair(logId: string, seq: number, error: ThreadsError): Promise<void> {
    this.#report(error)
    const head = this.store.logstore.head(this.thread.id, logId)
    if (head === undefined || seq > head.seq) return
    if (logId === this.logKey?.id) this.#blockOwnLog(head.seq, error)
    const below = seq > 1 ? await this.store.idAt(this.thread.id, logId, seq - 1) : undefined
    await this.store.setHead(this.thread.id, logId, below === undefined ? undefined : { id: below, seq: seq - 1 })
    if (logId === this.logKey?.id) this.#ownHead = this.store.logstore.head(this.thread.id, logId)
  }

  async #load(useSnapshot: boolean): Promise<void> {
    const readKey = this.thread.key.read
    let snap: Snapshot<S> | undefined
    if (useSnapshot && readKey !== undefined) {
      try {
        snap = await readSnapshot<S>(this.store.logstore.storage, this.thread.n, readKey)
      } catch (e) {
        // A damaged snapshot is only a cache: fold from the events, and write a new one.
        this.#report(e instanceof ThreadsError ? e : new CorruptStoreError(String(e)))
        await deleteSnapshot(this.store.logstore.storage, this.thread.n)
        snap = undefined
      }
      // A snapshot of another version of the projection (reducers changed) is not what this
      // code computes from the events: fold them again.
      if (snap !== undefined && snap.version !== this.#options.version) {
        snap = undefined
        this.#sinceSnapshot = Number.POSITIVE_INFINITY
      }
      // A snapshot that folded records a fork proof now disputes does not describe what every
      // peer computes any more.
      if (snap !== undefined && this.#forks.all().some((f) => (snap?.heads[f.logId] ?? 0) >= f.seq)) snap = undefined
    }
    // Everything is read into locals and swapped in at the end, in one synchronous step: a
    // rebuild (a late event behind the snapshot) reads storage while commands keep coming, and
    // they must go on seeing the engine's clocks and timeline whole, never half rebuilt.
    const logClocks = new Map<string, number>()
    const folded = new Map<string, LogHead>()
    let maxClock = 0
    if (snap !== undefined) {
      for (const [log, c] of Object.entries(snap.clocks)) logClocks.set(log, c)
      for (const [log, seq] of Object.entries(snap.heads)) folded.set(log, { seq, id: snap.ids[log] as CID })
      maxClock = snap.lastKey?.clock ?? 0
      for (const c of logClocks.values()) maxClock = Math.max(maxClock, c)
    }
    const events: ThreadEvent[] = []
    const damaged: Array<{ logId: string; seq: number; error: ThreadsError }> = []
    let total = 0
    if (readKey !== undefined) {
      const logs = this.store.logstore.logs(this.thread.id)
      const last = (logId: string): number => {
        const head = this.store.logstore.head(this.thread.id, logId)?.seq ?? 0
        const fork = this.#forks.seqOf(logId)
        return fork === undefined ? head : Math.min(head, fork - 1)
      }
      for (const log of logs) total += last(log.id) - (snap?.heads[log.id] ?? 0)
      const own = this.logKey?.id
      for (const log of logs) {
        let prevClock = snap?.clocks[log.id] ?? -1
        const after = folded.get(log.id)
        try {
          for await (const stored of this.store.events(this.thread.id, log.id, { from: (after?.seq ?? 0) + 1, to: last(log.id), ...(after === undefined ? {} : { after }) })) {
            const ctx = { threadId: this.id, logId: log.id, seq: stored.seq, cid: stored.id.toString() }
            folded.set(log.id, { id: stored.id, seq: stored.seq })
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
            const clock = effectiveClock(opened.header.clock, prevClock)
            prevClock = clock
            events.push(this.#event(command, log.id, stored.seq, clock, opened.header.time, stored.id.toString(), log.id === own))
            if (events.length % 1000 === 0) this.#progress({ phase: 'load', done: events.length, total })
          }
        } catch (e) {
          if (!(e instanceof ThreadsError)) throw e
          // Damaged in storage: fold the log up to the record before, and fill it again from peers.
          damaged.push({ logId: log.id, seq: e.seq ?? (folded.get(log.id)?.seq ?? 0) + 1, error: e })
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
    // (Only those storage still holds or will: after a failed write the event store's heads went
    // back, and events past them are gone.)
    const meanwhile = this.#timeline.events.filter(
      (e) => !timeline.has(e.meta) && (folded.get(e.meta.logId)?.seq ?? 0) < e.meta.seq && e.meta.seq <= (this.store.logstore.head(this.thread.id, e.meta.logId)?.seq ?? 0)
    )
    if (meanwhile.length > 0) timeline.insert(meanwhile)
    for (const e of meanwhile) {
      logClocks.set(e.meta.logId, Math.max(logClocks.get(e.meta.logId) ?? -1, e.meta.clock))
      const f = folded.get(e.meta.logId)
      if ((f?.seq ?? 0) < e.meta.seq) {
        const head = this.store.logstore.head(this.thread.id, e.meta.logId)
        if (head !== undefined && head.seq === e.meta.seq) folded.set(e.meta.logId, head)
      }
      maxClock = Math.max(maxClock, e.meta.clock)
    }
    this.#timeline = timeline
    this.#snapshotKey = snap?.lastKey
    this.#logClocks.clear()
    for (const [log, c] of logClocks) this.#logClocks.set(log, c)
    this.#folded.clear()
    for (const [log, h] of folded) this.#folded.set(log, h)
    // Clocks only grow: the events only ever grow too.
    this.#clock = Math.max(this.#clock, maxClock)
    if (readKey !== undefined) this.#progress({ phase: 'load', done: events.length, total })
    for (const d of damaged) await this.repair(d.logId, d.seq, d.error)
  }

  #event(command: Command, logId: string, seq: number, clock: number, time: number, id: string, local: boolean): ThreadEvent {
    const meta: EventMeta = { threadId: this.id, author: logId, logId, seq, clock, time, id, local }
    return { command, meta }
  }

  /**
   * Turn a command into an event of this peer's log: signed, encrypted, appended (durable when
   * `durable` resolves) and applied, all before this returns. `apply` lets the caller fold the
   * event itself (Redux runs its reducers) and hand back the state after it.
   *
   * @throws {@link NotWriterError} on a thread where this peer has no log; the error in
   * {@link writeBlocked} while writing would fork or corrupt the log.
   */
  command(command: Command, apply?: (event: ThreadEvent) => S): CommandResult<S> {
    const logKey = this.logKey
    if (logKey === undefined) throw new NotWriterError('this peer has no log in the thread (it was invited to read or follow): it cannot write', { threadId: this.id })
    if (this.#writeBlocked !== undefined) {
      if (this.#writeBlocked instanceof StorageFailedError) this.#retryStorage()
      throw this.#writeBlocked
    }
    const body = encodeCommand(command)
    // The clock rule is applied to this peer's own records as to everyone's: after an attack
    // that pushed the thread's clocks far ahead, a new event may sort before the tip (see below).
    const ownClock = this.#logClocks.get(logKey.id) ?? -1
    const clock = effectiveClock(Math.min(this.#clock + 1, Number.MAX_SAFE_INTEGER), ownClock)
    const time = (this.#options.now ?? Date.now)()
    const record = createRecord({
      logKey,
      threadKey: this.thread.key,
      thread: this.thread.id,
      body,
      clock,
      time,
      ...(this.#ownHead === undefined ? {} : { prev: this.#ownHead })
    })
    // Fold what every other peer will decode, not the object dispatched: dag-cbor normalises a
    // few values (-0, lone surrogates), and the author must not see a different action.
    const event = this.#event(decodeCommand(body), logKey.id, record.seq, clock, time, record.id.toString(), true)
    // At the tip (always, but after a clock attack), reducers run before anything is committed:
    // if one throws, the command leaves no trace. Below the tip, the engine folds it in order,
    // as every other peer will, and the store hears of it as a replay.
    const atTip = this.#timeline.lastKey === undefined || compareOrder(event.meta, this.#timeline.lastKey) > 0
    const stateAfter = atTip ? apply?.(event) : undefined
    this.#ownHead = { id: record.id, seq: record.seq }
    this.#clock = Math.max(this.#clock, clock)
    this.#logClocks.set(logKey.id, clock)
    this.#folded.set(logKey.id, this.#ownHead)
    const inserted = atTip ? undefined : this.#timeline.insert([event])
    const state = inserted === undefined ? this.#timeline.append(event, stateAfter) : inserted.state
    let durable: Promise<void>
    if (this.#txn !== undefined) {
      this.#txn.records.push(record)
      durable = this.#txn.durable
    } else {
      durable = this.#append([record])
      // Sent only once stored: a record peers hold must never be one this peer could lose.
      durable.then(() => this.events.emit('recorded', { records: [record] }), () => undefined)
    }
    this.events.emit('applied', { events: [event], state, replayed: inserted !== undefined })
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
        else this.#folded.set(this.logKey.id, txn.head)
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
    durable.then(() => this.events.emit('recorded', { records: txn.records }), () => undefined)
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
    p.then(done, (e: unknown) => {
      done()
      void this.#storageFailed(e)
    })
    return p
  }

  /**
   * Storage refused a write: report it, bring the state back to what storage holds (the event
   * store has put its heads back), and refuse commands until storage takes writes again.
   */
  async #storageFailed(e: unknown): Promise<void> {
    const error = e instanceof StorageFailedError ? e : new StorageFailedError(`storage refused a write: ${String(e)}`, { threadId: this.id }, { cause: e })
    if (this.#writeBlocked === error) return
    this.#writeBlocked = error
    this.events.emit('rejected', error)
    if (this.#failing !== undefined) return
    this.#failing = (async () => {
      try {
        await this.#ingesting
        await this.#load(false)
        if (this.logKey !== undefined) this.#ownHead = this.store.logstore.head(this.thread.id, this.logKey.id)
        this.events.emit('applied', { events: [], state: this.state, replayed: true })
      } catch (cause) {
        this.events.emit('rejected', cause instanceof ThreadsError ? cause : new StorageFailedError(`reading storage back failed: ${String(cause)}`, { threadId: this.id }, { cause }))
      } finally {
        this.#failing = undefined
      }
    })()
  }

  /** While commands are refused for a storage failure: try storage again, at most once a second. */
  #retryStorage(): void {
    const now = Date.now()
    if (this.#retrying || now - this.#lastRetry < 1000) return
    this.#retrying = true
    this.#lastRetry = now
    void this.store
      .retry()
      .then((ok) => {
        if (ok && this.#writeBlocked instanceof StorageFailedError) {
          this.#writeBlocked = undefined
          this.events.emit('durability', { pending: this.#pending })
        }
      })
      .finally(() => {
        this.#retrying = false
      })
  }

  /**
   * The one path for records from other peers (push, pull, gossip, files): any records of one
   * log, in any order, with duplicates. Each is checked (CIDs, shape, signature, chain by
   * identity); records beyond a gap are held (bounded) until it closes; two signed histories of
   * one log freeze it (a fork proof); the rest are stored and applied in the total order. Bad
   * records are refused with a typed error in `rejected` (and on `events`), never thrown.
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
    const forks: ForkedLog[] = []
    const reject = (e: unknown): void => {
      const err = e instanceof ThreadsError ? e : new ThreadsError(`unexpected failure: ${String(e)}`, { threadId: this.id, logId })
      rejected.push(err)
      this.events.emit('rejected', err)
    }
    const heldBefore = this.#held.count
    const nothing = (): IngestResult<S> => ({ added: [], state: this.state, replayed: false, folds: 0, rejected, held: this.held, stored: 0, forks, durable: Promise.resolve() })
    try {
      publicKeyFromLogId(logId)
    } catch (e) {
      reject(e)
      return nothing()
    }
    if (logId === this.logKey?.id && this.#ownRecovery === undefined) {
      reject(new BrokenChainError('a peer writes its own log; it does not take it from others', { threadId: this.id, logId }))
      return nothing()
    }
    const now = (this.#options.now ?? Date.now)()
    if (now - this.#lastExpiry > 1000) {
      this.#lastExpiry = now
      this.#held.expire(now)
    }
    const at = { thread: this.thread.id, logId, serviceKey: this.thread.key.service }
    // Shape and CIDs first, signatures later: one per contiguous run.
    const fresh = new Map<number, LogRecord>()
    for (const b of blocks) {
      // The same four blocks as a record stored lately (a duplicate push, gossip or pull): two
      // hashes, no decryption.
      const seen = this.#seen.check(b)
      if (seen.duplicate) continue
      let r: LogRecord
      try {
        r = verifyRecord(at, b, { skipSignature: true, ...(seen.recordDigest === undefined ? {} : { recordDigest: seen.recordDigest }) })
      } catch (e) {
        reject(e)
        continue
      }
      const other = fresh.get(r.seq)
      if (other !== undefined && !sameId(other.id, r.id)) await this.#conflict(logId, other, r, reject, forks)
      else fresh.set(r.seq, r)
    }
    const frozen = (): number => this.#forks.seqOf(logId) ?? Number.POSITIVE_INFINITY
    const head = (): LogHead | undefined => this.store.logstore.head(this.thread.id, logId)
    // Records at seqs this peer has: the same identity is a duplicate (however it was sealed);
    // another one, if its writer signed it, proves a fork.
    for (const [seq, r] of [...fresh]) {
      if (seq >= frozen()) {
        fresh.delete(seq)
        continue
      }
      const h = head()
      if (h === undefined || seq > h.seq) continue
      fresh.delete(seq)
      const keptId = seq === h.seq ? h.id : await this.store.idAt(this.thread.id, logId, seq)
      if (keptId === undefined || sameId(keptId, r.id)) continue
      await this.#conflictWithStored(logId, seq, r, reject, forks)
    }
    // The run that continues the head: this batch's records first, then those held from before.
    const run: LogRecord[] = []
    let tip = head()
    for (;;) {
      const seq = (tip?.seq ?? 0) + 1
      if (seq >= frozen()) break
      const held = this.#held.take(logId, seq)
      const arrived = fresh.get(seq)
      if (held !== undefined && arrived !== undefined && !sameId(held.id, arrived.id)) {
        // One version held from before, another just arrived: if both are signed, a fork.
        await this.#conflict(logId, held, arrived, reject, forks)
        break
      }
      const next = arrived ?? held
      if (next === undefined) break
      fresh.delete(seq)
      if (!linksHead(next, tip)) {
        // Signed by its writer, a record that does not link the one before proves a fork at the
        // seq before it (two identities claimed for it).
        const before = run.at(-1)
        if (tip !== undefined && before === undefined) await this.#conflictWithStored(logId, tip.seq, next, reject, forks, true)
        else if (before !== undefined && signatureHolds(this.thread.id, before) && signatureHolds(this.thread.id, next)) {
          await this.#addFork({ logId, a: signedStatementOf(before), b: signedStatementOf(next) }, reject, forks)
        } else reject(new BrokenChainError('record does not link the record before it: an equivocation or a forgery', { threadId: this.id, logId, seq, cid: next.id.toString() }))
        break
      }
      run.push(next)
      tip = { id: next.id, seq: next.seq }
    }
    // What is left lies beyond a gap: hold it, if its own signature holds (bounded room, and only
    // records a writer signed may take it).
    for (const r of fresh.values()) {
      if (r.seq >= frozen()) continue
      if (!signatureHolds(this.thread.id, r)) {
        reject(verifyFailure(this.thread.id, r))
        continue
      }
      const held = this.#held.get(logId, r.seq)
      if (held !== undefined && !sameId(held.id, r.id)) {
        await this.#addFork(forkProofOf(logId, signedStatementOf(held), signedStatementOf(r)), reject, forks)
        continue
      }
      if (!this.#held.hold(r, now)) reject(new TooLargeError('too many out-of-order records held for this thread', { threadId: this.id, logId, seq: r.seq }))
    }
    if (this.#held.count !== heldBefore) this.events.emit('held', { count: this.#held.count, bytes: this.#held.bytes })
    // A fork found on the way freezes the log: nothing from the disputed seq on is stored.
    const verified = this.#verifyRun(run.filter((r) => r.seq < frozen()), reject)
    if (verified.length === 0) return nothing()
    if (this.store.logstore.log(this.thread.id, logId) === undefined) await this.store.logstore.addLog(this.thread.id, logId)
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
        const clock = effectiveClock(opened.header.clock, prevClock)
        prevClock = clock
        events.push(this.#event(command, logId, r.seq, clock, opened.header.time, r.id.toString(), logId === this.logKey?.id))
      }
    }
    const durable = this.#append(verified)
    const newest = verified[verified.length - 1] as LogRecord
    if (prevClock >= 0) this.#logClocks.set(logId, prevClock)
    this.#folded.set(logId, { id: newest.id, seq: newest.seq })
    if (logId === this.logKey?.id) this.#recovered(newest)
    return { ...(await this.#apply(events, rejected, durable)), stored: verified.length, forks }
  }

  /** This peer's own log came back from peers up to `newest`: write again once it reached its target. */
  #recovered(newest: LogRecord): void {
    this.#ownHead = { id: newest.id, seq: newest.seq }
    if (this.#ownRecovery !== undefined && newest.seq >= this.#ownRecovery) {
      this.#ownRecovery = undefined
      if (this.#writeBlocked instanceof CorruptStoreError) this.#writeBlocked = undefined
    }
  }

  /** Two records of this batch claim one seq: if both are signed, the writer forked its log. */
  async #conflict(logId: string, a: LogRecord, b: LogRecord, reject: (e: unknown) => void, forks: ForkedLog[]): Promise<void> {
    for (const r of [a, b]) {
      if (!signatureHolds(this.thread.id, r)) return reject(verifyFailure(this.thread.id, r))
    }
    await this.#addFork(forkProofOf(logId, signedStatementOf(a), signedStatementOf(b)), reject, forks)
  }

  /**
   * A record disagrees with the record this peer stored at `seq` (a different identity there, or,
   * with `next`, a `prev` that names another identity). Signed by the writer, it proves a fork;
   * not signed, it is a forgery by whoever sent it.
   */
  async #conflictWithStored(logId: string, seq: number, r: LogRecord, reject: (e: unknown) => void, forks: ForkedLog[], next = false): Promise<void> {
    if (!signatureHolds(this.thread.id, r)) return reject(verifyFailure(this.thread.id, r))
    let kept: LogRecord | undefined
    try {
      kept = await this.store.record(this.thread.id, logId, seq)
    } catch (e) {
      // This peer's own copy is damaged: the record that arrived may well be the right one.
      if (e instanceof ThreadsError) await this.repair(logId, e.seq ?? seq, e)
      return
    }
    if (kept === undefined) return
    const statement = signedStatementOf(r)
    await this.#addFork(next ? { logId, a: signedStatementOf(kept), b: statement } : forkProofOf(logId, signedStatementOf(kept), statement), reject, forks)
  }

  /**
   * Take a fork proof (found here, or sent by a peer): if it disputes a lower seq of its log than
   * any proof held, freeze the log before it on this peer, as on every other, and roll back what
   * was applied from the disputed seq on.
   *
   * @returns the fork when it changed what this peer holds.
   */
  async addForkProof(proof: ForkProof): Promise<ForkedLog | undefined> {
    const forks: ForkedLog[] = []
    let error: unknown
    const run = this.#ingesting.then(() => this.#addFork(proof, (e) => (error = e), forks, (e) => this.events.emit('rejected', e)))
    this.#ingesting = run.then(
      () => undefined,
      () => undefined
    )
    await run
    if (error !== undefined) throw error
    return forks[0]
  }

  /**
   * `reject` takes a proof that does not check out (its sender's fault); `report` the fork's
   * EquivocationError (its writer's doing), which an ingest lists in its result.
   */
  async #addFork(proof: ForkProof, reject: (e: unknown) => void, forks: ForkedLog[], report: (e: ThreadsError) => void = reject): Promise<void> {
    let fork: ForkedLog | undefined
    try {
      fork = await this.#forks.add(proof)
    } catch (e) {
      return reject(e)
    }
    if (fork === undefined) return
    forks.push(fork)
    this.#held.dropFrom(fork.logId, fork.seq)
    const error = this.#forks.errorOf(fork)
    if (fork.logId === this.logKey?.id) this.#writeBlocked = this.#forkedOwnLog(fork)
    report(error)
    this.events.emit('fork', fork)
    await this.#unapply(fork)
  }

  /** Roll back the events of a forked log from its disputed seq on (every peer ignores them). */
  async #unapply(fork: ForkedLog): Promise<void> {
    const folded = this.#folded.get(fork.logId)
    if (folded === undefined || folded.seq < fork.seq) return
    const inBase = this.#timeline.baseKey !== undefined
    if (inBase) {
      // Some of them may be folded into the snapshot or compacted base: fold from storage.
      await this.store.flush()
      await this.#load(false)
      this.#sinceSnapshot = Number.POSITIVE_INFINITY
    } else {
      this.#timeline.remove((e) => e.meta.logId === fork.logId && e.meta.seq >= fork.seq)
      const below = fork.seq > 1 ? await this.store.idAt(this.thread.id, fork.logId, fork.seq - 1) : undefined
      if (below === undefined) this.#folded.delete(fork.logId)
      else this.#folded.set(fork.logId, { id: below, seq: fork.seq - 1 })
      const kept = this.#timeline.events.filter((e) => e.meta.logId === fork.logId).at(-1)
      if (kept === undefined) this.#logClocks.delete(fork.logId)
      else this.#logClocks.set(fork.logId, kept.meta.clock)
      this.#sinceSnapshot = Number.POSITIVE_INFINITY
    }
    this.events.emit('applied', { events: [], state: this.state, replayed: true })
  }

  /** Check signatures of an identity-linked run: the newest signs for all; on failure, find the valid prefix. */
  #verifyRun(run: LogRecord[], reject: (e: unknown) => void): LogRecord[] {
    if (run.length === 0) return run
    const newest = run[run.length - 1] as LogRecord
    if (signatureHolds(this.thread.id, newest)) return run
    const ok: LogRecord[] = []
    for (const r of run) {
      if (!signatureHolds(this.thread.id, r)) {
        reject(verifyFailure(this.thread.id, r))
        break
      }
      ok.push(r)
    }
    return ok
  }

  async #apply(events: ThreadEvent[], rejected: ThreadsError[], durable: Promise<void>): Promise<Omit<IngestResult<S>, 'stored' | 'forks'>> {
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
      // A snapshot is a cache: one that cannot be written is reported, never thrown at nobody.
      this.#snapshotting = this.snapshot()
        .catch((e: unknown) => this.#snapshotFailed(e))
        .finally(() => {
          this.#snapshotting = undefined
        })
    }
  }

  #snapshotFailed(e: unknown): void {
    const error = e instanceof ThreadsError ? e : new SnapshotError(`the snapshot could not be written: ${String(e)}`, { threadId: this.id }, { cause: e })
    // Once per cause: a state that cannot be encoded would otherwise report at every interval.
    if (this.#lastSnapshotError === error.message) return
    this.#lastSnapshotError = error.message
    this.events.emit('rejected', error)
  }

  #lastSnapshotError: string | undefined

  /**
   * Write a snapshot of the current state, after the events in it are durable (a snapshot must
   * never hold an event that a crash could lose).
   *
   * @throws {@link SnapshotError} naming the path of a value dag-cbor cannot hold (`undefined`,
   * `NaN`, a `Date`, a class instance) in the state; {@link StorageFailedError} when storage refuses.
   */
  async snapshot(): Promise<void> {
    const readKey = this.thread.key.read
    if (readKey === undefined) return
    const heads: Record<string, number> = {}
    const ids: Record<string, CID> = {}
    for (const [log, h] of this.#folded) {
      heads[log] = h.seq
      ids[log] = h.id
    }
    const snap: Snapshot<S> = {
      state: this.state,
      count: this.#timeline.length,
      lastKey: this.#timeline.lastKey,
      heads,
      ids,
      clocks: Object.fromEntries(this.#logClocks)
    }
    this.#sinceSnapshot = 0
    await this.store.flush()
    await writeSnapshot(this.store.logstore.storage, this.thread.n, readKey, snap, this.#options.version)
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
  gaps(): Gap[] {
    return this.#held.gaps((logId) => this.store.logstore.head(this.thread.id, logId)?.seq ?? 0)
  }

  /** Resolves when every event so far is durable. */
  async flush(): Promise<void> {
    await this.store.flush()
    await this.#snapshotting
  }

  /** The log heads of the thread as this peer has them (by identity). */
  heads(): Map<string, LogHead> {
    return this.store.logstore.heads(this.thread.id)
  }

  /**
   * While this peer's own log is being filled again from peers (its storage was damaged): the
   * seq it must reach before commands are taken again. The network pulls the log meanwhile.
   */
  get ownLogRecovery(): number | undefined {
    return this.#ownRecovery
  }

  /**
   * Records of a log to serve to a peer, checked: a damaged stored record is never served. The
   * page stops before the first damaged record (which is reported and repaired from peers), and
   * its last record's signature is checked, because the receiver authenticates the page by it.
   */
  async records(logId: string, from: number, limit: number): Promise<LogRecord[]> {
    let page: LogRecord[]
    try {
      page = await this.store.records(this.thread.id, logId, { from, limit })
    } catch (e) {
      if (!(e instanceof ThreadsError)) throw e
      await this.repair(logId, e.seq ?? from, e)
      // What comes before the damaged record is still good.
      page = e.seq !== undefined && e.seq > from ? await this.store.records(this.thread.id, logId, { from, to: e.seq - 1 }).catch(() => []) : []
    }
    // A stored signature is checked only where a receiver relies on it: the newest of the page.
    while (page.length > 0 && !signatureHolds(this.thread.id, page[page.length - 1] as LogRecord)) {
      const bad = page.pop() as LogRecord
      this.#report(new CorruptStoreError('a stored record signature does not verify (damaged in storage, or stored unchecked inside a run)', { threadId: this.id, logId, seq: bad.seq }))
    }
    return page
  }

  /** The identity of the record at `seq` of a log, if this peer has it. */
  idAt(logId: string, seq: number): Promise<CID | undefined> {
    return this.store.idAt(this.thread.id, logId, seq)
  }
}

/** The error for a record whose signature does not hold: whoever sent it forged it. */
function verifyFailure(thread: ThreadId, r: LogRecord): ThreadsError {
  return new BadSignatureError('record signature does not verify with the log key (forged writer?)', { threadId: thread.toString(), logId: r.logId, seq: r.seq, cid: r.id.toString() })
}
