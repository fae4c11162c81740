/**
 * The sync protocol of DESIGN.md section 6 over any {@link NetworkAdapter}. This file wires the
 * parts and routes events and messages to them: the handshake (`handshake.ts`), heads
 * (`heads.ts`), records (`records.ts`), pulls sent (`pull.ts`) and served (`serve.ts`), pushes
 * (`push.ts`), gossip (`gossip.ts`), dials (`dialer.ts`), and the connected peers (`peers.ts`).
 *
 * @packageDocumentation
 */
import { Emitter } from '../core/emitter.js'
import { MalformedMessageError, RateLimitedError, ThreadsError } from '../core/errors.js'
import { ThreadId } from '../core/threadId.js'
import { authTag } from './auth.js'
import { Busy } from './busy.js'
import { Dialer } from './dialer.js'
import { Gossip } from './gossip.js'
import { Handshake, servable } from './handshake.js'
import { HeadsExchange } from './heads.js'
import { DEFAULT_PULL_LIMIT, DEFAULT_SYNC_INTERVAL_MS, LEARNT_ADDR_TTL, MAX_TAG_RESENDS, MAX_UNPROVEN_PER_MINUTE } from './limits.js'
import type { NetworkAdapter } from './networkAdapter.js'
import { PeerScore } from './peerScore.js'
import { PeerTable } from './peers.js'
import { decodeMessage, type SyncMessage, type ThreadMessage } from './protocol/messages.js'
import { PullScheduler } from './pull.js'
import { Outbox } from './push.js'
import { RecordsHandler } from './records.js'
import { backgroundInterval, nextMacrotask } from '../platform/scheduler.js'
import { PullServer } from './serve.js'
import type { PeerSession } from './session.js'
import { silentLogger, type SyncAddressBook, type SyncEvents, type SyncHost, type SyncLogger, type SyncTarget } from './syncTarget.js'

export { LEARNT_ADDR_TTL, authTag }
export type { SyncHost, SyncTarget, SyncAddressBook, SyncLogger, SyncEvents }

/** @deprecated The version 1 handshake's MAC is gone (it named threads to outsiders); see {@link authTag}. */
export const authMac = authTag

/** Options of {@link SyncService}. Bounds not listed here are the constants of `limits.ts`. */
export interface SyncOptions {
  readonly network: NetworkAdapter
  readonly host: SyncHost
  /** Where addresses learnt from peers go, and where dials find them (`logstoreAddressBook(logstore)`). */
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
  /** Bytes of pages served per peer and second (default 16 MiB; the burst is one second's worth). */
  readonly serveBytesPerSecond?: number
  /** Bytes waiting for one peer before it is hung up as a slow reader (default 32 MiB). */
  readonly maxUnsentBytes?: number
  readonly logger?: SyncLogger
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
 * const sync = new SyncService({ network, host, addrBook: logstoreAddressBook(eventStore.logstore) })
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
  readonly #busy: Busy
  readonly #peers: PeerTable
  readonly #pulls: PullScheduler
  readonly #server: PullServer
  readonly #outbox: Outbox
  readonly #gossip: Gossip
  readonly #dialer: Dialer
  readonly #handshake: Handshake
  readonly #heads: HeadsExchange
  readonly #records: RecordsHandler
  /** Threads with an announcement scheduled: whether it carries addresses, and where the records it announces came from. */
  readonly #announcing = new Map<string, { addrs: boolean; sources: Map<string, string | undefined> }>()
  readonly #offs: Array<() => void> = []
  readonly #targetOffs = new Map<string, Array<() => void>>()
  #timer: ReturnType<typeof setInterval> | undefined
  #started = false

  constructor(options: SyncOptions) {
    const { network: net, host, addrBook } = options
    this.#options = options
    this.#net = net
    this.#host = host
    const log = options.logger ?? silentLogger
    const score = new PeerScore({ ...(options.strikes === undefined ? {} : { strikes: options.strikes }), ...(options.banMs === undefined ? {} : { banMs: options.banMs }) })
    this.#busy = new Busy((e) => this.#peers.fail(e, 'a sync handler failed'))
    this.#peers = new PeerTable({
      net,
      events: this.events,
      log,
      score,
      ...(options.maxUnsentBytes === undefined ? {} : { maxUnsentBytes: options.maxUnsentBytes }),
      onClose: (s) => this.#closed(s),
      entitled: (threadId, session) => {
        const target = host.target(threadId)
        return target === undefined || servable(target, session)
      }
    })
    const peers = this.#peers
    const busy = this.#busy
    const send = (s: PeerSession, m: SyncMessage): void => void peers.send(s, m)
    const session = (peerId: string): PeerSession | undefined => peers.get(peerId)
    const want = (s: PeerSession, target: SyncTarget, log: string, from: number, limit?: number): void => this.#want(s, target, log, from, limit)
    const me = (): string => net.peerId
    this.#pulls = new PullScheduler(
      {
        sessions: () => peers.all(),
        send: (s, p) => {
          const target = host.target(p.threadId)
          if (target !== undefined) send(s, { t: 'pull', thread: target.thread.id.bytes, log: p.log, from: p.from, limit: p.limit })
        }
      },
      { limit: options.pullLimit ?? DEFAULT_PULL_LIMIT, ...(options.pullTimeoutMs === undefined ? {} : { timeoutMs: options.pullTimeoutMs }) }
    )
    this.#server = new PullServer(
      { target: (t) => host.target(t), send: (s, m) => peers.send(s, m), strike: (s, e) => peers.strike(s.peerId, e), busy },
      options.serveBytesPerSecond === undefined ? {} : { bytesPerSecond: options.serveBytesPerSecond }
    )
    this.#gossip = new Gossip(net, {
      onGossipRecords: (from, target, m) => this.#records.onGossip(from, target, m),
      blame: (from, error) => peers.strike(from, error),
      fail: (error) => peers.fail(error, 'gossip failed'),
      busy
    })
    this.#outbox = new Outbox({
      pushPeers: (t) => peers.mutual(t).map((s) => s.peerId),
      send: (peerId, m) => {
        const s = peers.get(peerId)
        if (s !== undefined) send(s, m)
      },
      gossip: (target, m, direct) => {
        // An access-controlled thread does not gossip: the topic would reach key holders the ACL
        // does not entitle. Records go over sessions, each checked against the ACL.
        if (target.gossips?.() === false) return
        if (this.#gossip.reachesBeyond(target.id, direct)) this.#gossip.publish(target, m)
      },
      busy
    })
    this.#dialer = new Dialer(
      { net, addrBook, busy, log, session, isBanned: (p) => score.isBanned(p) },
      { ...(options.intervalMs === undefined ? {} : { intervalMs: options.intervalMs }), ...(options.authTimeoutMs === undefined ? {} : { authTimeoutMs: options.authTimeoutMs }) }
    )
    this.#handshake = new Handshake({
      get me() {
        return me()
      },
      targets: () => host.targets(),
      target: (t) => host.target(t),
      send,
      proved: (s, target) => this.#proved(s, target),
      provedAgain: (s, target) => {
        // The peer may not have this peer's heads: send them again (a bounded number of times).
        const link = s.link(target.id)
        if (link.acked || link.headsOnTag >= MAX_TAG_RESENDS) return
        link.headsOnTag++
        void busy.track(this.#heads.send(s, target, { reply: true, addrs: false }))
      },
      overBudget: (s, error) => peers.ban(s.peerId, error),
      // Reported, not struck: the peer may simply not have taken a rotation (it hears nothing).
      refused: (s, error) => this.events.emit('error', { peerId: s.peerId, error })
    })
    this.#heads = new HeadsExchange({
      get me() {
        return me()
      },
      addrBook,
      dialer: this.#dialer,
      addresses: () => net.addresses(),
      send,
      session,
      want,
      learntPeers: (target) => this.#announce(target, 'learnt'),
      ownLogMaybeRecovered: (target) => this.#ownLogMaybeRecovered(target)
    })
    this.#records = new RecordsHandler({
      pulls: this.#pulls,
      session,
      provedSessions: (t) => peers.proved(t),
      want,
      strike: (peerId, error) => peers.strike(peerId, error),
      announce: (target, log, from) => this.#announce(target, { log, from }),
      ownLogMaybeRecovered: (target) => this.#ownLogMaybeRecovered(target)
    })
  }

  async start(): Promise<void> {
    if (this.#started) return
    this.#started = true
    this.#offs.push(
      this.#net.on('peer:connect', ({ peerId }) => void this.#open(peerId)),
      this.#net.on('peer:disconnect', ({ peerId }) => this.#peers.close(peerId)),
      this.#net.on('message', ({ from, bytes }) => void this.#busy.track(this.#onMessage(from, bytes))),
      this.#net.on('pubsub', ({ topic, from, bytes }) => void this.#busy.track(this.#gossip.onPubsub(topic, from, bytes)))
    )
    for (const peer of this.#net.connectedPeers()) this.#open(peer)
    const every = this.#options.intervalMs ?? DEFAULT_SYNC_INTERVAL_MS
    if (every > 0) this.#timer = backgroundInterval(() => void this.syncNow().catch((e: unknown) => this.#peers.fail(e, 'a sync round failed')), every)
  }

  async stop(): Promise<void> {
    if (!this.#started) return
    this.#started = false
    if (this.#timer !== undefined) clearInterval(this.#timer)
    this.#pulls.stop()
    this.#gossip.stop()
    for (const off of this.#offs.splice(0)) off()
    for (const s of this.#peers.all()) this.#dialer.closed(s)
    this.#peers.clear()
  }

  /** Resolves when no message handler, validation, push, dial or paced page is under way. */
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
    return this.#peers.get(peerId)?.unsent ?? 0
  }

  /** Start serving a thread: subscribe to its topic, push its new records, claim it to connected peers. */
  addThread(target: SyncTarget): void {
    this.#gossip.add(target)
    const offs = [
      target.events.on('recorded', ({ records }) => this.#outbox.queue(target, records)),
      target.events.on('fork', (fork) => {
        for (const s of this.#peers.mutual(target.id)) void this.#peers.send(s, { t: 'fork', thread: target.thread.id.bytes, proof: fork.proof })
      }),
      // A service key rotation: prove the new key on every open connection (a peer that holds it
      // serves this peer again; one that does not yet ignores the tag until it has the key).
      target.events.on('serviceKey', () => {
        for (const s of this.#peers.all()) this.#handshake.rekeyed(s, target)
      })
    ]
    this.#targetOffs.set(target.id, offs)
    this.#offs.push(...offs)
    for (const s of this.#peers.all()) this.#handshake.added(s, target)
  }

  /**
   * Stop serving a thread (it was left or deleted): no more gossip, pushes or answers for it. The
   * host stops naming it as well, so later messages about it go unanswered like any unknown thread.
   */
  removeThread(threadId: string): void {
    this.#gossip.remove(threadId)
    for (const off of this.#targetOffs.get(threadId) ?? []) off()
    this.#targetOffs.delete(threadId)
    for (const s of this.#peers.all()) s.links.delete(threadId)
  }

  /**
   * How many records of a thread the peers that proved it advertised and this peer does not hold
   * (over every log not frozen by a fork): 0 when it holds all they said they have.
   */
  behind(threadId: string): number {
    const target = this.#host.target(threadId)
    if (target === undefined) return 0
    const most = new Map<string, number>()
    for (const s of this.#peers.proved(threadId)) {
      for (const [log, seq] of s.links.get(threadId)?.advertised ?? []) most.set(log, Math.max(most.get(log) ?? 0, seq))
    }
    const mine = target.heads()
    let n = 0
    for (const [log, seq] of most) {
      const frozen = target.forkOf(log)
      const top = frozen === undefined ? seq : Math.min(seq, frozen - 1)
      n += Math.max(0, top - (mine.get(log)?.seq ?? 0))
    }
    return n
  }

  /** True once a peer that proved the thread sent its heads, and this peer holds all they advertised. */
  caughtUp(threadId: string): boolean {
    const heard = this.#peers.proved(threadId).some((s) => s.links.get(threadId)?.headsSeen === true)
    return heard && this.behind(threadId) === 0
  }

  /** Peers that proved they hold the thread's service key, and are connected. */
  peersOf(threadId: string): string[] {
    return this.#peers
      .proved(threadId)
      .map((s) => s.peerId)
      .sort()
  }

  /**
   * One round now: ask again what went unanswered, dial known peers of every thread (bounded),
   * make good lost handshake messages, and send heads (asking for an answer) to every peer.
   */
  async syncNow(): Promise<void> {
    if (!this.#started) return
    this.#pulls.expire()
    // A round compares heads afresh: whatever a lost push left out is pulled now.
    for (const s of this.#peers.all()) for (const link of s.links.values()) link.caughtUp = false
    this.#dialer.newRound()
    const dials: Array<Promise<void>> = []
    for (const target of this.#host.targets()) {
      for (const peer of await this.#options.addrBook.peers(target.id)) {
        const dial = this.#dialer.request(peer, [target.id])
        if (dial !== undefined) dials.push(dial)
      }
    }
    await Promise.all(dials)
    for (const s of this.#peers.all()) {
      this.#handshake.round(s)
      for (const target of this.#host.targets()) if (s.proved(target.id)) void this.#busy.track(this.#heads.send(s, target, { reply: true, addrs: true }))
    }
  }

  #open(peerId: string): PeerSession | undefined {
    if (!this.#started) return undefined
    const session = this.#peers.open(peerId)
    if (session === undefined) return this.#peers.get(peerId)
    this.#dialer.opened(session)
    this.#handshake.opened(session)
    return session
  }

  #closed(session: PeerSession): void {
    this.#dialer.closed(session)
    this.#pulls.drop(session)
    for (const [threadId, link] of session.links) if (link.proved) this.events.emit('peers', { threadId, peers: this.peersOf(threadId) })
  }

  #proved(session: PeerSession, target: SyncTarget): void {
    this.#dialer.authenticated(session)
    this.events.emit('peers', { threadId: target.id, peers: this.peersOf(target.id) })
    // Fork proofs first, so the peer freezes forked logs before it pulls them.
    for (const fork of target.forks()) void this.#peers.send(session, { t: 'fork', thread: target.thread.id.bytes, proof: fork.proof })
    void this.#busy.track(this.#heads.send(session, target, { reply: true, addrs: true }))
  }

  async #onMessage(peerId: string, bytes: Uint8Array): Promise<void> {
    // A message may overtake its connection's open event; one from a peer already hung up on may
    // still be on its way, and opens nothing.
    const session = this.#peers.get(peerId) ?? (this.#net.connectedPeers().includes(peerId) ? this.#open(peerId) : undefined)
    if (session === undefined) return
    session.lastHeard = Date.now()
    let m: SyncMessage
    try {
      m = decodeMessage(bytes)
    } catch (e) {
      return this.#peers.strike(peerId, e instanceof ThreadsError ? e : new MalformedMessageError(String(e)))
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
      return this.#peers.strike(session.peerId, e instanceof ThreadsError ? e : new MalformedMessageError(String(e)))
    }
    const target = this.#host.target(threadId)
    if (target === undefined || !session.proved(threadId)) {
      // Maybe reordered before the proof, maybe a thread this peer does not hold: either way no
      // answer (that would tell which threads this peer holds), no strike, and a budget.
      if (!session.unproven.take()) this.#peers.ban(session.peerId, new RateLimitedError(`more than ${MAX_UNPROVEN_PER_MINUTE} messages a minute about threads the peer has not proved`))
      return
    }
    // A thread message means the peer authorised this one for the thread.
    session.link(threadId).acked = true
    switch (m.t) {
      case 'heads':
        await this.#heads.onHeads(session, target, m)
        this.events.emit('heads', { threadId, peerId: session.peerId })
        return
      case 'pull':
        return this.#server.enqueue(session, { threadId, log: m.log, from: m.from, limit: m.limit })
      case 'records':
        return this.#records.onRecords(session, target, m)
      case 'fork':
        try {
          await target.addForkProof(m.proof)
        } catch (e) {
          this.#peers.strike(session.peerId, e instanceof ThreadsError ? e : new MalformedMessageError(String(e), { threadId }))
        }
    }
  }

  /**
   * An open-ended recovery of this peer's own log (its identity may have written before, from
   * storage it no longer has) is over once every peer that proved the thread has sent its heads and
   * nothing of the log is still being pulled: each has given what it had.
   */
  #ownLogMaybeRecovered(target: SyncTarget): void {
    const own = target.logKey?.id
    if (own === undefined || target.ownLogRecovery !== Number.POSITIVE_INFINITY) return
    const peers = this.#peers.mutual(target.id)
    if (peers.length === 0 || peers.some((s) => s.links.get(target.id)?.headsSeen !== true)) return
    if (this.#pulls.pending(target.id, own)) return
    target.endOwnLogRecovery?.()
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
   * records in it: they pull what they lack. A peer that sent every record stored this turn has
   * them already and is not told. With `learnt` (new peers of the thread were learnt) the
   * addresses go too, to every peer, so peers that joined through different members find each
   * other without waiting for a round; otherwise addresses travel in rounds and after
   * authentication.
   */
  #announce(target: SyncTarget, change: { readonly log: string; readonly from: string | undefined } | 'learnt'): void {
    let pending = this.#announcing.get(target.id)
    if (pending === undefined) {
      pending = { addrs: false, sources: new Map() }
      this.#announcing.set(target.id, pending)
      const release = this.#busy.hold()
      nextMacrotask(() => {
        const p = this.#announcing.get(target.id)
        this.#announcing.delete(target.id)
        if (p !== undefined) {
          for (const s of this.#peers.mutual(target.id)) {
            const theirsOnly = !p.addrs && p.sources.size > 0 && [...p.sources.values()].every((from) => from === s.peerId)
            if (!theirsOnly) void this.#busy.track(this.#heads.send(s, target, { reply: false, addrs: p.addrs }))
          }
        }
        release()
      })
    }
    if (change === 'learnt') pending.addrs = true
    else {
      // Per log, the one peer all of its records this turn came from (undefined: more than one, or unknown).
      const known = pending.sources.get(change.log)
      pending.sources.set(change.log, pending.sources.has(change.log) && known !== change.from ? undefined : change.from)
    }
  }
}
