/**
 * The connected peers: one {@link PeerSession} each, how messages reach them (counting the bytes a
 * slow reader holds up), and what happens to a peer that misbehaves (strikes, bans, hang-ups).
 *
 * @packageDocumentation
 */
import type { Emitter } from '../core/emitter.js'
import { SlowPeerError, ThreadsError } from '../core/errors.js'
import { MAX_UNSENT_BYTES_PER_PEER } from './limits.js'
import type { NetworkAdapter } from './networkAdapter.js'
import type { PeerScore } from './peerScore.js'
import { encodeMessage, type SyncMessage } from './protocol/messages.js'
import { PeerSession } from './session.js'
import type { SyncEvents, SyncLogger } from './syncTarget.js'

export interface PeerTableOptions {
  readonly net: NetworkAdapter
  readonly events: Emitter<SyncEvents>
  readonly log: SyncLogger
  readonly score: PeerScore
  /** Bytes waiting for one peer before it is hung up (default {@link MAX_UNSENT_BYTES_PER_PEER}). */
  readonly maxUnsentBytes?: number
  /** Called for every session that closes (the connection, or this peer, ended it). */
  readonly onClose: (session: PeerSession) => void
  /**
   * Whether a thread's ACL still entitles a peer to be served (default: always). A peer whose
   * role was revoked after it proved the key drops out of the thread's sessions at once.
   */
  readonly entitled?: (threadId: string, session: PeerSession) => boolean
}

/**
 * @example
 * ```ts
 * const peers = new PeerTable({ net, events, log, score, onClose: (s) => pulls.drop(s) })
 * const session = peers.open(peerId)
 * await peers.send(session, { t: 'hello', nonce: session.nonce })
 * ```
 */
export class PeerTable {
  readonly #options: PeerTableOptions
  readonly #sessions = new Map<string, PeerSession>()

  constructor(options: PeerTableOptions) {
    this.#options = options
  }

  get(peerId: string): PeerSession | undefined {
    return this.#sessions.get(peerId)
  }

  all(): Iterable<PeerSession> {
    return this.#sessions.values()
  }

  /** Sessions whose peer proved the thread. */
  proved(threadId: string): PeerSession[] {
    return [...this.#sessions.values()].filter((s) => s.proved(threadId) && this.entitled(threadId, s))
  }

  /** Whether the thread's ACL entitles the peer to be served (always, without access control). */
  entitled(threadId: string, session: PeerSession): boolean {
    return this.#options.entitled?.(threadId, session) ?? true
  }

  /** Peers that proved the thread and authorised this peer for it: where pushes and announcements go. */
  mutual(threadId: string): PeerSession[] {
    return [...this.#sessions.values()].filter((s) => s.mutual(threadId) && this.entitled(threadId, s))
  }

  /** A session for a newly connected peer; none for a banned one (it is hung up on at once). */
  open(peerId: string): PeerSession | undefined {
    if (this.#sessions.has(peerId)) return undefined
    const { score, net, log } = this.#options
    if (score.isBanned(peerId)) {
      void net.hangUp(peerId).catch((e: unknown) => log.debug('hang-up of banned %s failed: %s', peerId, String(e)))
      return undefined
    }
    const session = new PeerSession(peerId)
    this.#sessions.set(peerId, session)
    return session
  }

  /** The connection closed (or this peer closes it): drop every piece of the peer's state. */
  close(peerId: string): void {
    const session = this.#sessions.get(peerId)
    if (session === undefined) return
    session.closed = true
    this.#sessions.delete(peerId)
    this.#options.onClose(session)
  }

  /** Forget every session (the service stops). */
  clear(): void {
    for (const s of this.#sessions.values()) s.closed = true
    this.#sessions.clear()
  }

  /**
   * Encode and send. An encoding failure is a bug of this peer: reported, never dropped silently.
   * Bytes not yet taken by the transport count against the peer; past the bound it is hung up.
   */
  send(session: PeerSession, m: SyncMessage): Promise<void> {
    if (session.closed) return Promise.resolve()
    let bytes: Uint8Array
    try {
      bytes = encodeMessage(m)
    } catch (e) {
      this.fail(e, `could not encode a ${m.t} message`)
      return Promise.resolve()
    }
    const max = this.#options.maxUnsentBytes ?? MAX_UNSENT_BYTES_PER_PEER
    if (session.unsent + bytes.length > max) {
      this.#slowReader(session, max)
      return Promise.resolve()
    }
    session.unsent += bytes.length
    return this.#options.net.send(session.peerId, bytes).then(
      () => {
        session.unsent -= bytes.length
      },
      (e: unknown) => {
        session.unsent -= bytes.length
        this.fail(e, `could not send a ${m.t} message to ${session.peerId}`)
      }
    )
  }

  /** Count a strike against a peer; the one that reaches the limit bans it. */
  strike(peerId: string, error: ThreadsError): void {
    this.#options.events.emit('error', { peerId, error })
    if (this.#options.score.strike(peerId)) this.#hangUp(peerId, error)
  }

  /** Ban a peer now (a budget it went past). */
  ban(peerId: string, error: ThreadsError): void {
    this.#options.events.emit('error', { peerId, error })
    this.#options.score.ban(peerId)
    this.#hangUp(peerId, error)
  }

  /** A failure of this peer's own (a bug, or storage): logged and reported, never swallowed. */
  fail(e: unknown, what: string): void {
    const error = e instanceof ThreadsError ? e : new ThreadsError(`${what}: ${String(e)}`, {}, { cause: e })
    this.#options.log.error('%s: %s', what, error.message)
    this.#options.events.emit('error', { peerId: '', error })
  }

  #slowReader(session: PeerSession, max: number): void {
    if (session.closed) return
    const error = new SlowPeerError(`over ${max} bytes waiting for the peer to read them`)
    this.#options.log.debug('hanging up slow reader %s: %s', session.peerId, error.message)
    this.#options.events.emit('error', { peerId: session.peerId, error })
    this.#disconnect(session.peerId)
  }

  #hangUp(peerId: string, error: ThreadsError): void {
    this.#options.events.emit('banned', { peerId, reason: error.message })
    this.#disconnect(peerId)
  }

  #disconnect(peerId: string): void {
    this.close(peerId)
    void this.#options.net.hangUp(peerId).catch((e: unknown) => this.#options.log.debug('hang-up of %s failed: %s', peerId, String(e)))
  }
}
