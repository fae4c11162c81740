import type { CID } from 'multiformats/cid'
import { CorruptStoreError, ThreadsError } from '../core/errors.js'
import { signatureHolds } from '../core/record.js'
import { checkStored } from '../core/storedRecord.js'
import type { EventStore } from '../store/eventStore.js'
import type { ThreadInfo } from '../store/logstore/logstore.js'

/** Orphans looked at past a head when a thread opens (one crashed batch is far fewer). */
export const MAX_ORPHANS = 10_000

/** What {@link adoptOrphans} found in one log. */
export interface OrphanReport {
  readonly logId: string
  /** Records adopted (the head moved up by this many). */
  readonly adopted: number
  /** Why the rest could not be adopted, when some could not. */
  readonly error?: ThreadsError
  /** The highest seq stored beyond the head, adopted or not. */
  readonly highest: number
}

/**
 * Records stored beyond a log's head: a crash between a batch's records and its head (backends
 * without transactions), or a head lowered outside this library. Those that continue the head,
 * chain by identity and are signed (the newest signature authenticates the chain below it) are
 * adopted: the head moves up to them. None is overwritten here; what cannot be adopted is
 * reported, with the highest seq stored, so that the engine can refuse to write over it.
 */
export async function adoptOrphans(store: EventStore, thread: ThreadInfo): Promise<OrphanReport[]> {
  const reports: OrphanReport[] = []
  for (const log of store.logstore.logs(thread.id)) {
    const orphans = await store.orphans(thread.id, log.id, MAX_ORPHANS)
    if (orphans.length === 0) continue
    let prev = store.logstore.head(thread.id, log.id)?.id
    const good: Array<{ id: CID; seq: number; sig: Uint8Array; eventCid: CID; prev: CID | undefined }> = []
    let error: ThreadsError | undefined
    for (const o of orphans) {
      if ('error' in o) {
        error = o.error
        break
      }
      try {
        const { id, eventCid } = checkStored(o.stored, { thread: thread.id, logId: log.id, seq: o.seq, prev })
        good.push({ id, seq: o.seq, sig: o.stored.sig, eventCid, prev })
        prev = id
      } catch (e) {
        error = e instanceof ThreadsError ? e : new CorruptStoreError(String(e))
        break
      }
    }
    while (good.length > 0) {
      const last = good[good.length - 1] as (typeof good)[number]
      if (signatureHolds(thread.id, { logId: log.id, seq: last.seq, eventCid: last.eventCid, prev: last.prev, sig: last.sig })) break
      good.pop()
      error ??= new CorruptStoreError('a record stored beyond the head is not signed by its log key', { threadId: thread.id.toString(), logId: log.id, seq: last.seq })
    }
    const top = good.at(-1)
    if (top !== undefined) await store.setHead(thread.id, log.id, { id: top.id, seq: top.seq })
    reports.push({ logId: log.id, adopted: good.length, highest: (orphans.at(-1) as { seq: number }).seq, ...(error === undefined ? {} : { error }) })
  }
  return reports
}
