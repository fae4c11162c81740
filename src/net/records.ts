/**
 * What arrives as records, by pull answer, push or gossip (DESIGN.md sections 3 and 6): ingest,
 * blame the sender only for what can be its doing, announce new heads, and pull what is still
 * missing (the next page, the gaps below held records).
 *
 * Blame: an `EquivocationError` or a fork is the writer's doing; a record the writer signed but
 * nobody can open is stored and is the writer's doing too; damage in this peer's storage is its
 * own; a record sealed under a service key this peer does not hold yet (`UnknownServiceKeyError`)
 * is nobody's fault while the sender advertised records this peer lacks (the rotation may be
 * among them: they are pulled); otherwise a message holding any costs the sender one of
 * {@link MAX_UNKNOWN_KEY_MESSAGES_PER_MINUTE} a minute, past which it is a strike
 * (`RateLimitedError`): junk in the `[key ID, box]` form is unsigned and free to make. `TooLargeError` (held records at their bound) is a strike only past
 * {@link MAX_TOO_LARGE_PER_MINUTE} a minute from one peer. Anything else in a message is the
 * sender's, and costs it one strike per message.
 *
 * @packageDocumentation
 */
import type { ThreadsError } from '../core/errors.js'
import type { GossipVerdict } from './gossip.js'
import type { SyncMessage } from './protocol/messages.js'
import type { PullScheduler } from './pull.js'
import { pullKey, type PeerSession } from './session.js'
import type { SyncTarget } from './syncTarget.js'
import { RateLimitedError } from '../core/errors.js'
import { MAX_EMPTY_ANSWERS_PER_MINUTE, MAX_UNKNOWN_KEY_MESSAGES_PER_MINUTE } from './limits.js'

type RecordsMessage = Extract<SyncMessage, { t: 'records' }>

/** Advertised logs looked at per message with records under an unknown key (see #pullAhead). */
const MAX_AHEAD_SCAN = 64

/** What the records handler needs of the sync service. */
export interface RecordsHost {
  readonly pulls: PullScheduler
  session(peerId: string): PeerSession | undefined
  /** Sessions that proved the thread. */
  provedSessions(threadId: string): readonly PeerSession[]
  want(session: PeerSession, target: SyncTarget, log: string, from: number, limit?: number): void
  strike(peerId: string, error: ThreadsError): void
  /** Records of this peer's own log came while it is being recovered open-endedly: perhaps it is over. */
  ownLogMaybeRecovered(target: SyncTarget): void
  /** Tell the thread's peers this peer's heads moved (once per turn); `from` sent the records of `log`. */
  announce(target: SyncTarget, log: string, from: string | undefined): void
}

/** Errors that are never the sender's doing (`UnknownServiceKeyError`: only past its budget). */
const NOT_THE_SENDERS = new Set(['EquivocationError', 'ForkedLogError', 'CorruptStoreError'])
/** Errors that, on a record this peer stored, are the writer's doing (it signed what nobody can open). */
const WRITERS_IF_STORED = new Set(['DecryptionError', 'MalformedRecordError', 'UnsupportedFormatError'])

/**
 * @example
 * ```ts
 * const records = new RecordsHandler(host)
 * await records.onRecords(session, target, m)           // a direct message
 * const verdict = await records.onGossip(from, target, m) // gossip, before it is forwarded
 * ```
 */
export class RecordsHandler {
  readonly #host: RecordsHost

  constructor(host: RecordsHost) {
    this.#host = host
  }

  /** A pull's answer or a push from an authorised peer. */
  async onRecords(session: PeerSession, target: SyncTarget, m: RecordsMessage): Promise<void> {
    const { log } = m
    if (log === target.logKey?.id && target.ownLogRecovery === undefined) return
    const host = this.#host
    // A push is never taken for the answer to a pull that may be under way for the same log.
    const asked = m.push ? undefined : host.pulls.answered(session, target.id, log)
    // Ask for the next page before ingesting this one: transfer and ingest overlap. Not after a
    // one-record pull: that was a fork check, not a transfer.
    const pipelined = m.more && asked !== undefined && asked.limit > 1 && m.records.length > 0
    if (pipelined) host.want(session, target, log, asked.from + m.records.length)
    if (m.records.length === 0) {
      // An empty answer ends the exchange with this peer for this log (asking again at once would
      // ping-pong). Empty answers for logs the peer itself advertised are a budget, not a right.
      const advertised = session.links.get(target.id)?.advertised.get(log) ?? 0
      if (asked !== undefined && advertised >= asked.from && !session.emptyAnswers.take()) {
        host.strike(session.peerId, new RateLimitedError(`more than ${MAX_EMPTY_ANSWERS_PER_MINUTE} empty answers a minute to pulls of logs the peer advertised`, { threadId: target.id, logId: log }))
      }
      host.pulls.pump()
      if (log === target.logKey?.id && target.ownLogRecovery === Number.POSITIVE_INFINITY) host.ownLogMaybeRecovered(target)
      return
    }
    const result = await target.ingest(log, m.records)
    const bad = await this.#sendersFault(target, log, result.rejected, session)
    if (bad !== undefined) host.strike(session.peerId, bad)
    if (result.stored > 0) host.announce(target, log, session.peerId)
    const head = target.heads().get(log)?.seq ?? 0
    if (m.more && !pipelined && asked !== undefined && asked.limit > 1) host.want(session, target, log, head + 1)
    else if (!m.more) for (const gap of target.gaps()) if (gap.logId === log) host.want(session, target, log, gap.from)
    host.pulls.pump()
    if (log === target.logKey?.id && target.ownLogRecovery === Number.POSITIVE_INFINITY) host.ownLogMaybeRecovered(target)
  }

  /**
   * Records that arrived as gossip, before they are forwarded: `reject` (and blame) what the
   * propagation source cannot have had from an honest peer, `accept` what was new, `ignore` the rest.
   */
  async onGossip(from: string | undefined, target: SyncTarget, m: RecordsMessage): Promise<GossipVerdict> {
    if (m.log === target.logKey?.id && target.ownLogRecovery === undefined) return { result: 'ignore' }
    const result = await target.ingest(m.log, m.records)
    const source = from === undefined ? undefined : this.#host.session(from)
    const bad = await this.#sendersFault(target, m.log, result.rejected, source)
    if (bad !== undefined) return { result: 'reject', error: bad }
    if (result.stored > 0) this.#host.announce(target, m.log, from)
    const gaps = target.gaps().filter((g) => g.logId === m.log)
    if (gaps.length > 0) {
      // Records beyond a gap were held: pull the gap, from the relay if it proved the thread.
      const peer = source?.proved(target.id) === true ? source : this.#host.provedSessions(target.id)[0]
      if (peer !== undefined) for (const g of gaps) this.#host.want(peer, target, g.logId, g.from)
    }
    return { result: result.stored > 0 || gaps.length > 0 ? 'accept' : 'ignore' }
  }

  /**
   * True when `session` advertised a log of the thread further than this peer holds it and no
   * pull of it to that peer is under way yet; those logs are pulled from it. Excused once per
   * pull, not per message: a peer that claims to be ahead and then does not deliver (no answer,
   * or empty ones, which cost it its empty-answer budget) is charged again while its pull waits,
   * and the want-list it can fill is bounded (MAX_WANTED_LOGS_PER_PEER).
   */
  #pullAhead(target: SyncTarget, session: PeerSession): boolean {
    const advertised = session.links.get(target.id)?.advertised
    if (advertised === undefined) return false
    const ours = target.heads()
    // The advertised heads are the peer's claim (up to MAX_LOGS): a few are looked at per
    // message, and one new pull is enough of an excuse.
    let looked = 0
    for (const [log, seq] of advertised) {
      if (++looked > MAX_AHEAD_SCAN) break
      const have = ours.get(log)?.seq ?? 0
      const key = pullKey(target.id, log)
      if (seq <= have || session.inflight.has(key) || session.wants.has(key)) continue
      this.#host.want(session, target, log, have + 1)
      if (session.inflight.has(key) || session.wants.has(key)) return true
    }
    return false
  }

  /** The first refusal that is the sender's doing, if any (one strike per message, however many). */
  async #sendersFault(target: SyncTarget, log: string, rejected: readonly ThreadsError[], session: PeerSession | undefined): Promise<ThreadsError | undefined> {
    let unknownKey = false
    for (const e of rejected) {
      if (NOT_THE_SENDERS.has(e.name)) continue
      if (e.name === 'UnknownServiceKeyError') {
        // Counted once per message, against a budget per peer.
        if (unknownKey) continue
        unknownKey = true
        // A peer that advertised records this one lacks may be sealing under a rotation this
        // one has not received yet (it travels in one of those records): an honest peer ahead,
        // not junk. Pull what it advertised instead of charging it (a red-team round found honest
        // writers struck, then banned, by a member lagging behind a rotation).
        if (session !== undefined && this.#pullAhead(target, session)) continue
        if (session !== undefined && !session.unknownKeys.take()) {
          return new RateLimitedError(`more than ${MAX_UNKNOWN_KEY_MESSAGES_PER_MINUTE} messages a minute with records under a service key this peer does not hold`, { threadId: target.id, logId: log })
        }
        continue
      }
      if (e.name === 'TooLargeError') {
        if (session !== undefined && !session.tooLarge.take()) return e
        continue
      }
      if (WRITERS_IF_STORED.has(e.name) && e.seq !== undefined && (e.logId ?? log) === log && (await target.idAt(log, e.seq)) !== undefined) continue
      return e
    }
    return undefined
  }
}
