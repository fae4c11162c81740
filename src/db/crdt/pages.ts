import { frozen } from './plain.js'

/**
 * A sorted map from string keys to entries, kept as plain Redux state: a list of pages, each a
 * non-empty array of entries sorted by `key` (code-unit order), every key of a page below every
 * key of the next. A page holds at most {@link PAGE_MAX_ENTRIES} entries and splits in two
 * beyond. A write finds its page by binary search and copies that page and the page list:
 * O(log n + PAGE_MAX_ENTRIES + n / (PAGE_MAX_ENTRIES / 2)) for n entries, whatever keys a
 * writer picks (unlike hash buckets, which a writer can fill by choosing keys of one bucket).
 * Used by the OR-set and the key-value store.
 */
export type Pages<E extends { readonly key: string }> = ReadonlyArray<ReadonlyArray<E>>

/** The most entries one page holds before it splits in two (the OR-set's and the key-value store's pages). */
export const PAGE_MAX_ENTRIES = 256

const EMPTY: Pages<never> = Object.freeze([])

/** The index of the page that holds `key`, or would: the last page whose first key is not above it (0 when none). */
function pageIndex<E extends { readonly key: string }>(pages: Pages<E>, key: string): number {
  let lo = 0
  let hi = pages.length
  while (lo < hi) {
    const mid = (lo + hi) >>> 1
    if (((pages[mid] as ReadonlyArray<E>)[0] as E).key <= key) lo = mid + 1
    else hi = mid
  }
  return lo === 0 ? 0 : lo - 1
}

/** The first index in `page` whose key is not below `key`. */
function lowerBound<E extends { readonly key: string }>(page: ReadonlyArray<E>, key: string): number {
  let lo = 0
  let hi = page.length
  while (lo < hi) {
    const mid = (lo + hi) >>> 1
    if ((page[mid] as E).key < key) lo = mid + 1
    else hi = mid
  }
  return lo
}

/** The entry at `key`, or `undefined`. O(log n). */
export function pagesGet<E extends { readonly key: string }>(pages: Pages<E> | undefined, key: string): E | undefined {
  if (pages === undefined || pages.length === 0) return undefined
  const page = pages[pageIndex(pages, key)] as ReadonlyArray<E>
  const at = lowerBound(page, key)
  const e = page[at]
  return e !== undefined && e.key === key ? e : undefined
}

/**
 * `pages` with `entry` put at `entry.key` (replacing any entry there), or without the entry at
 * `remove` when `entry` is `undefined`. Never mutates `pages`; the new page list and pages are
 * frozen (shallow: entries are frozen by the caller), so Immer does not walk them.
 */
export function pagesWith<E extends { readonly key: string }>(pages: Pages<E> | undefined, key: string, entry: E | undefined): Pages<E> {
  const list = pages ?? EMPTY
  if (list.length === 0) return entry === undefined ? list : frozen([frozen([entry], false)], false)
  const p = pageIndex(list, key)
  const page = list[p] as ReadonlyArray<E>
  const at = lowerBound(page, key)
  const held = page[at] !== undefined && (page[at] as E).key === key
  if (entry === undefined && !held) return list
  const next: E[] = []
  for (let i = 0; i < at; i++) next.push(page[i] as E)
  if (entry !== undefined) next.push(entry)
  for (let i = held ? at + 1 : at; i < page.length; i++) next.push(page[i] as E)
  const out: Array<ReadonlyArray<E>> = []
  for (let i = 0; i < p; i++) out.push(list[i] as ReadonlyArray<E>)
  if (next.length > PAGE_MAX_ENTRIES) {
    const half = next.length >>> 1
    out.push(frozen(next.slice(0, half), false), frozen(next.slice(half), false))
  } else if (next.length > 0) {
    out.push(frozen(next, false))
  }
  for (let i = p + 1; i < list.length; i++) out.push(list[i] as ReadonlyArray<E>)
  return frozen(out, false)
}

/** Every entry, in key order. O(n). */
export function pagesEntries<E extends { readonly key: string }>(pages: Pages<E> | undefined): E[] {
  const out: E[] = []
  if (pages === undefined) return out
  for (let p = 0; p < pages.length; p++) {
    const page = pages[p] as ReadonlyArray<E>
    for (let i = 0; i < page.length; i++) out.push(page[i] as E)
  }
  return out
}
