/**
 * Serving the pulls of other peers, bounded per peer (issue 7 section 3): a queue of at most
 * {@link MAX_QUEUED_PULLS_PER_PEER} requests (one more is a strike), {@link SERVE_CONCURRENCY}
 * served at a time, pages paced by a token bucket of {@link SERVE_BYTES_PER_SECOND}, and each page
 * awaited until the transport took it, so a peer that stops reading stops being served.
 *
 * @packageDocumentation
 */
import { RateLimitedError, type ThreadsError } from '../core/errors.js'
import { recordBlocks, type RecordBlocks } from '../core/record.js'
import type { Busy } from './busy.js'
import { chunkRecords, wireSize } from './protocol/paging.js'
import type { SyncMessage } from './protocol/messages.js'
import { wallClock } from '../platform/scheduler.js'
import type { PeerSession, PullRequest } from './session.js'
import { servable } from './handshake.js'
import type { SyncTarget } from './syncTarget.js'
import { MAX_MESSAGE_BYTES, MAX_QUEUED_PULLS_PER_PEER, MAX_RECORDS_PER_MESSAGE, SERVE_BURST_BYTES, SERVE_BYTES_PER_SECOND, SERVE_CONCURRENCY } from './limits.js'


/** Records read first to size a page (see #serve). */
const PROBE_RECORDS = 32

/** What the server needs of the sync service. */
export interface ServeHost {
  target(threadId: string): SyncTarget | undefined
  /** Send a message; resolves when the transport took it. */
  send(session: PeerSession, m: SyncMessage): Promise<void>
  /** Count bad behaviour of the peer. */
  strike(session: PeerSession, error: ThreadsError): void
  readonly busy: Busy
}

export interface ServeOptions {
  /** Bytes of pages per second per peer (default {@link SERVE_BYTES_PER_SECOND}). */
  readonly bytesPerSecond?: number
  /** Bucket size (default {@link SERVE_BURST_BYTES}). */
  readonly burstBytes?: number
  readonly now?: () => number
}

/**
 * @example
 * ```ts
 * const server = new PullServer(host)
 * server.enqueue(session, { threadId, log, from: 1, limit: 500 })
 * ```
 */
export class PullServer {
  readonly #host: ServeHost
  readonly #rate: number
  readonly #burst: number
  readonly #now: () => number
  /** Bytes of pages served since start (diagnostics and tests). */
  servedBytes = 0

  constructor(host: ServeHost, options: ServeOptions = {}) {
    this.#host = host
    this.#rate = options.bytesPerSecond ?? SERVE_BYTES_PER_SECOND
    // One second of the rate by default: a peer given a lower rate gets a smaller burst too.
    this.#burst = options.burstBytes ?? (options.bytesPerSecond === undefined ? SERVE_BURST_BYTES : options.bytesPerSecond)
    this.#now = options.now ?? wallClock
  }

  /** Queue a pull of an authorised peer; past the queue bound it is dropped and struck. */
  enqueue(session: PeerSession, request: PullRequest): void {
    if (session.serveQueue.length >= MAX_QUEUED_PULLS_PER_PEER) {
      this.#host.strike(session, new RateLimitedError(`more than ${MAX_QUEUED_PULLS_PER_PEER} pulls waiting to be served`, { threadId: request.threadId, logId: request.log }))
      return
    }
    session.serveQueue.push(request)
    this.#next(session)
  }

  #next(session: PeerSession): void {
    while (!session.closed && session.serving < SERVE_CONCURRENCY && session.serveQueue.length > 0) {
      const request = session.serveQueue.shift() as PullRequest
      session.serving++
      void this.#host.busy.track(
        this.#serve(session, request).finally(() => {
          session.serving--
          this.#next(session)
        })
      )
    }
  }

  async #serve(session: PeerSession, r: PullRequest): Promise<void> {
    await this.#paced(session)
    const target = this.#host.target(r.threadId)
    // A peer revoked since it proved the key is served nothing more (DESIGN.md section 6).
    if (session.closed || target === undefined || !servable(target, session)) return
    const empty: SyncMessage = { t: 'records', thread: target.thread.id.bytes, log: r.log, records: [], more: false, push: false }
    const head = target.heads().get(r.log)
    if (head === undefined || r.from > head.seq) return this.#host.send(session, empty)
    const want = Math.min(r.limit, MAX_RECORDS_PER_MESSAGE)
    // A probe first, then only as many more as one message can hold at the probe's sizes: a page
    // of large records holds few, and reading `want` of them read up to 200 times what was sent,
    // free to the puller (a red-team round; the serve budget charges bytes sent).
    const probe = (await target.records(r.log, r.from, Math.min(want, PROBE_RECORDS))).map(recordBlocks)
    let blocks = probe
    if (probe.length === PROBE_RECORDS && want > PROBE_RECORDS) {
      const probeBytes = probe.reduce((n, b) => n + wireSize(b), 0)
      const fits = Math.min(want, Math.floor((MAX_MESSAGE_BYTES * PROBE_RECORDS) / Math.max(1, probeBytes)))
      if (fits > PROBE_RECORDS) blocks = probe.concat((await target.records(r.log, r.from + PROBE_RECORDS, fits - PROBE_RECORDS)).map(recordBlocks))
    }
    if (session.closed) return
    // A page is whole records and fits one message; the rest is asked for again (`more`).
    const page: RecordBlocks[] = chunkRecords(blocks)[0] ?? []
    const bytes = page.reduce((n, b) => n + b.record.length + b.event.length + b.header.length + b.body.length, 0)
    session.serveTokens -= bytes
    this.servedBytes += bytes
    const last = r.from + page.length - 1
    await this.#host.send(session, { ...empty, records: page, more: last < head.seq })
  }

  /** Wait until the peer's bucket has bytes again (refilled at the rate, up to the burst). */
  async #paced(session: PeerSession): Promise<void> {
    for (;;) {
      const now = this.#now()
      // A clock that went back gives nothing, and takes nothing.
      session.serveTokens = Math.min(this.#burst, session.serveTokens + (Math.max(0, now - session.serveTokensAt) * this.#rate) / 1000)
      session.serveTokensAt = now
      if (session.serveTokens > 0 || session.closed) return
      const waitMs = Math.ceil((-session.serveTokens * 1000) / this.#rate) + 1
      await new Promise((resolve) => setTimeout(resolve, waitMs))
    }
  }
}
