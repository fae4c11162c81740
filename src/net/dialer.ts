/**
 * Dialing the peers of this peer's threads, bounded (issue 7 section 3): at most
 * {@link MAX_CONCURRENT_DIALS} at once and {@link MAX_DIALS_PER_ROUND} per round, a backoff per
 * peer after each failed dial (counted in rounds: the next round, then every 2nd, 4th, … round, up
 * to {@link DIAL_BACKOFF_MAX_MS} worth of rounds), and a peer this one dialed that does not prove any thread within
 * {@link AUTH_TIMEOUT_MS} is hung up and its learnt addresses dropped. Addresses come only from
 * the address book, which learns only from peers that proved membership.
 *
 * @packageDocumentation
 */
import type { Busy } from './busy.js'
import type { NetworkAdapter } from './networkAdapter.js'
import { backgroundTimeout, wallClock } from '../platform/scheduler.js'
import type { PeerSession } from './session.js'
import type { SyncAddressBook, SyncLogger } from './syncTarget.js'
import {
  AUTH_TIMEOUT_MS,
  DEFAULT_SYNC_INTERVAL_MS,
  DIAL_BACKOFF_MAX_MS,
  DIAL_TIMEOUT_MS,
  MAX_ADDRS_PER_PEER,
  MAX_CONCURRENT_DIALS,
  MAX_DIALS_PER_ROUND,
  MAX_TRACKED_PEERS
} from './limits.js'

/** What the dialer needs of the sync service. */
export interface DialHost {
  readonly net: NetworkAdapter
  readonly addrBook: SyncAddressBook
  readonly busy: Busy
  readonly log: SyncLogger
  session(peerId: string): PeerSession | undefined
  isBanned(peerId: string): boolean
}

export interface DialOptions {
  /** The sync interval: the dial budget refills at least this often (default {@link DEFAULT_SYNC_INTERVAL_MS}). */
  readonly intervalMs?: number
  /** ms a dialed peer has to prove a thread (default {@link AUTH_TIMEOUT_MS}). */
  readonly authTimeoutMs?: number
  readonly now?: () => number
}

interface Backoff {
  readonly failures: number
  /** The first round in which the peer may be dialed again. */
  readonly round: number
}

/**
 * @example
 * ```ts
 * const dialer = new Dialer(host)
 * dialer.newRound()
 * dialer.request(peerId, [threadId])   // dialed now, or later, or not (budget, backoff, ban)
 * ```
 */
export class Dialer {
  readonly #host: DialHost
  readonly #refillMs: number
  readonly #authTimeoutMs: number
  /** The longest backoff, in rounds. */
  readonly #maxBackoffRounds: number
  readonly #now: () => number
  #tokens = MAX_DIALS_PER_ROUND
  #tokensAt: number
  /** Rounds since start: explicit ones, and one per refill period without any. */
  #round = 0
  #active = 0
  readonly #queue = new Map<string, Set<string>>()
  readonly #dialing = new Set<string>()
  readonly #backoff = new Map<string, Backoff>()
  /** Peers this one dialed that connected, and the threads their addresses came from, until their session opens. */
  readonly #dialed = new Map<string, readonly string[]>()
  /** Dials started since start (diagnostics and tests). */
  started = 0

  constructor(host: DialHost, options: DialOptions = {}) {
    this.#host = host
    this.#refillMs = options.intervalMs !== undefined && options.intervalMs > 0 ? options.intervalMs : DEFAULT_SYNC_INTERVAL_MS
    this.#authTimeoutMs = options.authTimeoutMs ?? AUTH_TIMEOUT_MS
    this.#maxBackoffRounds = Math.max(1, Math.ceil(DIAL_BACKOFF_MAX_MS / this.#refillMs))
    this.#now = options.now ?? wallClock
    this.#tokensAt = this.#now()
  }

  /** A sync round starts: the dial budget is full again, and backoffs move on by one round. */
  newRound(): void {
    this.#round++
    this.#tokens = MAX_DIALS_PER_ROUND
    this.#tokensAt = this.#now()
  }

  /**
   * Dial `peerId` with its addresses in `threads` (thread IDs), unless it is this
   * peer, connected, being dialed, banned, backing off, or the round's budget is spent.
   *
   * @returns the dial, or undefined when none was started.
   */
  request(peerId: string, threads: readonly string[]): Promise<void> | undefined {
    const host = this.#host
    if (peerId === host.net.peerId || host.session(peerId) !== undefined || host.isBanned(peerId)) return undefined
    const queued = this.#queue.get(peerId)
    if (queued !== undefined) {
      for (const t of threads) queued.add(t)
      return undefined
    }
    if (this.#dialing.has(peerId)) return undefined
    if (this.#now() - this.#tokensAt >= this.#refillMs) this.newRound()
    if ((this.#backoff.get(peerId)?.round ?? 0) > this.#round) return undefined
    if (this.#tokens < 1) return undefined
    this.#tokens--
    this.#queue.set(peerId, new Set(threads))
    return this.#pump(peerId)
  }

  /** A session opened: if this peer dialed it, it now has `authTimeoutMs` to prove a thread. */
  opened(session: PeerSession): void {
    const threads = this.#dialed.get(session.peerId)
    if (threads === undefined) return
    this.#dialed.delete(session.peerId)
    this.#arm(session, threads)
  }

  /** The peer proved a thread: no deadline any more. */
  authenticated(session: PeerSession): void {
    if (session.authDeadline !== undefined) clearTimeout(session.authDeadline)
    session.authDeadline = undefined
    session.dialedFor = undefined
  }

  /** The session closed. */
  closed(session: PeerSession): void {
    if (session.authDeadline !== undefined) clearTimeout(session.authDeadline)
    session.authDeadline = undefined
  }

  /** Start queued dials while fewer than the limit run; resolves with `peerId`'s dial when it was started. */
  #pump(peerId?: string): Promise<void> | undefined {
    let mine: Promise<void> | undefined
    for (const [peer, threads] of this.#queue) {
      if (this.#active >= MAX_CONCURRENT_DIALS) break
      this.#queue.delete(peer)
      this.#active++
      this.#dialing.add(peer)
      const dial = this.#dial(peer, [...threads]).finally(() => {
        this.#active--
        this.#dialing.delete(peer)
        this.#pump()
      })
      void this.#host.busy.track(dial)
      if (peer === peerId) mine = dial
    }
    return mine ?? (peerId !== undefined && this.#queue.has(peerId) ? Promise.resolve() : undefined)
  }

  async #dial(peerId: string, threads: readonly string[]): Promise<void> {
    const seen = new Set<string>()
    for (const t of threads) for (const { addr } of await this.#host.addrBook.addrs(t, peerId)) if (seen.size < MAX_ADDRS_PER_PEER) seen.add(addr)
    if (seen.size === 0 || this.#host.session(peerId) !== undefined) return
    this.started++
    try {
      await this.#host.net.dial(peerId, [...seen], { signal: AbortSignal.timeout(DIAL_TIMEOUT_MS) })
    } catch (e) {
      const failures = (this.#backoff.get(peerId)?.failures ?? 0) + 1
      const wait = Math.min(this.#maxBackoffRounds, 2 ** Math.min(failures - 1, 30))
      this.#backoff.delete(peerId)
      if (this.#backoff.size >= MAX_TRACKED_PEERS) this.#backoff.delete(this.#backoff.keys().next().value as string)
      this.#backoff.set(peerId, { failures, round: this.#round + wait })
      this.#host.log.debug('dial of %s failed (%d in a row; next in %d rounds): %s', peerId, failures, wait, String(e))
      return
    }
    this.#backoff.delete(peerId)
    const session = this.#host.session(peerId)
    if (session === undefined) this.#dialed.set(peerId, threads)
    else this.#arm(session, threads)
  }

  #arm(session: PeerSession, threads: readonly string[]): void {
    if (session.authenticated || session.closed) return
    session.dialedFor = threads
    session.authDeadline = backgroundTimeout(() => {
      session.authDeadline = undefined
      if (session.authenticated || session.closed) return
      this.#host.log.debug('%s proved no thread within %d ms of our dial: hanging up, dropping its addresses', session.peerId, this.#authTimeoutMs)
      void this.#host.busy.track(
        (async () => {
          for (const t of threads) await this.#host.addrBook.clearAddrs(t, session.peerId)
          await this.#host.net.hangUp(session.peerId)
        })()
      )
    }, this.#authTimeoutMs)
  }
}
