/**
 * The sync protocol of DESIGN.md section 6 over any {@link NetworkAdapter}: this file routes
 * events and messages to the parts that do the work (handshake, heads, pulls, serving, pushes,
 * gossip, dials) and holds the one session object per connected peer.
 *
 * @packageDocumentation
 */
import { Emitter } from '../core/emitter.js'
import { MalformedMessageError, SlowPeerError, ThreadsError } from '../core/errors.js'
import { ThreadId } from '../core/threadId.js'
import { authTag } from './auth.js'
import { Busy } from './busy.js'
import { Dialer } from './dialer.js'
import { Gossip } from './gossip.js'
import { Handshake } from './handshake.js'
import { HeadsExchange } from './heads.js'
import { DEFAULT_PULL_LIMIT, DEFAULT_SYNC_INTERVAL_MS, LEARNT_ADDR_TTL, MAX_HELLO_RESENDS, MAX_UNSENT_BYTES_PER_PEER } from './limits.js'
import type { NetworkAdapter } from './networkAdapter.js'
import { PeerScore } from './peerScore.js'
import { decodeMessage, encodeMessage, type SyncMessage, type ThreadMessage } from './protocol/messages.js'
import { PullScheduler } from './pull.js'
import { Outbox } from './push.js'
import { RecordsHandler } from './records.js'
import { backgroundInterval, nextMacrotask } from './scheduler.js'
import { PullServer } from './serve.js'
import { PeerSession } from './session.js'
import { silentLogger, type SyncAddressBook, type SyncHost, type SyncLogger, type SyncTarget } from './syncTarget.js'

export { LEARNT_ADDR_TTL, authTag }
export type { SyncHost, SyncTarget, SyncAddressBook, SyncLogger }

/** @deprecated The version 1 handshake's MAC is gone (it named threads to outsiders); see {@link authTag}. */
export const authMac = authTag

/** Options of {@link SyncService}. */
export interface SyncOptions {
  readonly network: NetworkAdapter
  readonly host: SyncHost
  /** Where addresses learnt from peers go, and where dials find them (the logstore's `AddrBook`). */
  readonly addrBook: SyncAddressBook
  /** A round (dial known peers, heads to every peer, retry pulls) this often (ms; default 10,000; 0: never). */
  readonly intervalMs?: number
  /** Records asked for per pull (default 500). */
  readonly pullLimit?: number
  /** Strikes before a peer is banned (default 3). */
  readonly strikes?: number
  /** How long a banned peer is hung up on when it connects again (ms; default 60,000; 0: not at all). */
  readonly banMs?: number
  /** A pull unanswered this long is asked again (ms; default 2,000). */
  readonly pullTimeoutMs?: number
  /** A peer this one dialed must prove a thread within this time (ms; default 30,000). */
  readonly authTimeoutMs?: number
  /** Bytes of pages served per peer and second (default 16 MiB). */
  readonly serveBytesPerSecond?: number
  /** Bytes waiting for one peer before it is hung up as a slow reader (default 32 MiB). */
  readonly maxUnsentBytes?: number
  readonly logger?: SyncLogger
}

/** What the sync service reports. */
export interface SyncEvents {
  /** A peer sent something refused, or this peer failed (`peerId` empty). `error.threadId` is set when one thread is concerned. */
  error: { readonly peerId: string; readonly error: ThreadsError }
  /** The peers that proved a thread changed. */
  peers: { readonly threadId: string; readonly peers: readonly string[] }
  /** A peer was hung up on for misbehaving. */
  banned: { readonly peerId: string; readonly reason: string }
}

/** Counters for diagnostics and tests. */
export interface SyncStats {
  readonly pullsSent: number
  readonly dialsStarted: number
  readonly servedBytes: number
}

/**
 * The sync service: handshake, heads, bounded pulls and serving, pushes, sealed gossip validated
 * before it is forwarded, bounded dials, and rounds.
 *
 * @example
 * ```ts
 * const sync = new SyncService({ network, host, addrBook: eventStore.logstore.addrs })
 * await sync.start()
 * sync.addThread(engine)     // claims it to connected peers, pulls, pushes, gossips
 * await sync.syncNow()
 * ```
 */
export class SyncService {
  readonly events = new Emitter<SyncEvents>()
  readonly #net: NetworkAdapter
  readonly #host: SyncHost
  readonly #options: SyncOptions
  readonly #log: SyncLogger
  readonly #sessions = new Map<string, PeerSession>()
  readonly #busy: Busy
  readonly #score: PeerScore
  readonly #pulls: PullScheduler
  readonly #server: PullServer
  readonly #outbox: Outbox
  readonly #gossip: Gossip
  readonly #dialer: Dialer
  readonly #handshake: Handshake
  readonly #heads: HeadsExchange
  readonly #records: RecordsHandler
  /** Threads with an announcement scheduled, and whether it carries addresses. */
  readonly #announcing = new Map<string, boolean>()
  readonly #offs: Array<() => void> = []
  #timer: ReturnType<typeof setInterval> | undefined
  #started = false

  constructor(options: SyncOptions) {
    this.#options = options
    this.#net = options.network
    this.#host = options.host
    this.#log = options.logger ?? silentLogger
    this.#busy = new Busy((e) => this.#fail(e, 'a sync handler failed'))
    this.#score = new PeerScore({ ...(options.strikes === undefined ? {} : { strikes: options.strikes }), ...(options.banMs === undefined ? {} : { banMs: options.banMs }) })
    const sessions = (): Iterable<PeerSession> => this.#sessions.values()
    const send = (session: PeerSession, m: SyncMessage): Promise<void> => this.#send(session, m)
    const session = (peerId: string): PeerSession | undefined => this.#sessions.get(peerId)
    const want = (s: PeerSession, target: SyncTarget, log: string, from: number, limit?: number): void => this.#want(s, target, log, from, limit)
    this.#pulls = new PullScheduler(
      {
        sessions,
        send: (s, p) => {
          const target = this.#host.target(p.threadId)
          if (target !== undefined) void send(s, { t: 'pull', thread: target.thread.id.bytes, log: p.log, from: p.from, limit: p.limit })
        }
      },
      { limit: options.pullLimit ?? DEFAULT_PULL_LIMIT, ...(options.pullTimeoutMs === undefined ? {} : { timeoutMs: options.pullTimeoutMs }) }
    )
    this.#server = new PullServer(
      { target: (t) => this.#host.target(t), send, strike: (s, e) => this.#strike(s.peerId, e), busy: this.#busy },
      options.serveBytesPerSecond === undefined ? {} : { bytesPerSecond: options.serveBytesPerSecond }
    )
    this.#gossip = new Gossip(this.#net, {
      onGossipRecords: (from, target, m) => this.#records.onGossip(from, target, m),
      blame: (from, error) => this.#strike(from, error),
      fail: (error) => this.#fail(error, 'gossip failed'),
      busy: this.#busy
    })
    this.#outbox = new Outbox({
      pushPeers: (t) => this.#mutualPeers(t),
      send: (peerId, m) => {
        const s = this.#sessions.get(peerId)
        if (s !== undefined) void send(s, m)
      },
      gossip: (target, m, direct) => {
        if (this.#gossip.reachesBeyond(target.id, direct)) this.#gossip.publish(target, m)
      },
      busy: this.#busy
    })
    this.#dialer = new Dialer(
      { net: this.#net, addrBook: options.addrBook, busy: this.#busy, log: this.#log, session, isBanned: (p) => this.#score.isBanned(p) },
      {
        ...(options.intervalMs === undefined ? {} : { intervalMs: options.intervalMs }),
        ...(options.authTimeoutMs === undefined ? {} : { authTimeoutMs: options.authTimeoutMs })
      }
    )
    this.#handshake = new Handshake({
      get me() {
        return options.network.peerId
      },
      targets: () => this.#host.targets(),
      target: (t) => this.#host.target(t),
      send: (s, m) => void send(s, m),
      proved: (s, target) => this.#proved(s, target),
      provedAgain: (s, target) => {
        const link = s.link(target.id)
        if (link.acked || link.headsOnTag >= MAX_HELLO_RESENDS) return
        link.headsOnTag++
        void this.#busy.track(this.#heads.send(s, target, { reply: true, addrs: false }))
      },
      overBudget: (s, error) => this.#ban(s.peerId, error)
    })
    this.#heads = new HeadsExchange({
      get me() {
        return options.network.peerId
      },
      addrBook: options.addrBook,
      dialer: this.#dialer,
      addresses: () => this.#net.addresses(),
      send: (s, m) => void send(s, m),
      session,
      want,
      learntPeers: (target) => this.#announce(target, true)
    })
    this.#records = new RecordsHandler({
      pulls: this.#pulls,
      session,
      provedSessions: (t) => [...this.#sessions.values()].filter((s) => s.proved(t)),
      want,
      strike: (peerId, error) => this.#strike(peerId, error),
      announce: (target) => this.#announce(target)
    })
  }

  async start(): Promise<void> {
    if (this.#started) return
    this.#started = true
    this.#offs.push(
      this.#net.on('peer:connect', ({ peerId }) => void this.#open(peerId)),
      this.#net.on('peer:disconnect', ({ peerId }) => this.#close(peerId)),
      this.#net.on('message', ({ from, bytes }) => void this.#busy.track(this.#onMessage(from, bytes))),
      this.#net.on('pubsub', ({ topic, from, bytes }) => void this.#busy.track(this.#gossip.onPubsub(topic, from, bytes)))
    )
    for (const peer of this.#net.connectedPeers()) this.#open(peer)
    const every = this.#options.intervalMs ?? DEFAULT_SYNC_INTERVAL_MS
    if (every > 0) this.#timer = backgroundInterval(() => void this.syncNow().catch((e: unknown) => this.#fail(e, 'a sync round failed')), every)
  }

  async stop(): Promise<void> {
    if (!this.#started) return
    this.#started = false
    if (this.#timer !== undefined) clearInterval(this.#timer)
    this.#pulls.stop()
    this.#gossip.stop()
    for (const off of this.#offs.splice(0)) off()
    for (const s of this.#sessions.values()) this.#dialer.closed(s)
  }

  /** Resolves when no message handler, validation, push or paced page is under way. */
  idle(): Promise<void> {
    return this.#busy.idle()
  }

  /** True while a handler or push is under way. */
  get busy(): boolean {
    return this.#busy.busy
  }

  /** Counters since start. */
  get stats(): SyncStats {
    return { pullsSent: this.#pulls.sent, dialsStarted: this.#dialer.started, servedBytes: this.#server.servedBytes }
  }

  /** Bytes handed to the transport for a peer and not yet taken (0 for a peer with no session). */
  unsentBytes(peerId: string): number {
    return this.#sessions.get(peerId)?.unsent ?? 0
  }

  /** Start serving a thread: subscribe to its topic, push its new records, claim it to connected peers. */
  addThread(target: SyncTarget): void {
    this.#gossip.add(target)
    this.#offs.push(
      target.events.on('recorded', ({ records }) => this.#outbox.queue(target, records)),
      target.events.on('fork', (fork) => {
        for (const s of this.#sessions.values()) if (s.mutual(target.id)) void this.#send(s, { t: 'fork', thread: target.thread.id.bytes, proof: fork.proof })
      })
    )
    for (const s of this.#sessions.values()) this.#handshake.added(s, target)
  }

  /** Peers that proved they hold the thread's service key, and are connected. */
  peersOf(threadId: string): string[] {
    return [...this.#sessions.values()].filter((s) => s.proved(threadId)).map((s) => s.peerId).sort()
  }

  /**
   * One round now: ask again what went unanswered, dial known peers of every thread (bounded),
   * make good lost handshake messages, and send heads (asking for an answer) to every peer.
   */
  async syncNow(): Promise<void> {
    if (!this.#started) return
    this.#pulls.expire()
    // A round compares heads afresh: whatever a lost push left out is pulled now.
    for (const s of this.#sessions.values()) for (const link of s.links.values()) link.caughtUp = false
    this.#dialer.newRound()
    const dials: Array<Promise<void>> = []
    for (const target of this.#host.targets()) {
      for (const peer of await this.#options.addrBook.peers(target.thread.n)) {
        const dial = this.#dialer.request(peer, [target.thread.n])
        if (dial !== undefined) dials.push(dial)
      }
    }
    await Promise.all(dials)
    for (const s of this.#sessions.values()) {
      this.#handshake.round(s)
      for (const target of this.#host.targets()) if (s.proved(target.id)) void this.#busy.track(this.#heads.send(s, target, { reply: true, addrs: true }))
    }
  }

  // ------------------------------------------------------------------------------------------
  // Sessions

  #open(peerId: string): PeerSession | undefined {
    const existing = this.#sessions.get(peerId)
    if (existing !== undefined || !this.#started) return existing
    if (this.#score.isBanned(peerId)) {
      void this.#net.hangUp(peerId).catch((e: unknown) => this.#log.debug('hang-up of banned %s failed: %s', peerId, String(e)))
      return undefined
    }
    const session = new PeerSession(peerId)
    this.#sessions.set(peerId, session)
    this.#dialer.opened(session)
    this.#handshake.opened(session)
    return session
  }

  #close(peerId: string): void {
    const session = this.#sessions.get(peerId)
    if (session === undefined) return
    session.closed = true
    this.#sessions.delete(peerId)
    this.#dialer.closed(session)
    this.#pulls.drop(session)
    for (const [threadId, link] of session.links) if (link.proved) this.events.emit('peers', { threadId, peers: this.peersOf(threadId) })
  }

  #proved(session: PeerSession, target: SyncTarget): void {
    this.#dialer.authenticated(session)
    this.events.emit('peers', { threadId: target.id, peers: this.peersOf(target.id) })
    // Fork proofs first, so the peer freezes forked logs before it pulls them.
    for (const fork of target.forks()) void this.#send(session, { t: 'fork', thread: target.thread.id.bytes, proof: fork.proof })
    void this.#busy.track(this.#heads.send(session, target, { reply: true, addrs: true }))
  }

  #mutualPeers(threadId: string): string[] {
    const out: string[] = []
    for (const s of this.#sessions.values()) if (s.mutual(threadId)) out.push(s.peerId)
    return out
  }

  // ------------------------------------------------------------------------------------------
  // Messages

  async #onMessage(peerId: string, bytes: Uint8Array): Promise<void> {
    // A message may overtake its connection's open event; one from a peer already hung up on may
    // still be on its way, and opens nothing.
    const session = this.#sessions.get(peerId) ?? (this.#net.connectedPeers().includes(peerId) ? this.#open(peerId) : undefined)
    if (session === undefined) return
    let m: SyncMessage
    try {
      m = decodeMessage(bytes)
    } catch (e) {
      return this.#strike(peerId, e instanceof ThreadsError ? e : new MalformedMessageError(String(e)))
    }
    if (m.t === 'hello') return this.#handshake.onHello(session, m.nonce)
    if (m.t === 'auth') return this.#handshake.onAuth(session, m.tag, m.nonce)
    return this.#onThreadMessage(session, m)
  }

  async #onThreadMessage(session: PeerSession, m: ThreadMessage): Promise<void> {
    let threadId: string
    try {
      threadId = ThreadId.fromBytes(m.thread).toString()
    } catch (e) {
      return this.#strike(session.peerId, e instanceof ThreadsError ? e : new MalformedMessageError(String(e)))
    }
    const target = this.#host.target(threadId)
    if (target === undefined || !session.proved(threadId)) {
      // Maybe reordered before the proof, maybe a thread this peer does not hold: either way no
      // answer (that would tell which threads this peer holds), no strike, and a budget.
      if (!session.unproven.take()) this.#ban(session.peerId, new ThreadsError('too many messages about threads the peer has not proved'))
      return
    }
    session.link(threadId).acked = true
    switch (m.t) {
      case 'heads':
        return this.#heads.onHeads(session, target, m)
      case 'pull':
        return this.#server.enqueue(session, { threadId, log: m.log, from: m.from, limit: m.limit })
      case 'records':
        return this.#records.onRecords(session, target, m)
      case 'fork':
        try {
          await target.addForkProof(m.proof)
        } catch (e) {
          this.#strike(session.peerId, e instanceof ThreadsError ? e : new MalformedMessageError(String(e), { threadId }))
        }
    }
  }

  /** Ask a peer for a log, unless it is this peer's own (outside recovery) or frozen by a fork there. */
  #want(session: PeerSession, target: SyncTarget, log: string, from: number, limit?: number): void {
    if (log === target.logKey?.id && target.ownLogRecovery === undefined) return
    const fork = target.forkOf(log)
    if (fork !== undefined && from >= fork) return
    this.#pulls.want(session, target.id, log, from, limit)
  }

  /**
   * Tell the thread's peers this peer's heads changed, once per turn however many ingests stored
   * records in it: they pull what they lack. With `addrs` (new peers of the thread were learnt)
   * the addresses go too, so peers that joined through different members find each other without
   * waiting for a round; otherwise addresses travel in rounds and after authentication.
   */
  #announce(target: SyncTarget, addrs = false): void {
    const pending = this.#announcing.get(target.id)
    if (pending !== undefined) {
      if (addrs) this.#announcing.set(target.id, true)
      return
    }
    this.#announcing.set(target.id, addrs)
    const release = this.#busy.hold()
    nextMacrotask(() => {
      const withAddrs = this.#announcing.get(target.id) === true
      this.#announcing.delete(target.id)
      for (const s of this.#sessions.values()) if (s.mutual(target.id)) void this.#busy.track(this.#heads.send(s, target, { reply: false, addrs: withAddrs }))
      release()
    })
  }

  // ------------------------------------------------------------------------------------------
  // Sending, blame

  /**
   * Encode and send. An encoding failure is a bug of this peer: reported, never dropped silently.
   * Bytes not yet taken by the transport count against the peer; past the bound it is hung up.
   */
  #send(session: PeerSession, m: SyncMessage): Promise<void> {
    if (session.closed) return Promise.resolve()
    let bytes: Uint8Array
    try {
      bytes = encodeMessage(m)
    } catch (e) {
      this.#fail(e, `could not encode a ${m.t} message`)
      return Promise.resolve()
    }
    const max = this.#options.maxUnsentBytes ?? MAX_UNSENT_BYTES_PER_PEER
    if (session.unsent + bytes.length > max) {
      this.#slowReader(session, max)
      return Promise.resolve()
    }
    session.unsent += bytes.length
    return this.#net.send(session.peerId, bytes).then(
      () => {
        session.unsent -= bytes.length
      },
      (e: unknown) => {
        session.unsent -= bytes.length
        this.#fail(e, `could not send a ${m.t} message to ${session.peerId}`)
      }
    )
  }

  #slowReader(session: PeerSession, max: number): void {
    if (session.closed) return
    const error = new SlowPeerError(`over ${max} bytes waiting for the peer to read them`)
    this.#log.debug('hanging up slow reader %s: %s', session.peerId, error.message)
    this.events.emit('error', { peerId: session.peerId, error })
    this.#close(session.peerId)
    void this.#net.hangUp(session.peerId).catch((e: unknown) => this.#log.debug('hang-up of %s failed: %s', session.peerId, String(e)))
  }

  #strike(peerId: string, error: ThreadsError): void {
    this.events.emit('error', { peerId, error })
    if (this.#score.strike(peerId)) this.#hangUp(peerId, error)
  }

  #ban(peerId: string, error: ThreadsError): void {
    this.events.emit('error', { peerId, error })
    this.#score.ban(peerId)
    this.#hangUp(peerId, error)
  }

  #hangUp(peerId: string, error: ThreadsError): void {
    this.events.emit('banned', { peerId, reason: error.message })
    this.#close(peerId)
    void this.#net.hangUp(peerId).catch((e: unknown) => this.#log.debug('hang-up of %s failed: %s', peerId, String(e)))
  }

  /** A failure of this peer's own (a bug, or storage): logged and reported, never swallowed. */
  #fail(e: unknown, what: string): void {
    const error = e instanceof ThreadsError ? e : new ThreadsError(`${what}: ${String(e)}`, {}, { cause: e })
    this.#log.error('%s: %s', what, error.message)
    if (this.#started) this.events.emit('error', { peerId: '', error })
  }
}
