import type { CID } from 'multiformats/cid'
import { loadPart } from './loadPart.js'
import { encodeCommand, decodeCommand, type Command } from '../core/command.js'
import { AccessDeniedError, CorruptStoreError, ForkedLogError, MalformedRecordError, MisuseError, NotWriterError, ReducerError, StorageFailedError, ThreadsError, TooLargeError, UnknownServiceKeyError } from '../core/errors.js'
import type { ForkProof } from '../core/forkProof.js'
import { openSealed, publicKeyFromLogId, type LogKey } from '../core/keys.js'
import { prefetchActive } from '../core/crypto/index.js'
import { serviceKeyId, serviceKeyring, type AdmittedServiceKey, type ServiceKeyring } from '../core/serviceKey.js'
import { absorbServiceRotations, authKeysOf } from './serviceKeys.js'
import { MAX_SERVICE_EPOCHS } from '../core/serviceRotation.js'
import { createRecord, signatureHolds, verifyRecord, type LogHead, type LogRecord, type RecordBlocks } from '../core/record.js'
import type { ThreadInfo } from '../store/logstore/logstore.js'
import type { EventStore } from '../store/eventStore.js'
import { Emitter } from '../core/emitter.js'
import type { CommandResult, EngineEvents, IngestResult, Progress, Projection, ThreadEngineOptions } from './engineTypes.js'
import { Forks, type ForkedLog } from './forks.js'
import { HeldRecords, type Gap } from './heldRecords.js'
import { adoptOrphans } from './integrity.js'
import { RecordIntake } from './intake.js'
import { readThread } from './load.js'
import { makeEvent, openRecords, prefetchOpen, sealedOf, type Sealed } from './openEvents.js'
import { SeenRecords } from './seenRecords.js'
import { Snapshotter, type SnapshotContent } from './snapshotter.js'
import { compareOrder, effectiveClock, type ThreadEvent } from './threadEvent.js'
import { BehindBaseError, Timeline, type Fold } from './timeline.js'
import { MAX_TXN_BYTES, MAX_TXN_RECORDS, TXN_COMMIT, TxnGate, type Settled } from './transactions.js'
import { inCuts, type Composite, type CutRange, type SystemProjection } from './system.js'
import { macrotask } from '../platform/scheduler.js'

export type { CommandResult, EngineEvents, IngestResult, Progress, Projection, ThreadEngineOptions } from './engineTypes.js'

interface Transaction {
  readonly records: LogRecord[]
  readonly head: LogHead | undefined
  readonly clock: number
  readonly ownClock: number | undefined
  readonly ownSettled: Settled | undefined
  bytes: number
  /** Settles with the transaction: its commands are durable when it is, and never if it aborts. */
  readonly durable: Promise<void>
  readonly settle: { resolve: () => void; reject: (e: unknown) => void }
}


/** Ingest rounds for one batch that takes service keys as it goes (see #ingestAcrossRotations). */
const MAX_INGEST_ROUNDS = 64

/** Records of a CAR ingested at once: a page, as a pull would bring. */
const IMPORT_CHUNK = 500
type CutMap = Readonly<Record<string, readonly CutRange[]>>
type DeletedMap = Readonly<Record<string, { readonly logId?: string; readonly seq?: number }>>
const NO_CUTS: CutMap = {}
const NO_DELETED: DeletedMap = {}
/** Rounds of {@link ThreadEngine.#applyDeletes}: the owner's cuts settle in one, the rest in the next. */
const MAX_DELETE_ROUNDS = 4
const sameRanges = (a: readonly CutRange[] | undefined, b: readonly CutRange[] | undefined): boolean =>
  (a?.length ?? 0) === (b?.length ?? 0) && (a ?? []).every((r, i) => r.from === b?.[i]?.from && r.to === b[i]?.to)
const ownRanges = (m: CutMap, log: string): readonly CutRange[] | undefined => (Object.hasOwn(m, log) ? m[log] : undefined)

/** One macrotask turn (setImmediate in Node, a MessageChannel message in browsers). */
const yieldToEventLoop = macrotask

/**
 * The event-sourcing engine of one thread (paper section 4): the dispatcher that turns commands
 * into signed, encrypted, stored events; the single ingest path of peer records; one total order
 * with checkpoints; snapshots; transactions applied whole; forks found and frozen; storage checked
 * where it is read. Independent of Redux: a projection is any pure fold.
 *
 * It is a facade over named parts: {@link RecordIntake} (verify, deduplicate, order, find forks),
 * `HeldRecords`, `Forks`, `TxnGate`, `readThread` (load), `Snapshotter`, the `Timeline`.
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
  readonly #held: HeldRecords
  readonly #seen = new SeenRecords()
  readonly #intake: RecordIntake
  readonly #snapshots: Snapshotter<Composite<S>>
  #gate = new TxnGate()
  /** The system projection (access control), or undefined for a Raw thread. */
  readonly #system: SystemProjection<unknown> | undefined
  /** Events deleted by admitted delete events anywhere in the timeline: the app fold skips them. */
  #deleted: DeletedMap = NO_DELETED
  /** Records the system state removes wherever they sort (strong remove), as of the tip. */
  #cuts: CutMap = NO_CUTS
  /** Records whose system events are removed too, wherever they sort (the owner's cuts). */
  #systemCuts: CutMap = NO_CUTS
  /**
   * Events the last fold kept from the app (system events, refused, deleted, cut, or a reducer
   * threw): the `applied` event leaves them out, so the store never sees them as actions.
   */
  readonly #skipped = new Set<string>()
  /** Accepted rotation events already opened (or found not sealed to this peer). */
  readonly #checkedRotations = new Set<string>()
  /** Admitted service rotations already looked for in storage (each opened once). */
  readonly #checkedServiceRotations = new Set<string>()
  /** A fold from storage under way (a delete or cut reached into the compacted base). */
  #fullFold: Promise<void> | undefined
  readonly #denied = new Set<string>()
  /** Logs stopped at a record sealed under a read key epoch this peer does not hold yet. */
  readonly #awaiting = new Map<string, number>()
  #timeline: Timeline<Composite<S>>
  /** Highest effective clock applied: a new local event gets one more (DESIGN.md section 4 rule 4). */
  #clock = 0
  /** Per log, the effective clock of its last record opened: the next one's clock starts there. */
  readonly #logClocks = new Map<string, number>()
  /** Per log, the last record the projection has taken in (applied, or skipped for good). */
  readonly #folded = new Map<string, Settled>()
  #ownHead: LogHead | undefined
  /** Why this peer may not write now (damaged keys, its own log forked or being recovered, storage). */
  #writeBlocked: ThreadsError | undefined
  /** While this peer's own log is being filled again from peers: the seq it must reach. */
  #ownRecovery: number | undefined
  #txn: Transaction | undefined
  #pending = 0
  #ingesting: Promise<void> = Promise.resolve()
  #lastExpiry = 0
  #failing: Promise<void> | undefined
  #retrying = false
  #lastRetry = 0
  readonly #damage: ThreadsError[] = []
  readonly #reducerFailures = new Set<string>()
  private constructor(options: ThreadEngineOptions<S>, thread: ThreadInfo, logKey: LogKey | undefined, forks: Forks) {
    this.#options = options
    this.store = options.store
    this.thread = thread
    this.logKey = logKey
    this.#forks = forks
    this.#projection = options.projection
    this.#system = options.system
    this.#held = new HeldRecords({
      ...(options.maxHeldPerLog === undefined ? {} : { maxPerLog: options.maxHeldPerLog }),
      ...(options.maxHeldBytes === undefined ? {} : { maxBytes: options.maxHeldBytes })
    })
    this.#intake = new RecordIntake({ thread, store: this.store, forks, held: this.#held, seen: this.#seen })
    const version = this.#version
    this.#snapshots = new Snapshotter<Composite<S>>({
      store: this.store,
      thread,
      every: options.snapshotEvery ?? 1000,
      ...(version === undefined ? {} : { version }),
      capture: () => this.#capture(),
      report: (e) => this.events.emit('rejected', e),
      afterWrite: () => {
        if (options.compactOnSnapshot === true) this.compact()
      }
    })
    this.#timeline = this.#newTimeline(this.#initial(), undefined)
    this.#ownHead = logKey === undefined ? undefined : this.store.logstore.head(thread.id, logKey.id)
  }

  /**
   * Open a thread's engine: check what storage holds (keys, heads, records beyond them), load the
   * newest snapshot and fold the events after it. Damage found is kept in {@link damage} and
   * emitted as `rejected` by {@link reportDamage}, once a listener can hear it.
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
    for (const report of await adoptOrphans(engine.store, thread)) {
      if (report.error === undefined) continue
      engine.#damage.push(report.error)
      // Writing at a seq this peer may already have sent would fork its log.
      if (report.logId === own?.id) engine.#blockOwnLog(report.highest, report.error)
    }
    if (own !== undefined) engine.#ownHead = engine.store.logstore.head(thread.id, own.id)
    await engine.#load(true)
    engine.#skipped.clear()
    await engine.#collectKeys()
    return engine
  }

  /** Damage found when the thread was opened (keys, heads, records, snapshot), not yet reported. */
  get damage(): readonly ThreadsError[] {
    return this.#damage
  }

  /** Emit the damage found at open on `events` as `rejected` (once), for the status stream. */
  reportDamage(): void {
    for (const e of this.#damage.splice(0)) this.events.emit('rejected', e)
  }

  #report(e: ThreadsError): void {
    this.#damage.push(e)
    if (this.events.listenerCount('rejected') > 0) this.reportDamage()
  }

  #initial(): Composite<S> {
    // null, not undefined: the state is snapshotted as dag-cbor.
    return { system: this.#system?.initial ?? null, app: this.#projection.initial }
  }

  /**
   * The fold of the whole state: system events change the system state; an app event reaches the
   * app's reducers only if the system admits it at its position and no admitted delete names it.
   * Both are decided identically on every peer. The app fold is made total: a reducer that throws
   * on an event leaves the state as it was, on every peer alike, reported once as a
   * {@link ReducerError}. Commit records change nothing.
   */
  readonly #fold: Fold<Composite<S>> = (state, event) => {
    if (event.command.type === TXN_COMMIT) return state
    const system = this.#system
    if (system !== undefined) {
      const refused = system.admit(state.system, event)
      if (system.isSystem(event)) {
        this.#skipped.add(event.meta.id)
        if (refused !== undefined) {
          this.#reportOnce(this.#denied, event, refused)
          return state
        }
        // The owner removed its author from this record on, wherever it sorts.
        if (inCuts(this.#systemCuts, event.meta.logId, event.meta.seq)) {
          this.#reportOnce(this.#denied, event, new AccessDeniedError('the author was removed by the owner from this record on', { threadId: event.meta.threadId, logId: event.meta.logId, seq: event.meta.seq, cid: event.meta.id }))
          return state
        }
        const next = system.fold(state.system, event)
        return next === state.system ? state : { system: next, app: state.app }
      }
      if (refused !== undefined || Object.hasOwn(this.#deleted, event.meta.id)) {
        this.#skipped.add(event.meta.id)
        if (refused !== undefined) this.#reportOnce(this.#denied, event, refused)
        return state
      }
      // Cut by a later revocation although it sorts before it (a revoked writer backdating its
      // records, or one its revoker had not yet seen): removed on every peer alike.
      if (inCuts(this.#cuts, event.meta.logId, event.meta.seq)) {
        this.#skipped.add(event.meta.id)
        this.#reportOnce(this.#denied, event, new AccessDeniedError('the author was removed from this record on', { threadId: event.meta.threadId, logId: event.meta.logId, seq: event.meta.seq, cid: event.meta.id }))
        return state
      }
    }
    try {
      const app = this.#projection.fold(state.app, event)
      return app === state.app ? state : { system: state.system, app }
    } catch (cause) {
      const m = event.meta
      const why = cause instanceof Error ? cause.message : String(cause)
      this.#skipped.add(m.id)
      this.#reportOnce(this.#reducerFailures, event, new ReducerError(`a reducer threw on \`${event.command.type}\`: the event is skipped on every peer (${why})`, { threadId: m.threadId, logId: m.logId, seq: m.seq, cid: m.id }, { cause }))
      return state
    }
  }

  /** Report an error about an event once (a replay folds it again). */
  #reportOnce(seen: Set<string>, event: ThreadEvent, error: ThreadsError): void {
    const key = `${event.meta.logId}\u0000${event.meta.seq}`
    if (seen.has(key)) return
    if (seen.size >= 1024) seen.clear()
    seen.add(key)
    this.events.emit('rejected', error)
  }

  /**
   * After events were inserted or removed: if the system state now deletes or cuts other events
   * than the fold assumed (a delete sorts after what it deletes; a cut reaches records that sort
   * before it; a late revocation can undo a delete), fold again from the earliest event whose
   * standing changed, until nothing changes (the owner's cuts settle in one round, since no cut
   * removes the owner's events; the rest in the next). Returns `'full'` when a change may lie in
   * the compacted or snapshotted base, which only a fold from storage can redo; true when it
   * folded again.
   */
  #applyDeletes(): boolean | 'full' {
    const system = this.#system
    if (system === undefined) return false
    let refolded = false
    for (let round = 0; round < MAX_DELETE_ROUNDS; round++) {
      const sys = this.#timeline.state.system
      const deleted = system.deleted(sys)
      const cuts = system.cuts?.(sys) ?? NO_CUTS
      const systemCuts = system.systemCuts?.(sys) ?? NO_CUTS
      if (deleted === this.#deleted && cuts === this.#cuts && systemCuts === this.#systemCuts) break
      const old = { deleted: this.#deleted, cuts: this.#cuts, systemCuts: this.#systemCuts }
      this.#deleted = deleted
      this.#cuts = cuts
      this.#systemCuts = systemCuts
      // What changed in value (a refold makes new objects of equal content).
      const ids = [...Object.keys(deleted).filter((id) => !Object.hasOwn(old.deleted, id)), ...Object.keys(old.deleted).filter((id) => !Object.hasOwn(deleted, id))]
      const logs = new Set<string>()
      for (const [now, was] of [[cuts, old.cuts], [systemCuts, old.systemCuts]] as const) {
        for (const log of new Set([...Object.keys(now), ...Object.keys(was)])) if (!sameRanges(ownRanges(now, log), ownRanges(was, log))) logs.add(log)
      }
      if (ids.length === 0 && logs.size === 0) continue
      if (this.#timeline.baseKey !== undefined && this.#reachesBase(ids, logs, { ...old.deleted, ...deleted }, [cuts, old.cuts, systemCuts, old.systemCuts])) return 'full'
      const changedIds = new Set(ids)
      const at = this.#timeline.events.findIndex((e) => changedIds.has(e.meta.id) || logs.has(e.meta.logId))
      if (at < 0) continue
      this.#timeline.refoldFrom(at)
      refolded = true
    }
    return refolded
  }

  /**
   * Whether a changed delete or cut may concern an event in the timeline's base. A delete names
   * its target's log and seq (a hint; without one, a target absent after the base is assumed in
   * it); a cut, the seqs of its ranges. A log's events up to `baseSeq` are in the base.
   */
  #reachesBase(ids: readonly string[], logs: ReadonlySet<string>, targets: DeletedMap, maps: readonly CutMap[]): boolean {
    const events = this.#timeline.events
    const baseSeq = (log: string): number => {
      const first = events.find((e) => e.meta.logId === log)
      return first !== undefined ? first.meta.seq - 1 : (this.#folded.get(log)?.seq ?? 0)
    }
    for (const id of ids) {
      const hint = Object.hasOwn(targets, id) ? targets[id] : undefined
      if (hint?.logId !== undefined && hint.seq !== undefined) {
        if (hint.seq <= baseSeq(hint.logId)) return true
      } else if (!events.some((e) => e.meta.id === id)) return true
    }
    for (const log of logs) {
      const from = Math.min(...maps.flatMap((m) => (ownRanges(m, log) ?? []).map((r) => r.from)))
      if (from <= baseSeq(log)) return true
    }
    return false
  }

  /** Fold from storage (outside the caller's turn): a delete or cut reached the compacted base. */
  #foldAllLater(): void {
    if (this.#fullFold !== undefined) return
    this.#fullFold = (async () => {
      try {
        await this.#ingesting
        await this.store.flush()
        await this.#load(false)
        this.#skipped.clear()
        this.#snapshots.stale()
        this.events.emit('applied', { events: [], state: this.state, replayed: true })
      } catch (cause) {
        this.events.emit('rejected', cause instanceof ThreadsError ? cause : new StorageFailedError(`reading storage back failed: ${String(cause)}`, { threadId: this.id }, { cause }))
      } finally {
        this.#fullFold = undefined
      }
    })()
  }

  /** The version snapshots must match: the app projection's and the system rules'. */
  get #version(): string | undefined {
    const system = this.#system?.version
    return system === undefined ? this.#options.version : `${this.#options.version ?? ''}|${system}`
  }

  #newTimeline(base: Composite<S>, baseKey: Parameters<typeof compareOrder>[0] | undefined): Timeline<Composite<S>> {
    return new Timeline(this.#fold, base, {
      ...(this.#options.checkpoints === undefined ? {} : { policy: this.#options.checkpoints }),
      ...(baseKey === undefined ? {} : { baseKey })
    })
  }

  /** The projection's state after every applied event. */
  get state(): S {
    return this.#timeline.state.app
  }

  /** The system state (access control) after every applied event; undefined for a Raw thread. */
  get system(): unknown {
    return this.#timeline.state.system
  }

  /** The timeline (events in total order), read-only. Its states hold the system and the app state. */
  get timeline(): Timeline<Composite<S>> {
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

  /**
   * While this peer's own log is being filled again from peers (its storage was damaged): the
   * seq it must reach before commands are taken again. The network pulls the log meanwhile.
   */
  get ownLogRecovery(): number | undefined {
    return this.#ownRecovery
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
    try {
      const below = seq > 1 ? await this.store.idAt(this.thread.id, logId, seq - 1) : undefined
      await this.store.setHead(this.thread.id, logId, below === undefined ? undefined : { id: below, seq: seq - 1 })
    } catch (e) {
      // Storage refuses even the repair: report it; the damage is found again at the next read.
      this.#report(e instanceof ThreadsError ? e : new StorageFailedError(`storage refused a write: ${e instanceof Error ? e.message : String(e)}`, { threadId: this.id, logId }, { cause: e }))
    }
    if (logId === this.logKey?.id) this.#ownHead = this.store.logstore.head(this.thread.id, logId)
  }

  async #load(useSnapshot: boolean): Promise<void> {
    const loaded = await readThread<Composite<S>>({
      store: this.store,
      thread: this.thread,
      forks: this.#forks,
      ownLogId: this.logKey?.id,
      version: this.#version,
      useSnapshot,
      report: (e) => (e.name === 'DecryptionError' || e.name === 'MalformedRecordError' ? this.events.emit('rejected', e) : this.#report(e)),
      progress: (p) => this.#progress(p)
    })
    // From here to the end nothing awaits (but the fallback, which starts over): commands made
    // while storage was being read see the engine whole, never half rebuilt.
    const timeline = this.#newTimeline(loaded.snap?.state ?? this.#initial(), loaded.snap?.lastKey)
    // Deletes the snapshot knows are deletes still: its app state already left their targets out.
    const snapSystem = loaded.snap?.state.system
    this.#deleted = (snapSystem === undefined ? undefined : this.#system?.deleted(snapSystem)) ?? NO_DELETED
    this.#cuts = (snapSystem === undefined ? undefined : this.#system?.cuts?.(snapSystem)) ?? NO_CUTS
    this.#systemCuts = (snapSystem === undefined ? undefined : this.#system?.systemCuts?.(snapSystem)) ?? NO_CUTS
    try {
      timeline.insert(loaded.events)
    } catch (e) {
      // An event sorts before the snapshot (it arrived late, after the snapshot was written):
      // the snapshot no longer describes a prefix of the order, so fold everything.
      if (e instanceof BehindBaseError && useSnapshot) {
        await this.#load(false)
        this.#snapshots.stale()
        return
      }
      throw e
    }
    // Local commands applied while storage was being read that the reads missed (only those
    // storage holds or will: after a failed write the event store's heads went back).
    const settledSeq = (log: string): number => loaded.settled.get(log)?.seq ?? 0
    const headSeq = (log: string): number => this.store.logstore.head(this.thread.id, log)?.seq ?? 0
    const meanwhile = this.#timeline.events.filter((e) => !timeline.has(e.meta) && settledSeq(e.meta.logId) < e.meta.seq && e.meta.seq <= headSeq(e.meta.logId))
    let maxClock = loaded.maxClock
    if (meanwhile.length > 0) timeline.insert(meanwhile)
    for (const e of meanwhile) {
      const m = e.meta
      loaded.logClocks.set(m.logId, Math.max(loaded.logClocks.get(m.logId) ?? -1, m.clock))
      loaded.settled.set(m.logId, { seq: m.seq, id: (this.store.logstore.head(this.thread.id, m.logId) as LogHead).id, clock: m.clock })
      maxClock = Math.max(maxClock, m.clock)
    }
    this.#timeline = timeline
    if (this.#applyDeletes() === 'full') {
      // A delete or cut among the new events reaches into the snapshot: fold everything.
      await this.#load(false)
      this.#snapshots.stale()
      return
    }
    this.#awaiting.clear()
    for (const [log, seq] of loaded.awaiting) this.#awaiting.set(log, seq)
    this.#gate = loaded.gate
    this.#snapshots.loaded(loaded.snap?.lastKey, loaded.snapshotStale)
    this.#logClocks.clear()
    for (const [log, c] of loaded.logClocks) this.#logClocks.set(log, c)
    this.#folded.clear()
    for (const [log, s] of loaded.settled) this.#folded.set(log, s)
    // Clocks only grow: the events only ever grow too.
    this.#clock = Math.max(this.#clock, maxClock)
    for (const d of loaded.damaged) await this.repair(d.logId, d.seq, d.error)
  }

  /**
   * Turn a command into an event of this peer's log: signed, encrypted, appended (durable when
   * `durable` resolves) and applied, all before this returns. `apply` lets the caller fold the
   * event itself (Redux runs its reducers) and hand back the state after it.
   *
   * @throws {@link NotWriterError} on a thread where this peer has no log; the error in
   * {@link writeBlocked} while writing would fork or corrupt the log; {@link TooLargeError} past
   * a transaction's limits.
   */
  command(command: Command, apply?: (event: ThreadEvent) => S, options: { readonly service?: Uint8Array } = {}): CommandResult<S> {
    const logKey = this.#writer()
    const body = encodeCommand(command)
    const txn = this.#txn
    if (txn !== undefined && (txn.records.length + 1 >= MAX_TXN_RECORDS || txn.bytes + body.length > MAX_TXN_BYTES)) {
      throw new TooLargeError(`a transaction holds at most ${MAX_TXN_RECORDS - 1} commands and ${MAX_TXN_BYTES} bytes of them`, { threadId: this.id })
    }
    const record = this.#createRecord(logKey, body, txn === undefined ? undefined : (txn.head?.seq ?? 0) + 1, options.service)
    // Fold what every other peer will decode, not the object dispatched: dag-cbor normalises a
    // few values (-0, lone surrogates), and the author must not see a different action.
    const event = makeEvent(decodeCommand(body), this.#metaOf(record.record, record.clock))
    // At the tip (always, but after a clock attack) reducers run before anything is committed:
    // if one throws, the command leaves no trace. Below the tip, the engine folds it in order, as
    // every other peer will, and the store hears of it as a replay.
    const atTip = this.#timeline.lastKey === undefined || compareOrder(event.meta, this.#timeline.lastKey) > 0
    // A command the system (access control) would ignore is refused before anything is stored.
    const tip = this.#timeline.state
    const refused = this.#system?.admit(tip.system, event)
    if (refused !== undefined) throw refused
    // The author's own reducers may refuse the command by throwing: no trace then (unlike a
    // remote event, which every peer skips alike).
    let stateAfter: Composite<S> | undefined
    if (atTip) {
      stateAfter =
        this.#system?.isSystem(event) === true
          ? { system: this.#system.fold(tip.system, event), app: tip.app }
          : { system: tip.system, app: apply === undefined ? this.#projection.fold(tip.app, event) : apply(event) }
    }
    this.#advanceOwn(record.record, record.clock, txn === undefined)
    const inserted = atTip ? undefined : this.#timeline.insert([event])
    const composite = inserted === undefined ? this.#timeline.append(event, stateAfter) : inserted.state
    const deleting = this.#applyDeletes()
    if (deleting === 'full') this.#foldAllLater()
    const state = deleting === true ? this.state : composite.app
    let durable: Promise<void>
    if (txn !== undefined) {
      txn.records.push(record.record)
      txn.bytes += body.length
      durable = txn.durable
    } else {
      durable = this.#append([record.record])
      // Sent only once stored: a record peers hold must never be one this peer could lose.
      durable.then(() => this.events.emit('recorded', { records: [record.record] }), () => undefined)
    }
    // A system event (an ACL change) is the system's, never an app action.
    const reaching = this.#system?.isSystem(event) === true ? [] : this.#reaching([event])
    this.events.emit('applied', { events: reaching, state, replayed: inserted !== undefined || deleting === true })
    this.#snapshots.applied(1, this.#txn !== undefined)
    return { event, record: record.record, state, durable }
  }

  #writer(): LogKey {
    const logKey = this.logKey
    if (logKey === undefined) throw new NotWriterError('this peer has no log in the thread (it was invited to read or follow): it cannot write', { threadId: this.id })
    if (this.#writeBlocked !== undefined) {
      if (this.#writeBlocked instanceof StorageFailedError) this.#retryStorage()
      throw this.#writeBlocked
    }
    return logKey
  }

  /** Sign the next record of this peer's log; its clock follows the same rule as everyone's. */
  #createRecord(logKey: LogKey, body: Uint8Array, txn: number | undefined, service?: Uint8Array): { record: LogRecord; clock: number } {
    const ownClock = this.#logClocks.get(logKey.id) ?? -1
    const clock = effectiveClock(Math.min(this.#clock + 1, Number.MAX_SAFE_INTEGER), ownClock)
    const epoch = this.#newestEpoch()
    // Sealed under the newest service key held (a rotation's key once it came).
    const svc = this.serviceKeys().newest()
    const record = createRecord({
      logKey,
      threadKey: { service: svc.key, read: this.#keyFor(epoch) },
      epoch,
      serviceEpoch: svc.epoch,
      ...(service === undefined ? {} : { service }),
      thread: this.thread.id,
      body,
      clock,
      time: (this.#options.now ?? Date.now)(),
      ...(this.#ownHead === undefined ? {} : { prev: this.#ownHead }),
      ...(txn === undefined ? {} : { txn })
    })
    return { record, clock }
  }

  /** The read key of an epoch, if this peer holds it (0: the thread's first). */
  readonly #keyFor = (epoch: number): Uint8Array | undefined => (epoch === 0 ? this.thread.key.read : this.thread.readKeys.get(epoch))

  /**
   * The newest read key epoch this peer holds *and the order has accepted* (a folded rotation
   * names it): new records are sealed under it. A key kept for a rotation the order refused is
   * never used, so nobody writes what the other readers cannot open.
   */
  #newestEpoch(): number {
    const system = this.#system
    const accepted = system?.rotations === undefined ? undefined : new Set(system.rotations(this.#timeline.state.system).map((r) => r.epoch))
    let top = 0
    for (const e of this.thread.readKeys.keys()) if (accepted === undefined || accepted.has(e)) top = Math.max(top, e)
    return top
  }

  /**
   * Rotations the system state names whose key this peer does not hold: open the key sealed to
   * this peer in the rotation event (if it names this peer), keep it, and take the records that
   * waited for it.
   */
  async #collectKeys(): Promise<void> {
    const system = this.#system
    const identity = this.#options.identity ?? this.logKey
    if (system?.rotations === undefined || system.sealedKeyFor === undefined || identity === undefined) return
    let added = false
    let replaced = false
    for (const { epoch, event: id } of system.rotations(this.#timeline.state.system)) {
      // Each accepted rotation is opened once (an X25519 agreement), whether or not a key for its
      // epoch is held already: a key kept for a rotation the order refused is replaced by this one.
      if (this.#checkedRotations.has(id)) continue
      const event = this.#timeline.events.find((e) => e.meta.id === id)
      if (event === undefined) continue
      if (this.#checkedRotations.size < 4096) this.#checkedRotations.add(id)
      const sealed = system.sealedKeyFor(event, epoch, identity.id)
      if (sealed === undefined) continue
      let key: Uint8Array
      try {
        key = openSealed(identity, sealed)
      } catch (e) {
        // Reported once: a box that does not open now never will.
        this.events.emit('rejected', e instanceof ThreadsError ? e : new ThreadsError(String(e)))
        continue
      }
      const held = this.#keyFor(epoch)
      if (held !== undefined && held.length === key.length && held.every((b, i) => b === key[i])) continue
      await this.store.logstore.addReadKey(this.thread.id, epoch, key, { replace: true })
      if (held === undefined) added = true
      else replaced = true
    }
    // Records already opened (or found unreadable) under the wrong key: fold from storage.
    if (replaced) this.#foldAllLater()
    else if (added) await this.#retryAwaiting()
    await this.#collectServiceKeys()
  }

  /**
   * The service rotations this peer's ACL fold admitted whose key it lacks (or holds another key
   * for, one an invite planted): taken from the stored rotate record itself, from any log, this
   * peer's own included. The owner seals every rotation to itself too, so an owner that crashed
   * after its rotate record was durable but before it kept the key takes the key here, when it
   * opens from storage or next folds, instead of sealing on under the retired key.
   */
  async #collectServiceKeys(): Promise<void> {
    const identity = this.#options.identity ?? this.logKey
    const admitted = this.#admittedServiceRotations()
    if (admitted === undefined || identity === undefined) return
    const records: LogRecord[] = []
    for (const a of admitted) {
      const held = this.thread.serviceKeys.get(a.epoch)
      if (held !== undefined && (a.id === undefined || sameBytes(serviceKeyId(held), a.id))) continue
      if (a.log === undefined || a.seq === undefined || this.#checkedServiceRotations.has(a.event)) continue
      if (this.#checkedServiceRotations.size < 4096) this.#checkedServiceRotations.add(a.event)
      const found = await this.store.records(this.thread.id, a.log, { from: a.seq, limit: 1 }).catch(() => [] as LogRecord[])
      const record = found[0]
      if (record !== undefined && record.seq === a.seq && record.id.toString() === a.event) records.push(record)
    }
    if (records.length === 0) return
    const byEpoch = new Map(admitted.map((a) => [a.epoch, a.id]))
    // Oldest first: each rotation's record is sealed under the key the one before yields.
    records.sort((x, y) => (x.serviceEpoch ?? 0) - (y.serviceEpoch ?? 0))
    const added = await absorbServiceRotations({
      thread: this.thread,
      logstore: this.store.logstore,
      identity,
      records,
      report: (e) => this.events.emit('rejected', e),
      admittedId: (epoch) => byEpoch.get(epoch)
    })
    if (added) this.events.emit('serviceKey', { epoch: this.serviceKeys().newest().epoch })
  }

  /**
   * For a peer that reads an ACL thread: the service rotations its fold admitted (none before the
   * owner's init is folded). `undefined` elsewhere (a follower, a thread without an ACL).
   */
  #admittedServiceRotations(): ReturnType<NonNullable<SystemProjection<unknown>['serviceRotations']>> | undefined {
    const system = this.#system
    if (this.thread.key.read === undefined || system?.serviceRotations === undefined) return undefined
    return system.serviceRotations(this.#timeline.state.system)
  }

  /** Logs that waited for a read key: open what now opens, in order, and apply it. */
  async #retryAwaiting(): Promise<void> {
    for (const [logId, from] of [...this.#awaiting]) {
      const head = this.store.logstore.head(this.thread.id, logId)
      if (head === undefined || from > head.seq) {
        this.#awaiting.delete(logId)
        continue
      }
      const sealed: Sealed[] = []
      for await (const stored of this.store.events(this.thread.id, logId, { from })) sealed.push({ logId, seq: stored.seq, id: stored.id, epoch: stored.epoch, headerBox: stored.headerBox, bodyBox: stored.bodyBox })
      const { opened, clock, blockedAt } = openRecords(this.#keyFor, this.id, sealed, this.#logClocks.get(logId) ?? -1, logId === this.logKey?.id, (e) => this.events.emit('rejected', e))
      if (blockedAt === undefined) this.#awaiting.delete(logId)
      else this.#awaiting.set(logId, blockedAt)
      if (opened.length === 0) continue
      this.#logClocks.set(logId, clock)
      const { apply, settled } = this.#gate.pass(logId, opened)
      if (settled !== undefined) this.#folded.set(logId, settled)
      await this.#apply(apply, [], Promise.resolve())
    }
  }

  #metaOf(record: LogRecord, clock: number): ThreadEvent['meta'] {
    return { threadId: this.id, author: record.logId, logId: record.logId, seq: record.seq, clock, time: (this.#options.now ?? Date.now)(), id: record.id.toString(), local: true }
  }

  #advanceOwn(record: LogRecord, clock: number, settles: boolean): void {
    this.#ownHead = { id: record.id, seq: record.seq }
    this.#clock = Math.max(this.#clock, clock)
    this.#logClocks.set(record.logId, clock)
    if (settles) this.#folded.set(record.logId, { id: record.id, seq: record.seq, clock })
  }

  /**
   * Run `fn` as one transaction (paper section 4.1.3): the commands it makes are applied as
   * they are made, stored all or nothing with a commit record after them, and applied whole on
   * every other peer, however they travel. If `fn` throws, none is stored, the state returns to
   * what it was, and the error is rethrown after `rollback` has been told the state.
   *
   * @throws {@link TooLargeError} past {@link MAX_TXN_RECORDS} commands or {@link MAX_TXN_BYTES}.
   */
  transaction<T>(fn: () => T, rollback?: (state: S) => void): { result: T; durable: Promise<void> } {
    if (this.#txn !== undefined) return { result: fn(), durable: this.#txn.durable }
    let settle: Transaction['settle'] = { resolve: () => undefined, reject: () => undefined }
    const txnDurable = new Promise<void>((resolve, reject) => (settle = { resolve, reject }))
    // Nobody need wait on it: an abort must not surface as an unhandled rejection.
    txnDurable.catch(() => undefined)
    const ownId = this.logKey?.id
    const txn: Transaction = {
      records: [],
      head: this.#ownHead,
      clock: this.#clock,
      ownClock: ownId === undefined ? undefined : this.#logClocks.get(ownId),
      ownSettled: ownId === undefined ? undefined : this.#folded.get(ownId),
      bytes: 0,
      durable: txnDurable,
      settle
    }
    this.#txn = txn
    let result: T
    try {
      result = fn()
      if (result instanceof Promise) throw new MisuseError('a transaction function must be synchronous: it runs between two dispatches', { threadId: this.id })
    } catch (e) {
      this.#txn = undefined
      this.#timeline.dropNewest(txn.records.length)
      // A delete or cut the transaction made is gone with it.
      if (this.#applyDeletes() === 'full') this.#foldAllLater()
      const state = this.#timeline.state.app
      this.#ownHead = txn.head
      this.#clock = txn.clock
      if (ownId !== undefined) {
        if (txn.ownClock === undefined) this.#logClocks.delete(ownId)
        else this.#logClocks.set(ownId, txn.ownClock)
        if (txn.ownSettled === undefined) this.#folded.delete(ownId)
        else this.#folded.set(ownId, txn.ownSettled)
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
    // The commit record: peers apply the transaction when it is there, all at once.
    const from = (txn.head?.seq ?? 0) + 1
    const commit = this.#createRecord(this.logKey as LogKey, encodeCommand({ type: TXN_COMMIT, payload: { from } }), from)
    const commitEvent = makeEvent({ type: TXN_COMMIT, payload: { from } }, this.#metaOf(commit.record, commit.clock))
    this.#advanceOwn(commit.record, commit.clock, true)
    this.#timeline.append(commitEvent, this.#timeline.state)
    const records = [...txn.records, commit.record]
    const durable = this.#append(records)
    durable.then(txn.settle.resolve, txn.settle.reject)
    durable.then(() => this.events.emit('recorded', { records }), () => undefined)
    this.#snapshots.applied(0, false)
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
        this.#skipped.clear()
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
   * one log freeze it (a fork proof); transactions apply whole; the rest are stored and applied
   * in the total order. Bad records are refused with a typed error in `rejected` (and on
   * `events`), never thrown.
   */
  ingest(logId: string, blocks: readonly RecordBlocks[]): Promise<IngestResult<S>> {
    // One ingest at a time per thread, each reading the heads the previous one moved, and a turn
    // of the event loop between two: a long sync must not starve timers and sockets (libp2p
    // drops connections whose pings go unanswered).
    const run = this.#ingesting.then(yieldToEventLoop).then(() => this.#ingestAcrossRotations(logId, blocks))
    this.#ingesting = run.then(
      () => undefined,
      () => undefined
    )
    return run
  }

  /**
   * Ingest, and again while it took a service key and refused records under a key it lacked: a
   * batch (a pull page) that holds a rotation and records sealed under its key opens whole, not
   * one rotation per round with peers (a red-team round found n rotations taking n rounds). The
   * records already stored are duplicates the second time (two hashes each). Bounded by the
   * rotations a batch can hold.
   */
  async #ingestAcrossRotations(logId: string, blocks: readonly RecordBlocks[]): Promise<IngestResult<S>> {
    let keys = this.serviceKeys().all().length
    let result = await this.#ingest(logId, blocks)
    const earlier: ThreadsError[] = []
    const added: ThreadEvent[] = [...result.added]
    const forks: ForkedLog[] = [...result.forks]
    const durable: Array<Promise<void>> = [result.durable]
    let stored = result.stored
    let folds = result.folds
    let replayed = result.replayed
    for (let round = 0; round < MAX_INGEST_ROUNDS; round++) {
      const now = this.serviceKeys().all().length
      const unknown = result.rejected.some((e) => e.name === UnknownServiceKeyError.NAME)
      if (now === keys || !unknown) break
      keys = now
      earlier.push(...result.rejected.filter((e) => e.name !== UnknownServiceKeyError.NAME))
      result = await this.#ingest(logId, blocks)
      added.push(...result.added)
      forks.push(...result.forks)
      durable.push(result.durable)
      stored += result.stored
      folds += result.folds
      replayed ||= result.replayed
    }
    if (durable.length === 1) return result
    return { ...result, added, forks, stored, folds, replayed, rejected: [...earlier, ...result.rejected], durable: Promise.all(durable).then(() => undefined) }
  }

  async #ingest(logId: string, blocks: readonly RecordBlocks[]): Promise<IngestResult<S>> {
    const rejected: ThreadsError[] = []
    const forks: ForkedLog[] = []
    const reject = (e: ThreadsError): void => {
      rejected.push(e)
      this.events.emit('rejected', e)
    }
    const nothing = (): IngestResult<S> => ({ added: [], state: this.state, replayed: false, folds: 0, rejected, held: this.held, stored: 0, forks, durable: Promise.resolve() })
    try {
      publicKeyFromLogId(logId)
    } catch (e) {
      reject(e as ThreadsError)
      return nothing()
    }
    if (logId === this.logKey?.id && this.#ownRecovery === undefined) {
      reject(new ThreadsError('a peer writes its own log; it does not take it from others', { threadId: this.id, logId }))
      return nothing()
    }
    const now = (this.#options.now ?? Date.now)()
    if (now - this.#lastExpiry > 1000) {
      this.#lastExpiry = now
      this.#held.expire(now)
    }
    const heldBefore = this.#held.count
    const verified = await this.#intake.take(logId, blocks, now, {
      reject,
      fork: (proof) => this.#addFork(proof, reject, forks, reject),
      damaged: (log, seq, e) => this.repair(log, seq, e)
    })
    if (this.#held.count !== heldBefore) this.events.emit('held', { count: this.#held.count, bytes: this.#held.bytes })
    if (verified.length === 0) return nothing()
    if (this.store.logstore.log(this.thread.id, logId) === undefined) {
      try {
        await this.store.logstore.addLog(this.thread.id, logId)
      } catch (e) {
        // Storage refused: nobody's fault but the disk's. The records come again from peers.
        const error = new StorageFailedError(`storage refused a write: ${e instanceof Error ? e.message : String(e)}`, { threadId: this.id, logId }, { cause: e })
        void this.#storageFailed(error)
        return nothing()
      }
    }
    // A service key rotation from the owner sealed to this peer: kept before the records are.
    const admitted = this.#admittedServiceRotations()
    if (await absorbServiceRotations({ thread: this.thread, logstore: this.store.logstore, identity: this.#options.identity ?? this.logKey, records: verified, report: reject, admittedId: (epoch) => admitted?.find((a) => a.epoch === epoch)?.id })) {
      this.events.emit('serviceKey', { epoch: this.serviceKeys().newest().epoch })
    }
    // What is folded below: in a browser, WebCrypto opens it ahead, all at once (webCryptoPrefetch.ts).
    const sealed = !prefetchActive() || this.thread.key.read === undefined || this.#awaiting.has(logId) ? [] : verified.map(sealedOf)
    const releasePrefetch = sealed.length === 0 ? undefined : await prefetchOpen(this.#keyFor, sealed)
    let durable: Promise<void>
    let opening: ReturnType<typeof openRecords>
    try {
      durable = this.#append(verified)
      const newest = verified[verified.length - 1] as LogRecord
      if (logId === this.logKey?.id) this.#recovered(newest)
      const readKey = this.thread.key.read
      if (readKey === undefined) {
        // A follower stores and serves; it folds nothing.
        this.#folded.set(logId, { id: newest.id, seq: newest.seq, clock: -1 })
        return { ...nothing(), stored: verified.length, durable }
      }
      // A log waiting for a rotated read key takes nothing more until the key comes.
      if (this.#awaiting.has(logId)) return { ...nothing(), stored: verified.length, durable }
      opening = openRecords(this.#keyFor, this.id, sealed.length > 0 ? sealed : verified.map(sealedOf), this.#logClocks.get(logId) ?? -1, logId === this.logKey?.id, reject)
    } finally {
      releasePrefetch?.()
    }
    const { opened, clock, blockedAt } = opening
    if (blockedAt !== undefined) this.#awaiting.set(logId, blockedAt)
    this.#logClocks.set(logId, clock)
    const { apply, settled } = this.#gate.pass(logId, opened)
    if (settled !== undefined) this.#folded.set(logId, settled)
    const applied = await this.#apply(apply, rejected, durable)
    // A rotation folded just now may carry a read key for this peer.
    await this.#collectKeys()
    return { ...applied, state: this.state, stored: verified.length, forks }
  }

  /**
   * This peer's identity may have written to the thread before, from storage it no longer has
   * (it joined again with the same identity): take its own log from peers like any other, and
   * refuse commands until {@link endOwnLogRecovery} says the peers were asked (writing seq 1 again
   * would fork the log).
   */
  recoverOwnLog(): void {
    if (this.logKey === undefined) return
    this.#ownRecovery = Number.POSITIVE_INFINITY
    this.#writeBlocked ??= new CorruptStoreError(
      "this peer's identity may have written to this thread before: its log is recovered from peers before it writes (waiting to catch up with a peer)",
      { threadId: this.id, logId: this.logKey.id }
    )
  }

  /** The peers were asked: this peer's own log is whatever they gave back. Commands are taken again. */
  endOwnLogRecovery(): void {
    if (this.#ownRecovery !== Number.POSITIVE_INFINITY) return
    this.#ownRecovery = undefined
    if (this.#writeBlocked instanceof CorruptStoreError) this.#writeBlocked = undefined
    if (this.logKey !== undefined) this.#ownHead = this.store.logstore.head(this.thread.id, this.logKey.id)
  }

  /** This peer's own log came back from peers up to `newest`: write again once it reached its target. */
  #recovered(newest: LogRecord): void {
    this.#ownHead = { id: newest.id, seq: newest.seq }
    if (this.#ownRecovery !== undefined && newest.seq >= this.#ownRecovery) {
      this.#ownRecovery = undefined
      if (this.#writeBlocked instanceof CorruptStoreError) this.#writeBlocked = undefined
    }
  }

  /**
   * Take a fork proof (found here, or sent by a peer): if it disputes a lower seq of its log than
   * any proof held, freeze the log before it on this peer, as on every other, and roll back what
   * was applied from the disputed seq on.
   *
   * @returns the fork when it changed what this peer holds.
   * @throws {@link BadSignatureError} or {@link MalformedRecordError} for a proof that does not
   * check out: the fault of whoever sent it.
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
  async #addFork(proof: ForkProof, reject: (e: ThreadsError) => void, forks: ForkedLog[], report: (e: ThreadsError) => void): Promise<void> {
    let fork: ForkedLog | undefined
    try {
      fork = await this.#forks.add(proof)
    } catch (e) {
      // A proof that does not check out is its sender's fault; a failed write is storage's.
      if (e instanceof ThreadsError) return reject(e)
      return void this.#storageFailed(new StorageFailedError(`storage refused a write: ${e instanceof Error ? e.message : String(e)}`, { threadId: this.id }, { cause: e }))
    }
    if (fork === undefined) return
    forks.push(fork)
    this.#held.dropFrom(fork.logId, fork.seq)
    if (fork.logId === this.logKey?.id) this.#writeBlocked = this.#forkedOwnLog(fork)
    report(this.#forks.errorOf(fork))
    this.events.emit('fork', fork)
    await this.#unapply(fork)
  }

  /** Roll back the events of a forked log from its disputed seq on (every peer ignores them). */
  async #unapply(fork: ForkedLog): Promise<void> {
    const folded = this.#folded.get(fork.logId)
    const open = this.#gate.pending(fork.logId) > 0
    if ((folded === undefined || folded.seq < fork.seq) && !open) return
    if (this.#timeline.baseKey !== undefined || open) {
      // Some of them may be folded into the snapshot or compacted base, or wait in a
      // transaction: fold from storage.
      await this.store.flush()
      await this.#load(false)
    } else {
      this.#timeline.remove((e) => e.meta.logId === fork.logId && e.meta.seq >= fork.seq)
      // Deletes and cuts the forked records made go with them.
      if (this.#applyDeletes() === 'full') {
        await this.store.flush()
        await this.#load(false)
      }
      const kept = this.#timeline.events.filter((e) => e.meta.logId === fork.logId).at(-1)
      const below = fork.seq > 1 ? await this.store.idAt(this.thread.id, fork.logId, fork.seq - 1) : undefined
      if (below === undefined) this.#folded.delete(fork.logId)
      else this.#folded.set(fork.logId, { id: below, seq: fork.seq - 1, clock: kept?.meta.clock ?? -1 })
      if (kept === undefined) this.#logClocks.delete(fork.logId)
      else this.#logClocks.set(fork.logId, kept.meta.clock)
    }
    this.#skipped.clear()
    this.#snapshots.stale()
    this.events.emit('applied', { events: [], state: this.state, replayed: true })
  }

  /** The events among `events` that reached the app's fold; forgets what the fold skipped. */
  #reaching(events: readonly ThreadEvent[]): ThreadEvent[] {
    const kept = this.#skipped.size === 0 ? [...events] : events.filter((e) => !this.#skipped.has(e.meta.id))
    this.#skipped.clear()
    return kept
  }

  async #apply(events: ThreadEvent[], rejected: ThreadsError[], durable: Promise<void>): Promise<Omit<IngestResult<S>, 'stored' | 'forks'>> {
    this.#skipped.clear()
    for (const e of events) this.#clock = Math.max(this.#clock, e.meta.clock)
    const before = this.#timeline.state
    let result
    try {
      const inserted = this.#timeline.insert(events)
      const deleting = this.#applyDeletes()
      // A delete or cut reaching into the compacted base: fold from storage, as for an event
      // sorting before it.
      if (deleting === 'full') throw new BehindBaseError('a delete or cut reaches into the compacted base', { threadId: this.id })
      result = { ...inserted, state: this.#timeline.state.app, replayed: inserted.replayed || deleting }
      const share = this.#options.share
      if (result.replayed && share !== undefined) {
        const shared = share(before.app, result.state)
        this.#timeline.replaceTip({ system: this.#timeline.state.system, app: shared })
        result = { ...result, state: shared }
      }
    } catch (e) {
      if (!(e instanceof BehindBaseError)) throw e
      // Later than the snapshot the timeline starts from: fold the whole thread again.
      this.#progress({ phase: 'replay', done: 0, total: events.length })
      // (A failed write is handled by #storageFailed; the reload reads what storage holds.)
      await durable.catch(() => undefined)
      await this.#load(false)
      const added = events.filter((ev) => this.#timeline.has(ev.meta))
      this.events.emit('applied', { events: this.#reaching(added), state: this.state, replayed: true })
      // The stored snapshot no longer describes a prefix of the order: write a fresh one.
      this.#snapshots.stale()
      this.#snapshots.applied(added.length, false)
      return { added, state: this.state, replayed: true, folds: this.#timeline.length, rejected, held: this.held, durable }
    }
    if (result.replayed) this.#snapshots.replayedFrom(result.added)
    const visible = result.added.filter((e) => e.command.type !== TXN_COMMIT)
    const reaching = this.#reaching(visible)
    if (reaching.length > 0 || result.replayed) this.events.emit('applied', { events: reaching, state: result.state, replayed: result.replayed })
    this.#snapshots.applied(result.added.length, this.#txn !== undefined)
    return { added: visible, state: result.state, replayed: result.replayed, folds: result.folds, rejected, held: this.held, durable }
  }

  /** What a snapshot of now holds (only settled records: open transactions stay out). */
  #capture(): SnapshotContent<Composite<S>> {
    const heads: Record<string, number> = {}
    const ids: Record<string, CID> = {}
    const clocks: Record<string, number> = {}
    for (const [log, s] of this.#folded) {
      heads[log] = s.seq
      ids[log] = s.id
      clocks[log] = s.clock
    }
    return { state: this.#timeline.state, count: this.#timeline.length, lastKey: this.#timeline.lastKey, heads, ids, clocks }
  }

  /**
   * Write a snapshot of the current state, after the events in it are durable (a snapshot must
   * never hold an event that a crash could lose).
   *
   * @throws {@link SnapshotError} naming the path of a value dag-cbor cannot hold (`undefined`,
   * `NaN`, a `Date`, a class instance) in the state; {@link StorageFailedError} when storage refuses.
   */
  snapshot(): Promise<void> {
    return this.#snapshots.write()
  }

  /**
   * Compact the timeline (paper section 5.5.1), locally: fold the events no future event of a
   * known log can sort before into the base, and drop them from memory. Every known log's next
   * event has a clock above that log's last settled clock, so everything below the smallest of
   * those clocks is stable. Records stay in storage: they are what peers pull, and what the
   * engine folds again should an event from a log it has never seen sort earlier after all.
   *
   * @returns the number of events compacted.
   */
  compact(): number {
    if (this.#folded.size === 0) return 0
    let frontier = Number.POSITIVE_INFINITY
    for (const s of this.#folded.values()) frontier = Math.min(frontier, s.clock)
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
    await this.#snapshots.idle()
  }

  /**
   * Import a thread CAR ({@link exportThreadCar}) through the same ingest path as the network:
   * every log's records are verified, deduplicated by identity (a re-sealed copy is the same
   * record), checked for forks, held, and applied in the total order, transactions whole; an
   * open thread's state and listeners see them. Progress is reported in the `import` phase.
   *
   * @throws {@link MalformedRecordError} for a file that is not a CAR of this thread, or lacks a block.
   */
  async importCar(input: Uint8Array | AsyncIterable<Uint8Array>): Promise<{ logs: number; stored: number; rejected: readonly ThreadsError[] }> {
    // The CAR codec loads on the first import or export, not with the engine.
    const { parseThreadCar } = await loadPart('the CAR codec', () => import('../store/car.js'))
    // A live keyring: keys taken from the CAR's own rotations below are seen by the reindex.
    const car = await parseThreadCar(input, serviceKeyring(this.thread.key.service, this.thread.serviceKeys))
    if (!car.threadId.equals(this.thread.id)) throw new MalformedRecordError(`the CAR holds thread ${car.threadId.toString()}, not this one`, { threadId: this.id })
    // Two passes: first the owner's service rotations the CAR carries (verified against the owner's
    // log, each sealed under a key held), so records sealed under a key a rotation in the CAR
    // gives this peer are indexed too; then the logs. One round per epoch, bounded.
    const identity = this.#options.identity ?? this.logKey
    for (let round = 0; identity !== undefined && round < MAX_SERVICE_EPOCHS; round++) {
      const verified: LogRecord[] = []
      for (const blocks of car.rotations()) {
        for (const log of car.manifest.logs) {
          try {
            verified.push(verifyRecord({ thread: this.thread.id, logId: log.id, serviceKey: this.serviceKeys() }, blocks))
            break
          } catch {
            continue // not this log's (the signature names its writer), or not verifiable
          }
        }
      }
      const added = await absorbServiceRotations({ thread: this.thread, logstore: this.store.logstore, identity, records: verified, report: (e) => this.events.emit('rejected', e) })
      if (!added || car.reindex() === 0) break
    }
    const total = car.manifest.logs.reduce((n, l) => n + l.seq, 0)
    let done = 0
    let stored = 0
    const rejected: ThreadsError[] = []
    this.#progress({ phase: 'import', done, total })
    for (const log of car.manifest.logs) {
      if (log.id === this.logKey?.id && this.#ownRecovery === undefined) continue
      // From the record this peer has at the top of its log: the same identity, or a fork.
      const have = Math.min(this.store.logstore.head(this.thread.id, log.id)?.seq ?? 0, log.seq)
      const run = car.run(log, Math.max(1, have))
      for (let i = 0; i < run.length; i += IMPORT_CHUNK) {
        const result = await this.ingest(log.id, run.slice(i, i + IMPORT_CHUNK))
        stored += result.stored
        rejected.push(...result.rejected)
      }
      done += log.seq
      this.#progress({ phase: 'import', done, total })
    }
    return { logs: car.manifest.logs.length, stored, rejected }
  }

  /**
   * Keep a new service key epoch (this peer made the rotation: the owner), durably; records are
   * sealed under it from now on, and the handshake proves it.
   */
  async addServiceKey(epoch: number, key: Uint8Array): Promise<void> {
    if (await this.store.logstore.addServiceKey(this.thread.id, epoch, key)) this.events.emit('serviceKey', { epoch })
  }

  /**
   * The rotated service keys an invite from this peer carries, `[epoch, key]` ascending: on a
   * peer that folds the ACL, only those whose ID its fold admitted for their epoch (a key an
   * invite planted here is not passed on); elsewhere every one held.
   */
  invitableServiceKeys(): Array<[number, Uint8Array]> {
    const held = [...this.thread.serviceKeys].sort((a, b) => a[0] - b[0])
    const admitted = this.#admittedServiceRotations()
    if (admitted === undefined) return held
    const ids = new Map(admitted.map((a) => [a.epoch, a.id]))
    return held.filter(([epoch, key]) => ids.has(epoch) && (ids.get(epoch) === undefined || sameBytes(ids.get(epoch) as Uint8Array, serviceKeyId(key))))
  }

  /** The service keys this peer holds for the thread, by epoch and ID. */
  serviceKeys(): ServiceKeyring {
    const admitted: readonly AdmittedServiceKey[] | undefined = this.#admittedServiceRotations()
    return serviceKeyring(this.thread.key.service, this.thread.serviceKeys, admitted)
  }

  /**
   * The service keys of the handshake: the newest to prove, and those accepted from a peer (see
   * {@link authKeysOf}: all of them where this peer folds the ACL, else only the newest).
   */
  authKeys(): { send: Uint8Array; accept: readonly Uint8Array[]; known: readonly Uint8Array[] } {
    const system = this.#system
    const knows = this.thread.key.read !== undefined && system?.knowsMembers?.(this.#timeline.state.system) === true
    return authKeysOf(this.serviceKeys(), knows)
  }

  /** The log heads of the thread as this peer has them (by identity). */
  heads(): Map<string, LogHead> {
    return this.store.logstore.heads(this.thread.id)
  }

  /**
   * Whether a peer may be served this thread's records: in an access-controlled thread, what its
   * ACL says now (at least `follow`); in a Raw thread, every peer that proves the key.
   */
  entitled(peerId: string): boolean {
    const system = this.#system
    return system?.entitled === undefined ? true : system.entitled(this.#timeline.state.system, peerId)
  }

  /**
   * The seq up to which a log's records are applied here (0 for none): what a revocation names as
   * `lastSeq`. Applied, not merely stored: records held in an open transaction or behind a gap
   * are not, so a cut never splits a transaction this peer applied.
   */
  appliedSeq(logId: string): number {
    return this.#folded.get(logId)?.seq ?? 0
  }

  /** Whether the thread's records may go out on its gossip topic (see {@link SystemProjection.gossips}). */
  gossips(): boolean {
    const system = this.#system
    return system?.gossips === undefined ? true : system.gossips(this.#timeline.state.system)
  }

  /** The identity of the record at `seq` of a log, if this peer has it. */
  idAt(logId: string, seq: number): Promise<CID | undefined> {
    return this.store.idAt(this.thread.id, logId, seq)
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
    for (let tries = 0; page.length > 0 && tries < 8 && !signatureHolds(this.thread.id, page[page.length - 1] as LogRecord); tries++) {
      const bad = page.pop() as LogRecord
      this.#report(new CorruptStoreError('a stored record signature does not verify (damaged in storage, or stored unchecked inside a run)', { threadId: this.id, logId, seq: bad.seq }))
    }
    return page.length > 0 && signatureHolds(this.thread.id, page[page.length - 1] as LogRecord) ? page : []
  }
}

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && a.every((x, i) => x === b[i])
}
