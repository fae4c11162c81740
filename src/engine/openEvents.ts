import { decodeCommand, type Command } from '../core/command.js'
import { ThreadsError, type ErrorContext } from '../core/errors.js'
import { boxOf, type Block } from '../core/block.js'
import { openEventBoxes, type EventHeader } from '../core/record.js'
import type { CID } from 'multiformats/cid'
import * as dagCbor from '@ipld/dag-cbor'
import { prefetchDecrypt, type DecryptJob } from '../core/crypto/index.js'
import { KEY_BYTES } from '../core/keys.js'
import { effectiveClock, type EventMeta, type ThreadEvent } from './threadEvent.js'
import type { Opened } from './transactions.js'

/** What opening a record needs of it: its place, identity and encrypted boxes. */
export interface Sealed {
  readonly logId: string
  readonly seq: number
  readonly id: CID
  /** The read key epoch the header is sealed under. */
  readonly epoch: number
  readonly headerBox: Uint8Array
  readonly bodyBox: Uint8Array
}

/** The boxes of a record's header and body blocks, as {@link openRecords} takes them. */
export function sealedOf(r: { logId: string; seq: number; id: CID; epoch: number; blocks: { header: Block; body: Block } }): Sealed {
  const ctx: ErrorContext = { logId: r.logId, seq: r.seq }
  return { logId: r.logId, seq: r.seq, id: r.id, epoch: r.epoch, headerBox: boxOf(r.blocks.header.bytes, ctx), bodyBox: boxOf(r.blocks.body.bytes, ctx) }
}

/** An event from its parts (the one place `EventMeta` is made). */
export function makeEvent(command: Command, meta: EventMeta): ThreadEvent {
  return { command, meta }
}

/**
 * Open consecutive records of one log with the read key: decrypt header and body, decode the
 * command, and give each its effective clock (the clock rule of {@link effectiveClock}, from the
 * log's previous effective clock). A record that does not open is kept as unreadable (`event`
 * undefined, the error reported through `onError`): the log stays whole, and every peer skips it
 * alike. This is the one place records become events, for load and for ingest.
 *
 * A record sealed under a read key epoch this peer does not hold (yet: a rotation's key comes
 * with an event it has not folded) stops the log there: `blockedAt` names its seq, and the
 * records from it on wait for the key, in order.
 */
export function openRecords(
  keyFor: (epoch: number) => Uint8Array | undefined,
  threadId: string,
  records: readonly Sealed[],
  prevClock: number,
  local: boolean,
  onError: (e: ThreadsError) => void
): { opened: Opened[]; clock: number; blockedAt?: number } {
  const opened: Opened[] = []
  let clock = prevClock
  for (const r of records) {
    const readKey = keyFor(r.epoch)
    if (readKey === undefined) return { opened, clock, blockedAt: r.seq }
    const ctx = { threadId, logId: r.logId, seq: r.seq, cid: r.id.toString() }
    let header: EventHeader
    let command: Command
    let bytes: number
    try {
      const o = openEventBoxes(readKey, r.headerBox, r.bodyBox, ctx)
      header = o.header
      bytes = o.body.length
      command = decodeCommand(o.body)
    } catch (e) {
      if (!(e instanceof ThreadsError)) throw e
      onError(e)
      // Unreadable, so its claimed clock is unknown: the log's clock moves by one, as the rule
      // would for any claim below it.
      clock = effectiveClock(0, clock)
      opened.push({ seq: r.seq, id: r.id, clock, event: undefined, txn: undefined, bytes: 0 })
      continue
    }
    clock = effectiveClock(header.clock, clock)
    const meta: EventMeta = { threadId, author: r.logId, logId: r.logId, seq: r.seq, clock, time: header.time, id: r.id.toString(), local }
    opened.push({ seq: r.seq, id: r.id, clock, event: makeEvent(command, meta), txn: header.txn, bytes })
  }
  return { opened, clock }
}

/**
 * In a browser, have WebCrypto open the headers and then the bodies of `records` ahead of
 * {@link openRecords} (webCryptoPrefetch.ts: its synchronous decryptions then find them done).
 * Two rounds: a body's key is in its header. Never rejects; call the returned release after
 * {@link openRecords}, in a `finally`.
 */
export async function prefetchOpen(keyFor: (epoch: number) => Uint8Array | undefined, records: readonly Sealed[]): Promise<() => void> {
  const headerJobs: DecryptJob[] = []
  for (const r of records) {
    const key = keyFor(r.epoch)
    // openRecords stops at the first record whose key this peer lacks.
    if (key === undefined) break
    headerJobs.push({ key, box: r.headerBox })
  }
  const headers = await prefetchDecrypt(headerJobs)
  const bodyJobs: DecryptJob[] = []
  headers.plains.forEach((plain, i) => {
    if (plain === undefined) return
    try {
      const key = (dagCbor.decode(plain) as { key?: unknown } | null)?.key
      if (key instanceof Uint8Array && key.length === KEY_BYTES) bodyJobs.push({ key, box: (records[i] as Sealed).bodyBox })
    } catch {
      // Malformed: openRecords names it.
    }
  })
  const bodies = await prefetchDecrypt(bodyJobs)
  return () => {
    headers.release()
    bodies.release()
  }
}
