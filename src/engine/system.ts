import type { ThreadsError } from '../core/errors.js'
import type { ThreadEvent } from './threadEvent.js'

/**
 * A thread's system projection (DESIGN.md section 4, "A system projection folds first"; autobase's
 * system view): state the engine folds from the thread's own events *before* the app's slices, in
 * the same total order, checkpointed and snapshotted with them. It decides, identically on every
 * peer, which events reach the app (`admit`) and which earlier events are deleted. Access control
 * (`acl/`) is one; a Raw thread has none.
 */
export interface SystemProjection<Sys> {
  readonly initial: Sys
  /** Names the rules, so a snapshot of other rules is folded again. */
  readonly version: string
  /** True for events that change the system state: the app never sees them. */
  isSystem(event: ThreadEvent): boolean
  /** Fold a system event (ignoring it when its author may not make it at its position). */
  fold(sys: Sys, event: ThreadEvent): Sys
  /**
   * Whether an app event reaches the app's reducers, given the system state at its position;
   * when not, the reason, reported once per event.
   */
  admit(sys: Sys, event: ThreadEvent): ThreadsError | undefined
  /**
   * The events the system state says are deleted, by identity, with the log and seq the delete
   * named (a hint: it tells the engine whether the event may lie in a compacted base). The app
   * fold skips them wherever they sort. Must return the same object while nothing changed.
   */
  deleted(sys: Sys): Readonly<Record<string, { readonly logId?: string; readonly seq?: number }>>
  /**
   * Records the system state removes wherever they sort (strong remove): per log, ranges of seqs.
   * The engine skips them in the app fold even where they sort before the event that cut them.
   * Must return the same object while nothing changed (the engine compares by reference).
   */
  cuts?(sys: Sys): Readonly<Record<string, readonly CutRange[]>>
  /**
   * The cuts that remove system events too, wherever they sort. They must follow from events no
   * cut can remove (the owner's), so one fold decides them; other cuts remove app events only.
   */
  systemCuts?(sys: Sys): Readonly<Record<string, readonly CutRange[]>>
  /** Whether a peer may be served the thread's records (at least `follow`), given the system state. */
  entitled?(sys: Sys, peerId: string): boolean
  /**
   * Whether the thread's records may go out on its gossip topic (default true). The topic reaches
   * every holder of the service key, whether the system state entitles it or not.
   */
  gossips?(sys: Sys): boolean
  /**
   * Whether the system state names the thread's members (an ACL was folded): such a peer serves
   * by the ACL and may accept a handshake proof under an older service key.
   */
  knowsMembers?(sys: Sys): boolean
  /** Read key rotations so far: each epoch and the identity of the event that carries its key. */
  rotations?(sys: Sys): ReadonlyArray<{ readonly epoch: number; readonly event: string }>
  /**
   * Service key rotations the fold admitted (the owner's, each to the next epoch): each epoch, the
   * identity of the event that carries it, and the new key's ID when the event names it.
   */
  serviceRotations?(sys: Sys): ReadonlyArray<{ readonly epoch: number; readonly event: string; readonly id?: Uint8Array; readonly log?: string; readonly seq?: number }>
  /** The new read key a rotation event seals to `peerId` (a sealed box), if it names that peer. */
  sealedKeyFor?(event: ThreadEvent, epoch: number, peerId: string): Uint8Array | undefined
}

/** Seqs `from` to `to` (inclusive) of one log. */
export interface CutRange {
  readonly from: number
  readonly to: number
}

/** True when `seq` of `logId` falls in one of `cuts`' ranges. */
export function inCuts(cuts: Readonly<Record<string, readonly CutRange[]>>, logId: string, seq: number): boolean {
  const ranges = Object.hasOwn(cuts, logId) ? cuts[logId] : undefined
  return ranges !== undefined && ranges.some((r) => seq >= r.from && seq <= r.to)
}

/** The state the engine folds: the system state, and the app's. */
export interface Composite<S, Sys = unknown> {
  readonly system: Sys
  readonly app: S
}
