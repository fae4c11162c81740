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
