/**
 * Secondary indexes in the folded state (paper section 5.3; go-threads' `Index{Path, Unique}`):
 * a replay or a snapshot rebuilds them with the documents, and every peer holds the same ones.
 *
 * An index on a dot path is a sorted list of entries `[rank, value, id]` (rank 0 boolean, 1
 * number, 2 string, 3 anything else: an array, an object or null, or a path that crosses an
 * array) cut into pages of at most {@link PAGE_MAX} entries. A document without the path has no
 * entry. A write finds its page by binary search and copies that page and the page list: about
 * n / 512 + 512 slots for n entries, not n (a sorted array of n entries spliced under Immer would
 * copy all n). Queries take the entries of one value or a range of one type, plus every rank-3
 * entry (mingo may match those through arrays), and mingo then applies the whole filter.
 */
import { UniqueIndexError } from './errors.js'

/** A value an index orders: what JSON holds besides arrays, objects and null. */
export type IndexValue = string | number | boolean

/** One entry: the value's type rank, the value (`''` for rank 3), the document's `_id`. */
export type IndexEntry = readonly [rank: number, value: IndexValue, id: string]

/** An index: its entries in order, in pages. */
export type IndexPages = ReadonlyArray<ReadonlyArray<IndexEntry>>

/** An index on `path`; `unique` refuses a second document with the same string, number or boolean there. */
export interface IndexSpec<Path extends string = string> {
  readonly path: Path
  readonly unique?: boolean
}

/** The most entries a page holds before it splits in two. */
export const PAGE_MAX = 512

/** Rank of arrays, objects, null and paths through arrays: candidates for every query. */
export const OTHER = 3

/** The value at a dot path (`'address.city'`), `undefined` if absent; an array met on the way is returned as is. */
export function valueAt(doc: unknown, path: string): unknown {
  let cur: unknown = doc
  for (const segment of path.split('.')) {
    if (Array.isArray(cur)) return cur
    if (typeof cur !== 'object' || cur === null) return undefined
    cur = Object.hasOwn(cur, segment) ? (cur as Record<string, unknown>)[segment] : undefined
  }
  return cur
}

/** The rank of a value that an index orders, or {@link OTHER}. */
export function rankOf(value: unknown): number {
  switch (typeof value) {
    case 'boolean':
      return 0
    case 'number':
      return 1
    case 'string':
      return 2
    default:
      return OTHER
  }
}

/** A document's entry in the index on `path`, or `undefined` if it has nothing there. */
export function entryFor(doc: unknown, path: string, id: string): IndexEntry | undefined {
  const value = valueAt(doc, path)
  if (value === undefined) return undefined
  const rank = rankOf(value)
  return rank === OTHER ? [OTHER, '', id] : [rank, value as IndexValue, id]
}

/** Order of (rank, value), then of `_id` when `id` is given on both. */
export function compareKey(aRank: number, aValue: IndexValue, bRank: number, bValue: IndexValue): number {
  if (aRank !== bRank) return aRank - bRank
  return aValue < bValue ? -1 : aValue > bValue ? 1 : 0
}

function compareEntry(a: IndexEntry, b: IndexEntry): number {
  return compareKey(a[0], a[1], b[0], b[1]) || (a[2] < b[2] ? -1 : a[2] > b[2] ? 1 : 0)
}

/** The first page whose last entry is not below `entry` (or the last page). */
function pageFor(pages: IndexPages, below: (e: IndexEntry) => boolean): number {
  let lo = 0
  let hi = pages.length - 1
  while (lo < hi) {
    const mid = (lo + hi) >>> 1
    const page = pages[mid] as ReadonlyArray<IndexEntry>
    if (below(page[page.length - 1] as IndexEntry)) lo = mid + 1
    else hi = mid
  }
  return lo
}

/** First position in `page` whose entry is not below. */
function positionIn(page: ReadonlyArray<IndexEntry>, below: (e: IndexEntry) => boolean): number {
  let lo = 0
  let hi = page.length
  while (lo < hi) {
    const mid = (lo + hi) >>> 1
    if (below(page[mid] as IndexEntry)) lo = mid + 1
    else hi = mid
  }
  return lo
}

// Plain loops: V8 copies frozen arrays through a slow path with spread and `slice` (~10x).
function copy<T>(items: ReadonlyArray<T>): T[] {
  const out = new Array<T>(items.length)
  for (let i = 0; i < items.length; i++) out[i] = items[i] as T
  return out
}

function insertAt<T>(items: ReadonlyArray<T>, at: number, item: T): T[] {
  const out = new Array<T>(items.length + 1)
  for (let i = 0; i < at; i++) out[i] = items[i] as T
  out[at] = item
  for (let i = at; i < items.length; i++) out[i + 1] = items[i] as T
  return out
}

function removeAt<T>(items: ReadonlyArray<T>, at: number): T[] {
  const out = new Array<T>(items.length - 1)
  for (let i = 0; i < at; i++) out[i] = items[i] as T
  for (let i = at + 1; i < items.length; i++) out[i - 1] = items[i] as T
  return out
}

/** The index with `entry` added (new pages; the untouched ones shared). */
export function insertEntry(pages: IndexPages, entry: IndexEntry): IndexPages {
  Object.freeze(entry)
  if (pages.length === 0) return Object.freeze([Object.freeze([entry])])
  const below = (e: IndexEntry): boolean => compareEntry(e, entry) < 0
  const p = pageFor(pages, below)
  const page = pages[p] as ReadonlyArray<IndexEntry>
  const at = positionIn(page, below)
  const next = insertAt(page, at, entry)
  const out = copy(pages)
  if (next.length > PAGE_MAX) out.splice(p, 1, Object.freeze(next.slice(0, next.length >> 1)), Object.freeze(next.slice(next.length >> 1)))
  else out[p] = Object.freeze(next)
  return Object.freeze(out)
}

/** The index without `entry` (unchanged if it is not there). */
export function removeEntry(pages: IndexPages, entry: IndexEntry): IndexPages {
  if (pages.length === 0) return pages
  const below = (e: IndexEntry): boolean => compareEntry(e, entry) < 0
  const p = pageFor(pages, below)
  const page = pages[p] as ReadonlyArray<IndexEntry>
  const at = positionIn(page, below)
  const found = page[at]
  if (found === undefined || compareEntry(found, entry) !== 0) return pages
  const out = copy(pages)
  if (page.length === 1) out.splice(p, 1)
  else out[p] = Object.freeze(removeAt(page, at))
  return Object.freeze(out)
}

/** A bound of a range: a rank and value, inclusive or not. */
export interface Bound {
  readonly rank: number
  readonly value: IndexValue
  readonly inclusive: boolean
}

/**
 * Call `visit` with the `_id` of every entry between `lo` and `hi` (either open), in order;
 * stops early when `visit` returns false.
 */
export function scanRange(pages: IndexPages, lo: Bound | undefined, hi: Bound | undefined, visit: (id: string) => boolean | void): void {
  if (pages.length === 0) return
  const below = lo === undefined ? () => false : (e: IndexEntry): boolean => {
    const c = compareKey(e[0], e[1], lo.rank, lo.value)
    return c < 0 || (c === 0 && !lo.inclusive)
  }
  const above = hi === undefined ? () => false : (e: IndexEntry): boolean => {
    const c = compareKey(e[0], e[1], hi.rank, hi.value)
    return c > 0 || (c === 0 && !hi.inclusive)
  }
  for (let p = pageFor(pages, below); p < pages.length; p++) {
    const page = pages[p] as ReadonlyArray<IndexEntry>
    for (let i = positionIn(page, below); i < page.length; i++) {
      const e = page[i] as IndexEntry
      if (above(e)) return
      if (visit(e[2]) === false) return
    }
  }
}

/** Throw {@link UniqueIndexError} if another document than `id` holds `entry`'s value. */
export function checkUnique(collection: string, path: string, pages: IndexPages, entry: IndexEntry): void {
  if (entry[0] === OTHER) return
  const bound: Bound = { rank: entry[0], value: entry[1], inclusive: true }
  scanRange(pages, bound, bound, (id) => {
    if (id === entry[2]) return true
    throw new UniqueIndexError(`collection \`${collection}\`: the unique index on \`${path}\` already holds ${JSON.stringify(entry[1])} (document ${id})`)
  })
}
