/**
 * The narrow view of a thread that the sync protocol needs, and the other things it is given.
 * `ThreadEngine` satisfies {@link SyncTarget} structurally; the net layer never imports the engine's
 * class, so it can be tested against any implementation and the engine can change behind it.
 *
 * @packageDocumentation
 */
import type { CID } from 'multiformats/cid'
import type { ThreadsError } from '../core/errors.js'
import type { ForkProof } from '../core/forkProof.js'
import type { LogHead, LogRecord, RecordBlocks } from '../core/record.js'
import type { ThreadId } from '../core/threadId.js'

/** A log found forked: records from `seq` on are ignored by every peer. */
export interface TargetFork {
  readonly logId: string
  readonly seq: number
  readonly proof: ForkProof
}

/** A missing range of a log, below records held beyond it. */
export interface TargetGap {
  readonly logId: string
  readonly from: number
  readonly to: number
}

/** What an ingest did, as far as the network cares. */
export interface TargetIngestResult {
  /**
   * Records refused, each with a typed error. `EquivocationError` is the writer's doing, never the
   * sender's; `TooLargeError` means held records are at their bound.
   */
  readonly rejected: readonly ThreadsError[]
  /** Records verified and stored. */
  readonly stored: number
  /** Records held beyond gaps, after this ingest. */
  readonly held: number
  /** Logs this ingest found forked. */
  readonly forks: readonly TargetFork[]
}

/** The events of a thread the network listens to. */
export interface TargetEvents {
  /** This peer wrote records to its own log: push them. */
  on(name: 'recorded', listener: (e: { readonly records: readonly LogRecord[] }) => void): () => void
  /** A log was newly found forked: its proof must reach every peer of the thread. */
  on(name: 'fork', listener: (e: TargetFork) => void): () => void
  /** A new service key epoch is held: prove it to connected peers again. */
  on(name: 'serviceKey', listener: (e: { readonly epoch: number }) => void): () => void
}

/**
 * One thread as the sync protocol sees it (DESIGN.md section 6).
 *
 * @example
 * ```ts
 * const target: SyncTarget = engine // a ThreadEngine is one
 * sync.addThread(target)
 * ```
 */
export interface SyncTarget {
  /** The thread ID string. */
  readonly id: string
  /** The thread: binary ID and service key. */
  readonly thread: { readonly id: ThreadId; readonly key: { readonly service: Uint8Array } }
  /** This peer's log in the thread; undefined for readers and followers. */
  readonly logKey: { readonly id: string } | undefined
  /**
   * While set, this peer's own log is pulled from peers like any other: up to that seq (its storage
   * was damaged), or, when it is `Infinity`, as far as any peer has it (the identity may have
   * written before, from storage it no longer has).
   */
  readonly ownLogRecovery: number | undefined
  /**
   * An open-ended recovery (`ownLogRecovery` is `Infinity`) is over: a peer was asked and what it
   * had of this peer's log was taken. The network calls it once a peer that proved the thread has
   * given all it had (or had nothing); commands are taken again.
   */
  endOwnLogRecovery?(): void
  readonly events: TargetEvents
  /**
   * Whether the thread's ACL entitles a peer to be served (at least `follow`). Absent, or true
   * for every peer, in a thread without access control: proving the key is enough there.
   */
  entitled?(peerId: string): boolean
  /**
   * The service keys of the handshake (service key rotation, DESIGN.md section 6): `send` is the
   * key this peer proves (its newest), `accept` those a peer's proof may use, `known` every key
   * held (a proof under a known key not accepted is refused by name). Absent: the thread's key,
   * both ways.
   */
  authKeys?(): { readonly send: Uint8Array; readonly accept: readonly Uint8Array[]; readonly known?: readonly Uint8Array[] }
  /**
   * Whether the thread's records may go out on its gossip topic (default true). False for an
   * access-controlled thread: the topic reaches every holder of the service key, entitled or not.
   */
  gossips?(): boolean
  /** Every log's head, by identity. */
  heads(): ReadonlyMap<string, LogHead>
  /** The identity of the record at `seq` of a log, if this peer has it. */
  idAt(logId: string, seq: number): Promise<CID | undefined>
  /** Take records of one log from a peer (any order, duplicates allowed); never throws for bad input. */
  ingest(logId: string, blocks: readonly RecordBlocks[]): Promise<TargetIngestResult>
  /** Ranges missing below held records. */
  gaps(): readonly TargetGap[]
  /** Every forked log of the thread, with its proof. */
  forks(): readonly TargetFork[]
  /** The first disputed seq of a forked log, or undefined. */
  forkOf(logId: string): number | undefined
  /**
   * Take a fork proof from a peer.
   *
   * @throws a `ThreadsError` (`BadSignatureError`, `MalformedRecordError`, `InvalidKeyError`) for a
   * proof that does not check out: the sender's fault.
   */
  addForkProof(proof: ForkProof): Promise<unknown>
  /** Records of a log to serve, checked (never a damaged one), oldest first. */
  records(logId: string, from: number, limit: number): Promise<readonly LogRecord[]>
}

/** The threads a sync service serves. */
export interface SyncHost {
  target(threadId: string): SyncTarget | undefined
  targets(): readonly SyncTarget[]
}

/** The address book the sync service learns addresses into, by thread ID (`logstoreAddressBook` adapts the logstore's). */
export interface SyncAddressBook {
  /** Unexpired addresses of a peer in a thread. */
  addrs(threadId: string, peerId: string): Promise<ReadonlyArray<{ readonly addr: string }>>
  /**
   * Add addresses for `ttl` ms, keeping at most `maxAddrs` per peer and `maxPeers` peers per thread.
   *
   * @returns false when the peer is new and the thread already has `maxPeers` peers (nothing stored).
   */
  addAddrs(threadId: string, peerId: string, addrs: readonly string[], ttl: number, limits?: { maxAddrs?: number; maxPeers?: number }): Promise<boolean>
  /** Forget a peer's addresses in a thread. */
  clearAddrs(threadId: string, peerId: string): Promise<void>
  /** Peers with addresses in a thread. */
  peers(threadId: string): Promise<readonly string[]>
}

/** What the sync service reports. */
export interface SyncEvents {
  /** A peer sent something refused, or this peer failed (`peerId` empty). `error.threadId` is set when one thread is concerned. */
  error: { readonly peerId: string; readonly error: ThreadsError }
  /** The peers that proved a thread changed. */
  peers: { readonly threadId: string; readonly peers: readonly string[] }
  /** A peer was hung up on for misbehaving. */
  banned: { readonly peerId: string; readonly reason: string }
  /** A peer's heads of a thread arrived: how far behind this peer is may have changed. */
  heads: { readonly threadId: string; readonly peerId: string }
}

/** A component logger (debug output and reports of failures that are not a peer's fault). */
export interface SyncLogger {
  debug(message: string, ...args: unknown[]): void
  error(message: string, ...args: unknown[]): void
}

/** A logger that says nothing (the default). */
export const silentLogger: SyncLogger = { debug: () => undefined, error: () => undefined }
