/**
 * The document map in the folded state: documents by `_id` in sorted pages of at most
 * {@link DOC_PAGE_MAX} entries `[_id, doc]` (`null` for a deleted document: its ID is never
 * reused), like the pages of an index (`indexes.ts`). A write finds its page by binary search
 * and copies that page and the page list: O(log n + {@link DOC_PAGE_MAX} + n / 256) whatever the
 * IDs are. (A hash of the ID into buckets made the cost of a write depend on IDs a writer
 * chooses: one bucket could be made to hold every document, and every write then copied all n.)
 *
 * Every document and patch that enters the state passes {@link checkJsonValue} first: one
 * iterative walk that refuses what is not JSON, reserved member names and values beyond the
 * bounds, before any recursive code (merge, ajv, freezing) sees it.
 */
import { isJsonObject, mergePatch } from '../../core/mergePatch.js'
import { InvalidDocumentError } from './errors.js'

/** One document map entry: the `_id`, the document or `null` (deleted). */
export type DocumentEntry<Doc> = readonly [id: string, doc: Doc | null]

/** Documents in pages sorted by `_id` (code units); `null` marks a deleted document. */
export type DocumentPages<Doc> = ReadonlyArray<ReadonlyArray<DocumentEntry<Doc>>>

/** @deprecated The document map is no longer bucketed: {@link DocumentPages}. */
export type DocumentBuckets<Doc> = DocumentPages<Doc>

/** The most entries a page of the document map holds before it splits. */
export const DOC_PAGE_MAX = 512

/** The empty map: no pages. */
export function emptyPages<Doc>(): DocumentPages<Doc> {
  return Object.freeze([]) as DocumentPages<Doc>
}

/** Index of the first page whose last id is not below `id` (or the last page); -1 if none. */
function pageOf<Doc>(pages: DocumentPages<Doc>, id: string): number {
  let lo = 0
  let hi = pages.length - 1
  while (lo < hi) {
    const mid = (lo + hi) >>> 1
    const page = pages[mid] as ReadonlyArray<DocumentEntry<Doc>>
    if ((page[page.length - 1] as DocumentEntry<Doc>)[0] < id) lo = mid + 1
    else hi = mid
  }
  return hi
}

/** First position in `page` whose id is not below `id`. */
function positionOf<Doc>(page: ReadonlyArray<DocumentEntry<Doc>>, id: string): number {
  let lo = 0
  let hi = page.length
  while (lo < hi) {
    const mid = (lo + hi) >>> 1
    if ((page[mid] as DocumentEntry<Doc>)[0] < id) lo = mid + 1
    else hi = mid
  }
  return lo
}

/** What the map holds under `id`: the document, `null` (deleted), or `undefined` (never held). */
export function entryOf<Doc>(docs: DocumentPages<Doc>, id: string): Doc | null | undefined {
  if (docs.length === 0) return undefined
  const page = docs[pageOf(docs, id)] as ReadonlyArray<DocumentEntry<Doc>>
  const e = page[positionOf(page, id)]
  return e !== undefined && e[0] === id ? e[1] : undefined
}

/**
 * The live documents under `ids`, which must be sorted by code unit (`ids.sort()`), duplicates
 * allowed, in `_id` order: one forward pass over the pages, a binary search inside each page
 * from where the last one ended. About 3x cheaper than {@link entryOf} per id for an index's
 * candidates, and the result needs no sorting by `_id` after.
 */
export function documentsAt<Doc>(docs: DocumentPages<Doc>, ids: readonly string[]): Doc[] {
  const out: Doc[] = []
  let p = 0
  let pos = 0
  let last: string | undefined
  for (const id of ids) {
    if (id === last) continue
    last = id
    while (p < docs.length) {
      const page = docs[p] as ReadonlyArray<DocumentEntry<Doc>>
      if ((page[page.length - 1] as DocumentEntry<Doc>)[0] >= id) break
      p++
      pos = 0
    }
    if (p === docs.length) break
    const page = docs[p] as ReadonlyArray<DocumentEntry<Doc>>
    let lo = pos
    let hi = page.length
    while (lo < hi) {
      const mid = (lo + hi) >>> 1
      if ((page[mid] as DocumentEntry<Doc>)[0] < id) lo = mid + 1
      else hi = mid
    }
    pos = lo
    const e = page[lo]
    if (e !== undefined && e[0] === id && e[1] !== null) out.push(e[1])
  }
  return out
}

// Plain loops: V8 copies frozen arrays through a slow path with spread and `slice` (~10x).
function copyRange<T>(items: ReadonlyArray<T>, from: number, to: number): T[] {
  const out = new Array<T>(to - from)
  for (let i = from; i < to; i++) out[i - from] = items[i] as T
  return out
}

/**
 * A new map with `value` under `id` (every other page shared). A page that grows beyond
 * {@link DOC_PAGE_MAX} splits in two halves, or, when the entry went to the end of the last page
 * (generated ULIDs do), into a full page and a page of one, so pages of ordered IDs stay full.
 */
export function withEntry<Doc>(docs: DocumentPages<Doc>, id: string, value: Doc | null): DocumentPages<Doc> {
  const entry = Object.freeze([id, value] as const) as DocumentEntry<Doc>
  if (docs.length === 0) return Object.freeze([Object.freeze([entry])])
  const p = pageOf(docs, id)
  const page = docs[p] as ReadonlyArray<DocumentEntry<Doc>>
  const at = positionOf(page, id)
  const replace = page[at] !== undefined && (page[at] as DocumentEntry<Doc>)[0] === id
  const next = new Array<DocumentEntry<Doc>>(page.length + (replace ? 0 : 1))
  for (let i = 0; i < at; i++) next[i] = page[i] as DocumentEntry<Doc>
  next[at] = entry
  for (let i = replace ? at + 1 : at; i < page.length; i++) next[replace ? i : i + 1] = page[i] as DocumentEntry<Doc>
  const out = new Array<ReadonlyArray<DocumentEntry<Doc>>>(docs.length)
  for (let i = 0; i < docs.length; i++) out[i] = docs[i] as ReadonlyArray<DocumentEntry<Doc>>
  if (next.length > DOC_PAGE_MAX) {
    const cut = p === docs.length - 1 && at === page.length ? DOC_PAGE_MAX : next.length >> 1
    out.splice(p, 1, Object.freeze(copyRange(next, 0, cut)), Object.freeze(copyRange(next, cut, next.length)))
  } else out[p] = Object.freeze(next)
  return Object.freeze(out)
}

/**
 * Freeze `value` and every object in it that is not frozen yet (state is immutable, as Immer
 * would leave it; a frozen part was frozen whole, so the walk stops there). Iterative.
 */
export function deepFreeze<T>(value: T): T {
  const stack: unknown[] = [value]
  while (stack.length > 0) {
    const v = stack.pop()
    if (typeof v !== 'object' || v === null || Object.isFrozen(v)) continue
    Object.freeze(v)
    for (const key of Object.keys(v)) stack.push((v as Record<string, unknown>)[key])
  }
  return value
}

/** Every live document (tombstones skipped), in `_id` order. */
export function liveDocuments<Doc>(docs: DocumentPages<Doc>): Doc[] {
  const out: Doc[] = []
  for (const page of docs) {
    for (const e of page) if (e[1] !== null && e[1] !== undefined) out.push(e[1])
  }
  return out
}

/** The deepest nesting of objects and arrays a document or patch may have (the document itself is depth 1). */
export const MAX_DOCUMENT_DEPTH = 64
/** The most values (members and elements, at any depth, containers included) a document or patch may hold. */
export const MAX_DOCUMENT_VALUES = 100_000
/**
 * The most UTF-16 code units a document or patch may hold in its strings and member names,
 * together: 1 Mi, as one event's body holds at most `MAX_BODY_BYTES` (1 MiB); the bound holds
 * the document that saves build up to the same size.
 */
export const MAX_DOCUMENT_CHARS = 1_048_576
/** Member names no document or patch may hold, at any depth: they reach prototypes (`__proto__`) or readers that take them for one (mingo reads `constructor`). */
export const RESERVED_MEMBERS: ReadonlySet<string> = new Set(['__proto__', 'constructor', 'prototype'])

/**
 * Check that `value` is JSON a document may hold, with one iterative walk (so the answer never
 * depends on the stack left): ordinary objects (`Object.prototype`) and arrays, strings,
 * finite numbers, booleans and `null`; no member named in {@link RESERVED_MEMBERS}; at most
 * {@link MAX_DOCUMENT_DEPTH} deep, {@link MAX_DOCUMENT_VALUES} values and
 * {@link MAX_DOCUMENT_CHARS} characters. Refuses anything else (`undefined`, BigInt, byte
 * strings, CIDs, class instances, NaN, ±Infinity) with {@link InvalidDocumentError}. Returns
 * whether the value holds a `-0` (see {@link normalized}).
 */
export function checkJsonValue(collection: string, what: string, value: unknown): boolean {
  const refuse = (why: string): never => {
    throw new InvalidDocumentError(`collection \`${collection}\`: ${what} ${why}`)
  }
  const values: unknown[] = [value]
  const depths: number[] = [1]
  let count = 0
  let chars = 0
  let negativeZero = false
  while (values.length > 0) {
    const v = values.pop()
    const depth = depths.pop() as number
    if (++count > MAX_DOCUMENT_VALUES) refuse(`holds more than ${MAX_DOCUMENT_VALUES} values`)
    switch (typeof v) {
      case 'string':
        chars += v.length
        if (chars > MAX_DOCUMENT_CHARS) refuse(`holds more than ${MAX_DOCUMENT_CHARS} characters`)
        continue
      case 'number':
        if (!Number.isFinite(v)) refuse(`holds a number that JSON cannot (${String(v)})`)
        if (Object.is(v, -0)) negativeZero = true
        continue
      case 'boolean':
        continue
      case 'object': {
        if (v === null) continue
        if (depth > MAX_DOCUMENT_DEPTH) refuse(`is nested more than ${MAX_DOCUMENT_DEPTH} deep`)
        if (Array.isArray(v)) {
          if (count + values.length + v.length > MAX_DOCUMENT_VALUES) refuse(`holds more than ${MAX_DOCUMENT_VALUES} values`)
          for (let i = 0; i < v.length; i++) {
            values.push(v[i])
            depths.push(depth + 1)
          }
          continue
        }
        // Only ordinary objects: not byte strings, CIDs or class instances, and not objects
        // without a prototype either (mingo reads `constructor` to classify a value).
        if (Object.getPrototypeOf(v) !== Object.prototype) refuse(`holds a value that is not JSON (${Object.prototype.toString.call(v)})`)
        for (const key of Object.keys(v)) {
          if (RESERVED_MEMBERS.has(key)) refuse(`may not hold a member named \`${key}\``)
          chars += key.length
          values.push((v as Record<string, unknown>)[key])
          depths.push(depth + 1)
        }
        if (chars > MAX_DOCUMENT_CHARS) refuse(`holds more than ${MAX_DOCUMENT_CHARS} characters`)
        if (count + values.length > MAX_DOCUMENT_VALUES) refuse(`holds more than ${MAX_DOCUMENT_VALUES} values`)
        if (Object.getOwnPropertySymbols(v).length > 0) refuse('holds a symbol-named member')
        continue
      }
      default:
        refuse(`holds a value that is not JSON (${typeof v})`)
    }
  }
  return negativeZero
}

/**
 * `value` with every `-0` replaced by `0` (a copy of the objects on the way; the rest shared).
 * dag-cbor encodes `-0` as the integer 0, so a state holding `-0` would differ from its own
 * snapshot. Call only on values {@link checkJsonValue} passed (bounded depth).
 */
export function normalized<T>(value: T): T {
  if (typeof value === 'number') return (Object.is(value, -0) ? 0 : value) as T
  if (typeof value !== 'object' || value === null) return value
  if (Array.isArray(value)) return value.map((v: unknown) => normalized(v)) as T
  const out: Record<string, unknown> = {}
  for (const key of Object.keys(value)) out[key] = normalized((value as Record<string, unknown>)[key])
  return out as T
}

/**
 * RFC 7386 (JSON Merge Patch) applied without mutating `target` (core's `mergePatch`: only
 * objects on the patch's paths are copied). The patch must have passed {@link checkJsonValue}.
 */
export function applyMergePatch(target: unknown, patch: unknown): unknown {
  if (!isJsonObject(patch)) throw new InvalidDocumentError('a patch must be a JSON object')
  return mergePatch(target, patch)
}
