import type { ThreadsError } from '../core/errors.js'
import type { LogRecord } from '../core/record.js'
import type { ThreadId } from '../core/threadId.js'
import type { EventStore } from '../store/eventStore.js'
import type { CheckpointPolicy } from './checkpointPolicy.js'
import type { ForkedLog } from './forks.js'
import type { Progress } from './load.js'
import type { ThreadEvent } from './threadEvent.js'
import type { Fold } from './timeline.js'
import type { SystemProjection } from './system.js'

export type { Progress } from './load.js'

/** A thread's projection: the state every peer folds from the thread's events. */
export interface Projection<S> {
  readonly initial: S
  readonly fold: Fold<S>
}

export interface ThreadEngineOptions<S> {
  readonly store: EventStore
  readonly threadId: ThreadId | string
  readonly projection: Projection<S>
  /**
   * The thread's system projection (access control), folded first in the same order: it admits
   * or ignores each app event and deletes earlier ones. Default: none (every event is admitted).
   */
  readonly system?: SystemProjection<unknown>
  /**
   * This peer's identity, to open read keys a rotation seals to it (a reader has no log key in
   * the thread). Default: the thread's own log key.
   */
  readonly identity?: { readonly id: string; readonly seed: Uint8Array }
  readonly checkpoints?: CheckpointPolicy
  /** Write a snapshot every this many applied events (default 1,000; 0 turns snapshots off). */
  readonly snapshotEvery?: number
  /** Compact the timeline after every snapshot (default false): memory stays bounded by the unstable suffix. */
  readonly compactOnSnapshot?: boolean
  /**
   * The version of the projection (its reducers and state shape). A snapshot written by another
   * version is not used: the state is folded again from the events, so a restart never yields a
   * state that a fresh peer running this code would not compute.
   */
  readonly version?: string
  /** Out-of-order records held per log while a gap is open (default 4,096). */
  readonly maxHeldPerLog?: number
  /** Bytes of out-of-order records held for the whole thread (default 16 MiB). */
  readonly maxHeldBytes?: number
  /**
   * After a replay, keep what did not change as the objects it was (structural sharing): given
   * the state before and the state after, return an equal state. Default: none.
   */
  readonly share?: (prev: S, next: S) => S
  readonly now?: () => number
  readonly onProgress?: (p: Progress) => void
}

/** What a local command produced. */
export interface CommandResult<S> {
  readonly event: ThreadEvent
  readonly record: LogRecord
  readonly state: S
  /** Resolves when the event is durable (rejects if storage failed). */
  readonly durable: Promise<void>
}

/** What an ingest of peer records did. */
export interface IngestResult<S> {
  /** Events newly applied, in their total order. */
  readonly added: readonly ThreadEvent[]
  readonly state: S
  /** True when a late event rolled the state back and replayed the suffix. */
  readonly replayed: boolean
  /** Reducer calls spent. */
  readonly folds: number
  /**
   * Records refused, each with the typed error that names the problem. `EquivocationError` is
   * the writer's doing (a fork found), never the sender's.
   */
  readonly rejected: readonly ThreadsError[]
  /** Records waiting for a gap in their log to close. */
  readonly held: number
  /** Records verified and stored by this ingest (a follower stores without applying). */
  readonly stored: number
  /** Logs found forked by this ingest (their proofs go to every peer of the thread). */
  readonly forks: readonly ForkedLog[]
  readonly durable: Promise<void>
}

/** What the engine tells its observers. */
export interface EngineEvents<S> {
  /** Events applied, in order, with the state after them. */
  applied: { events: readonly ThreadEvent[]; state: S; replayed: boolean }
  /** A record refused (bad signature, broken chain, equivocation, damaged storage, …). */
  rejected: ThreadsError
  progress: Progress
  /** Durable writes changed (pending count). */
  durability: { pending: number }
  /** This peer wrote records to its own log (the network pushes them). */
  recorded: { records: readonly LogRecord[] }
  /** Records held beyond gaps changed. */
  held: { count: number; bytes: number }
  /** A log was found forked: its proof should reach every peer of the thread. */
  fork: ForkedLog
  /** A new service key epoch is held (a rotation): the handshake proves it from now on. */
  serviceKey: { epoch: number }
}
