/**
 * The handshake of a connection (DESIGN.md section 6; issue 7 sections 4 and 5), as a state
 * machine over {@link PeerSession}s:
 *
 * 1. each side sends `hello { nonce }` when the connection opens;
 * 2. on the other's nonce, each side sends one `auth { tag, nonce }` per thread it holds (see
 *    `auth.ts`; `nonce` repeats the sender's hello nonce);
 * 3. a tag that matches one of this peer's threads authorises the sender for that thread (and
 *    this peer's heads follow); a tag that matches none is ignored without a word, so a peer
 *    without a thread's key learns nothing about which threads this one holds.
 *
 * Reordering and duplicates never count against a peer. An auth carries its sender's hello
 * nonce, so one that overtakes the hello (or whose hello was lost) is checked at once, with no
 * buffer to bound; a repeated hello is answered with the tags again, a repeated tag with the heads
 * again. Lost messages are made good by rounds (hello and tags resent, a bounded number of times).
 * Work is bounded: a peer's expected tags are computed once per connection, so matching one is a
 * lookup, and unmatched tags have a budget per minute past which the peer is hung up.
 *
 * @packageDocumentation
 */
import { RateLimitedError, type ThreadsError } from '../core/errors.js'
import { authTag, tagKey } from './auth.js'
import type { SyncMessage } from './protocol/messages.js'
import type { PeerSession } from './session.js'
import type { SyncTarget } from './syncTarget.js'
import { MAX_HELLO_RESENDS, MAX_TAG_RESENDS, MAX_UNMATCHED_TAGS_PER_MINUTE } from './limits.js'

/** What the handshake needs of the sync service. */
export interface HandshakeHost {
  /** This peer's ID. */
  readonly me: string
  targets(): readonly SyncTarget[]
  target(threadId: string): SyncTarget | undefined
  send(session: PeerSession, m: SyncMessage): void
  /** The peer proved a thread for the first time on this connection. */
  proved(session: PeerSession, target: SyncTarget): void
  /** The peer proved a thread again (its tag once more): it may not have this peer's heads. */
  provedAgain(session: PeerSession, target: SyncTarget): void
  /** The peer went past a budget: hang it up. */
  overBudget(session: PeerSession, error: ThreadsError): void
}

/**
 * @example
 * ```ts
 * const handshake = new Handshake(host)
 * handshake.opened(session)               // sends hello
 * handshake.onHello(session, m.nonce)     // sends this peer's tags
 * handshake.onAuth(session, m.tag)        // may authorise the peer for a thread
 * ```
 */
export class Handshake {
  readonly #host: HandshakeHost

  constructor(host: HandshakeHost) {
    this.#host = host
  }

  /** A connection opened: say hello. */
  opened(session: PeerSession): void {
    this.#host.send(session, { t: 'hello', nonce: session.nonce })
  }

  /** The peer's hello: learn its nonce, then claim every thread this peer holds. */
  onHello(session: PeerSession, nonce: Uint8Array): void {
    const known = session.theirNonce
    if (known === undefined) {
      session.helloSeen = true
      return this.#adopt(session, nonce)
    }
    // Another nonce on the same connection is ignored: the first one stands.
    if (!sameBytes(known, nonce)) return
    if (!session.helloSeen) {
      // Its auth overtook it: nothing more to do.
      session.helloSeen = true
      return
    }
    // The same hello again: duplicated, or sent again because this peer's tags did not arrive.
    if (session.helloAnswers >= MAX_HELLO_RESENDS) return
    session.helloAnswers++
    for (const target of this.#host.targets()) if (session.links.get(target.id)?.acked !== true) this.#sendTag(session, target)
  }

  /** An auth tag: authorise the peer for the thread it proves, if any. */
  onAuth(session: PeerSession, tag: Uint8Array, nonce: Uint8Array): void {
    session.tagsReceived++
    const known = session.theirNonce
    if (known === undefined) this.#adopt(session, nonce)
    else if (!sameBytes(known, nonce)) return this.#unmatched(session)
    const threadId = session.expected.get(tagKey(tag))
    const target = threadId === undefined ? undefined : this.#host.target(threadId)
    if (threadId === undefined || target === undefined) return this.#unmatched(session)
    // An access-controlled thread serves only peers its ACL entitles (DESIGN.md section 6): a
    // revoked or no-access peer holding the key gets what an outsider gets, silence.
    if (target.entitled !== undefined && !target.entitled(session.peerId)) return
    const link = session.link(threadId)
    if (link.proved) return this.#host.provedAgain(session, target)
    link.proved = true
    if (link.tagsSent === 0) this.#sendTag(session, target)
    this.#host.proved(session, target)
  }

  /** The peer's nonce is known: compute the tags it may send, and claim every thread. */
  #adopt(session: PeerSession, nonce: Uint8Array): void {
    session.theirNonce = nonce
    for (const target of this.#host.targets()) this.#expect(session, target)
    for (const target of this.#host.targets()) this.#sendTag(session, target)
  }

  /**
   * A round: make good what may have been lost. The hello again while the peer has sent no tag at
   * all (it may not have this peer's nonce); this peer's tag again for each thread the peer proved
   * but has not acknowledged (it may not have this peer's proof).
   */
  round(session: PeerSession): void {
    if (session.tagsReceived === 0 && session.helloResends < MAX_HELLO_RESENDS) {
      session.helloResends++
      this.opened(session)
    }
    for (const [threadId, link] of session.links) {
      const target = this.#host.target(threadId)
      if (target !== undefined && link.proved && !link.acked && link.tagsSent <= MAX_TAG_RESENDS) this.#sendTag(session, target)
    }
  }

  /** A thread was added while the connection is open: expect its tag, and claim it. */
  added(session: PeerSession, target: SyncTarget): void {
    if (session.theirNonce === undefined) return
    this.#expect(session, target)
    this.#sendTag(session, target)
  }

  #unmatched(session: PeerSession): void {
    if (!session.unmatched.take()) {
      this.#host.overBudget(session, new RateLimitedError(`more than ${MAX_UNMATCHED_TAGS_PER_MINUTE} auth tags a minute that match no thread`))
    }
  }

  /** The tag the peer sends for `target` on this connection, remembered for lookup. */
  #expect(session: PeerSession, target: SyncTarget): void {
    const theirs = session.theirNonce
    if (theirs === undefined) return
    const tag = authTag(target.thread.key.service, {
      recipientNonce: session.nonce,
      senderNonce: theirs,
      sender: session.peerId,
      recipient: this.#host.me,
      thread: target.thread.id.bytes
    })
    session.expected.set(tagKey(tag), target.id)
  }

  #sendTag(session: PeerSession, target: SyncTarget): void {
    const theirs = session.theirNonce
    if (theirs === undefined) return
    const tag = authTag(target.thread.key.service, {
      recipientNonce: theirs,
      senderNonce: session.nonce,
      sender: this.#host.me,
      recipient: session.peerId,
      thread: target.thread.id.bytes
    })
    session.link(target.id).tagsSent++
    this.#host.send(session, { t: 'auth', tag, nonce: session.nonce })
  }
}

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false
  return true
}
