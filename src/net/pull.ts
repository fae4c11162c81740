/**
 * The pulls this peer sends, bounded (DESIGN.md section 6; issue 7 sections 3 and 6): at most
 * {@link MAX_PULLS_PER_PEER} in flight to one peer and {@link MAX_PULLS_PER_THREAD} for one thread;
 * the rest wait in the peer's want-list (one entry per log, at most {@link MAX_WANTED_LOGS_PER_PEER}),
 * so no heads message, however long, makes this peer send more than a bounded number of pulls at a
 * time. A pull unanswered after the timeout is asked again at once, of another peer that advertised
 * the log if there is one; a disconnect moves its pulls to other peers the same way.
 *
 * @packageDocumentation
 */
import { backgroundTimeout, nextMacrotask, wallClock } from '../platform/scheduler.js'
import { pullKey, type InflightPull, type PeerSession, type WantedPull } from './session.js'
import { MAX_PULL_ATTEMPTS, MAX_PULLS_PER_PEER, MAX_PULLS_PER_THREAD, MAX_WANTED_LOGS_PER_PEER, PULL_TIMEOUT_MS } from './limits.js'

/** What the scheduler needs of the sync service. */
export interface PullHost {
  /** Sessions now open. */
  sessions(): Iterable<PeerSession>
  /** Put a pull on the wire. */
  send(session: PeerSession, pull: WantedPull): void
}

export interface PullOptions {
  /** Records asked per pull (default the service's pull limit). */
  readonly limit: number
  /** ms before an unanswered pull is asked again (default {@link PULL_TIMEOUT_MS}). */
  readonly timeoutMs?: number
  readonly now?: () => number
}

/**
 * @example
 * ```ts
 * const pulls = new PullScheduler(host, { limit: 500 })
 * pulls.want(session, threadId, log, 1)        // sent now, or queued in the peer's want-list
 * const asked = pulls.answered(session, threadId, log) // on its records: frees the slot
 * ```
 */
export class PullScheduler {
  readonly #host: PullHost
  readonly #limit: number
  readonly #timeoutMs: number
  readonly #now: () => number
  /** Pulls in flight per thread, over all sessions. */
  readonly #perThread = new Map<string, number>()
  #timer: ReturnType<typeof setTimeout> | undefined
  #timerAt = Number.POSITIVE_INFINITY
  /** Pulls sent since start (diagnostics and tests). */
  sent = 0

  constructor(host: PullHost, options: PullOptions) {
    this.#host = host
    this.#limit = options.limit
    this.#timeoutMs = options.timeoutMs ?? PULL_TIMEOUT_MS
    this.#now = options.now ?? wallClock
  }

  /** True while a pull of the log is in flight to, or wanted from, any session. */
  pending(threadId: string, log: string): boolean {
    const key = pullKey(threadId, log)
    for (const s of this.#host.sessions()) if (s.inflight.has(key) || s.wants.has(key)) return true
    return false
  }

  /** Pulls in flight for a thread. */
  inflight(threadId: string): number {
    return this.#perThread.get(threadId) ?? 0
  }

  /**
   * Ask `session` for a log from `from`: now if a slot is free, else in its want-list (keeping the
   * lowest `from` asked). Nothing happens if a pull of that log is in flight to that peer already,
   * or the want-list is full (the peer's next heads ask again).
   */
  want(session: PeerSession, threadId: string, log: string, from: number, limit = this.#limit, attempt = 1): void {
    if (session.closed) return
    const key = pullKey(threadId, log)
    if (session.inflight.has(key)) return
    const pull: WantedPull = { threadId, log, from, limit, attempt }
    if (this.#free(session, threadId)) return this.#send(session, key, pull)
    const queued = session.wants.get(key)
    if (queued !== undefined) {
      if (from < queued.from) session.wants.set(key, { ...queued, from, limit: Math.max(limit, queued.limit) })
      return
    }
    if (session.wants.size < MAX_WANTED_LOGS_PER_PEER) session.wants.set(key, pull)
  }

  /**
   * The records of a pull arrived: its slot is free. Returns the pull, or undefined when none was in
   * flight (an answer that came after the pull was asked again elsewhere).
   */
  answered(session: PeerSession, threadId: string, log: string): InflightPull | undefined {
    const key = pullKey(threadId, log)
    const asked = session.inflight.get(key)
    if (asked === undefined) return undefined
    session.inflight.delete(key)
    this.#release(threadId)
    return asked
  }

  /** Send waiting pulls while slots are free, each session's in its want-list order. */
  pump(): void {
    for (const session of this.#host.sessions()) {
      if (session.closed || session.wants.size === 0) continue
      for (const [key, pull] of session.wants) {
        if (session.inflight.size >= MAX_PULLS_PER_PEER) break
        if (!this.#free(session, pull.threadId)) continue
        session.wants.delete(key)
        if (!session.inflight.has(key)) this.#send(session, key, pull)
      }
    }
  }

  /**
   * Ask again every pull unanswered for the timeout while its peer said nothing at all (a peer
   * that keeps sending is busy, not lost): of another peer that advertised the log, if one has
   * it, else of the same peer, at most {@link MAX_PULL_ATTEMPTS} times in a row.
   */
  expire(): void {
    const now = this.#now()
    for (const session of this.#host.sessions()) {
      for (const [key, p] of [...session.inflight]) {
        if (now - Math.max(p.at, session.lastHeard) < this.#timeoutMs) continue
        session.inflight.delete(key)
        this.#release(p.threadId)
        const other = this.#advertiser(p, session)
        if (other !== undefined) this.want(other, p.threadId, p.log, p.from, p.limit)
        else if (p.attempt < MAX_PULL_ATTEMPTS) this.want(session, p.threadId, p.log, p.from, p.limit, p.attempt + 1)
      }
    }
    this.pump()
  }

  /**
   * A session closed: its pulls in flight and waiting go at once to other peers that advertised
   * their logs (or are dropped: the next heads will ask again).
   */
  drop(session: PeerSession): void {
    const moved = [...session.inflight.values(), ...session.wants.values()]
    for (const p of session.inflight.values()) this.#release(p.threadId)
    session.inflight.clear()
    session.wants.clear()
    for (const p of moved) {
      const other = this.#advertiser(p, session)
      if (other !== undefined) this.want(other, p.threadId, p.log, p.from, p.limit)
    }
    this.pump()
  }

  /** Stop the timeout timer. */
  stop(): void {
    if (this.#timer !== undefined) clearTimeout(this.#timer)
    this.#timer = undefined
    this.#timerAt = Number.POSITIVE_INFINITY
  }

  #free(session: PeerSession, threadId: string): boolean {
    return session.inflight.size < MAX_PULLS_PER_PEER && this.inflight(threadId) < MAX_PULLS_PER_THREAD
  }

  #send(session: PeerSession, key: string, pull: WantedPull): void {
    const at = this.#now()
    session.inflight.set(key, { ...pull, at })
    this.#perThread.set(pull.threadId, this.inflight(pull.threadId) + 1)
    this.sent++
    this.#arm(at + this.#timeoutMs)
    this.#host.send(session, pull)
  }

  #release(threadId: string): void {
    const n = this.inflight(threadId) - 1
    if (n > 0) this.#perThread.set(threadId, n)
    else this.#perThread.delete(threadId)
  }

  /** Another open session that proved the thread and advertised the log at least up to `from`. */
  #advertiser(p: { threadId: string; log: string; from: number }, not: PeerSession): PeerSession | undefined {
    for (const s of this.#host.sessions()) {
      if (s === not || s.closed) continue
      const link = s.links.get(p.threadId)
      if (link?.proved === true && (link.advertised.get(p.log) ?? 0) >= p.from) return s
    }
    return undefined
  }

  /** Make sure the timer fires by `at` (one timer for every pull: the earliest deadline). */
  #arm(at: number): void {
    if (this.#timer !== undefined && this.#timerAt <= at) return
    if (this.#timer !== undefined) clearTimeout(this.#timer)
    this.#timerAt = at
    this.#timer = backgroundTimeout(
      () => {
        this.#timer = undefined
        this.#timerAt = Number.POSITIVE_INFINITY
        // After the I/O and deliveries already due: an answer waiting there is not a lost pull.
        nextMacrotask(() => {
          this.expire()
          let next = Number.POSITIVE_INFINITY
          for (const s of this.#host.sessions()) for (const p of s.inflight.values()) next = Math.min(next, Math.max(p.at, s.lastHeard) + this.#timeoutMs)
          if (next < Number.POSITIVE_INFINITY) this.#arm(next)
        })
      },
      Math.max(0, at - this.#now())
    )
  }
}
