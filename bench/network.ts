/**
 * The network, end to end over real libp2p (TCP on 127.0.0.1, Noise, Yamux, gossipsub): a fresh
 * peer replicating a 10,000-event thread, the live propagation latency of one event between two
 * connected peers, and ten peers writing at once until they converge.
 *
 * Every peer is a real `createPeer({ network: libp2pNetwork(…), syncIntervalMs: 0 })` bound to a
 * real RTK store (production middleware: serializableCheck and immutableCheck off), so only
 * protocol-driven traffic runs (no periodic rounds); a round is asked for with `peer.thunks.syncNow()`
 * where one is needed. Waits are `store.subscribe` / `status$` callbacks, never polling sleeps;
 * timeouts only guard against a hang. Every libp2p node is stopped when its bench ends.
 *
 * Each peer's network adapter is wrapped to count messages and bytes (sent by type, received,
 * gossip): the type is read from the message's first bytes (dag-cbor puts the `t` key first),
 * so counting decodes nothing.
 */

import { rmSync } from 'node:fs'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { monitorEventLoopDelay } from 'node:perf_hooks'
import { createHash } from 'node:crypto'
import { configureStore, type PayloadAction } from '@reduxjs/toolkit'
import { libp2pNetwork } from '../adapters/network/libp2p.js'
import { levelStorage } from '../adapters/storage/level.js'
import { memoryStorage } from '../adapters/storage/memory.js'
import type { NetworkAdapter, NetworkFactory } from '../src/net/networkAdapter.js'
import { DEFAULT_PULL_LIMIT, decodeMessage, encodeMessage, NONCE_BYTES, TAG_BYTES } from '../src/net/messages.js'
import { generateLogKey } from '../src/core/keys.js'
import { ThreadId } from '../src/core/threadId.js'
import type { EventMeta } from '../src/engine/threadEvent.js'
import { createPeer, type Peer } from '../src/redux/createPeer.js'
import { createThreadSlice } from '../src/redux/createThreadSlice.js'
import type { ThreadEntry } from '../src/redux/peerSlice.js'
import { engineOf, type ThreadHandle } from '../src/redux/threadHandle.js'
import type { StorageAdapter } from '../src/store/storageAdapter.js'
import { ACTION, ACTION_BYTES } from './fixtures.js'
import { collect, once, sig, target, type Bench, type Reporter } from './harness.js'

/** Events of the replicated thread (figure 1). */
const REPLICATE_N = 10_000
/** Sequential single-event propagations (figure 2), after {@link LATENCY_WARMUP}. */
const LATENCY_N = 500
const LATENCY_WARMUP = 50
/** Peers and events per peer of the convergence figure (figure 3), dispatched in bursts. */
const CONVERGE_PEERS = 10
const CONVERGE_EACH = 1_000
const CONVERGE_BURST = 100
/** Loopback TCP only (the adapter's default also listens on WebSockets). */
const LISTEN = ['/ip4/127.0.0.1/tcp/0']
/** Guards only: a figure that takes this long has hung. */
const HANG_MS = 60_000
/** The convergence figure is printed as not converged past this. */
const CONVERGE_DEADLINE_MS = 60_000
/** Raw adapter throughput (for scale): push-sized and page-sized messages. */
const RAW_SMALL = { count: 10_000, bytes: 600 }
const RAW_PAGE = { count: 40, bytes: 240_000 }

// ---------------------------------------------------------------------------------------------
// The slice: a counter and an order-sensitive hash of the events folded (log and seq of each).

interface Item {
  readonly id: string
  readonly text: string
}

const ITEM = ACTION.payload as Item
if (ACTION.type !== 'todos/added') throw new Error('the bench action is not todos/added')

const logHashes = new Map<string, number>()

/** FNV-1a of a log ID (memoised: a pure function of its argument). */
function logHash(logId: string): number {
  let h = logHashes.get(logId)
  if (h !== undefined) return h
  h = 0x811c9dc5
  for (let i = 0; i < logId.length; i++) h = Math.imul(h ^ logId.charCodeAt(i), 0x01000193) >>> 0
  logHashes.set(logId, h)
  return h
}

/**
 * `count` and a rolling hash over (log, seq) in fold order: two peers holding the same events in
 * the same total order have the same hash. A reducer of about a microsecond, so figures show the
 * network and the engine.
 */
const todos = createThreadSlice({
  name: 'todos',
  initialState: { count: 0, hash: 0 },
  reducers: {
    added: (state, action: PayloadAction<Item>) => {
      const e = (action as { meta?: { event?: EventMeta } }).meta?.event
      state.count++
      state.hash = Math.imul(Math.imul(state.hash ^ (e === undefined ? 0 : logHash(e.logId)), 0x01000193) ^ (e?.seq ?? 0), 0x01000193) >>> 0
    }
  }
})

function storeFor(peer: Peer) {
  return configureStore({
    reducer: { [peer.reducerPath]: peer.reducer, todos: todos.reducer },
    middleware: (defaults) => defaults({ serializableCheck: false, immutableCheck: false }).concat(peer.middleware)
  })
}

type Store = ReturnType<typeof storeFor>

function stateOf(store: Store): { count: number; hash: number } {
  return store.getState().todos
}

// ---------------------------------------------------------------------------------------------
// Counting network adapters.

/** Messages and bytes one peer's adapter saw. */
class NetStats {
  sent = 0
  sentBytes = 0
  received = 0
  receivedBytes = 0
  published = 0
  publishedBytes = 0
  gossipReceived = 0
  gossipReceivedBytes = 0
  connects = 0
  disconnects = 0
  readonly sentByType: Record<string, number> = {}
  readonly receivedByType: Record<string, number> = {}
  /** performance.now() of the first and last message of each direction and type ("sent:pull"). */
  readonly first = new Map<string, number>()
  readonly last = new Map<string, number>()

  reset(): void {
    this.sent = this.sentBytes = this.received = this.receivedBytes = 0
    this.published = this.publishedBytes = this.gossipReceived = this.gossipReceivedBytes = 0
    this.connects = this.disconnects = 0
    for (const k of Object.keys(this.sentByType)) delete this.sentByType[k]
    for (const k of Object.keys(this.receivedByType)) delete this.receivedByType[k]
    this.first.clear()
    this.last.clear()
  }

  mark(key: string): void {
    const now = performance.now()
    if (!this.first.has(key)) this.first.set(key, now)
    this.last.set(key, now)
  }
}

const utf8 = new TextDecoder()

/**
 * The `t` of a sync message without decoding it: a dag-cbor map of at most 23 entries (one
 * header byte), whose shortest key `t` comes first (0x61 0x74), then `t`'s text string.
 */
function messageType(bytes: Uint8Array): string {
  if (bytes.length < 5 || (bytes[0] as number) >> 5 !== 5 || bytes[1] !== 0x61 || bytes[2] !== 0x74) return '?'
  const head = bytes[3] as number
  if (head >> 5 !== 3 || (head & 0x1f) > 23) return '?'
  return utf8.decode(bytes.subarray(4, 4 + (head & 0x1f)))
}

// The sniffing above must agree with the codec; checked once at load.
for (const m of [
  { t: 'pull', thread: ThreadId.create().bytes, log: generateLogKey().id, from: 1, limit: 500 },
  { t: 'auth', tag: new Uint8Array(TAG_BYTES), nonce: new Uint8Array(NONCE_BYTES) }
] as const) {
  const bytes = encodeMessage(m)
  if (messageType(bytes) !== decodeMessage(bytes).t) throw new Error(`message type sniffing disagrees with the codec for ${m.t}`)
}

/** Wrap a network factory so that every message the adapter sends or delivers is counted. */
function counted(factory: NetworkFactory, stats: NetStats): NetworkFactory {
  return (components) => {
    const inner: NetworkAdapter = factory(components)
    inner.on('message', ({ bytes }) => {
      const t = messageType(bytes)
      stats.received++
      stats.receivedBytes += bytes.length
      stats.receivedByType[t] = (stats.receivedByType[t] ?? 0) + 1
      stats.mark(`received:${t}`)
    })
    inner.on('peer:connect', () => stats.connects++)
    inner.on('peer:disconnect', () => stats.disconnects++)
    inner.on('pubsub', ({ bytes }) => {
      stats.gossipReceived++
      stats.gossipReceivedBytes += bytes.length
    })
    const adapter: NetworkAdapter = {
      get peerId() {
        return inner.peerId
      },
      start: () => inner.start(),
      stop: () => inner.stop(),
      addresses: () => inner.addresses(),
      dial: (peerId, addrs, options) => inner.dial(peerId, addrs, options),
      hangUp: (peerId) => inner.hangUp(peerId),
      connectedPeers: () => inner.connectedPeers(),
      send: (peerId, bytes) => {
        const t = messageType(bytes)
        stats.sent++
        stats.sentBytes += bytes.length
        stats.sentByType[t] = (stats.sentByType[t] ?? 0) + 1
        stats.mark(`sent:${t}`)
        return inner.send(peerId, bytes)
      },
      subscribe: (topic) => inner.subscribe(topic),
      unsubscribe: (topic) => inner.unsubscribe(topic),
      publish: (topic, bytes) => {
        stats.published++
        stats.publishedBytes += bytes.length
        return inner.publish(topic, bytes)
      },
      topicPeers: (topic) => inner.topicPeers(topic),
      on: (event, listener) => inner.on(event, listener)
    }
    return adapter
  }
}

/** Totals over several peers' stats, as printed. */
function wire(all: readonly NetStats[], seconds: number) {
  const sum = (f: (s: NetStats) => number): number => all.reduce((a, s) => a + f(s), 0)
  const byType: Record<string, number> = {}
  for (const s of all) for (const [t, n] of Object.entries(s.sentByType)) byType[t] = (byType[t] ?? 0) + n
  const messages = sum((s) => s.sent)
  const bytes = sum((s) => s.sentBytes)
  return {
    messages_sent: messages,
    messages_by_type: byType,
    bytes_sent: bytes,
    gossip_published: sum((s) => s.published),
    gossip_received: sum((s) => s.gossipReceived),
    peer_connects: sum((s) => s.connects),
    peer_disconnects: sum((s) => s.disconnects),
    messages_per_s: Math.round(messages / seconds),
    mb_per_s: sig(bytes / seconds / 1e6, 3)
  }
}

// ---------------------------------------------------------------------------------------------
// Peers.

interface NetPeer {
  readonly peer: Peer
  readonly store: Store
  readonly stats: NetStats
  readonly dir?: string
  /** The thread this peer created or joined. */
  threadId?: string
}

/** Every peer still open: closed when its bench ends, whatever happens. */
const open = new Set<NetPeer>()

/** Temporary directories of LevelDB peers live under one root, removed on exit. */
const root = once(async (): Promise<string> => {
  const dir = await mkdtemp(join(tmpdir(), 'redux-threads-bench-network-'))
  process.once('exit', () => rmSync(dir, { recursive: true, force: true }))
  return dir
})

async function netPeer(backend: 'memory' | 'level' = 'memory'): Promise<NetPeer> {
  const stats = new NetStats()
  const dir = backend === 'level' ? await mkdtemp(join(await root(), 'peer-')) : undefined
  const storage: StorageAdapter = dir === undefined ? memoryStorage() : levelStorage(dir)
  const peer = createPeer({ storage, network: counted(libp2pNetwork({ listen: LISTEN }), stats), syncIntervalMs: 0 })
  const p: NetPeer = { peer, store: storeFor(peer), stats, ...(dir === undefined ? {} : { dir }) }
  open.add(p)
  // Started here (storage, identity, libp2p), untimed, as `await createPeer()` was.
  await peer.start()
  return p
}

async function closePeer(p: NetPeer | undefined): Promise<void> {
  if (p === undefined || !open.delete(p)) return
  await p.peer.close()
  if (p.dir !== undefined) await rm(p.dir, { recursive: true, force: true })
}

async function closeAll(): Promise<void> {
  await Promise.allSettled([...open].map((p) => closePeer(p)))
}

function threadOf(p: NetPeer): ThreadHandle {
  const t = p.threadId === undefined ? undefined : p.peer.thread(p.threadId)
  if (t === undefined) throw new Error('the peer has no thread')
  return t
}

function statusOf(p: NetPeer) {
  if (p.threadId === undefined) throw new Error('the peer has no thread')
  return p.peer.status$(p.threadId)
}

/** Create a thread on `p` (lifecycle thunk, unwrapped). */
async function createThread(p: NetPeer): Promise<void> {
  p.threadId = (await p.store.dispatch(p.peer.thunks.createThread({ slices: [todos] })).unwrap()).threadId
}

/** A write invite to `p`'s thread. */
function inviteOf(p: NetPeer): Promise<string> {
  return p.store.dispatch(p.peer.thunks.invite({ threadId: threadOf(p).id })).unwrap()
}

/**
 * Join with `invite`. `waitForSyncMs: 0`: resolve once the sync round is sent, as joinThread did
 * before the Redux rewrite (the figures wait for the store or the status themselves).
 */
async function joinThread(p: NetPeer, invite: string): Promise<void> {
  p.threadId = (await p.store.dispatch(p.peer.thunks.joinThread({ invite, slices: [todos], waitForSyncMs: 0 })).unwrap()).threadId
}

/** Dispatch `n` bench commands. */
function dispatchMany(store: Store, n: number): void {
  const added = todos.actions.added
  for (let i = 0; i < n; i++) store.dispatch(added(ITEM))
}

/** Resolves with performance.now() when the store holds `n` events (store.subscribe, no polling). */
function whenCount(store: Store, n: number, what: string, timeoutMs = HANG_MS): Promise<number> {
  return new Promise<number>((resolve, reject) => {
    if (stateOf(store).count >= n) return resolve(performance.now())
    let timer: ReturnType<typeof setTimeout> | undefined
    const unsubscribe = store.subscribe(() => {
      if (stateOf(store).count < n) return
      const at = performance.now()
      unsubscribe()
      clearTimeout(timer)
      resolve(at)
    })
    timer = setTimeout(() => {
      unsubscribe()
      reject(new Error(`${what}: ${stateOf(store).count} of ${n} events after ${timeoutMs} ms`))
    }, timeoutMs)
  })
}

/** Resolves with performance.now() when the thread's status satisfies `ok` (status$), or with undefined after `timeoutMs`. */
function whenStatus(p: NetPeer, ok: (s: ThreadEntry) => boolean, timeoutMs: number): Promise<number | undefined> {
  return new Promise<number | undefined>((resolve) => {
    let done = false
    let timer: ReturnType<typeof setTimeout> | undefined
    const finish = (at: number | undefined): void => {
      if (done) return
      done = true
      clearTimeout(timer)
      queueMicrotask(() => sub.unsubscribe())
      resolve(at)
    }
    const sub = statusOf(p).subscribe((s) => {
      if (ok(s)) finish(performance.now())
    })
    if (!done) timer = setTimeout(() => finish(undefined), timeoutMs)
  })
}

/** The status of a thread now (status$ emits it on subscribe). */
function statusNow(p: NetPeer): ThreadEntry {
  let out: ThreadEntry | undefined
  statusOf(p)
    .subscribe((s) => (out ??= s))
    .unsubscribe()
  if (out === undefined) throw new Error('status$ did not emit on subscribe')
  return out
}

// ---------------------------------------------------------------------------------------------
// Figure helpers.

function quantile(sorted: ArrayLike<number>, q: number): number {
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))] as number
}

function median(values: readonly number[]): number {
  return quantile([...values].sort((a, b) => a - b), 0.5)
}

function spreadOf(values: readonly number[]): number {
  if (values.length < 2) return 0
  const m = median(values)
  return m === 0 ? 0 : sig((Math.max(...values) - Math.min(...values)) / m, 2)
}

const ms = (v: number): number => sig(v, 3)

// ---------------------------------------------------------------------------------------------
// 1. Replication of 10,000 events to a fresh peer.

/** Writer A: a thread of {@link REPLICATE_N} events, written before any other peer exists. */
const writer = once(async (): Promise<{ a: NetPeer; invite: string; hash: number }> => {
  const a = await netPeer()
  await createThread(a)
  for (let i = 0; i < REPLICATE_N; i += 1_000) {
    dispatchMany(a.store, 1_000)
    await threadOf(a).flush()
  }
  await a.peer.idle()
  if (stateOf(a.store).count !== REPLICATE_N) throw new Error('writer A did not write its events')
  return { a, invite: await inviteOf(a), hash: stateOf(a.store).hash }
})

interface ReplicateRun {
  readonly total: number
  readonly joinReturned: number
  readonly firstPull: number | undefined
  readonly firstPage: number | undefined
  readonly lastPage: number | undefined
  readonly durable: number
  readonly pulls: number
  readonly loopMaxMs: number
  readonly pages: number
  readonly wire: ReturnType<typeof wire>
}

async function replicateOnce(backend: 'memory' | 'level'): Promise<ReplicateRun> {
  const { a, invite, hash } = await writer()
  let b: NetPeer | undefined
  try {
    b = await netPeer(backend)
    a.stats.reset()
    collect()
    const bs = b
    const loop = monitorEventLoopDelay({ resolution: 10 })
    loop.enable()
    const start = performance.now()
    const all = whenCount(bs.store, REPLICATE_N, `network.replicate.${backend}`)
    await joinThread(bs, invite)
    const joinReturned = performance.now()
    const done = await all
    loop.disable()
    await threadOf(bs).flush()
    const durable = performance.now()
    await Promise.all([bs.peer.idle(), a.peer.idle()])
    const s = stateOf(bs.store)
    if (s.count !== REPLICATE_N || s.hash !== hash || engineOf(threadOf(bs)).timeline.length !== REPLICATE_N) {
      throw new Error(`network.replicate.${backend}: B holds ${s.count} events (hash ${s.hash}), A ${REPLICATE_N} (hash ${hash})`)
    }
    const rel = (t: number | undefined): number | undefined => (t === undefined ? undefined : ms(t - start))
    const seconds = (done - start) / 1000
    return {
      total: done - start,
      joinReturned: joinReturned - start,
      firstPull: rel(bs.stats.first.get('sent:pull')),
      firstPage: rel(bs.stats.first.get('received:records')),
      lastPage: rel(bs.stats.last.get('received:records')),
      durable: durable - start,
      pulls: bs.stats.sentByType.pull ?? 0,
      loopMaxMs: loop.max / 1e6,
      pages: bs.stats.receivedByType.records ?? 0,
      wire: wire([a.stats, bs.stats], seconds)
    }
  } finally {
    await closePeer(b)
  }
}

async function replicateFigure(r: Reporter, backend: 'memory' | 'level', runs: number): Promise<void> {
  const results: ReplicateRun[] = []
  for (let run = 0; run < 1 + runs; run++) {
    const result = await replicateOnce(backend)
    if (run > 0) results.push(result)
  }
  const totals = results.map((x) => ms(x.total))
  const value = median(totals)
  const mid = results.find((x) => ms(x.total) === value) ?? (results[0] as ReplicateRun)
  const bench = backend === 'memory' ? `network.replicate.${REPLICATE_N}` : `network.replicate.${REPLICATE_N}.level`
  r.emit({
    bench,
    unit: 'ms',
    value,
    n: REPLICATE_N,
    target: target('< 1 s to replicate 10,000 events to a fresh peer', 'max', 1000, value),
    events_per_s: Math.round(REPLICATE_N / (value / 1000)),
    runs_ms: totals,
    spread: spreadOf(totals),
    // Phases of the median run, ms from the start of joinThread.
    join_returned_ms: ms(mid.joinReturned),
    first_pull_sent_ms: mid.firstPull,
    first_page_received_ms: mid.firstPage,
    last_page_received_ms: mid.lastPage,
    durable_ms: ms(mid.durable),
    pulls_sent: mid.pulls,
    pages_received: mid.pages,
    pages_expected: Math.ceil(REPLICATE_N / DEFAULT_PULL_LIMIT),
    pull_limit: DEFAULT_PULL_LIMIT,
    event_loop_delay_max_ms: ms(mid.loopMaxMs),
    wire: mid.wire,
    storage: backend === 'memory' ? 'B: memory; A: memory' : 'B: level (classic-level, temp dir), sync: false; A: memory',
    transport: 'libp2p TCP 127.0.0.1, Noise, Yamux',
    command_bytes: ACTION_BYTES,
    middleware: 'production (checks off)',
    note: `writer A holds ${REPLICATE_N} events written before B exists; B (fresh createPeer + store, untimed) calls joinThread(A's invite): dial, mutual auth, heads, paged pulls; timed from joinThread's start until store.subscribe sees all ${REPLICATE_N} events (durable_ms: also stored, after the thread's flush); joinThread with waitForSyncMs 0 (it returns once its sync round is sent, as before the Redux rewrite); median of ${runs} runs after 1 warm-up, a new B each run`
  })
}

// ---------------------------------------------------------------------------------------------
// 2. Live propagation latency of one event between two connected peers.

async function latencyFigure(r: Reporter): Promise<void> {
  try {
    const a = await netPeer()
    const b = await netPeer()
    await createThread(a)
    const authedA = whenStatus(a, (s) => s.peers.length >= 1, 10_000)
    await joinThread(b, await inviteOf(a))
    if ((await authedA) === undefined || (await whenStatus(b, (s) => s.peers.length >= 1, 10_000)) === undefined) {
      throw new Error('network.latency: the two peers did not authenticate each other')
    }
    const added = todos.actions.added
    const latencies = new Float64Array(LATENCY_N)
    a.stats.reset()
    b.stats.reset()
    let sent = 0
    let started = 0
    for (let i = 0; i < LATENCY_WARMUP + LATENCY_N; i++) {
      if (i === LATENCY_WARMUP) {
        await Promise.all([a.peer.idle(), b.peer.idle()])
        collect()
        a.stats.reset()
        b.stats.reset()
        started = performance.now()
      }
      const arrived = whenCount(b.store, ++sent, 'network.latency', 10_000)
      const t0 = performance.now()
      a.store.dispatch(added(ITEM))
      const t1 = await arrived
      if (i >= LATENCY_WARMUP) latencies[i - LATENCY_WARMUP] = t1 - t0
    }
    const seconds = (performance.now() - started) / 1000
    await Promise.all([a.peer.idle(), b.peer.idle()])
    if (stateOf(a.store).hash !== stateOf(b.store).hash) throw new Error('network.latency: A and B disagree')
    const sorted = latencies.slice().sort()
    const p50 = ms(quantile(sorted, 0.5))
    r.emit({
      bench: 'network.latency',
      unit: 'ms',
      value: p50,
      n: LATENCY_N,
      target: target('p50 < 10 ms from dispatch on A to the state on B', 'max', 10, p50),
      p50_ms: p50,
      p90_ms: ms(quantile(sorted, 0.9)),
      p99_ms: ms(quantile(sorted, 0.99)),
      max_ms: ms(sorted[sorted.length - 1] as number),
      min_ms: ms(sorted[0] as number),
      mean_ms: ms(sorted.reduce((x, y) => x + y, 0) / sorted.length),
      wire: wire([a.stats, b.stats], seconds),
      messages_per_event: sig((a.stats.sent + b.stats.sent) / LATENCY_N, 3),
      storage: 'memory (both)',
      transport: 'libp2p TCP 127.0.0.1, Noise, Yamux',
      note: `A and B connected and authenticated; A dispatches one command, timed until B's store.subscribe sees it; sequential (the next dispatch after B has the previous one), ${LATENCY_N} timed after ${LATENCY_WARMUP} warm-up; path: dispatch, record, push on setImmediate, one direct records message, B decodes, ingests, store dispatch`
    })
  } finally {
    await closeAll()
  }
}

// ---------------------------------------------------------------------------------------------
// 3. Ten peers writing at once until they converge.

async function convergeFigure(r: Reporter): Promise<void> {
  try {
    const rssBefore = process.memoryUsage().rss
    const setupStart = performance.now()
    const peers = await Promise.all(Array.from({ length: CONVERGE_PEERS }, () => netPeer()))
    const [first, ...others] = peers as [NetPeer, ...NetPeer[]]
    const peersStarted = performance.now()
    await createThread(first)
    const invite = await inviteOf(first)
    // Nine joins at once; peers learn each other's addresses from the heads they exchange.
    await Promise.all(others.map((p) => joinThread(p, invite)))
    const meshed = (): Promise<Array<number | undefined>> => Promise.all(peers.map((p) => whenStatus(p, (s) => s.peers.length === CONVERGE_PEERS - 1, 2_000)))
    let rounds = 0
    while ((await meshed()).some((t) => t === undefined)) {
      if (++rounds > 5) {
        throw new Error(`network.converge: no full mesh after ${rounds - 1} sync rounds: ${peers.map((p) => threadOf(p).peers().length).join(',')}`)
      }
      // Not every peer learnt every other: one explicit round exchanges heads (with addresses).
      await Promise.all(peers.map((p) => p.store.dispatch(p.peer.thunks.syncNow()).unwrap()))
    }
    await Promise.all(peers.map((p) => p.peer.idle()))
    const meshMs = performance.now() - peersStarted
    const connections = peers.map((p) => p.peer.network?.connectedPeers().length ?? 0)
    const rssMeshed = process.memoryUsage().rss

    const total = CONVERGE_PEERS * CONVERGE_EACH
    for (const p of peers) p.stats.reset()
    collect()
    const loop = monitorEventLoopDelay({ resolution: 10 })
    loop.enable()
    const cpu0 = process.cpuUsage()
    const start = performance.now()
    // Past the deadline the figure is printed as not converged (with the counts reached).
    const finished = peers.map((p, i) => whenCount(p.store, total, `network.converge peer ${i}`, CONVERGE_DEADLINE_MS).catch(() => undefined))
    // Every peer dispatches a burst of CONVERGE_BURST per setImmediate turn, all peers each turn.
    for (let done = 0; done < CONVERGE_EACH; done += CONVERGE_BURST) {
      for (const p of peers) dispatchMany(p.store, CONVERGE_BURST)
      await new Promise<void>((resolve) => setImmediate(resolve))
    }
    const dispatched = performance.now()
    const times = await Promise.all(finished)
    const converged = times.every((t) => t !== undefined)
    const done = times.filter((t): t is number => t !== undefined)
    const end = converged ? Math.max(...done) : performance.now()
    const cpu = process.cpuUsage(cpu0)
    loop.disable()
    const rssAfter = process.memoryUsage().rss
    const seconds = (end - start) / 1000
    const wireNow = wire(
      peers.map((p) => p.stats),
      seconds
    )
    const counts = peers.map((p) => stateOf(p.store).count)
    let hash: number | undefined
    if (converged) {
      const hashes = new Set(peers.map((p) => stateOf(p.store).hash))
      if (hashes.size !== 1) throw new Error(`network.converge: ${hashes.size} different state hashes with every peer at ${total} events`)
      await Promise.all(peers.map((p) => p.peer.idle()))
      // The state once the traffic settled: still the same everywhere.
      const digest = new Set(peers.map((p) => createHash('sha256').update(JSON.stringify(stateOf(p.store))).digest('hex').slice(0, 16)))
      if (digest.size !== 1) throw new Error('network.converge: the states differ once settled')
      hash = stateOf(first.store).hash
    }
    const statuses = peers.map(statusNow)
    const value = ms(end - start)
    r.emit({
      bench: `network.converge.${CONVERGE_PEERS}x${CONVERGE_EACH}`,
      unit: 'ms',
      value,
      n: total,
      target: target('< 5 s until 10 peers hold all 10,000 events, same state hash', 'max', 5000, converged ? value : Number.POSITIVE_INFINITY),
      converged,
      ...(converged ? {} : { deadline_ms: CONVERGE_DEADLINE_MS, counts_at_deadline: counts }),
      peers: CONVERGE_PEERS,
      events_per_peer: CONVERGE_EACH,
      offered: `each peer dispatches ${CONVERGE_BURST} commands per setImmediate turn, all ${CONVERGE_PEERS} peers each turn (${CONVERGE_PEERS * CONVERGE_BURST} per turn, ${CONVERGE_EACH / CONVERGE_BURST} turns)`,
      dispatch_ms: ms(dispatched - start),
      first_peer_done_ms: done.length === 0 ? undefined : ms(Math.min(...done) - start),
      last_peer_done_ms: converged ? value : undefined,
      ...(hash === undefined ? {} : { state_hash: hash }),
      replays: statuses.map((s) => s.replays),
      held_at_end: statuses.reduce((a, s) => a + s.held, 0),
      rejected: statuses.reduce((a, s) => a + s.rejected, 0),
      setup: {
        peers_started_ms: ms(peersStarted - setupStart),
        mesh_ms: ms(meshMs),
        sync_rounds_for_mesh: rounds,
        connections_per_peer: connections
      },
      cpu_cores_used: sig((cpu.user + cpu.system) / 1000 / (end - start), 3),
      event_loop_delay_ms: { p50: ms(loop.percentile(50) / 1e6), p99: ms(loop.percentile(99) / 1e6), max: ms(loop.max / 1e6) },
      rss_mb: { before: Math.round(rssBefore / 2 ** 20), meshed: Math.round(rssMeshed / 2 ** 20), after: Math.round(rssAfter / 2 ** 20) },
      wire: wireNow,
      min_bytes_sent: `about ${sig((total * (CONVERGE_PEERS - 1) * 600) / 1e6, 2)} MB (every event once to each other peer, ~600 B per record on the wire)`,
      storage: 'memory (every peer)',
      transport: `libp2p TCP 127.0.0.1, Noise, Yamux; ${CONVERGE_PEERS} nodes in one process`,
      note: 'one peer creates the thread, nine join with its invite at once; timed once every peer sees 9 authenticated peers, from the first dispatch until every store.subscribe sees all events; then the state hashes (order-sensitive, over log and seq) must agree'
    })
  } finally {
    await closeAll()
  }
}

// ---------------------------------------------------------------------------------------------
// For scale: the raw adapter, without the sync protocol (two libp2p nodes, direct messages).

async function rawFigure(r: Reporter): Promise<void> {
  const nets: NetworkAdapter[] = []
  try {
    const a = libp2pNetwork({ listen: LISTEN })({ identity: generateLogKey() })
    const b = libp2pNetwork({ listen: LISTEN })({ identity: generateLogKey() })
    nets.push(a, b)
    await Promise.all([a.start(), b.start()])
    await a.dial(b.peerId, b.addresses())
    let got = 0
    let gotBytes = 0
    let want = 0
    let arrived: (() => void) | undefined
    b.on('message', ({ bytes }) => {
      got++
      gotBytes += bytes.length
      if (got === want) arrived?.()
    })
    const burst = async (count: number, bytes: number): Promise<number> => {
      const payload = new Uint8Array(bytes).fill(7)
      got = 0
      gotBytes = 0
      want = count
      const all = new Promise<void>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`network.raw: ${got} of ${count} messages arrived`)), HANG_MS)
        arrived = () => {
          clearTimeout(timer)
          resolve()
        }
      })
      const t0 = performance.now()
      const sends: Array<Promise<void>> = []
      for (let i = 0; i < count; i++) sends.push(a.send(b.peerId, payload))
      await Promise.all([...sends, all])
      if (gotBytes !== count * bytes) throw new Error('network.raw: bytes lost')
      return (performance.now() - t0) / 1000
    }
    await burst(100, RAW_SMALL.bytes) // opens the stream, warms up
    for (const c of [RAW_SMALL, RAW_PAGE]) {
      const runs: number[] = []
      for (let run = 0; run < 3; run++) {
        collect()
        runs.push(await burst(c.count, c.bytes))
      }
      const seconds = median(runs)
      r.emit({
        bench: c === RAW_SMALL ? 'network.raw.small' : 'network.raw.page',
        unit: 'messages/s',
        value: Math.round(c.count / seconds),
        n: c.count,
        message_bytes: c.bytes,
        mb_per_s: sig((c.count * c.bytes) / seconds / 1e6, 3),
        runs_ms: runs.map((x) => ms(x * 1000)),
        spread: spreadOf(runs),
        transport: 'libp2p TCP 127.0.0.1, Noise, Yamux (Libp2pNetwork.send, one message stream)',
        note: `for scale: ${c.count} direct messages of ${c.bytes} bytes sent in one turn from one adapter to another, until all are delivered; no sync protocol, no decoding (median of 3)`
      })
    }
  } finally {
    await Promise.allSettled(nets.map((n) => n.stop()))
  }
}

// ---------------------------------------------------------------------------------------------

export const networkBenches: Bench[] = [
  {
    name: 'network.replicate',
    async run(r) {
      try {
        await replicateFigure(r, 'memory', 3)
        await replicateFigure(r, 'level', 2)
      } finally {
        await closeAll()
      }
    }
  },
  { name: 'network.latency', run: latencyFigure },
  { name: 'network.raw', run: rawFigure },
  { name: 'network.converge', run: convergeFigure }
]
