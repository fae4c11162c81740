/**
 * A set of encoded keys that can be walked in order, for backends without ordered iteration.
 *
 * Sorting happens lazily, on the first read after writes, and only the keys changed since the
 * last read are placed: a few by binary search and splice (native memmove), many by sorting
 * them and merging. So an append-heavy workload that reads between writes never re-sorts the
 * whole set. A walk in progress keeps a consistent snapshot of the key order: the array is
 * changed in place only when no walk is reading it, and copied otherwise.
 *
 * @internal
 * @packageDocumentation
 */

import type { EncodedRange } from './keyCodec.js'

/** First index of `sorted` whose key is `>= key` (code-unit order). */
function lowerBound(sorted: readonly string[], key: string): number {
  let low = 0
  let high = sorted.length
  while (low < high) {
    const mid = (low + high) >>> 1
    if ((sorted[mid] as string) < key) low = mid + 1
    else high = mid
  }
  return low
}

/** Merge two ascending arrays, keeping one copy of keys present in both. */
function mergeUnique(a: readonly string[], b: readonly string[]): string[] {
  const out: string[] = []
  let i = 0
  let j = 0
  while (i < a.length || j < b.length) {
    const x = a[i]
    const y = b[j]
    let next: string
    if (y === undefined || (x !== undefined && x <= y)) {
      next = x as string
      i++
    } else {
      next = y
      j++
    }
    // A key may be in both inputs, or twice in `b` (added, deleted, added again before a read).
    if (out[out.length - 1] !== next) out.push(next)
  }
  return out
}

function* walkSlice(
  sorted: readonly string[],
  start: number,
  end: number,
  reverse: boolean,
  release: () => void
): Generator<string, void, undefined> {
  try {
    if (reverse) {
      for (let i = end - 1; i >= start; i--) yield sorted[i] as string
    } else {
      for (let i = start; i < end; i++) yield sorted[i] as string
    }
  } finally {
    release()
  }
}

/**
 * Up to this many pending changes are spliced in one by one; beyond it a single merge pass is
 * cheaper than that many memmoves.
 */
const SPLICE_LIMIT = 64

export class SortedKeySet {
  readonly #present: Set<string>
  #sorted: string[] = []
  /**
   * Unfinished walks over `#sorted`. A walk that is never started never finishes; that costs
   * one needless copy, not correctness.
   */
  #walkers = 0
  /** Keys added since the last rebuild; may include keys deleted since, or duplicates. */
  #added: string[]
  /** Keys deleted since the last rebuild; may include keys added again since, or duplicates. */
  #removed: string[] = []

  constructor(keys: Iterable<string> = []) {
    this.#present = new Set(keys)
    this.#added = [...this.#present]
  }

  add(key: string): void {
    if (this.#present.has(key)) return
    this.#present.add(key)
    this.#added.push(key)
  }

  delete(key: string): void {
    if (this.#present.delete(key)) this.#removed.push(key)
  }

  /**
   * The keys in `range`, ascending (or descending when `reverse`), from a snapshot of the key
   * order taken by this call. Later writes do not affect the walk.
   */
  walk(range: EncodedRange, reverse: boolean): Generator<string, void, undefined> {
    const sorted = this.#snapshot()
    const start = lowerBound(sorted, range.gte)
    const end = range.lt === undefined ? sorted.length : lowerBound(sorted, range.lt)
    this.#walkers++
    return walkSlice(sorted, start, end, reverse, () => {
      // A walk over an array since replaced has nothing left to protect.
      if (this.#sorted === sorted) this.#walkers--
    })
  }

  #snapshot(): string[] {
    const added = this.#added
    const removed = this.#removed
    if (added.length === 0 && removed.length === 0) return this.#sorted
    this.#added = []
    this.#removed = []
    const present = this.#present
    if (added.length + removed.length <= SPLICE_LIMIT) {
      // Copying 100k keys costs far more than the splices, so copy only to protect a walk.
      const next = this.#walkers > 0 ? this.#sorted.slice() : this.#sorted
      for (const key of removed) {
        if (present.has(key)) continue
        const at = lowerBound(next, key)
        if (next[at] === key) next.splice(at, 1)
      }
      for (const key of added) {
        if (!present.has(key)) continue
        const at = lowerBound(next, key)
        if (next[at] !== key) next.splice(at, 0, key)
      }
      if (next !== this.#sorted) {
        this.#sorted = next
        this.#walkers = 0
      }
    } else {
      const kept = removed.length > 0 ? this.#sorted.filter((key) => present.has(key)) : this.#sorted
      // Default sort compares UTF-16 code units, which is the key order.
      this.#sorted = mergeUnique(kept, added.filter((key) => present.has(key)).sort())
      this.#walkers = 0
    }
    return this.#sorted
  }
}
