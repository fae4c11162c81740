import { concat } from 'uint8arrays/concat'
import { equals } from 'uint8arrays/equals'
import { getCrypto } from '../core/crypto/index.js'
import { MalformedMessageError, ThreadsError, UnauthorizedError } from '../core/errors.js'
import { recordBlocks, type LogRecord, type RecordBlocks } from '../core/record.js'
import { ThreadId } from '../core/threadId.js'
import { Emitter } from '../core/emitter.js'
import type { ThreadEngine } from '../engine/threadEngine.js'
import type { Logstore } from '../store/logstore/logstore.js'
import type { EventStore } from '../store/eventStore.js'
import {
  DEFAULT_PULL_LIMIT,
  MAX_ADDR_PEERS,
  MAX_ADDRS_PER_PEER,
  MAX_MESSAGE_BYTES,
  MAX_RECORDS_PER_MESSAGE,
  NONCE_BYTES,
  decodeMessage,
  encodeMessage,
  type AddrEntry,
  type HeadEntry,
  type SyncMessage
} from './messages.js'
import type { NetworkAdapter } from './networkAdapter.js'

/** The threads a sync service serves. */
export interface SyncHost {
  engine(threadId: string): ThreadEngine<unknown> | undefined
  engines(): Array<ThreadEngine<unknown>>
}

export interface SyncOptions {
  readonly network: NetworkAdapter
  readonly eventStore: EventStore
  readonly host: SyncHost
  /** Re-exchange heads with every peer and dial known addresses this often (ms; default 10,000; 0: never). */
  readonly intervalMs?: number
  /** Records asked for per pull (default 500). */
  readonly pullLimit?: number
  /** Bad messages from one peer before it is disconnected (default 3). */
  readonly strikes?: number
  /** A pull not answered after this long may be asked again (ms; default 5,000). */
  readonly pullTimeoutMs?: number
}

/** What the sync service reports. */
export interface SyncEvents {
  /** A peer sent something refused. `threadId` is set when the message named a thread. */
  error: { readonly peerId: string; readonly error: ThreadsError }
  /** The authenticated peers of a thread changed. */
  peers: { readonly threadId: string; readonly peers: readonly string[] }
  /** A peer was disconnected for misbehaving. */
  banned: { readonly peerId: string; readonly reason: string }
}

const AUTH_INFO = new TextEncoder().encode('redux-threads/auth/v1')
/** How long addresses learnt from peers stay in the address book (ms). */
export const LEARNT_ADDR_TTL = 60 * 60 * 1000
const text = new TextEncoder()

/**
 * The proof that `prover` holds a thread's service key, for `verifier`'s challenge: an HMAC
 * over the challenge and both peer IDs, so it can be neither replayed to another peer nor
 * reflected back. The key itself never crosses the wire.
 */
export function authMac(serviceKey: Uint8Array, thread: Uint8Array, nonce: Uint8Array, prover: string, verifier: string): Uint8Array {
  return getCrypto().hmacSha256(serviceKey, concat([AUTH_INFO, thread, nonce, text.encode(prover), Uint8Array.of(0), text.encode(verifier)]))
}

interface Nonce {
  readonly nonce: Uint8Array
  readonly at: number
}

/**
 * How long a challenge may wait for its answer. Rounds that overlap (every sync round challenges
 * peers not yet authenticated) add nonces; 16 per peer and thread within a minute keeps every
 * live one, so a slow honest proof still matches.
 */
const NONCE_TTL_MS = 60_000

function pairKey(peerId: string, threadId: string): string {
  return `${peerId}\u0000${threadId}`
}

/**
 * The sync protocol of DESIGN.md section 6, over any {@link NetworkAdapter}: mutual proof of the
 * service key, heads exchange, paged pulls, pushes of new records, gossip on the thread ID topic,
 * and a periodic round that dials known addresses and pulls what is missing.
 *
 * @example
 * ```ts
 * const sync = new SyncService({ network, eventStore, host })
 * await sync.start()
 * sync.addThread(engine)     // authenticates with connected peers, pulls, pushes, gossips
 * ```
 */
export class SyncService {
  readonly events = new Emitter<SyncEvents>()
  readonly #net: NetworkAdapter
  readonly #store: EventStore
  readonly #host: SyncHost
  readonly #options: SyncOptions
  /** Nonces this peer sent in `auth`, per peer and thread: an `auth-reply` answers one. */
  readonly #challenges = new Map<string, Nonce[]>()
  /**
   * Nonces this peer sent back in `auth-reply`: an `auth-done` answers one. Kept apart from
   * `#challenges` so that the other side's rounds cannot push this side's own challenges out
   * (overlapping handshakes made honest peers fail each other's proofs).
   */
  readonly #counters = new Map<string, Nonce[]>()
  readonly #authorized = new Map<string, Set<string>>()
  /** Pulls awaiting their page, by peer, thread and log: when asked, and from which seq. */
  readonly #inflight = new Map<string, { at: number; from: number }>()
  readonly #dialing = new Set<string>()
  /**
   * Writers (by peer and thread) whose log this peer has caught up with since they authenticated
   * or since the last round: from then on their pushes bring their records, and heads they or
   * others announce do not start pulls that would race those pushes.
   */
  readonly #caughtUp = new Set<string>()
  readonly #announcing = new Set<string>()
  readonly #strikes = new Map<string, number>()
  readonly #outbox = new Map<string, Map<string, LogRecord[]>>()
  readonly #offs: Array<() => void> = []
  #timer: ReturnType<typeof setInterval> | undefined
  #flushScheduled = false
  #started = false
  /** Handlers and flushes under way: `idle()` waits for zero. */
  #busy = 0
  #idlers: Array<() => void> = []

  constructor(options: SyncOptions) {
    this.#options = options
    this.#net = options.network
    this.#store = options.eventStore
    this.#host = options.host
  }

  get #logstore(): Logstore {
    return this.#store.logstore
  }

  async start(): Promise<void> {
    if (this.#started) return
    this.#started = true
    this.#offs.push(
      this.#net.on('peer:connect', ({ peerId }) => this.#onConnect(peerId)),
      this.#net.on('peer:disconnect', ({ peerId }) => this.#onDisconnect(peerId)),
      this.#net.on('message', ({ from, bytes }) => void this.#track(this.#onMessage(from, bytes))),
      this.#net.on('pubsub', ({ topic, from, bytes }) => void this.#track(this.#onGossip(topic, from, bytes)))
    )
    const every = this.#options.intervalMs ?? 10_000
    if (every > 0) {
      this.#timer = setInterval(() => {
        // A round may still be reading storage when the peer closes it: never an unhandled rejection.
        this.syncNow().catch((e: unknown) => {
          if (this.#started) this.events.emit('error', { peerId: '', error: e instanceof ThreadsError ? e : new ThreadsError(`sync round failed: ${String(e)}`) })
        })
      }, every)
      this.#timer.unref?.()
    }
  }

  async stop(): Promise<void> {
    if (!this.#started) return
    this.#started = false
    if (this.#timer !== undefined) clearInterval(this.#timer)
    for (const off of this.#offs.splice(0)) off()
  }

  async #track(work: Promise<void>): Promise<void> {
    this.#busy++
    try {
      await work
    } catch (e) {
      // A handler must never take the node down: report and go on.
      this.events.emit('error', { peerId: '', error: e instanceof ThreadsError ? e : new ThreadsError(`sync handler failed: ${String(e)}`) })
    } finally {
      if (--this.#busy === 0) for (const done of this.#idlers.splice(0)) done()
    }
  }

  /** Resolves when no message handler or push is under way on this peer. */
  idle(): Promise<void> {
    if (this.#busy === 0) return Promise.resolve()
    return new Promise((resolve) => this.#idlers.push(resolve))
  }

  /** True while a handler or push is under way. */
  get busy(): boolean {
    return this.#busy > 0
  }

  /** Start serving a thread: subscribe to its topic, push its new records, sync with peers. */
  addThread(engine: ThreadEngine<unknown>): void {
    this.#net.subscribe(engine.id)
    this.#offs.push(engine.events.on('recorded', ({ records }) => this.#queuePush(engine.id, records)))
    for (const peer of this.#net.connectedPeers()) this.#challenge(peer, engine.id)
  }

  /** Peers that proved they hold the thread's service key, and are connected. */
  peersOf(threadId: string): string[] {
    const out: string[] = []
    for (const [peer, threads] of this.#authorized) if (threads.has(threadId)) out.push(peer)
    return out.sort()
  }

  /**
   * One round now: dial known addresses of every thread's peers, then exchange heads with (or
   * authenticate to) every connected peer. Pulls that went unanswered may be asked again.
   */
  async syncNow(): Promise<void> {
    if (!this.#started) return
    const now = Date.now()
    for (const [k, p] of this.#inflight) if (now - p.at > (this.#options.pullTimeoutMs ?? 5000)) this.#inflight.delete(k)
    // A round compares heads afresh: whatever a lost push left out is pulled now.
    this.#caughtUp.clear()
    await this.dialKnown()
    for (const engine of this.#host.engines()) {
      for (const peer of this.#net.connectedPeers()) {
        if (this.#authorized.get(peer)?.has(engine.id) === true) this.#sendHeads(peer, engine)
        else this.#challenge(peer, engine.id)
      }
    }
  }

  /** Dial every peer the address book knows for this peer's threads, if not connected. */
  async dialKnown(): Promise<void> {
    const connected = new Set(this.#net.connectedPeers())
    const dials: Array<Promise<void>> = []
    for (const engine of this.#host.engines()) {
      for (const log of this.#logstore.logs(engine.id)) {
        if (log.id === this.#net.peerId || connected.has(log.id)) continue
        connected.add(log.id)
        dials.push(this.#dialLog(engine.thread.n, log.id))
      }
      for (const peer of await this.#knownPeers(engine.thread.n)) {
        if (peer === this.#net.peerId || connected.has(peer)) continue
        connected.add(peer)
        dials.push(this.#dialLog(engine.thread.n, peer))
      }
    }
    await Promise.all(dials)
  }

  async #knownPeers(t: string): Promise<string[]> {
    const out: string[] = []
    for await (const { key } of this.#logstore.storage.range(['a', t])) out.push(key[2] as string)
    return out
  }

  async #dialLog(t: string, peerId: string): Promise<void> {
    // One dial per peer at a time: every heads message names the same peers.
    if (this.#dialing.has(peerId)) return
    this.#dialing.add(peerId)
    try {
      const addrs = await this.#logstore.addrs.addrs(t, peerId)
      if (addrs.length > 0) await this.#net.dial(peerId, addrs.map((a) => a.addr))
    } catch {
      // Unreachable for now: the next round tries again, until the address expires.
    } finally {
      this.#dialing.delete(peerId)
    }
  }

  #send(peer: string, m: SyncMessage): void {
    let bytes: Uint8Array
    try {
      bytes = encodeMessage(m)
    } catch {
      return
    }
    this.#net.send(peer, bytes).catch(() => undefined)
  }

  /**
   * A fresh nonce, remembered until a proof answers it or it is a minute old (at most 16 per
   * peer and thread: a peer cannot make this grow, and slow honest answers still match).
   */
  #nonce(nonces: Map<string, Nonce[]>, peer: string, threadId: string): Uint8Array {
    const nonce = getCrypto().randomBytes(NONCE_BYTES)
    const k = pairKey(peer, threadId)
    const now = Date.now()
    const list = (nonces.get(k) ?? []).filter((n) => now - n.at < NONCE_TTL_MS)
    list.push({ nonce, at: now })
    if (list.length > 16) list.shift()
    nonces.set(k, list)
    return nonce
  }

  #challenge(peer: string, threadId: string): void {
    const nonce = this.#nonce(this.#challenges, peer, threadId)
    this.#send(peer, { t: 'auth', thread: ThreadId.parse(threadId).bytes, nonce })
  }

  #verifyProof(nonces: Map<string, Nonce[]>, peer: string, engine: ThreadEngine<unknown>, mac: Uint8Array): boolean {
    const k = pairKey(peer, engine.id)
    const list = nonces.get(k) ?? []
    const i = list.findIndex(({ nonce }) => equals(authMac(engine.thread.key.service, engine.thread.id.bytes, nonce, peer, this.#net.peerId), mac))
    if (i < 0) return false
    list.splice(i, 1)
    return true
  }

  #authorize(peer: string, threadId: string): void {
    let set = this.#authorized.get(peer)
    if (set === undefined) this.#authorized.set(peer, (set = new Set()))
    if (set.has(threadId)) return
    set.add(threadId)
    // A peer that proves the key starts with a clean record: rare races must not add up to a ban.
    this.#strikes.delete(peer)
    this.events.emit('peers', { threadId, peers: this.peersOf(threadId) })
  }

  #onConnect(peer: string): void {
    for (const engine of this.#host.engines()) this.#challenge(peer, engine.id)
  }

  #onDisconnect(peer: string): void {
    const threads = this.#authorized.get(peer)
    this.#authorized.delete(peer)
    for (const k of [...this.#caughtUp]) if (k.startsWith(`${peer}\u0000`)) this.#caughtUp.delete(k)
    for (const k of [...this.#inflight.keys()]) if (k.startsWith(`${peer}\u0000`)) this.#inflight.delete(k)
    for (const nonces of [this.#challenges, this.#counters]) {
      for (const k of [...nonces.keys()]) if (k.startsWith(`${peer}\u0000`)) nonces.delete(k)
    }
    for (const t of threads ?? []) this.events.emit('peers', { threadId: t, peers: this.peersOf(t) })
  }

  #strike(peer: string, error: ThreadsError): void {
    this.events.emit('error', { peerId: peer, error })
    const n = (this.#strikes.get(peer) ?? 0) + 1
    this.#strikes.set(peer, n)
    if (n >= (this.#options.strikes ?? 3)) {
      this.#strikes.delete(peer)
      this.events.emit('banned', { peerId: peer, reason: error.message })
      void this.#net.hangUp(peer).catch(() => undefined)
    }
  }

  async #onMessage(peer: string, bytes: Uint8Array): Promise<void> {
    let m: SyncMessage
    try {
      m = decodeMessage(bytes)
    } catch (e) {
      this.#strike(peer, e instanceof ThreadsError ? e : new MalformedMessageError(String(e)))
      return
    }
    let threadId: string
    try {
      threadId = ThreadId.fromBytes(m.thread).toString()
    } catch (e) {
      this.#strike(peer, e as ThreadsError)
      return
    }
    const engine = this.#host.engine(threadId)
    if (engine === undefined) {
      if (m.t === 'auth') this.#send(peer, { t: 'nack', thread: m.thread, reason: 'unknown thread' })
      return
    }
    const ctx = { threadId }
    switch (m.t) {
      case 'auth': {
        const nonce = this.#nonce(this.#counters, peer, threadId)
        const mac = authMac(engine.thread.key.service, engine.thread.id.bytes, m.nonce, this.#net.peerId, peer)
        this.#send(peer, { t: 'auth-reply', thread: m.thread, mac, nonce })
        return
      }
      case 'auth-reply': {
        if (!this.#verifyProof(this.#challenges, peer, engine, m.mac)) return this.#strike(peer, new UnauthorizedError('peer failed to prove it holds the service key', ctx))
        this.#authorize(peer, threadId)
        this.#send(peer, { t: 'auth-done', thread: m.thread, mac: authMac(engine.thread.key.service, engine.thread.id.bytes, m.nonce, this.#net.peerId, peer) })
        this.#sendHeads(peer, engine)
        return
      }
      case 'auth-done': {
        if (!this.#verifyProof(this.#counters, peer, engine, m.mac)) return this.#strike(peer, new UnauthorizedError('peer failed to prove it holds the service key', ctx))
        this.#authorize(peer, threadId)
        this.#sendHeads(peer, engine)
        return
      }
      case 'nack':
        return
      default:
        break
    }
    // Everything below needs a peer that proved it holds the thread's service key.
    if (this.#authorized.get(peer)?.has(threadId) !== true) {
      return this.#strike(peer, new UnauthorizedError(`a ${m.t} message before the peer proved it holds the service key`, ctx))
    }
    switch (m.t) {
      case 'heads':
        return this.#onHeads(peer, engine, m.heads, m.addrs)
      case 'pull':
        return this.#onPull(peer, engine, m.log, m.from, m.limit)
      case 'records':
        return this.#onRecords(peer, engine, m.log, m.records, m.more, m.push)
    }
  }

  /** Heads to a peer; with the addresses this peer knows, after authentication and in rounds. */
  #sendHeads(peer: string, engine: ThreadEngine<unknown>, withAddrs = true): void {
    void this.#track(this.#sendHeadsNow(peer, engine, withAddrs))
  }

  async #sendHeadsNow(peer: string, engine: ThreadEngine<unknown>, withAddrs: boolean): Promise<void> {
    const heads: HeadEntry[] = [...engine.heads()].map(([log, h]) => [log, h.seq])
    const addrs: AddrEntry[] = withAddrs ? [[this.#net.peerId, this.#net.addresses().slice(0, MAX_ADDRS_PER_PEER)]] : []
    for (const other of withAddrs ? await this.#knownPeers(engine.thread.n) : []) {
      if (other === peer || other === this.#net.peerId || addrs.length >= MAX_ADDR_PEERS) continue
      const list = (await this.#logstore.addrs.addrs(engine.thread.n, other)).map((a) => a.addr).slice(0, MAX_ADDRS_PER_PEER)
      if (list.length > 0) addrs.push([other, list])
    }
    // The reads above are asynchronous: if the connection closed meanwhile (and perhaps opened
    // again, not yet authenticated), these heads belong to the old session; the new one sends its own.
    if (this.#authorized.get(peer)?.has(engine.id) !== true) return
    this.#send(peer, { t: 'heads', thread: engine.thread.id.bytes, heads, addrs })
  }

  async #learnAddrs(engine: ThreadEngine<unknown>, addrs: readonly AddrEntry[]): Promise<void> {
    const connected = new Set(this.#net.connectedPeers())
    for (const [peerId, list] of addrs) {
      if (peerId === this.#net.peerId || list.length === 0) continue
      await this.#logstore.addrs.addAddrs(engine.thread.n, peerId, list, LEARNT_ADDR_TTL)
      // A peer of the thread we have no connection to: dial it now rather than next round.
      if (!connected.has(peerId)) void this.#track(this.#dialLog(engine.thread.n, peerId))
    }
  }

  /**
   * Tell the thread's authenticated peers our heads changed, once per turn however many ingests
   * stored records in it: they pull what they lack.
   */
  #announce(engine: ThreadEngine<unknown>): void {
    if (this.#announcing.has(engine.id)) return
    this.#announcing.add(engine.id)
    this.#busy++
    setImmediate(() => {
      this.#announcing.delete(engine.id)
      // Announcements carry heads only: addresses travel after authentication and in rounds.
      for (const peer of this.peersOf(engine.id)) this.#sendHeads(peer, engine, false)
      if (--this.#busy === 0) for (const done of this.#idlers.splice(0)) done()
    })
  }

  async #onHeads(peer: string, engine: ThreadEngine<unknown>, heads: readonly HeadEntry[], addrs: readonly AddrEntry[]): Promise<void> {
    await this.#learnAddrs(engine, addrs)
    const mine = engine.heads()
    for (const [log, seq] of heads) {
      if (log === this.#net.peerId && engine.logKey?.id === log) continue
      // A log whose writer is connected and authenticated comes from the writer itself: once
      // from its heads after authentication (or in a round), then from its pushes. Pulling it on
      // every announcement, from every peer, would race those pushes and multiply the traffic.
      const writerHere = this.#authorized.get(log)?.has(engine.id) === true
      if (writerHere && (log !== peer || this.#caughtUp.has(pairKey(log, engine.id)))) continue
      if (log === peer) this.#caughtUp.add(pairKey(log, engine.id))
      const have = mine.get(log)?.seq ?? 0
      if (seq > have) this.#pull(peer, engine, log, have + 1)
    }
  }

  #pull(peer: string, engine: ThreadEngine<unknown>, log: string, from: number): void {
    const k = `${pairKey(peer, engine.id)}\u0000${log}`
    if (this.#inflight.has(k)) return
    this.#inflight.set(k, { at: Date.now(), from })
    this.#send(peer, { t: 'pull', thread: engine.thread.id.bytes, log, from, limit: this.#options.pullLimit ?? DEFAULT_PULL_LIMIT })
  }

  async #onPull(peer: string, engine: ThreadEngine<unknown>, log: string, from: number, limit: number): Promise<void> {
    const head = engine.heads().get(log)
    if (head === undefined || from > head.seq) {
      this.#send(peer, { t: 'records', thread: engine.thread.id.bytes, log, records: [], more: false, push: false })
      return
    }
    const records = await this.#store.records(engine.id, log, { from, limit: Math.min(limit, MAX_RECORDS_PER_MESSAGE) })
    // Stop short of the message limit: a page is whole records.
    const page: RecordBlocks[] = []
    let size = 1024
    for (const r of records) {
      const b = recordBlocks(r)
      size += b.record.length + b.event.length + b.header.length + b.body.length + 32
      if (size > MAX_MESSAGE_BYTES && page.length > 0) break
      page.push(b)
    }
    const last = from + page.length - 1
    this.#send(peer, { t: 'records', thread: engine.thread.id.bytes, log, records: page, more: last < head.seq, push: false })
  }

  async #onRecords(peer: string, engine: ThreadEngine<unknown>, log: string, records: readonly RecordBlocks[], more: boolean, push: boolean): Promise<void> {
    const k = `${pairKey(peer, engine.id)}\u0000${log}`
    // A push is not the answer to a pull that may be under way for the same log.
    const asked = push ? undefined : this.#inflight.get(k)
    if (!push) this.#inflight.delete(k)
    if (log === engine.logKey?.id) return
    // Ask for the next page before ingesting this one: transfer and ingest overlap.
    const pipelined = more && asked !== undefined && records.length > 0
    if (pipelined) this.#pull(peer, engine, log, asked.from + records.length)
    if (records.length > 0) {
      const result = await engine.ingest(log, records)
      // One strike per bad message, however many bad records it carried. An equivocation is the
      // writer's fault, not the forwarding peer's.
      const bad = result.rejected.find((e) => e.name !== 'EquivocationError')
      if (bad !== undefined) this.#strike(peer, bad)
      if (result.stored > 0) this.#announce(engine)
    }
    // An empty answer ends the exchange with this peer for this log: asking it again at once
    // (for the rest of a page, or for a gap it does not have either) would ping-pong forever.
    // Heads from other peers, the writer's pushes, or the next round fill what is missing.
    if (records.length === 0) return
    const head = engine.heads().get(log)?.seq ?? 0
    if (more && !pipelined) this.#pull(peer, engine, log, head + 1)
    else if (!more) for (const gap of engine.gaps()) if (gap.logId === log) this.#pull(peer, engine, log, gap.from)
  }

  async #onGossip(topic: string, from: string | undefined, bytes: Uint8Array): Promise<void> {
    const engine = this.#host.engine(topic)
    if (engine === undefined) return
    let m: SyncMessage
    try {
      m = decodeMessage(bytes)
    } catch (e) {
      if (from !== undefined) this.#strike(from, e as ThreadsError)
      return
    }
    if (m.t !== 'records' || !equals(m.thread, engine.thread.id.bytes) || m.log === engine.logKey?.id) return
    // Gossip is not authenticated per peer: the records authenticate themselves (signature,
    // service-key encryption), and ingest checks both.
    const result = await engine.ingest(m.log, m.records)
    if (result.stored > 0) this.#announce(engine)
    const gaps = engine.gaps().filter((g) => g.logId === m.log)
    if (gaps.length === 0) return
    const source = from !== undefined && this.#authorized.get(from)?.has(engine.id) === true ? from : this.peersOf(engine.id)[0]
    if (source !== undefined) for (const g of gaps) this.#pull(source, engine, g.logId, g.from)
  }

  #queuePush(threadId: string, records: readonly LogRecord[]): void {
    let byLog = this.#outbox.get(threadId)
    if (byLog === undefined) this.#outbox.set(threadId, (byLog = new Map()))
    for (const r of records) {
      const list = byLog.get(r.logId) ?? []
      list.push(r)
      byLog.set(r.logId, list)
    }
    if (this.#flushScheduled) return
    this.#flushScheduled = true
    this.#busy++
    // A burst of dispatches in one tick leaves as one message per peer.
    setImmediate(() => void this.#track(Promise.resolve().then(() => this.#flushPushes())).finally(() => {
      if (--this.#busy === 0) for (const done of this.#idlers.splice(0)) done()
    }))
  }

  #flushPushes(): void {
    this.#flushScheduled = false
    for (const [threadId, byLog] of this.#outbox) {
      const engine = this.#host.engine(threadId)
      if (engine === undefined) continue
      const peers = this.peersOf(threadId)
      const direct = new Set(peers)
      const gossipReaches = this.#net.topicPeers(threadId).some((p) => !direct.has(p))
      for (const [log, records] of byLog) {
        for (let i = 0; i < records.length; i += MAX_RECORDS_PER_MESSAGE) {
          const chunk = records.slice(i, i + MAX_RECORDS_PER_MESSAGE).map(recordBlocks)
          const m: SyncMessage = { t: 'records', thread: engine.thread.id.bytes, log, records: chunk, more: false, push: true }
          for (const peer of peers) this.#send(peer, m)
          // Gossip reaches readers and followers this peer has no session with.
          if (gossipReaches) void this.#net.publish(threadId, encodeMessage(m)).catch(() => undefined)
        }
      }
    }
    this.#outbox.clear()
  }
}
