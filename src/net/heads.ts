/**
 * The heads exchange (DESIGN.md sections 3 and 6; issue 7 sections 2, 3 and 6): what to tell a
 * peer, and what to do with what it tells.
 *
 * Heads carry each log's head identity, so a fork is found here: where the peer's seq is at most
 * ours, its identity is compared with ours at that seq, and on a mismatch that one record is
 * pulled (ingest then finds the conflict and makes the proof); where the peer is ahead, the rest
 * is pulled (ingest finds a `prev` that does not link). Logs known forked are not pulled past
 * their fork. Round heads ask for an answer (`reply`), and the answer comes only when the
 * receiver has something the asker lacks: no ping-pong, and a peer that is behind catches up by
 * its own round. Addresses are learnt only here (so only from peers that proved the thread),
 * validated by the decoder, capped per peer and per thread, and at most
 * {@link MAX_NEW_PEERS_PER_HEADS} new peers per message.
 *
 * @packageDocumentation
 */
import { multiaddr } from '@multiformats/multiaddr'
import { sameId } from '../core/recordId.js'
import type { Dialer } from './dialer.js'
import type { AddrEntry, HeadEntry, SyncMessage } from './protocol/messages.js'
import type { PeerSession } from './session.js'
import { servable } from './handshake.js'
import type { SyncAddressBook, SyncTarget } from './syncTarget.js'
import {
  LEARNT_ADDR_TTL,
  MAX_ADDR_CHARS,
  MAX_ADDR_PEERS,
  MAX_ADDRS_PER_PEER,
  MAX_KNOWN_PEERS_PER_THREAD,
  MAX_LOGS,
  MAX_NEW_PEERS_PER_HEADS
} from './limits.js'

/** What the heads exchange needs of the sync service. */
export interface HeadsHost {
  readonly me: string
  readonly addrBook: SyncAddressBook
  readonly dialer: Dialer
  /** This peer's own addresses. */
  addresses(): readonly string[]
  send(session: PeerSession, m: SyncMessage): void
  session(peerId: string): PeerSession | undefined
  /** Ask `session` for a log from `from` (bounded by the pull scheduler; forked and own logs are filtered there). */
  want(session: PeerSession, target: SyncTarget, log: string, from: number, limit?: number): void
  /** New peers of the thread were learnt: tell the thread's other peers (they may not know them either). */
  learntPeers(target: SyncTarget): void
  /** Heads came while this peer's own log is being recovered open-endedly: perhaps it is over. */
  ownLogMaybeRecovered(target: SyncTarget): void
}

/**
 * @example
 * ```ts
 * const heads = new HeadsExchange(host)
 * await heads.send(session, target, { reply: true, addrs: true })   // a round
 * await heads.onHeads(session, target, m)                            // pulls what it lacks
 * ```
 */
export class HeadsExchange {
  readonly #host: HeadsHost

  constructor(host: HeadsHost) {
    this.#host = host
  }

  /** Send this peer's heads of a thread, with the addresses it knows of the thread's peers if `addrs`. */
  async send(session: PeerSession, target: SyncTarget, options: { reply: boolean; addrs: boolean }): Promise<void> {
    const heads: HeadEntry[] = []
    for (const [log, h] of target.heads()) if (heads.length < MAX_LOGS) heads.push([log, h.seq, h.id])
    const addrs = options.addrs ? await this.#knownAddrs(target, session.peerId) : []
    // The reads above wait: if the connection closed meanwhile these heads are of no use.
    if (session.closed || !session.proved(target.id) || !servable(target, session)) return
    this.#host.send(session, { t: 'heads', thread: target.thread.id.bytes, heads, addrs, reply: options.reply })
  }

  /** The peer's heads: learn its addresses, pull what this peer lacks or disputes, answer if asked. */
  async onHeads(session: PeerSession, target: SyncTarget, m: Extract<SyncMessage, { t: 'heads' }>): Promise<void> {
    if (m.addrs.length > 0) await this.#learn(target, m.addrs)
    const link = session.link(target.id)
    const own = target.ownLogRecovery === undefined ? target.logKey?.id : undefined
    link.advertised = new Map()
    // One copy of this peer's heads for the whole message (a copy per entry would be quadratic).
    // It may grow stale across the awaits below: at worst a pull asks for what just arrived.
    const mine = target.heads()
    for (const [log, seq, id] of m.heads) {
      if (log === own) continue
      link.advertised.set(log, seq)
      const have = mine.get(log)
      if (have !== undefined && seq <= have.seq) {
        // Behind or level: the same record at its seq, or a fork (pull that one record).
        if ((link.checked.get(log) ?? 0) >= seq) continue
        const ours = seq === have.seq ? have.id : await target.idAt(log, seq)
        if (session.closed) return
        if (ours === undefined) continue
        if (!sameId(ours, id)) this.#host.want(session, target, log, seq, 1)
        else link.checked.set(log, seq)
        continue
      }
      // A log whose writer is connected and proved the thread comes from the writer itself: once
      // after authentication (and in each round), then from its pushes. Pulling it on every
      // announcement, from every peer, would race those pushes and multiply the traffic.
      const writer = log === session.peerId ? session : this.#host.session(log)
      const writerLink = writer?.links.get(target.id)
      if (writer !== undefined && writerLink?.proved === true && writerLink.acked) {
        if (writer !== session || writerLink.caughtUp) continue
        writerLink.caughtUp = true
      }
      this.#host.want(session, target, log, (have?.seq ?? 0) + 1)
    }
    link.headsSeen = true
    if (target.ownLogRecovery === Number.POSITIVE_INFINITY) this.#host.ownLogMaybeRecovered(target)
    if (m.reply && !session.closed && this.#ahead(target, m.heads)) await this.send(session, target, { reply: false, addrs: false })
  }


  /** True when this peer has something the peer's heads lack: a log, a higher seq, or another record at its seq. */
  #ahead(target: SyncTarget, theirs: readonly HeadEntry[]): boolean {
    const byLog = new Map<string, HeadEntry>()
    for (const e of theirs) byLog.set(e[0], e)
    for (const [log, h] of target.heads()) {
      const e = byLog.get(log)
      if (e === undefined || e[1] < h.seq || (e[1] === h.seq && !sameId(e[2], h.id))) return true
    }
    return false
  }

  /** Addresses of the thread's peers as this peer knows them, its own first, never the recipient's. */
  async #knownAddrs(target: SyncTarget, recipient: string): Promise<AddrEntry[]> {
    const me = this.#host.me
    const out: AddrEntry[] = []
    const mine = sendable(me, this.#host.addresses())
    if (mine.length > 0) out.push([me, mine])
    const t = target.id
    for (const peer of await this.#host.addrBook.peers(t)) {
      if (out.length >= MAX_ADDR_PEERS) break
      if (peer === recipient || peer === me) continue
      const list = sendable(peer, (await this.#host.addrBook.addrs(t, peer)).map((a) => a.addr))
      if (list.length > 0) out.push([peer, list])
    }
    return out
  }

  /** Store addresses the peer told (capped), and dial the new peers among them. */
  async #learn(target: SyncTarget, addrs: readonly AddrEntry[]): Promise<void> {
    const t = target.id
    const book = this.#host.addrBook
    const known = new Set(await book.peers(t))
    let fresh = 0
    let learnt = 0
    for (const [peer, list] of addrs) {
      if (peer === this.#host.me || list.length === 0) continue
      if (!known.has(peer)) {
        if (fresh >= MAX_NEW_PEERS_PER_HEADS) continue
        fresh++
      }
      const isNew = !known.has(peer)
      const stored = await book.addAddrs(t, peer, list, LEARNT_ADDR_TTL, { maxAddrs: MAX_ADDRS_PER_PEER, maxPeers: MAX_KNOWN_PEERS_PER_THREAD })
      if (!stored) continue
      known.add(peer)
      if (isNew) learnt++
      // A peer of the thread this peer has no connection to: dial it now rather than next round.
      if (this.#host.session(peer) === undefined) void this.#host.dialer.request(peer, [t])
    }
    if (learnt > 0) this.#host.learntPeers(target)
  }
}

/** The addresses of `peer` that another peer's decoder takes: multiaddrs ending in `/p2p/<peer>`. */
function sendable(peer: string, addrs: readonly string[]): string[] {
  const out: string[] = []
  for (const a of addrs) {
    if (out.length >= MAX_ADDRS_PER_PEER) break
    if (a.length > MAX_ADDR_CHARS || !a.endsWith(`/p2p/${peer}`)) continue
    try {
      const last = multiaddr(a).getComponents().at(-1)
      if (last?.name === 'p2p' && last.value === peer) out.push(a)
    } catch {
      // Not a multiaddr (an old or damaged address book entry): not sent.
    }
  }
  return out
}
