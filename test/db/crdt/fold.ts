/**
 * A tiny model of a thread for the helpers' unit tests: writers with Lamport clocks make
 * stamped operations; `foldInOrder` applies them in the total order (clock, log ID, seq), as
 * the engine does, whatever order they were made or delivered in.
 */
import { compareStamps, type Stamp } from '../../../src/db/crdt/index.js'

export interface Stamped<Op> {
  readonly stamp: Stamp
  readonly op: Op
}

/** A writer: its log ID, its seq and its clock (one more than anything it has seen). */
export class Writer {
  seq = 0
  clock = 0
  constructor(readonly logId: string) {}
  /** Stamp a new operation. */
  stamp<Op>(op: Op): Stamped<Op> {
    this.seq++
    this.clock++
    return { stamp: { clock: this.clock, logId: this.logId, seq: this.seq }, op }
  }
  /** Having seen these, the next operation sorts after them. */
  see(ops: ReadonlyArray<Stamped<unknown>>): void {
    for (const o of ops) this.clock = Math.max(this.clock, o.stamp.clock)
  }
}

export function foldInOrder<S, Op>(initial: S, ops: ReadonlyArray<Stamped<Op>>, apply: (s: S, op: Op, stamp: Stamp) => S): S {
  return [...ops].sort((a, b) => compareStamps(a.stamp, b.stamp)).reduce((s, o) => apply(s, o.op, o.stamp), initial)
}
