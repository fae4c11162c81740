/**
 * Splitting records into messages by count and by bytes: no page and no push is ever over
 * {@link MAX_MESSAGE_BYTES} (issue 7 section 3), whatever the size of the commands.
 *
 * @packageDocumentation
 */
import type { RecordBlocks } from '../../core/record.js'
import { MAX_MESSAGE_BYTES, MAX_RECORDS_PER_MESSAGE, MESSAGE_OVERHEAD_BYTES, RECORD_OVERHEAD_BYTES } from '../limits.js'

/** Bytes a record takes in a `records` message (its four blocks and their CBOR heads, at most). */
export function wireSize(r: RecordBlocks): number {
  return r.record.length + r.event.length + r.header.length + r.body.length + RECORD_OVERHEAD_BYTES
}

/**
 * Split records into runs that each fit one `records` message: at most `maxRecords` records and
 * `maxBytes` bytes with the message's own fields. A record too large for any message alone (it
 * cannot be: a record's blocks are bounded far below the message limit) still gets a run of its own.
 *
 * @example
 * ```ts
 * for (const run of chunkRecords(blocks)) send({ t: 'records', thread, log, records: run, more: false, push: true })
 * ```
 */
export function chunkRecords(records: readonly RecordBlocks[], maxRecords = MAX_RECORDS_PER_MESSAGE, maxBytes = MAX_MESSAGE_BYTES): RecordBlocks[][] {
  const out: RecordBlocks[][] = []
  let run: RecordBlocks[] = []
  let size = MESSAGE_OVERHEAD_BYTES
  for (const r of records) {
    const n = wireSize(r)
    if (run.length > 0 && (run.length >= maxRecords || size + n > maxBytes)) {
      out.push(run)
      run = []
      size = MESSAGE_OVERHEAD_BYTES
    }
    run.push(r)
    size += n
  }
  if (run.length > 0) out.push(run)
  return out
}
