/**
 * Pushing this peer's new records (DESIGN.md section 6): everything recorded in one turn of the
 * event loop leaves as one message per log and peer (split by count and by bytes, never over
 * `MAX_MESSAGE_BYTES`), to every peer that proved the thread and authorised this one, and on the
 * thread's gossip topic when it reaches peers this one has no session with (readers and followers
 * it does not know).
 *
 * @packageDocumentation
 */
import { recordBlocks, type LogRecord } from '../core/record.js'
import type { Busy } from './busy.js'
import { chunkRecords } from './protocol/paging.js'
import type { SyncMessage } from './protocol/messages.js'
import { nextMacrotask } from '../platform/scheduler.js'
import type { SyncTarget } from './syncTarget.js'

/** What the outbox needs of the sync service. */
export interface PushHost {
  /** Peers to push a thread's records to. */
  pushPeers(threadId: string): readonly string[]
  /** Send a message to a peer (encoding failures are reported there, never dropped silently). */
  send(peerId: string, m: SyncMessage): void
  /** Publish a message on the thread's gossip topic, if it reaches anyone the pushes do not. */
  gossip(target: SyncTarget, m: SyncMessage, direct: readonly string[]): void
  readonly busy: Busy
}

/**
 * @example
 * ```ts
 * const outbox = new Outbox(host)
 * engine.events.on('recorded', ({ records }) => outbox.queue(engine, records))
 * ```
 */
export class Outbox {
  readonly #host: PushHost
  readonly #queued = new Map<string, { target: SyncTarget; byLog: Map<string, LogRecord[]> }>()
  #release: (() => void) | undefined

  constructor(host: PushHost) {
    this.#host = host
  }

  /** Queue records of this peer for the next flush (next macrotask: a burst leaves as one message). */
  queue(target: SyncTarget, records: readonly LogRecord[]): void {
    let entry = this.#queued.get(target.id)
    if (entry === undefined) this.#queued.set(target.id, (entry = { target, byLog: new Map() }))
    for (const r of records) {
      const list = entry.byLog.get(r.logId)
      if (list === undefined) entry.byLog.set(r.logId, [r])
      else list.push(r)
    }
    if (this.#release !== undefined) return
    this.#release = this.#host.busy.hold()
    nextMacrotask(() => {
      const release = this.#release
      this.#release = undefined
      try {
        this.flush()
      } finally {
        release?.()
      }
    })
  }

  /** Send everything queued now. */
  flush(): void {
    const queued = [...this.#queued.values()]
    this.#queued.clear()
    for (const { target, byLog } of queued) {
      const peers = this.#host.pushPeers(target.id)
      for (const [log, records] of byLog) {
        for (const run of chunkRecords(records.map(recordBlocks))) {
          const m: SyncMessage = { t: 'records', thread: target.thread.id.bytes, log, records: run, more: false, push: true }
          for (const peer of peers) this.#host.send(peer, m)
          this.#host.gossip(target, m, peers)
        }
      }
    }
  }
}
