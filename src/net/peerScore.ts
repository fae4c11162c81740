/**
 * What this peer remembers of other peers' behaviour (DESIGN.md section 6): strikes for bad input
 * that can only be the sender's doing, bans after {@link STRIKES_TO_BAN}, and rate budgets for
 * things an honest peer does now and then but a hostile one does in bulk.
 *
 * @packageDocumentation
 */
import { wallClock } from '../platform/scheduler.js'
import { BAN_MS, MAX_TRACKED_PEERS, STRIKES_TO_BAN, STRIKE_TTL_MS } from './limits.js'

/**
 * A token bucket counting events per minute: `take()` says whether one more is within the budget.
 *
 * @example
 * ```ts
 * const unmatched = new RateBudget(256)   // 256 per minute, refilled continuously
 * if (!unmatched.take()) hangUp(peer)
 * ```
 */
export class RateBudget {
  readonly #perMinute: number
  readonly #now: () => number
  #tokens: number
  #at: number

  constructor(perMinute: number, now: () => number = wallClock) {
    this.#perMinute = perMinute
    this.#now = now
    this.#tokens = perMinute
    this.#at = now()
  }

  /** Spend one token; false when none is left (the event is over budget). */
  take(): boolean {
    const now = this.#now()
    this.#tokens = Math.min(this.#perMinute, this.#tokens + (Math.max(0, now - this.#at) * this.#perMinute) / 60_000)
    this.#at = now
    if (this.#tokens < 1) return false
    this.#tokens -= 1
    return true
  }
}

/** Options of {@link PeerScore}. */
export interface PeerScoreOptions {
  /** Strikes before a ban (default {@link STRIKES_TO_BAN}). */
  readonly strikes?: number
  /** Ban length (ms; default {@link BAN_MS}). */
  readonly banMs?: number
  readonly now?: () => number
}

/**
 * Strikes and bans by peer ID. They outlive connections (a peer cannot wipe its record by
 * reconnecting) but not time: a strike is forgotten after {@link STRIKE_TTL_MS}, a ban after
 * `banMs`. At most {@link MAX_TRACKED_PEERS} peers are remembered; the oldest entries go first.
 */
export class PeerScore {
  readonly #strikesToBan: number
  readonly #banMs: number
  readonly #now: () => number
  readonly #strikes = new Map<string, number[]>()
  readonly #banned = new Map<string, number>()

  constructor(options: PeerScoreOptions = {}) {
    this.#strikesToBan = options.strikes ?? STRIKES_TO_BAN
    this.#banMs = options.banMs ?? BAN_MS
    this.#now = options.now ?? wallClock
  }

  /** Count a strike; true when it is the one that bans the peer (its strikes start over). */
  strike(peer: string): boolean {
    const now = this.#now()
    const list = (this.#strikes.get(peer) ?? []).filter((at) => now - at < STRIKE_TTL_MS)
    list.push(now)
    this.#strikes.delete(peer)
    if (list.length < this.#strikesToBan) {
      remember(this.#strikes, peer, list)
      return false
    }
    this.ban(peer)
    return true
  }

  /** Ban a peer now (for `banMs`). */
  ban(peer: string): void {
    this.#strikes.delete(peer)
    this.#banned.delete(peer)
    if (this.#banMs > 0) remember(this.#banned, peer, this.#now() + this.#banMs)
  }

  /** True while a ban on the peer runs. */
  isBanned(peer: string): boolean {
    const until = this.#banned.get(peer)
    if (until === undefined) return false
    if (until > this.#now()) return true
    this.#banned.delete(peer)
    return false
  }

  /** Strikes the peer has now (for diagnostics and tests). */
  strikesOf(peer: string): number {
    const now = this.#now()
    return (this.#strikes.get(peer) ?? []).filter((at) => now - at < STRIKE_TTL_MS).length
  }
}

/** Set a value, forgetting the oldest entry when the map is full. */
function remember<V>(map: Map<string, V>, key: string, value: V): void {
  if (map.size >= MAX_TRACKED_PEERS) {
    const oldest = map.keys().next()
    if (oldest.done !== true) map.delete(oldest.value)
  }
  map.set(key, value)
}
