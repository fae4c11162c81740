/**
 * The engine through Redux, end to end: commands applied and made durable per second, remote
 * events ingested per second, the cost of a late event by its depth, and the cold start of a
 * 100,000-event thread on LevelDB with and without a snapshot.
 *
 * Every peer is a real `createPeer` bound to a real RTK store (`configureStore`); every command
 * is the 50-byte bench action dispatched through a thread slice's action creator. LevelDB
 * figures use temporary directories, removed when the bench ends (or the process exits).
 */

import { rmSync } from 'node:fs'
import { cp, mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { configureStore, type PayloadAction, type Reducer } from '@reduxjs/toolkit'
import { levelStorage } from '../adapters/storage/level.js'
import { memoryStorage } from '../adapters/storage/memory.js'
import { encodeCommand } from '../src/core/command.js'
import { generateLogKey, type ThreadKey } from '../src/core/keys.js'
import { createRecord, recordBlocks, type RecordBlocks } from '../src/core/record.js'
import type { ThreadEngine } from '../src/engine/threadEngine.js'
import type { OrderKey } from '../src/engine/threadEvent.js'
import { createPeer, type Peer, type PeerOptions } from '../src/redux/createPeer.js'
import { createThreadSlice, type ThreadSliceLike } from '../src/redux/createThreadSlice.js'
import type { SliceStates } from '../src/redux/projection.js'
import { engineOf, type ThreadHandle } from '../src/redux/threadHandle.js'
import type { StorageAdapter } from '../src/store/storageAdapter.js'
import { keys } from '../src/store/storageKeys.js'
import { ACTION, ACTION_BYTES } from './fixtures.js'
import { once, sig, target, time, type Bench, type Reporter, type Timing } from './harness.js'

/** Commands per timed run of the apply figures (the synchronous dispatch loop). */
const APPLY_N = 2_000
/** Commands per timed run of the durable figure, dispatched in bursts of {@link DURABLE_BURST}. */
const DURABLE_N = 5_000
const DURABLE_BURST = 1_000
/** The latency stream: {@link STREAM_BURST} commands per event-loop turn (setImmediate). */
const STREAM_N = 5_000
const STREAM_BURST = 100
/** The paced stream: a burst, then a pause of {@link PACED_PAUSE_MS} (well under capacity), so latency is the write's own. */
const PACED_N = 2_000
const PACED_PAUSE_MS = 50
/** Remote events ingested per run, in `ingest` calls of {@link INGEST_CHUNK}. */
const INGEST_N = 10_000
const INGEST_CHUNK = 1_000
/** Events of the long history (late events, cold start). */
const HISTORY = 100_000
const SHORT_HISTORY = 10_000
const LATE_DEPTHS = [10, 1_000, 10_000] as const
/** Items the small state keeps (a ring). */
const RECENT = 100

// ---------------------------------------------------------------------------------------------
// Slices: three projections of the same `todos/added` commands.

interface Item {
  readonly id: string
  readonly text: string
}

/** The bench action's payload: `todos.actions.added(ITEM)` is the 50-byte bench command. */
const ITEM = ACTION.payload as Item
if (ACTION.type !== 'todos/added') throw new Error('the bench action is not todos/added')

/** A counter and the last item: a reducer of about a microsecond, so figures show the engine. */
const todosLast = createThreadSlice({
  name: 'todos',
  initialState: { count: 0, last: null as Item | null },
  reducers: {
    added: (state, action: PayloadAction<Item>) => {
      state.count++
      state.last = action.payload
    }
  }
})

/** A counter and the last {@link RECENT} items (a ring): small state, small snapshot. */
const todosRecent = createThreadSlice({
  name: 'todos',
  initialState: { count: 0, recent: [] as Item[] },
  reducers: {
    added: (state, action: PayloadAction<Item>) => {
      state.recent[state.count % RECENT] = action.payload
      state.count++
    }
  }
})

/**
 * Every item ever added: a state that grows with the events, so its snapshot does too. The
 * items sit in a three-level tree of 64-wide arrays, because an immer reducer that pushes onto
 * one flat array copies and freezes the whole array per event (quadratic: 20,000 events take
 * about 20 s); the tree keeps each event's work to three small arrays.
 */
const todosAll = createThreadSlice({
  name: 'todos',
  initialState: { count: 0, items: [] as Item[][][] },
  reducers: {
    added: (state, action: PayloadAction<Item>) => {
      const i = state.count
      const i0 = i >>> 12
      const i1 = (i >>> 6) & 63
      if (state.items.length <= i0) state.items.push([])
      const l1 = state.items[i0] as Item[][]
      if (l1.length <= i1) l1.push([])
      const l2 = l1[i1] as Item[]
      l2.push(action.payload)
      state.count++
    }
  }
})

type Slice = ThreadSliceLike & { readonly reducer: Reducer }

const COMMAND = { type: ACTION.type, payload: ITEM }
const COMMAND_BODY = encodeCommand(COMMAND)

// ---------------------------------------------------------------------------------------------
// Peers, stores, directories.

/**
 * `checks`: RTK's default middleware with both development checks on (only their slow-check
 * console warnings silenced: a loaded machine trips them); otherwise both off (production).
 */
function storeFor(peer: Peer, reducer: Reducer, checks: boolean) {
  const quiet = { warnAfter: Number.MAX_SAFE_INTEGER }
  return configureStore({
    reducer: { [peer.reducerPath]: peer.reducer, todos: reducer },
    middleware: (defaults) =>
      defaults(checks ? { serializableCheck: quiet, immutableCheck: quiet } : { serializableCheck: false, immutableCheck: false }).concat(peer.middleware)
  })
}

type Store = ReturnType<typeof storeFor>

interface Session {
  readonly peer: Peer
  readonly store: Store
  readonly thread: ThreadHandle
  /** The thread's engine (`engineOf`): timeline, logstore. */
  readonly engine: ThreadEngine<SliceStates>
  readonly dir?: string
}

function countOf(store: Store): number {
  return (store.getState() as { todos: { count: number } }).todos.count
}

/** Every LevelDB directory of this bench lives under one temporary root. */
const root = once(async (): Promise<string> => {
  const dir = await mkdtemp(join(tmpdir(), 'redux-threads-bench-engine-'))
  // Whatever happens to the run (a failing figure, Ctrl-C through an error), leave nothing behind.
  process.once('exit', () => rmSync(dir, { recursive: true, force: true }))
  return dir
})

async function newDir(prefix: string): Promise<string> {
  return mkdtemp(join(await root(), prefix))
}

/**
 * A peer over `storage` with a store holding `slice`, and a thread: a new one, or (with
 * `join`) the thread `join.id` opened with its key or from storage.
 */
async function session(
  storage: StorageAdapter,
  slice: Slice,
  checks: boolean,
  options: { dir?: string; join?: { id: string; key?: ThreadKey }; peer?: Omit<PeerOptions, 'storage' | 'reducerPath'> } = {}
): Promise<Session> {
  const peer = createPeer({ storage, ...options.peer })
  const store = storeFor(peer, slice.reducer, checks)
  const { threadId } =
    options.join === undefined
      ? await store.dispatch(peer.thunks.createThread({ slices: [slice] })).unwrap()
      : await store.dispatch(peer.thunks.openThread({ threadId: options.join.id, slices: [slice], ...(options.join.key === undefined ? {} : { key: options.join.key }) })).unwrap()
  const thread = peer.thread(threadId) as ThreadHandle
  return { peer, store, thread, engine: engineOf(thread), ...(options.dir === undefined ? {} : { dir: options.dir }) }
}

async function levelSession(slice: Slice, checks: boolean, options: Parameters<typeof session>[3] = {}): Promise<Session> {
  const dir = await newDir('db-')
  return session(levelStorage(dir), slice, checks, { ...options, dir })
}

async function close(s: Session | undefined): Promise<void> {
  if (s === undefined) return
  await s.peer.close()
  if (s.dir !== undefined) await rm(s.dir, { recursive: true, force: true })
}

/** Dispatch `n` bench commands. */
function dispatchMany(store: Store, n: number): void {
  const dispatch = store.dispatch
  const added = todosLast.actions.added
  for (let i = 0; i < n; i++) dispatch(added(ITEM))
}

function expectCount(s: Session, n: number, what: string): void {
  const count = countOf(s.store)
  const length = s.engine.timeline.length
  if (count !== n || length !== n) throw new Error(`${what}: expected ${n} events applied, store has ${count}, timeline ${length}`)
}

// ---------------------------------------------------------------------------------------------
// Figure helpers.

function quantile(sorted: ArrayLike<number>, q: number): number {
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))] as number
}

function median(values: readonly number[]): number {
  return quantile([...values].sort((a, b) => a - b), 0.5)
}

/** Runs of an n = 1 timing, in milliseconds. */
function runsMs(timing: Timing): number[] {
  return timing.runs.map((rate) => sig(1000 / rate, 3))
}

function spreadOf(values: readonly number[]): number {
  if (values.length < 2) return 0
  const m = median(values)
  return m === 0 ? 0 : sig((Math.max(...values) - Math.min(...values)) / m, 2)
}

/** Emit a duration figure (ms) from an n = 1 timing. */
function emitMs(r: Reporter, bench: string, timing: Timing, extra: Record<string, unknown>): number {
  const ms = timing.secPerOp * 1000
  const runs = runsMs(timing)
  r.emit({ bench, unit: 'ms', value: sig(ms, 3), n: 1, ...extra, runs_ms: runs, spread: spreadOf(runs) })
  return ms
}

// ---------------------------------------------------------------------------------------------
// 1. Commands applied: the synchronous part of a dispatch.

async function applyFigure(r: Reporter, bench: string, checks: boolean): Promise<void> {
  let s: Session | undefined
  try {
    const timing = await time(
      {
        n: APPLY_N,
        setup: async () => {
          await close(s)
          s = await session(memoryStorage(), todosLast, checks)
          return s
        }
      },
      (run, n) => dispatchMany(run.store, n)
    )
    const last = s as Session
    await last.peer.idle()
    expectCount(last, APPLY_N, bench)
    r.rate(bench, 'commands/s', timing, {
      middleware: checks ? 'RTK defaults (serializableCheck, immutableCheck on: development)' : 'serializableCheck: false, immutableCheck: false (production)',
      storage: 'memory',
      command_bytes: ACTION_BYTES,
      note: 'the synchronous dispatch loop only: middleware, encode, sign + encrypt (createRecord), reducers, timeline append, append queued'
    })
  } finally {
    await close(s)
  }
}

// ---------------------------------------------------------------------------------------------
// 2. Commands made durable on LevelDB: throughput with batching, latency of a steady stream.

async function durableThroughput(r: Reporter): Promise<void> {
  let s: Session | undefined
  try {
    const timing = await time(
      {
        n: DURABLE_N,
        setup: async () => {
          await close(s)
          s = await levelSession(todosLast, false)
          return s
        }
      },
      async (run, n) => {
        for (let done = 0; done < n; done += DURABLE_BURST) {
          dispatchMany(run.store, DURABLE_BURST)
          await run.peer.idle()
        }
      }
    )
    expectCount(s as Session, DURABLE_N, 'engine.command.durable')
    r.rate('engine.command.durable', 'commands/s', timing, {
      target: (value) => target('>= 10,000 commands/s durable', 'min', 10_000, value),
      burst: DURABLE_BURST,
      backend: 'level (classic-level), sync: false',
      middleware: 'production (checks off)',
      snapshot_every: 1_000,
      note: `bursts of ${DURABLE_BURST} dispatches, each followed by await peer.idle() (every write durable; group commit; default snapshots included)`
    })
  } finally {
    await close(s)
  }
}

const nextTurn = (): Promise<void> => new Promise<void>((resolve) => setImmediate(resolve))

/** Dispatch `total` commands, `burst` at a time with `pause()` between; the latency of each to durable (ms). */
async function stream(s: Session, total: number, burst: number, pause: () => Promise<void>): Promise<{ latencies: Float64Array; seconds: number }> {
  const latencies = new Float64Array(total)
  const done: Promise<void>[] = []
  const dispatch = s.store.dispatch
  const added = todosLast.actions.added
  const start = performance.now()
  let next = 0
  while (next < total) {
    for (let i = 0; i < burst && next < total; i++, next++) {
      const k = next
      const t0 = performance.now()
      done.push(
        dispatch(added(ITEM)).unwrap().then(() => {
          latencies[k] = performance.now() - t0
        })
      )
    }
    await pause()
  }
  await Promise.all(done)
  return { latencies, seconds: (performance.now() - start) / 1000 }
}

function latencyFigures(r: Reporter, bench: string, run: { latencies: Float64Array; seconds: number }, extra: Record<string, unknown>): void {
  const sorted = Float64Array.from(run.latencies).sort()
  const common = { ...extra, achieved_commands_per_s: Math.round(run.latencies.length / run.seconds) }
  r.emit({ bench: `${bench}.p50`, unit: 'ms', value: sig(quantile(sorted, 0.5), 3), ...common })
  r.emit({ bench: `${bench}.p99`, unit: 'ms', value: sig(quantile(sorted, 0.99), 3), ...common, max_ms: sig(quantile(sorted, 1), 3) })
}

async function durableLatency(r: Reporter): Promise<void> {
  let s: Session | undefined
  try {
    s = await levelSession(todosLast, false)
    await stream(s, 1_000, STREAM_BURST, nextTurn) // warm-up
    await s.peer.idle()
    const saturated = await stream(s, STREAM_N, STREAM_BURST, nextTurn)
    await s.peer.idle()
    const paced = await stream(s, PACED_N, STREAM_BURST, () => new Promise((resolve) => setTimeout(resolve, PACED_PAUSE_MS)))
    await s.peer.idle()
    expectCount(s, 1_000 + STREAM_N + PACED_N, 'engine.command.durable.latency')
    const backend = 'level (classic-level), sync: false'
    latencyFigures(r, 'engine.command.durable.latency', saturated, {
      n: STREAM_N,
      burst: STREAM_BURST,
      offered: 'one burst per setImmediate turn (as fast as the CPU dispatches)',
      backend,
      note: 'from store.dispatch to dispatched.unwrap() resolving, per command; the stream saturates the CPU, so a write waits for the next burst to finish dispatching'
    })
    latencyFigures(r, 'engine.command.durable.latency.paced', paced, {
      n: PACED_N,
      burst: STREAM_BURST,
      offered: `one burst, then a ${PACED_PAUSE_MS} ms pause (setTimeout)`,
      backend,
      note: 'from store.dispatch to dispatched.unwrap() resolving, per command, below capacity'
    })
  } finally {
    await close(s)
  }
}

// ---------------------------------------------------------------------------------------------
// 3. Ingest of remote events.

interface Written {
  readonly id: string
  readonly key: ThreadKey
  readonly logId: string
  readonly blocks: RecordBlocks[]
}

/** Peer A's log of {@link INGEST_N} commands, written through dispatch (in memory). */
const writtenLog = once(async (): Promise<Written> => {
  const a = await session(memoryStorage(), todosLast, false)
  try {
    for (let i = 0; i < INGEST_N; i += 1_000) {
      dispatchMany(a.store, 1_000)
      await a.thread.flush()
    }
    const [log] = await a.thread.recordsSince(new Map())
    if (log === undefined || log.blocks.length !== INGEST_N) throw new Error('peer A did not write its log')
    return { id: a.thread.id, key: a.thread.key, logId: log.logId, blocks: log.blocks }
  } finally {
    await close(a)
  }
})

async function ingestFigure(r: Reporter, backend: 'memory' | 'level'): Promise<void> {
  const w = await writtenLog()
  const chunks: RecordBlocks[][] = []
  for (let i = 0; i < w.blocks.length; i += INGEST_CHUNK) chunks.push(w.blocks.slice(i, i + INGEST_CHUNK))
  const join = { join: { id: w.id, key: w.key } }
  const applied: number[] = []
  let s: Session | undefined
  try {
    const timing = await time(
      {
        n: INGEST_N,
        runs: backend === 'memory' ? 5 : 3,
        setup: async () => {
          await close(s)
          s = backend === 'memory' ? await session(memoryStorage(), todosLast, false, join) : await levelSession(todosLast, false, join)
          return s
        }
      },
      async (b) => {
        const start = process.hrtime.bigint()
        for (const chunk of chunks) {
          const result = await b.thread.ingest(w.logId, chunk)
          if (result.rejected.length > 0) throw result.rejected[0]
        }
        applied.push(INGEST_N / (Number(process.hrtime.bigint() - start) / 1e9))
        await b.thread.flush()
      }
    )
    expectCount(s as Session, INGEST_N, `engine.ingest.${backend}`)
    r.rate(`engine.ingest.${backend}`, 'events/s', timing, {
      target: (value) => target('>= 20,000 remote events/s ingested', 'min', 20_000, value),
      applied_events_per_s: Math.round(median(applied.slice(1))),
      chunk: INGEST_CHUNK,
      backend: backend === 'memory' ? 'memory' : 'level (classic-level), sync: false',
      middleware: 'production (checks off)',
      note: `a fresh peer joins with the thread key and ingests ${INGEST_N} events of one log in chunks of ${INGEST_CHUNK} (verify, decrypt, order, reduce; per chunk one threadApplied and one action per event, auto-batched: one store notification), then flush; applied_events_per_s stops before flush`
    })
  } finally {
    await close(s)
  }
}

// ---------------------------------------------------------------------------------------------
// The long history: 100,000 commands written through dispatch to LevelDB, without snapshots.

interface History extends Omit<Written, 'blocks'> {
  readonly dir: string
  /** The log's record blocks, read while the writer was open; the late-event bench takes them. */
  blocks: RecordBlocks[] | undefined
}

const history = once(async (): Promise<History> => {
  const dir = await newDir('history-')
  const w = await session(levelStorage(dir), todosLast, false, { peer: { snapshotEvery: 0 } })
  try {
    for (let i = 0; i < HISTORY; i += 1_000) {
      dispatchMany(w.store, 1_000)
      await w.thread.flush()
    }
    const [log] = await w.thread.recordsSince(new Map())
    if (log === undefined || log.blocks.length !== HISTORY) throw new Error('the history writer did not write its log')
    return { dir, id: w.thread.id, key: w.thread.key, logId: log.logId, blocks: log.blocks }
  } finally {
    await w.peer.close()
  }
})

// ---------------------------------------------------------------------------------------------
// 4. Late events.

/**
 * History events held back from peer B's initial ingest: one is ingested at the tip before each
 * late event, so that consecutive late events at one depth never compete for the same slot.
 */
const LATE_RESERVE = 32

interface Late {
  readonly logId: string
  readonly blocks: RecordBlocks
  readonly key: OrderKey
}

/**
 * A one-event log of a new writer C whose clock sorts its event at `depth` (that many events
 * after it). The history writer's clocks are consecutive, so between two of its events one of
 * two clocks always fits, whichever side of the writer's log ID C's falls on. C's log is added
 * to the logstore here, outside the timed region.
 */
async function craftLate(s: Session, depth: number): Promise<Late> {
  const timeline = s.engine.timeline
  const at = timeline.length - depth
  const events = timeline.events
  const after = events[at]?.meta.clock
  const clocks = [events[at - 1]?.meta.clock, after, after === undefined ? undefined : after - 1]
  for (let attempt = 0; attempt < 16; attempt++) {
    const logKey = generateLogKey()
    for (const clock of clocks) {
      if (clock === undefined || clock < 0) continue
      const key: OrderKey = { clock, logId: logKey.id, seq: 1 }
      if (timeline.positionOf(key) !== at) continue
      const record = createRecord({ logKey, threadKey: s.thread.key, thread: s.engine.thread.id, body: COMMAND_BODY, clock, time: Date.now() })
      await s.engine.store.logstore.addLog(s.thread.id, logKey.id)
      return { logId: logKey.id, blocks: recordBlocks(record), key }
    }
  }
  throw new Error(`could not craft an event at depth ${depth}`)
}

/** The blocks of a history's log, held until a pass takes them (then dropped from the heap). */
interface Source {
  blocks: RecordBlocks[] | undefined
}

/** One depth of one pass. */
interface LateMeasure {
  readonly depth: number
  readonly timing: Timing
  /** Median reducer calls of the timed runs. */
  readonly folds: number
  /** Events before the late one, lowest and highest over the runs. */
  readonly range: readonly [number, number]
}

/**
 * Ingest the first `count` events of `source` into `s`, and return the `reserve` that follow.
 * The source's blocks are dropped at once, so that the fixture does not weigh on the heap of the
 * timed runs (with 100,000 events' blocks alive, the depth-10,000 replay took twice as long: a
 * larger heap makes each collection dearer).
 */
async function ingestHistory(s: Session, logId: string, source: Source, count: number, reserve: number): Promise<RecordBlocks[]> {
  const all = source.blocks
  source.blocks = undefined
  if (all === undefined) throw new Error('the history blocks were already taken')
  for (let i = 0; i < count; i += 5_000) {
    const result = await s.thread.ingest(logId, all.slice(i, Math.min(count, i + 5_000)))
    if (result.rejected.length > 0) throw result.rejected[0]
  }
  return all.slice(count, count + reserve)
}

/**
 * Peer B (memory storage) takes the first `length - LATE_RESERVE` events of the history; then,
 * per run, the next history event (untimed) and one late event (timed), at each depth.
 */
async function measureLate(h: History, source: Source, length: number): Promise<LateMeasure[]> {
  const out: LateMeasure[] = []
  const s = await session(memoryStorage(), todosLast, false, { join: { id: h.id, key: h.key } })
  try {
    const reserve = await ingestHistory(s, h.logId, source, length - LATE_RESERVE, LATE_RESERVE)
    await s.thread.flush()
    let added = length - LATE_RESERVE
    expectCount(s, added, `engine.late history of ${length}`)
    let tip = 0
    for (const depth of LATE_DEPTHS) {
      const folds: number[] = []
      const lengths: number[] = []
      const runs = depth >= 10_000 ? 5 : 7
      const setup = async (): Promise<Late> => {
        const next = reserve[tip++]
        if (next === undefined) throw new Error('LATE_RESERVE is too small for the runs')
        const result = await s.thread.ingest(h.logId, [next])
        if (result.added.length !== 1 || result.replayed) throw new Error('a history event did not append at the tip')
        return craftLate(s, depth)
      }
      const timing = await time({ n: 1, runs, warmup: 1, setup }, async (late) => {
        const result = await s.thread.ingest(late.logId, [late.blocks])
        if (result.added.length !== 1 || !result.replayed) throw new Error(`late event at depth ${depth}: not applied by a replay`)
        folds.push(result.folds)
        const timeline = s.engine.timeline
        const got = timeline.length - 1 - timeline.positionOf(late.key)
        if (got !== depth) throw new Error(`late event landed at depth ${got}, not ${depth}`)
        lengths.push(timeline.length - 1)
      })
      await s.thread.flush()
      added += 2 * (runs + 1)
      expectCount(s, added, `engine.late history of ${length}`)
      out.push({ depth, timing, folds: median(folds.slice(1)), range: [Math.min(...lengths), Math.max(...lengths)] })
    }
    return out
  } finally {
    await close(s)
  }
}

function emitLate(r: Reporter, length: number, measures: readonly LateMeasure[], short?: readonly LateMeasure[]): void {
  for (const m of measures) {
    const base = short?.find((x) => x.depth === m.depth)
    const ratio = base === undefined ? undefined : sig(m.timing.secPerOp / base.timing.secPerOp, 3)
    emitMs(r, `engine.late.${length}.depth_${m.depth}`, m.timing, {
      history: length,
      history_range: m.range,
      depth: m.depth,
      folds: m.folds,
      folds_bound: Math.ceil(1.25 * m.depth) + 32,
      ...(base === undefined
        ? {}
        : {
            limit: { name: `same depth in a ${SHORT_HISTORY}-event history (ms)`, value: sig(base.timing.secPerOp * 1000, 3) },
            ratio,
            folds_ratio: sig(m.folds / base.folds, 3),
            target: target('cost independent of history length: <= 1.5x the 10,000-event history', 'max', 1.5, ratio ?? 0, 'ratio')
          }),
      storage: 'memory',
      note: 'await thread.ingest of one event from a new writer log (log added beforehand) that sorts `depth` events before the tip; folds = IngestResult.folds (reducer calls); folds_bound = 1.25 * depth + 32 from the checkpoint policy; history_range = events before the late one'
    })
  }
}

// ---------------------------------------------------------------------------------------------
// 5. Cold start.

/**
 * Time cold starts over `dir`: createPeer over LevelDB, configureStore, openThread, until the
 * store holds the whole state. The last run's session stays open and is returned.
 */
async function coldStart(dir: string, h: History, slice: Slice, runs: number, warmup: number): Promise<{ timing: Timing; last: Session }> {
  let open: Session | undefined
  const timing = await time(
    {
      n: 1,
      runs,
      warmup,
      setup: async () => {
        await close(open)
        open = undefined
      }
    },
    async () => {
      open = await session(levelStorage(dir), slice, false, { join: { id: h.id } })
      if (countOf(open.store) !== HISTORY) throw new Error(`cold start restored ${countOf(open.store)} events, not ${HISTORY}`)
    }
  )
  return { timing, last: open as Session }
}

async function snapshotBytes(s: Session): Promise<number> {
  const value = await s.engine.store.logstore.storage.get(keys.snapshot(s.engine.thread.n, 'latest'))
  if (value === undefined) throw new Error('no snapshot was written')
  return value.length
}

async function coldStartFigures(r: Reporter, state: 'small' | 'growing', dir: string, h: History): Promise<void> {
  const slice = state === 'small' ? todosRecent : todosAll
  const prefix = state === 'small' ? 'engine.coldstart' : 'engine.coldstart.growing'
  const stateNote =
    state === 'small' ? `state: a counter and the last ${RECENT} items` : `state: every item (${HISTORY} items in a tree of 64-wide arrays), so the snapshot grows with the thread`
  const common = { events: HISTORY, backend: 'level (classic-level), OS cache warm', middleware: 'production (checks off)' }
  // Seconds per run without a snapshot: one run (the suite must stay under two minutes). It also
  // leaves the peer open that writes the snapshot for the runs after it.
  const cold = await coldStart(dir, h, slice, 1, 0)
  emitMs(r, `${prefix}.no_snapshot`, cold.timing, {
    ...common,
    note: `createPeer over the existing directory + configureStore + openThread, until the store holds the state: every event read, decrypted and folded; ${stateNote}`
  })
  const write = process.hrtime.bigint()
  await cold.last.thread.snapshot()
  const writeMs = Number(process.hrtime.bigint() - write) / 1e6
  const bytes = await snapshotBytes(cold.last)
  await close(cold.last)
  const warm = await coldStart(dir, h, slice, 5, 1)
  await close(warm.last)
  emitMs(r, `${prefix}.snapshot`, warm.timing, {
    ...common,
    ...(state === 'small' ? { target: target('cold start < 300 ms with a snapshot', 'max', 300, warm.timing.secPerOp * 1000) } : {}),
    snapshot_bytes: bytes,
    snapshot_write_ms: sig(writeMs, 3),
    note: `as no_snapshot, with a snapshot at the tip (thread.snapshot()): the state is decrypted and decoded from it, no event is folded; ${stateNote}`
  })
}

// ---------------------------------------------------------------------------------------------

export const engineBenches: Bench[] = [
  {
    name: 'engine.command.apply',
    async run(r) {
      await applyFigure(r, 'engine.command.apply', true)
      await applyFigure(r, 'engine.command.apply.production', false)
    }
  },
  {
    name: 'engine.command.durable',
    async run(r) {
      await durableThroughput(r)
      await durableLatency(r)
    }
  },
  {
    name: 'engine.ingest',
    async run(r) {
      await ingestFigure(r, 'memory')
      await ingestFigure(r, 'level')
    }
  },
  {
    name: 'engine.late',
    async run(r) {
      const h = await history()
      // Each pass holds only its own events: the short history's are copied out first, and the
      // long pass takes (and drops) the whole fixture.
      const shortSource: Source = { blocks: h.blocks?.slice(0, SHORT_HISTORY) }
      const long = await measureLate(h, h, HISTORY)
      const short = await measureLate(h, shortSource, SHORT_HISTORY)
      emitLate(r, SHORT_HISTORY, short)
      emitLate(r, HISTORY, long, short)
    }
  },
  {
    name: 'engine.coldstart',
    async run(r) {
      const h = await history()
      h.blocks = undefined
      // Two copies of the history, one per state shape: each gets its own snapshot.
      const growing = await newDir('history-growing-')
      await cp(h.dir, growing, { recursive: true })
      try {
        await coldStartFigures(r, 'small', h.dir, h)
        await coldStartFigures(r, 'growing', growing, h)
      } finally {
        await rm(growing, { recursive: true, force: true })
        await rm(h.dir, { recursive: true, force: true })
      }
    }
  }
]
