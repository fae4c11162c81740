// multiformats' base64 alone: uint8arrays' toString bundles every multibase codec (and is slower here).
import { base64 } from 'multiformats/bases/base64'
import { getCrypto } from '../core/crypto/index.js'
import type { LogRecord, RecordBlocks } from '../core/record.js'

/** Entries per generation of {@link SeenRecords}: two generations hold 32,768 records, about 6 MiB. */
export const SEEN_GENERATION = 16_384

function keyOf(digest: Uint8Array): string {
  return base64.baseEncode(digest.subarray(0, 16))
}

function restOf(event: Uint8Array, header: Uint8Array, body: Uint8Array): string {
  return base64.baseEncode(event.subarray(0, 12)) + base64.baseEncode(header.subarray(0, 12)) + base64.baseEncode(body.subarray(0, 12))
}

/**
 * The exact copies this engine stored lately: record block digest → digests of the other three
 * blocks. A byte-for-byte copy of a stored record (a duplicate push, gossip or pull) then costs
 * two hashes and no decryption. A copy sealed again (another record block, same identity) misses
 * here and is found a duplicate by identity after its record block is opened; a copy whose
 * event, header or body differs is not taken for a duplicate, and verification names what is
 * wrong. Bounded: two generations of {@link SEEN_GENERATION} entries, the older dropped whole.
 */
export class SeenRecords {
  #current = new Map<string, { rest: string; logId: string; seq: number }>()
  #previous = new Map<string, { rest: string; logId: string; seq: number }>()

  /** Remember a stored record: its digests are known already, so this hashes nothing. */
  add(record: LogRecord): void {
    if (this.#current.size >= SEEN_GENERATION) {
      this.#previous = this.#current
      this.#current = new Map()
    }
    const b = record.blocks
    this.#current.set(keyOf(b.record.cid.multihash.digest), {
      rest: restOf(b.event.cid.multihash.digest, b.header.cid.multihash.digest, b.body.cid.multihash.digest),
      logId: record.logId,
      seq: record.seq
    })
  }

  /**
   * Whether these are exactly the four blocks of a record stored lately, and where it was stored
   * (the caller checks that it is still below its log's head: a repair lowers heads). The record block's
   * digest is computed once and returned, for verification to reuse when it is new.
   */
  check(blocks: RecordBlocks | undefined): { duplicate: boolean; recordDigest?: Uint8Array; logId?: string; seq?: number } {
    if (blocks === undefined || blocks === null || typeof blocks !== 'object') return { duplicate: false }
    const { record, event, header, body } = blocks
    if (!(record instanceof Uint8Array && event instanceof Uint8Array && header instanceof Uint8Array && body instanceof Uint8Array)) return { duplicate: false }
    const c = getCrypto()
    const recordDigest = c.sha256(record)
    const key = keyOf(recordDigest)
    const entry = this.#current.get(key) ?? this.#previous.get(key)
    if (entry === undefined) return { duplicate: false, recordDigest }
    const same = entry.rest === restOf(c.sha256(event), c.sha256(header), c.sha256(body))
    return same ? { duplicate: true, recordDigest, logId: entry.logId, seq: entry.seq } : { duplicate: false, recordDigest }
  }
}
