import type { CID } from 'multiformats/cid'
import { CorruptStoreError, ThreadsError } from '../core/errors.js'
import type { EventStore } from '../store/eventStore.js'
import type { ThreadInfo } from '../store/logstore/logstore.js'
import type { Forks } from './forks.js'
import { openRecords } from './openEvents.js'
import { deleteSnapshot, readSnapshot, type Snapshot } from './snapshot.js'
import type { ThreadEvent } from './threadEvent.js'
import { TxnGate, type Settled } from './transactions.js'

/** Progress of long work (loading, replay, import, sync). */
export interface Progress {
  readonly phase: 'load' | 'replay' | 'import' | 'sync'
  readonly done: number
  readonly total: number
}

/** What {@link readThread} needs. */
export interface LoadInput {
  readonly store: EventStore
  readonly thread: ThreadInfo
  readonly forks: Forks
  readonly ownLogId: string | undefined
  /** The projection version: a snapshot of another one is not used. */
  readonly version: string | undefined
  readonly useSnapshot: boolean
  /** Damage and unreadable records found on the way. */
  readonly report: (e: ThreadsError) => void
  readonly progress: (p: Progress) => void
}

/** A thread as storage holds it: what the engine swaps in whole. */
export interface Loaded<S> {
  /** The snapshot folded from, if one was used. */
  readonly snap: Snapshot<S> | undefined
  /** True when a stored snapshot exists but could not be used: write a new one soon. */
  readonly snapshotStale: boolean
  /** Events after the snapshot to insert, applied transactions whole, in log order per log. */
  readonly events: ThreadEvent[]
  /** Per log, the effective clock of its last record read (the next record's clock starts there). */
  readonly logClocks: Map<string, number>
  /** Per log, the last record settled (applied, or skipped for good). */
  readonly settled: Map<string, Settled>
  /** Transactions still open at the end of each log. */
  readonly gate: TxnGate
  /** Logs with a damaged record: repair from there. */
  readonly damaged: Array<{ logId: string; seq: number; error: ThreadsError }>
  readonly maxClock: number
  /** Logs stopped at a record whose read key epoch this peer does not hold yet: the seq. */
  readonly awaiting: Map<string, number>
}

/**
 * Read a thread from storage: the newest usable snapshot, then every record after it, checked
 * against its stored identity, opened, and passed through the transaction gate. Reads only;
 * the engine swaps the result in at once, so commands made meanwhile never see half a rebuild.
 */
export async function readThread<S>(input: LoadInput): Promise<Loaded<S>> {
  const { store, thread, forks } = input
  const readKey = thread.key.read
  let snap: Snapshot<S> | undefined
  let snapshotStale = false
  if (input.useSnapshot && readKey !== undefined) {
    try {
      snap = await readSnapshot<S>(store.logstore.storage, thread.n, readKey)
    } catch (e) {
      // A damaged snapshot is only a cache: fold from the events, and write a new one.
      input.report(e instanceof ThreadsError ? e : new CorruptStoreError(String(e)))
      await deleteSnapshot(store.logstore.storage, thread.n)
      snap = undefined
      snapshotStale = true
    }
    // Another version of the projection (reducers changed), records a fork proof now disputes,
    // or records storage does not hold (it lost them after the snapshot was taken): not what
    // this code computes from the events.
    if (snap !== undefined && (snap.version !== input.version || forks.all().some((f) => (snap?.heads[f.logId] ?? 0) >= f.seq) || !(await holds(store, thread, snap)))) {
      snap = undefined
      snapshotStale = true
    }
  }
  const logClocks = new Map<string, number>()
  const settled = new Map<string, Settled>()
  let maxClock = 0
  if (snap !== undefined) {
    for (const [log, c] of Object.entries(snap.clocks)) logClocks.set(log, c)
    for (const [log, seq] of Object.entries(snap.heads)) settled.set(log, { seq, id: snap.ids[log] as CID, clock: snap.clocks[log] ?? -1 })
    maxClock = snap.lastKey?.clock ?? 0
    for (const c of logClocks.values()) maxClock = Math.max(maxClock, c)
  }
  const gate = new TxnGate()
  const awaiting = new Map<string, number>()
  const keyFor = (epoch: number): Uint8Array | undefined => (epoch === 0 ? thread.key.read : thread.readKeys.get(epoch))
  const events: ThreadEvent[] = []
  const damaged: Loaded<S>['damaged'] = []
  if (readKey === undefined) return { snap, snapshotStale, events, logClocks, settled, gate, damaged, maxClock, awaiting }
  const logs = store.logstore.logs(thread.id)
  const last = (logId: string): number => {
    const head = store.logstore.head(thread.id, logId)?.seq ?? 0
    const fork = forks.seqOf(logId)
    return fork === undefined ? head : Math.min(head, fork - 1)
  }
  let total = 0
  for (const log of logs) total += Math.max(0, last(log.id) - (settled.get(log.id)?.seq ?? 0))
  let done = 0
  const tid = thread.id.toString()
  for (const log of logs) {
    let clock = logClocks.get(log.id) ?? -1
    const after = settled.get(log.id)
    const batch: Parameters<typeof openRecords>[2][number][] = []
    let blockedAt: number | undefined
    const flush = (): void => {
      if (blockedAt !== undefined) return
      const { opened, clock: c, blockedAt: b } = openRecords(keyFor, tid, batch.splice(0), clock, log.id === input.ownLogId, input.report)
      clock = c
      blockedAt = b
      const { apply, settled: s } = gate.pass(log.id, opened)
      events.push(...apply)
      if (s !== undefined) settled.set(log.id, s)
      done += opened.length
      if (done % 1000 < opened.length) input.progress({ phase: 'load', done, total })
    }
    try {
      const range = { from: (after?.seq ?? 0) + 1, to: last(log.id), ...(after === undefined ? {} : { after: { id: after.id, seq: after.seq } }) }
      for await (const stored of store.events(thread.id, log.id, range)) {
        batch.push({ logId: log.id, seq: stored.seq, id: stored.id, epoch: stored.epoch, headerBox: stored.headerBox, bodyBox: stored.bodyBox })
        if (batch.length >= 256) flush()
        // Waiting for a rotated read key: the rest of the log waits with it.
        if (blockedAt !== undefined) break
      }
    } catch (e) {
      if (!(e instanceof ThreadsError)) throw e
      // Damaged in storage: fold the log up to the record before, and fill it again from peers.
      damaged.push({ logId: log.id, seq: e.seq ?? (settled.get(log.id)?.seq ?? 0) + 1, error: e })
    }
    flush()
    if (blockedAt !== undefined) awaiting.set(log.id, blockedAt)
    if (clock >= 0) logClocks.set(log.id, clock)
    maxClock = Math.max(maxClock, clock)
  }
  input.progress({ phase: 'load', done, total })
  return { snap, snapshotStale, events, logClocks, settled, gate, damaged, maxClock, awaiting }
}

/** True when storage holds every record a snapshot folded, by identity. */
async function holds<S>(store: EventStore, thread: ThreadInfo, snap: Snapshot<S>): Promise<boolean> {
  for (const [log, seq] of Object.entries(snap.heads)) {
    const id = await store.idAt(thread.id, log, seq).catch(() => undefined)
    const want = snap.ids[log]
    if (id === undefined || want === undefined || !id.equals(want)) return false
  }
  return true
}
