import { ThreadsError } from '../core/errors.js'
import { DEFAULT_CHECKPOINTS, keepCheckpoint, type CheckpointPolicy } from './checkpointPolicy.js'
import { compareOrder, type OrderKey, type ThreadEvent } from './threadEvent.js'

/** A fold of events into state: the thread's projection (its slices' reducers, and any filter). */
export type Fold<S> = (state: S, event: ThreadEvent) => S

/** An event sorts before the timeline's base (a snapshot): the caller must rebuild from storage. */
export class BehindBaseError extends ThreadsError {
  static override readonly NAME = 'BehindBaseError'
}

/** What an insert did. */
export interface InsertResult<S> {
  readonly state: S
  /** Events that were new (duplicates are dropped). */
  readonly added: readonly ThreadEvent[]
  /** Position of the earliest new event; equal to the old length when all sorted after the tip. */
  readonly from: number
  /** Reducer calls spent, including replay of events that were already applied. */
  readonly folds: number
  /** True when events had to be replayed (a late event). */
  readonly replayed: boolean
}

function keyOf(e: ThreadEvent): OrderKey {
  return e.meta
}

function idOf(e: { logId: string; seq: number }): string {
  return `${e.logId}\u0000${e.seq}`
}

/**
 * One thread's events in their total order, and the state folded over them, with checkpoints so
 * that a late event replays only the suffix after it (DESIGN.md section 4).
 *
 * Positions count events from the base: checkpoint `p` is the state after the first `p` events.
 *
 * @example
 * ```ts
 * const timeline = new Timeline<number>((n, e) => n + 1, 0)
 * timeline.insert([event])   // applies, or rolls back to a checkpoint and replays
 * timeline.state
 * ```
 */
export class Timeline<S> {
  readonly #fold: Fold<S>
  readonly #policy: CheckpointPolicy
  #entries: ThreadEvent[] = []
  readonly #ids = new Set<string>()
  /** Checkpoint `p` is the state after the first `p` events ever, counting any a rebase dropped. */
  #checkpoints = new Map<number, S>()
  /**
   * Events dropped by {@link rebase}. Checkpoints keep counting from the first event ever, so
   * they stay aligned to the policy's spacing (and are kept) across a rebase.
   */
  #offset = 0
  #state: S
  #base: OrderKey | undefined

  constructor(fold: Fold<S>, base: S, options: { policy?: CheckpointPolicy; baseKey?: OrderKey } = {}) {
    this.#fold = fold
    this.#policy = options.policy ?? DEFAULT_CHECKPOINTS
    this.#state = base
    this.#base = options.baseKey
    this.#checkpoints.set(0, base)
  }

  /** The state after every event. */
  get state(): S {
    return this.#state
  }

  /** Number of events after the base. */
  get length(): number {
    return this.#entries.length
  }

  /** The order key of the newest event (or of the base). */
  get lastKey(): OrderKey | undefined {
    const last = this.#entries[this.#entries.length - 1]
    return last === undefined ? this.#base : keyOf(last)
  }

  /** The events in order (read-only view). */
  get events(): readonly ThreadEvent[] {
    return this.#entries
  }

  /** Number of checkpoints held (for tests and figures). */
  get checkpointCount(): number {
    return this.#checkpoints.size
  }

  has(e: { logId: string; seq: number }): boolean {
    return this.#ids.has(idOf(e))
  }

  /** Position at which an event with this key sorts (after every smaller key). */
  positionOf(key: OrderKey): number {
    let lo = 0
    let hi = this.#entries.length
    while (lo < hi) {
      const mid = (lo + hi) >>> 1
      if (compareOrder(keyOf(this.#entries[mid] as ThreadEvent), key) < 0) lo = mid + 1
      else hi = mid
    }
    return lo
  }

  /**
   * Append an event that sorts after the tip (a local command), with the state after it when
   * the caller already computed it (Redux ran the reducers), so nothing is folded twice.
   */
  append(event: ThreadEvent, stateAfter?: S): S {
    const last = this.lastKey
    if (last !== undefined && compareOrder(keyOf(event), last) <= 0) {
      throw new RangeError('Timeline.append needs an event that sorts after the tip; use insert')
    }
    this.#entries.push(event)
    this.#ids.add(idOf(event.meta))
    this.#state = stateAfter ?? this.#fold(this.#state, event)
    this.#checkpointAt(this.#entries.length)
    return this.#state
  }

  /**
   * Insert events in any order. Duplicates are dropped. Events after the tip are folded on; an
   * event that sorts earlier restores the nearest checkpoint before it and replays the suffix.
   *
   * @throws {@link BehindBaseError} when an event sorts before the base (a snapshot).
   */
  insert(events: readonly ThreadEvent[]): InsertResult<S> {
    const fresh: ThreadEvent[] = []
    const seen = new Set<string>()
    for (const e of events) {
      const id = idOf(e.meta)
      if (this.#ids.has(id) || seen.has(id)) continue
      if (this.#base !== undefined && compareOrder(keyOf(e), this.#base) <= 0) {
        throw new BehindBaseError('an event sorts before the snapshot this timeline starts from', { threadId: e.meta.threadId, logId: e.meta.logId, seq: e.meta.seq })
      }
      seen.add(id)
      fresh.push(e)
    }
    const oldLength = this.#entries.length
    if (fresh.length === 0) return { state: this.#state, added: [], from: oldLength, folds: 0, replayed: false }
    fresh.sort((a, b) => compareOrder(keyOf(a), keyOf(b)))
    const from = this.positionOf(keyOf(fresh[0] as ThreadEvent))
    for (const e of fresh) this.#ids.add(idOf(e.meta))
    if (from === oldLength) {
      for (const e of fresh) this.append(e)
      return { state: this.#state, added: fresh, from, folds: fresh.length, replayed: false }
    }
    this.#merge(fresh, from)
    const folds = this.#replayFrom(from)
    return { state: this.#state, added: fresh, from, folds, replayed: true }
  }

  /** Merge sorted new events into the entries; only the suffix from `from` moves. */
  #merge(fresh: ThreadEvent[], from: number): void {
    const tail = this.#entries.splice(from)
    let i = 0
    let j = 0
    while (i < tail.length || j < fresh.length) {
      const a = tail[i]
      const b = fresh[j]
      if (b === undefined || (a !== undefined && compareOrder(keyOf(a), keyOf(b)) < 0)) {
        this.#entries.push(a as ThreadEvent)
        i++
      } else {
        this.#entries.push(b)
        j++
      }
    }
  }

  /** Restore the nearest checkpoint at or before `position` and fold every event after it. */
  #replayFrom(position: number): number {
    const base = this.#offset
    let start = base
    for (const p of this.#checkpoints.keys()) if (p <= position + base && p > start) start = p
    for (const p of [...this.#checkpoints.keys()]) if (p > start) this.#checkpoints.delete(p)
    let state = this.#checkpoints.get(start) as S
    for (let i = start - base; i < this.#entries.length; i++) {
      state = this.#fold(state, this.#entries[i] as ThreadEvent)
      this.#state = state
      this.#checkpointAt(i + 1)
    }
    this.#state = state
    return this.#entries.length - (start - base)
  }

  /** Checkpoint the state after `position` events (counted from the base), if the policy wants one. */
  #checkpointAt(position: number): void {
    const at = position + this.#offset
    if (at % this.#policy.every !== 0) return
    this.#checkpoints.set(at, this.#state)
    for (const p of this.#checkpoints.keys()) {
      if (p !== this.#offset && !keepCheckpoint(p, at, this.#policy)) this.#checkpoints.delete(p)
    }
  }

  /**
   * Fold again from `position` (a rule outside the events changed how some of them fold: an
   * event after it was deleted). Returns the reducer calls spent.
   */
  refoldFrom(position: number): number {
    return this.#replayFrom(Math.max(0, Math.min(position, this.#entries.length)))
  }

  /**
   * Replace the state after the newest event with an equal one (the same values, objects shared
   * with an older state): later folds build on it, so what did not change keeps its identity.
   * The caller guarantees equality; nothing is folded.
   */
  replaceTip(state: S): void {
    this.#state = state
    const at = this.#entries.length + this.#offset
    if (this.#checkpoints.has(at)) this.#checkpoints.set(at, state)
  }

  /**
   * Remove every event `drop` selects (a forked log's records from the disputed seq on) and
   * replay from the earliest removed position: the cost depends on how far back it is, not on
   * the history's length. Only events after the base can be removed; the caller folds from
   * storage when a removed event may be in the base.
   */
  remove(drop: (e: ThreadEvent) => boolean): { state: S; removed: number; folds: number } {
    const first = this.#entries.findIndex(drop)
    if (first < 0) return { state: this.#state, removed: 0, folds: 0 }
    const kept = this.#entries.slice(0, first)
    let removed = 0
    for (let i = first; i < this.#entries.length; i++) {
      const e = this.#entries[i] as ThreadEvent
      if (drop(e)) {
        this.#ids.delete(idOf(e.meta))
        removed++
      } else kept.push(e)
    }
    this.#entries = kept
    const folds = this.#replayFrom(first)
    return { state: this.#state, removed, folds }
  }

  /**
   * Remove the last `count` events (an aborted transaction, which only ever holds the newest
   * events) and return the state without them.
   */
  dropNewest(count: number): S {
    const removed = this.#entries.splice(this.#entries.length - count, count)
    for (const e of removed) this.#ids.delete(idOf(e.meta))
    this.#replayFrom(this.#entries.length)
    return this.#state
  }

  /**
   * Compact: fold the first `position` events into the base and forget them (memory only). An
   * event that later sorts before the new base throws {@link BehindBaseError}; the caller then
   * folds the thread again from storage, so no peer ever computes anything different.
   *
   * @returns the number of events dropped.
   */
  rebase(position: number): number {
    const p = Math.max(0, Math.min(position, this.#entries.length))
    if (p === 0) return 0
    // The state after exactly `p` events: from the nearest checkpoint, folding the rest.
    const base = this.#offset
    let start = base
    for (const c of this.#checkpoints.keys()) if (c <= p + base && c > start) start = c
    let state = this.#checkpoints.get(start) as S
    for (let i = start - base; i < p; i++) state = this.#fold(state, this.#entries[i] as ThreadEvent)
    const dropped = this.#entries.splice(0, p)
    for (const e of dropped) this.#ids.delete(idOf(e.meta))
    this.#base = keyOf(dropped[dropped.length - 1] as ThreadEvent)
    // Checkpoint keys do not move: those after the new base stay where the policy put them.
    this.#offset = base + p
    const kept = new Map<number, S>([[this.#offset, state]])
    for (const [c, s] of this.#checkpoints) if (c > this.#offset) kept.set(c, s)
    this.#checkpoints = kept
    return p
  }

  /** The order key the timeline starts after (the newest compacted or snapshot event). */
  get baseKey(): OrderKey | undefined {
    return this.#base
  }
}
