/**
 * Everything this peer keeps about one connected peer, in one object (REVIEW.md P5): the
 * handshake, what the peer proved and advertised, pulls in flight to it and wanted from it, pulls
 * it asked of us, bytes on their way to it, and its budgets. A disconnect drops the object, and
 * with it every piece of per-peer state at once.
 *
 * @packageDocumentation
 */
import { getCrypto } from '../core/crypto/index.js'
import { RateBudget } from './peerScore.js'
import { wallClock } from '../platform/scheduler.js'
import {
  MAX_EMPTY_ANSWERS_PER_MINUTE,
  MAX_TOO_LARGE_PER_MINUTE,
  MAX_UNKNOWN_KEY_MESSAGES_PER_MINUTE,
  MAX_UNMATCHED_TAGS_PER_MINUTE,
  MAX_UNPROVEN_PER_MINUTE,
  NONCE_BYTES,
  SERVE_BURST_BYTES
} from './limits.js'

/** This peer's relation with one connected peer in one thread. */
export interface ThreadLink {
  /** The peer proved it holds the thread's service key (its tag matched): it is authorised. */
  proved: boolean
  /** The peer sent a thread message for the thread: it authorised this peer in turn. */
  acked: boolean
  /** Times this peer sent its own tag for the thread on this connection. */
  tagsSent: number
  /**
   * The service key the peer proved. When it is not this peer's newest (a member that has not
   * received a rotation yet), this peer answers under it, so the peer can check the answer; when
   * this peer stops accepting it (a rotation came), the peer is served nothing more.
   */
  provedKey?: Uint8Array
  /** Times a repeated tag of the peer made this peer send its heads again. */
  headsOnTag: number
  /** The peer is the writer of a log and this peer caught up with that log since authentication or the last round. */
  caughtUp: boolean
  /** The peer's heads arrived on this connection at least once. */
  headsSeen: boolean
  /** The seq of each log the peer advertised in its last heads (at most `MAX_LOGS`). */
  advertised: Map<string, number>
  /** Per log, the highest seq whose identity this peer compared with the peer's and found equal. */
  checked: Map<string, number>
}

/** A pull this peer sent and awaits the answer of. */
export interface InflightPull {
  readonly threadId: string
  readonly log: string
  readonly from: number
  readonly limit: number
  /** When it was sent (ms since the epoch). */
  readonly at: number
  /** How many times this log was asked of this peer without an answer, this one included. */
  readonly attempt: number
}

/** A pull waiting for a free slot. */
export interface WantedPull {
  readonly threadId: string
  readonly log: string
  readonly from: number
  readonly limit: number
  readonly attempt: number
}

/** A pull the peer asked of this peer, waiting to be served. */
export interface PullRequest {
  readonly threadId: string
  readonly log: string
  readonly from: number
  readonly limit: number
}

/** The key of a (thread, log) pair in a session's maps. */
export function pullKey(threadId: string, log: string): string {
  return `${threadId}\u0000${log}`
}

/**
 * One connected peer.
 *
 * @example
 * ```ts
 * const session = new PeerSession(peerId)
 * send(peerId, { t: 'hello', nonce: session.nonce })
 * ```
 */
export class PeerSession {
  readonly peerId: string
  /** The nonce of this peer's `hello` on this connection. */
  readonly nonce: Uint8Array = getCrypto().randomBytes(NONCE_BYTES)
  /** The nonce of the peer's `hello`, once it arrived. */
  theirNonce: Uint8Array | undefined
  /** The peer's `hello` itself arrived (its nonce may have come first in an `auth`). */
  helloSeen = false
  /** The tags the peer may send on this connection (tag key → thread ID), once both nonces are known. */
  readonly expected = new Map<string, string>()
  /** The service key each expected tag is made with (tag key → key). */
  readonly expectedKeys = new Map<string, Uint8Array>()
  readonly links = new Map<string, ThreadLink>()
  /** Tags received from the peer, matched or not: one means this peer's hello reached it. */
  tagsReceived = 0
  helloResends = 0
  helloAnswers = 0
  readonly unmatched: RateBudget
  readonly unproven: RateBudget
  readonly emptyAnswers: RateBudget
  readonly tooLarge: RateBudget
  /** Messages with records under a service key this peer does not hold. */
  readonly unknownKeys: RateBudget
  /** Pulls in flight to the peer, by {@link pullKey}. */
  readonly inflight = new Map<string, InflightPull>()
  /** Pulls waiting for a slot, by {@link pullKey} (insertion order is the order they go out). */
  readonly wants = new Map<string, WantedPull>()
  /** Pulls the peer asked of this peer, not yet served. */
  readonly serveQueue: PullRequest[] = []
  /** Of those, being served now. */
  serving = 0
  /** Bytes of pages the peer may still take before the rate applies (token bucket). */
  serveTokens = SERVE_BURST_BYTES
  serveTokensAt: number
  /** Bytes handed to the transport for the peer whose send has not completed. */
  unsent = 0
  /** When a message from the peer last arrived (ms since the epoch): a peer that talks is not lost. */
  lastHeard: number
  /** Set when the connection closed: late work for this session does nothing. */
  closed = false
  /** Threads the peer's addresses were learnt in, when this peer dialed it (to drop them if it never authenticates). */
  dialedFor: readonly string[] | undefined
  authDeadline: ReturnType<typeof setTimeout> | undefined

  constructor(peerId: string, now: () => number = wallClock) {
    this.peerId = peerId
    this.serveTokensAt = now()
    this.lastHeard = this.serveTokensAt
    this.unmatched = new RateBudget(MAX_UNMATCHED_TAGS_PER_MINUTE, now)
    this.unproven = new RateBudget(MAX_UNPROVEN_PER_MINUTE, now)
    this.emptyAnswers = new RateBudget(MAX_EMPTY_ANSWERS_PER_MINUTE, now)
    this.tooLarge = new RateBudget(MAX_TOO_LARGE_PER_MINUTE, now)
    this.unknownKeys = new RateBudget(MAX_UNKNOWN_KEY_MESSAGES_PER_MINUTE, now)
  }

  /** The link for a thread, made on first use. */
  link(threadId: string): ThreadLink {
    let l = this.links.get(threadId)
    if (l === undefined) {
      l = { proved: false, acked: false, tagsSent: 0, headsOnTag: 0, caughtUp: false, headsSeen: false, advertised: new Map(), checked: new Map() }
      this.links.set(threadId, l)
    }
    return l
  }

  /** True when the peer proved the thread. */
  proved(threadId: string): boolean {
    return this.links.get(threadId)?.proved === true
  }

  /** True when the peer proved the thread and authorised this peer for it. */
  mutual(threadId: string): boolean {
    const l = this.links.get(threadId)
    return l !== undefined && l.proved && l.acked
  }

  /** True when the peer proved at least one thread. */
  get authenticated(): boolean {
    for (const l of this.links.values()) if (l.proved) return true
    return false
  }
}
