import { SnapshotError, ThreadsError } from '../core/errors.js'
import type { EventStore } from '../store/eventStore.js'
import type { ThreadInfo } from '../store/logstore/logstore.js'
import { writeSnapshot, type Snapshot } from './snapshot.js'
import { compareOrder, type OrderKey, type ThreadEvent } from './threadEvent.js'

/** What a snapshot holds, as the engine captures it. */
export type SnapshotContent<S> = Omit<Snapshot<S>, 'version'>

export interface SnapshotterOptions<S> {
  readonly store: EventStore
  readonly thread: ThreadInfo
  /** Write a snapshot every this many applied events (0: never). */
  readonly every: number
  readonly version?: string
  readonly capture: () => SnapshotContent<S>
  readonly report: (e: ThreadsError) => void
  readonly afterWrite: () => void
}

/**
 * When and how a thread's snapshots are written (DESIGN.md section 5): every N applied events,
 * only after the events in it are durable, encrypted with the read key, never in the middle of
 * a transaction. A snapshot is a cache: one that cannot be written is reported once by name
 * ({@link SnapshotError} names the path of a value dag-cbor cannot hold), never thrown at nobody.
 */
export class Snapshotter<S> {
  readonly #o: SnapshotterOptions<S>
  #since = 0
  #writing: Promise<void> | undefined
  #lastKey: OrderKey | undefined
  #lastError: string | undefined

  constructor(options: SnapshotterOptions<S>) {
    this.#o = options
  }

  /** The stored snapshot no longer describes a prefix of the order: write a fresh one soon. */
  stale(): void {
    this.#since = Number.POSITIVE_INFINITY
  }

  /** The engine loaded from the snapshot at `lastKey` (or from none). */
  loaded(lastKey: OrderKey | undefined, stale: boolean): void {
    this.#lastKey = lastKey
    if (stale) this.stale()
  }

  /** A replay added events: if one sorts at or before the stored snapshot, that snapshot is stale. */
  replayedFrom(added: readonly ThreadEvent[]): void {
    const key = this.#lastKey
    if (key !== undefined && added.some((e) => compareOrder(e.meta, key) <= 0)) this.stale()
  }

  /** `count` events were applied; write a snapshot if it is time (never inside a transaction). */
  applied(count: number, inTransaction: boolean): void {
    if (this.#o.every <= 0 || this.#o.thread.key.read === undefined) return
    this.#since += count
    if (this.#since >= this.#o.every && this.#writing === undefined && !inTransaction) {
      this.#writing = this.write()
        .catch((e: unknown) => this.#failed(e))
        .finally(() => {
          this.#writing = undefined
        })
    }
  }

  #failed(e: unknown): void {
    const error = e instanceof ThreadsError ? e : new SnapshotError(`the snapshot could not be written: ${String(e)}`, { threadId: this.#o.thread.id.toString() }, { cause: e })
    // Once per cause: a state that cannot be encoded would otherwise report at every interval.
    if (this.#lastError === error.message) return
    this.#lastError = error.message
    this.#o.report(error)
  }

  /** Write a snapshot of now, after every event in it is durable. */
  async write(): Promise<void> {
    const readKey = this.#o.thread.key.read
    if (readKey === undefined) return
    const snap = this.#o.capture()
    this.#since = 0
    await this.#o.store.flush()
    // Only what storage holds: if a write failed meanwhile, the captured state holds events that
    // are gone, and a restart from it would compute a state no peer computes.
    const { logstore } = this.#o.store
    const held = Object.entries(snap.heads).every(([log, seq]) => {
      const head = logstore.head(this.#o.thread.id, log)
      return head !== undefined && head.seq >= seq
    })
    if (!held || this.#o.store.failed !== undefined) return
    await writeSnapshot(this.#o.store.logstore.storage, this.#o.thread.n, readKey, snap, this.#o.version)
    this.#lastKey = snap.lastKey
    this.#o.afterWrite()
  }

  /** Resolves when no automatic snapshot is being written. */
  async idle(): Promise<void> {
    await this.#writing
  }
}
