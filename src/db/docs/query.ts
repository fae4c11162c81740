/**
 * Queries over a collection's state (paper section 5.3; go-threads' `Query`): a MongoDB-style
 * filter matched by mingo, a sort applied before `seek`, `skip` and `limit`. When the filter
 * names an indexed path with an equality, `$in` or a range of one type (at the top level or in a
 * top-level `$and`), the candidates come from that index (see `indexes.ts`) and mingo applies the
 * whole filter to them only; otherwise every live document is scanned. Either way the result is
 * the same (a property test holds it).
 */
import { Query } from 'mingo'
import type { CollectionState, DocumentBase } from './collectionState.js'
import { documentsAt, liveDocuments } from './documents.js'
import { OTHER, rankOf, scanRange, type Bound, type IndexPages, type IndexValue } from './indexes.js'

/** A MongoDB-style filter: `{ age: { $gte: 18 }, 'address.city': 'Oslo', $or: [...] }`. */
export type DocumentFilter = { readonly [pathOrOperator: string]: unknown }

/** A sort: paths to 1 (ascending) or -1 (descending), applied in key order; `_id` breaks ties. */
export type DocumentSort = { readonly [path: string]: 1 | -1 }

/** What `find` takes. Every field is optional: `{}` lists every document in `_id` order. */
export interface DocumentQuery {
  /** Which documents (mingo, MongoDB semantics). Default: all. */
  readonly filter?: DocumentFilter
  /** Their order (default `_id` ascending: creation order for generated ids). */
  readonly sort?: DocumentSort
  /** Start at the document with this `_id`, in the query's order (inclusive); no such result: none. */
  readonly seek?: string
  /** Results to skip after `seek` (default 0). */
  readonly skip?: number
  /** At most this many results (default all). */
  readonly limit?: number
}

/** How a query picked its candidates: from an index (`path`), or by a full scan. */
export interface QueryPlan {
  readonly index: string | undefined
  /** Candidate documents. */
  readonly candidates: number
  /**
   * The candidates are exactly the matches: the filter is one condition on the index's path and
   * no candidate holds an array, object or null there, so mingo need not test them.
   */
  readonly exact: boolean
}

const compiled = new WeakMap<object, Query>()
/** mingo without `$where` and `$function`: a filter never runs code. */
const MINGO = { scriptEnabled: false } as const
const EMPTY: DocumentFilter = {}

function queryOf(filter: DocumentFilter): Query {
  let q = compiled.get(filter)
  if (q === undefined) {
    q = new Query(filter as Record<string, unknown>, MINGO)
    compiled.set(filter, q)
  }
  return q
}

/** A value an index can look up: a boolean, a string or a number other than NaN (which no index entry equals). */
function isScalar(v: unknown): v is IndexValue {
  return rankOf(v) !== OTHER && !Number.isNaN(v)
}

/** What an index can give for a condition; `exact` when the condition is nothing more than that. */
type Lookup = ({ kind: 'in'; values: IndexValue[] } | { kind: 'range'; lo: Bound | undefined; hi: Bound | undefined }) & { exact: boolean }

/** What an index can give for one condition on its path, if anything. */
function lookupOf(condition: unknown): Lookup | undefined {
  if (isScalar(condition)) return { kind: 'in', values: [condition], exact: true }
  if (typeof condition !== 'object' || condition === null || Array.isArray(condition)) return undefined
  const ops = condition as Record<string, unknown>
  const keys = Object.keys(ops)
  if (keys.length === 0 || keys.some((k) => !k.startsWith('$'))) return undefined
  if (isScalar(ops.$eq)) return { kind: 'in', values: [ops.$eq], exact: keys.length === 1 }
  if (Array.isArray(ops.$in) && ops.$in.every(isScalar)) return { kind: 'in', values: ops.$in as IndexValue[], exact: keys.length === 1 }
  let lo: Bound | undefined
  let hi: Bound | undefined
  for (const [op, inclusive, isLo] of [['$gt', false, true], ['$gte', true, true], ['$lt', false, false], ['$lte', true, false]] as const) {
    if (!(op in ops)) continue
    const v = ops[op]
    if (!isScalar(v)) return undefined
    const bound = { rank: rankOf(v), value: v, inclusive }
    // Two bounds of different types on one side (`{ $gt: 5, $gte: 'a' }`) cannot be compared:
    // no single range holds what both select (type bracketing), so leave it to a scan.
    const same = isLo ? lo : hi
    if (same !== undefined && same.rank !== bound.rank) return undefined
    if (isLo) lo = lo === undefined || bound.value > lo.value || (bound.value === lo.value && !inclusive) ? bound : lo
    else hi = hi === undefined || bound.value < hi.value || (bound.value === hi.value && !inclusive) ? bound : hi
  }
  if (lo === undefined && hi === undefined) return undefined
  if (lo !== undefined && hi !== undefined && lo.rank !== hi.rank) return undefined
  // A range holds values of its bound's type only (MongoDB's type bracketing, which mingo
  // follows): an open end stops at the edge of that type's rank (half a rank away).
  const rank = (lo ?? hi)?.rank as number
  const exact = keys.every((k) => k === '$gt' || k === '$gte' || k === '$lt' || k === '$lte')
  return { kind: 'range', lo: lo ?? { rank: rank - 0.5, value: '', inclusive: true }, hi: hi ?? { rank: rank + 0.5, value: '', inclusive: true }, exact }
}

/** The ids an index gives for `lookup`; `others` counts the rank-3 entries among them. */
function idsOf(pages: IndexPages, lookup: Lookup): { ids: string[]; others: number } {
  const out: string[] = []
  const push = (id: string): void => {
    out.push(id)
  }
  if (lookup.kind === 'in') {
    for (const v of new Set(lookup.values)) {
      const b = { rank: rankOf(v), value: v, inclusive: true }
      scanRange(pages, b, b, push)
    }
  } else {
    scanRange(pages, lookup.lo, lookup.hi, push)
  }
  const matched = out.length
  const other: Bound = { rank: OTHER, value: '', inclusive: true }
  scanRange(pages, other, other, push)
  return { ids: out, others: out.length - matched }
}

/** Conditions of the filter that an index may serve: top-level fields and those of a top-level `$and`. */
function conditions(filter: DocumentFilter): Array<[string, unknown]> {
  const out: Array<[string, unknown]> = []
  for (const [key, value] of Object.entries(filter)) {
    if (key === '$and' && Array.isArray(value)) {
      for (const part of value) if (typeof part === 'object' && part !== null) out.push(...conditions(part as DocumentFilter))
    } else if (!key.startsWith('$')) out.push([key, value])
  }
  return out
}

/**
 * The candidate documents for `filter`: from the index that gives the fewest, or every live
 * document (`plan.index` undefined). A superset of the matches: mingo applies the filter after.
 * Useful to see whether a query uses an index (paper section 5.3).
 *
 * @example
 * ```ts
 * import { candidatesOf } from 'redux-p2p-threads/db'
 * candidatesOf(people.selectors.selectState(root), { age: { $gte: 18 } }).plan   // { index: 'age', candidates: 1234 }
 * ```
 */
export function candidatesOf<Doc extends DocumentBase>(state: CollectionState<Doc>, filter: DocumentFilter): { docs: Doc[]; plan: QueryPlan } {
  let best: { path: string; ids: string[]; others: number; exact: boolean } | undefined
  const all = conditions(filter)
  for (const [path, condition] of all) {
    const pages = Object.hasOwn(state.indexes, path) ? state.indexes[path] : undefined
    if (pages === undefined) continue
    const lookup = lookupOf(condition)
    if (lookup === undefined) continue
    const found = idsOf(pages, lookup)
    if (best === undefined || found.ids.length < best.ids.length) best = { path, ...found, exact: lookup.exact }
  }
  if (best === undefined) {
    const docs = liveDocuments(state.docs)
    return { docs, plan: { index: undefined, candidates: docs.length, exact: all.length === 0 && Object.keys(filter).length === 0 } }
  }
  const exact = best.exact && best.others === 0 && all.length === 1 && Object.keys(filter).length === 1
  // In `_id` order (code units, as `sort()` orders strings): one pass over the document pages.
  const docs = documentsAt(state.docs, best.ids.sort())
  return { docs, plan: { index: best.path, candidates: docs.length, exact } }
}

const byId = (a: DocumentBase, b: DocumentBase): number => (a._id < b._id ? -1 : a._id > b._id ? 1 : 0)

/**
 * Run `query` over `state`: candidates (index or scan), mingo's filter, the sort (then `_id`),
 * `seek`, `skip`, `limit`. Returns the documents as held in the state (no copies).
 */
export function runQuery<Doc extends DocumentBase>(state: CollectionState<Doc>, query: DocumentQuery): Doc[] {
  const filter = query.filter ?? EMPTY
  const { docs, plan } = candidatesOf(state, filter)
  let matched = plan.exact ? docs : docs.filter((d) => queryOf(filter).test(d as unknown as Record<string, unknown>))
  if (query.sort === undefined || Object.keys(query.sort).length === 0) matched.sort(byId)
  else matched = queryOf(EMPTY).find<Doc>(matched).sort({ ...query.sort, ...('_id' in query.sort ? {} : { _id: 1 }) }).all()
  let start = 0
  if (query.seek !== undefined) {
    start = matched.findIndex((d) => d._id === query.seek)
    if (start < 0) return []
  }
  start += Math.max(0, query.skip ?? 0)
  const end = query.limit === undefined ? matched.length : start + Math.max(0, query.limit)
  return start === 0 && end >= matched.length ? matched : matched.slice(start, end)
}
