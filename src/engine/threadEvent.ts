import type { Command } from '../core/command.js'

/**
 * What reducers learn about the event behind an action, in `action.meta.event`.
 * Everything here comes from the signed, stored event, so it is the same on every peer.
 */
export interface EventMeta {
  /** The thread (base32 thread ID). */
  readonly threadId: string
  /** The writer's identity: the log ID (a peer ID) of the log the event is in. */
  readonly author: string
  /** The log ID (equal to `author`: one log per identity and thread). */
  readonly logId: string
  /** Position in the log, from 1. */
  readonly seq: number
  /** Logical clock that orders the event in the thread. */
  readonly clock: number
  /** The author's wall clock at creation (ms since the epoch). Informational. */
  readonly time: number
  /**
   * The record's identity (the CID of its signed statement, as a string): the same on every peer,
   * however the record travelled or was sealed.
   */
  readonly id: string
  /** True on the peer that created the event. */
  readonly local: boolean
}

/** An event in a thread's timeline: the command and where it sits in the total order. */
export interface ThreadEvent {
  readonly command: Command
  readonly meta: EventMeta
}

/** The order key of an event (DESIGN.md section 4): clock, then log ID, then seq. */
export interface OrderKey {
  readonly clock: number
  readonly logId: string
  readonly seq: number
}

/** Total order of events: by clock, then log ID, then seq. Pure, the same on every peer. */
export function compareOrder(a: OrderKey, b: OrderKey): number {
  if (a.clock !== b.clock) return a.clock - b.clock
  if (a.logId !== b.logId) return a.logId < b.logId ? -1 : 1
  return a.seq - b.seq
}

/**
 * How far one record may move its log's clock ahead of the record before it (2^32). An honest
 * writer's clock grows by the number of events it applied since its last one, never by four
 * billion; a writer that claims more is held to this step.
 */
export const MAX_CLOCK_STEP = 2 ** 32

/**
 * The clock a record sorts by: the clock its writer claimed, held to at most
 * {@link MAX_CLOCK_STEP} past the log's previous effective clock and to at least one more than it.
 * Computed from the log's own chain alone, so every peer gets the same value, and applied the
 * same way when a record is made and when it is ingested (DESIGN.md section 4, "an absurd
 * clock"): one record claiming 2^53 cannot stall the thread or make peers refuse later events;
 * an attacker needs 2^21 records to bring clocks near 2^53.
 *
 * @param claimed the clock in the record's header
 * @param prev the effective clock of the log's previous record, or -1 for its first
 *
 * @example
 * ```ts
 * effectiveClock(7, 3)                        // 7
 * effectiveClock(2, 3)                        // 4: a log's clocks only grow
 * effectiveClock(Number.MAX_SAFE_INTEGER, -1) // 4294967296
 * ```
 */
export function effectiveClock(claimed: number, prev: number): number {
  return Math.max(prev + 1, Math.min(claimed, Math.max(prev, 0) + MAX_CLOCK_STEP))
}
