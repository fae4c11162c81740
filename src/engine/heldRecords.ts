import { linksHead, type LogHead, type LogRecord } from '../core/record.js'

/** Out-of-order records held per log at most (default of `maxHeldPerLog`). */
export const MAX_HELD_PER_LOG = 4096
/** Bytes of out-of-order records held per thread at most (all logs together): 16 MiB. */
export const MAX_HELD_BYTES = 16 << 20
/** A held record whose gap has not closed after this long is dropped (ms): its log is pulled again. */
export const HELD_TTL_MS = 120_000

/** A range of a log that is missing below records this peer holds. */
export interface Gap {
  readonly logId: string
  readonly from: number
  readonly to: number
}

interface Held {
  readonly record: LogRecord
  readonly bytes: number
  readonly at: number
}

function sizeOf(r: LogRecord): number {
  const b = r.blocks
  return b.record.bytes.length + b.event.bytes.length + b.header.bytes.length + b.body.bytes.length
}

/**
 * Records that arrived beyond a gap in their log, waiting for it to close. Each was verified
 * alone (its own signature) before it was held, so only records a log's writer signed can take
 * room here; the room is bounded per log and per thread, in count and in bytes, and what is
 * held too long is dropped (DESIGN.md section 6: every resource an input can cost is bounded).
 */
export class HeldRecords {
  readonly #logs = new Map<string, Map<number, Held>>()
  readonly #maxPerLog: number
  readonly #maxBytes: number
  readonly #ttl: number
  #bytes = 0
  #count = 0

  constructor(options: { maxPerLog?: number; maxBytes?: number; ttlMs?: number } = {}) {
    this.#maxPerLog = options.maxPerLog ?? MAX_HELD_PER_LOG
    this.#maxBytes = options.maxBytes ?? MAX_HELD_BYTES
    this.#ttl = options.ttlMs ?? HELD_TTL_MS
  }

  /** Records held now. */
  get count(): number {
    return this.#count
  }

  /** Bytes held now (the four blocks of every held record). */
  get bytes(): number {
    return this.#bytes
  }

  /** The record held at `seq` of a log. */
  get(logId: string, seq: number): LogRecord | undefined {
    return this.#logs.get(logId)?.get(seq)?.record
  }

  /**
   * Hold a record. The first record held for a `seq` stays (the chain decides later which one
   * continues the log). Returns `false` when the bounds leave no room for it: the record furthest
   * from closing its gap goes first, so a flood of far-ahead records cannot push out the ones
   * that close a gap soon.
   */
  hold(record: LogRecord, now: number): boolean {
    let log = this.#logs.get(record.logId)
    if (log === undefined) this.#logs.set(record.logId, (log = new Map()))
    if (log.has(record.seq)) return true
    const bytes = sizeOf(record)
    log.set(record.seq, { record, bytes, at: now })
    this.#bytes += bytes
    this.#count++
    let kept = true
    while (log.size > this.#maxPerLog || this.#bytes > this.#maxBytes) {
      const evicted = this.#evictFurthest(log.size > this.#maxPerLog ? record.logId : undefined)
      if (evicted === record) kept = false
      if (evicted === undefined) break
    }
    return kept
  }

  /** Drop the highest seq of `logId`, or of the log holding the most bytes. */
  #evictFurthest(logId: string | undefined): LogRecord | undefined {
    let target = logId
    if (target === undefined) {
      let most = -1
      for (const [id, log] of this.#logs) {
        let b = 0
        for (const h of log.values()) b += h.bytes
        if (b > most) {
          most = b
          target = id
        }
      }
    }
    const log = target === undefined ? undefined : this.#logs.get(target)
    if (log === undefined || log.size === 0) return undefined
    let top = -1
    for (const seq of log.keys()) top = Math.max(top, seq)
    const h = log.get(top) as Held
    this.#remove(target as string, top)
    return h.record
  }

  #remove(logId: string, seq: number): void {
    const log = this.#logs.get(logId)
    const h = log?.get(seq)
    if (log === undefined || h === undefined) return
    log.delete(seq)
    this.#bytes -= h.bytes
    this.#count--
    if (log.size === 0) this.#logs.delete(logId)
  }

  /**
   * Take the contiguous run that continues `head` out of the held records of a log. A held record
   * at the next `seq` that does not link the head is returned as `broken` (and dropped): its
   * writer signed two different histories, or it is a forgery caught by its own signature.
   */
  takeRun(logId: string, head: LogHead | undefined): { run: LogRecord[]; broken?: LogRecord } {
    const run: LogRecord[] = []
    let at = head
    for (;;) {
      const next = this.get(logId, (at?.seq ?? 0) + 1)
      if (next === undefined) return { run }
      this.#remove(logId, next.seq)
      if (!linksHead(next, at)) return { run, broken: next }
      run.push(next)
      at = { id: next.id, seq: next.seq }
    }
  }

  /** Take the record held at `seq` of a log out of the held records. */
  take(logId: string, seq: number): LogRecord | undefined {
    const record = this.get(logId, seq)
    if (record !== undefined) this.#remove(logId, seq)
    return record
  }

  /** Drop every held record of a log at or above `seq` (a fork froze it there), or all of them. */
  dropFrom(logId: string, seq = 1): void {
    const log = this.#logs.get(logId)
    if (log === undefined) return
    for (const s of [...log.keys()]) if (s >= seq) this.#remove(logId, s)
  }

  /** Drop records held longer than the TTL; returns how many. */
  expire(now: number): number {
    let n = 0
    for (const [logId, log] of [...this.#logs]) {
      for (const [seq, h] of [...log]) {
        if (now - h.at >= this.#ttl) {
          this.#remove(logId, seq)
          n++
        }
      }
    }
    return n
  }

  /** For each log with held records: the missing range below the lowest one, given each log's head seq. */
  gaps(headSeq: (logId: string) => number): Gap[] {
    const out: Gap[] = []
    for (const [logId, log] of this.#logs) {
      if (log.size === 0) continue
      const from = headSeq(logId) + 1
      const to = Math.min(...log.keys()) - 1
      if (to >= from) out.push({ logId, from, to })
    }
    return out
  }
}
