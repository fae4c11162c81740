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
import { RateLimitedError, UnauthorizedError, type ThreadsError } from '../core/errors.js'
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
  /** The peer proved a service key this peer no longer accepts (a revoked follower): refused, reported here. */
  refused?(session: PeerSession, error: ThreadsError): void
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
    // A proof under an older key (accepted only where the ACL is folded, and only from a peer it
    // entitles): answered under that key, so the peer can check the answer and catch up.
    const key = session.expectedKeys.get(tagKey(tag))
    const keys = keysOf(target)
    // A key this peer no longer accepts (an older one, after a rotation this follower took):
    // silence, as for a peer the ACL does not entitle.
    if (key !== undefined && !keys.accept.some((k) => sameBytes(k, key))) {
      return this.#host.refused?.(session, new UnauthorizedError('the peer proved a retired service key: refused', { threadId }))
    }
    const changed = key !== undefined && link.provedKey !== undefined && !sameBytes(key, link.provedKey)
    const older = key !== undefined && !sameBytes(key, keys.send)
    if (key !== undefined) link.provedKey = key
    if (link.proved) {
      // Proved again under another key (it took a rotation, or is catching up): answer under it.
      if (changed) this.#sendTag(session, target)
      return this.#host.provedAgain(session, target)
    }
    link.proved = true
    if (link.tagsSent === 0 || older) this.#sendTag(session, target)
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

  /**
   * This peer holds a new service key for a thread: expect tags under the keys it accepts now,
   * and prove the new key (DESIGN.md section 6, service key rotation).
   */
  rekeyed(session: PeerSession, target: SyncTarget): void {
    if (session.theirNonce === undefined) return
    this.#expect(session, target)
    this.#sendTag(session, target, keysOf(target).send)
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
    const keys = keysOf(target)
    for (const key of keys.known ?? keys.accept) {
      const tag = authTag(key, {
        recipientNonce: session.nonce,
        senderNonce: theirs,
        sender: session.peerId,
        recipient: this.#host.me,
        thread: target.thread.id.bytes
      })
      session.expected.set(tagKey(tag), target.id)
      session.expectedKeys.set(tagKey(tag), key)
    }
  }

  /**
   * Send this peer's tag for a thread: under `key`, else under the key the peer proved if this
   * peer still accepts it (a member catching up on a rotation can check it), else the newest.
   */
  #sendTag(session: PeerSession, target: SyncTarget, key?: Uint8Array): void {
    const theirs = session.theirNonce
    if (theirs === undefined) return
    const keys = keysOf(target)
    const proved = session.links.get(target.id)?.provedKey
    const use = key ?? (proved !== undefined && keys.accept.some((k) => sameBytes(k, proved)) ? proved : keys.send)
    const tag = authTag(use, {
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

/** The keys of a thread's handshake: its newest to send, and those accepted (see `SyncTarget.authKeys`). */
function keysOf(target: SyncTarget): { readonly send: Uint8Array; readonly accept: readonly Uint8Array[]; readonly known?: readonly Uint8Array[] } {
  return target.authKeys?.() ?? { send: target.thread.key.service, accept: [target.thread.key.service] }
}

/**
 * Whether a session may be served a thread now: the ACL entitles its peer (where there is one),
 * and the service key it proved is still accepted. A follower that learns a rotation accepts only
 * the new key, so a peer that proved an older one on a connection opened before (a revoked
 * follower) is served nothing more.
 */
export function servable(target: SyncTarget, session: PeerSession): boolean {
  if (target.entitled?.(session.peerId) === false) return false
  const key = session.links.get(target.id)?.provedKey
  if (key === undefined || target.authKeys === undefined) return true
  return target.authKeys().accept.some((k) => sameBytes(k, key))
}

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false
  return true
}
