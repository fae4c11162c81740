import type { LogRecord } from '../core/record.js'

/** Records kept as written, at most (count). */
export const RECENT_RECORDS_MAX = 20_000
/** Records kept as written, at most (bytes of their four blocks): 32 MiB. */
export const RECENT_RECORDS_MAX_BYTES = 32 << 20

function sizeOf(r: LogRecord): number {
  const b = r.blocks
  return b.record.bytes.length + b.event.bytes.length + b.header.bytes.length + b.body.bytes.length
}

/**
 * The records an event store wrote lately, kept as written so that serving a pull right after a
 * burst needs no rebuild. Least recently used first out, bounded by count and by bytes: with
 * 1 MiB commands a count bound alone would hold gigabytes (DESIGN.md section 6: every cache is
 * bounded in bytes as well as in count).
 */
export class RecentRecords {
  readonly #map = new Map<string, LogRecord>()
  readonly #maxCount: number
  readonly #maxBytes: number
  #bytes = 0

  constructor(maxCount = RECENT_RECORDS_MAX, maxBytes = RECENT_RECORDS_MAX_BYTES) {
    this.#maxCount = maxCount
    this.#maxBytes = maxBytes
  }

  /** Bytes held now. */
  get bytes(): number {
    return this.#bytes
  }

  get size(): number {
    return this.#map.size
  }

  get(key: string): LogRecord | undefined {
    const v = this.#map.get(key)
    if (v !== undefined) {
      this.#map.delete(key)
      this.#map.set(key, v)
    }
    return v
  }

  set(key: string, record: LogRecord): void {
    this.delete(key)
    const size = sizeOf(record)
    if (size > this.#maxBytes) return
    this.#map.set(key, record)
    this.#bytes += size
    while (this.#map.size > this.#maxCount || this.#bytes > this.#maxBytes) {
      const oldest = this.#map.keys().next().value as string
      this.delete(oldest)
    }
  }

  delete(key: string): void {
    const old = this.#map.get(key)
    if (old === undefined) return
    this.#map.delete(key)
    this.#bytes -= sizeOf(old)
  }

  /** Forget every entry whose key starts with `prefix` (a deleted or repaired log). */
  deletePrefix(prefix: string): void {
    for (const key of [...this.#map.keys()]) if (key.startsWith(prefix)) this.delete(key)
  }

  clear(): void {
    this.#map.clear()
    this.#bytes = 0
  }
}
