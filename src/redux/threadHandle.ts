import type { ThreadKey } from '../core/keys.js'
import { loadPart } from '../engine/loadPart.js'
import { recordBlocks, type LogHead, type RecordBlocks } from '../core/record.js'
import type { ThreadsError } from '../core/errors.js'
import type { IngestResult } from '../engine/engineTypes.js'
import type { ForkedLog } from '../engine/forks.js'
import type { ThreadEngine } from '../engine/threadEngine.js'
import type { Role } from '../acl/invite.js'
import type { SliceStates } from './projection.js'
import type { Binding } from './registry.js'
import type { PeerRuntime } from './runtime.js'

const ENGINE = Symbol.for('redux-threads/engine')

/**
 * A thread open on a peer, by its capabilities (REVIEW.md P9: handles expose capabilities, not
 * objects): its heads, a manual exchange of records (no network: demos, files, tests), CAR
 * backup and restore through the ingest path, snapshots and compaction. The engine itself is
 * reached only through `redux-p2p-threads/advanced`'s `engineOf`.
 *
 * @example
 * ```ts
 * const thread = peer.thread(threadId)!
 * for await (const chunk of thread.exportCar()) out.write(chunk)
 * ```
 */
export class ThreadHandle {
  readonly id: string
  readonly role: Role
  readonly #b: Binding
  readonly #runtime: PeerRuntime

  constructor(binding: Binding, runtime: PeerRuntime) {
    this.#b = binding
    this.#runtime = runtime
    this.id = binding.threadId
    this.role = binding.role
    Object.defineProperty(this, ENGINE, { value: binding.engine, enumerable: false })
  }

  /** The thread's keys (service ‖ read). Share them only through invites. */
  get key(): ThreadKey {
    return this.#b.engine.thread.key
  }

  /** Log heads, by log ID (identity and seq). */
  heads(): Map<string, LogHead> {
    return this.#b.engine.heads()
  }

  /** Logs found forked by their writers (frozen before the disputed seq everywhere). */
  forks(): ForkedLog[] {
    return this.#b.engine.forks()
  }

  /** Authenticated peers connected for this thread. */
  peers(): string[] {
    return this.#runtime.started?.sync?.peersOf(this.id) ?? []
  }

  /** Everything this peer has beyond `theirs` (seq per log), as record blocks per log. */
  async recordsSince(theirs: ReadonlyMap<string, number>): Promise<Array<{ logId: string; blocks: RecordBlocks[] }>> {
    const out: Array<{ logId: string; blocks: RecordBlocks[] }> = []
    for (const [logId, head] of this.#b.engine.heads()) {
      const from = (theirs.get(logId) ?? 0) + 1
      if (from > head.seq) continue
      const records = await this.#b.engine.store.records(this.#b.engine.thread.id, logId, { from })
      out.push({ logId, blocks: records.map(recordBlocks) })
    }
    return out
  }

  /** Take records of one log from another peer (any order, duplicates allowed); refusals are in the result. */
  ingest(logId: string, blocks: readonly RecordBlocks[]): Promise<IngestResult<SliceStates>> {
    return this.#b.engine.ingest(logId, blocks)
  }

  /** The thread as a CAR file, streamed (every log, every record's four blocks). */
  async *exportCar(): AsyncGenerator<Uint8Array> {
    // The CAR codec loads when a thread is first exported or imported, not with the peer.
    const { exportThreadCar } = await loadPart('the CAR codec', () => import('../store/car.js'))
    yield* exportThreadCar(this.#b.engine.store, this.#b.engine.thread.id)
  }

  /** Import a thread CAR through the ingest path: verified, deduplicated, applied in order. */
  importCar(bytes: Uint8Array | AsyncIterable<Uint8Array>): Promise<{ logs: number; stored: number; rejected: readonly ThreadsError[] }> {
    return this.#b.engine.importCar(bytes)
  }

  /** Write a snapshot now. */
  snapshot(): Promise<void> {
    return this.#b.engine.snapshot()
  }

  /** Drop stable events from memory (records stay in storage); returns how many. */
  compact(): number {
    return this.#b.engine.compact()
  }

  /** Resolves when every event so far is durable. */
  flush(): Promise<void> {
    return this.#b.engine.flush()
  }
}

/** The engine behind a thread handle (tool authors; `redux-p2p-threads/advanced`). */
export function engineOf(handle: ThreadHandle): ThreadEngine<SliceStates> {
  return (handle as unknown as Record<symbol, ThreadEngine<SliceStates>>)[ENGINE] as ThreadEngine<SliceStates>
}
