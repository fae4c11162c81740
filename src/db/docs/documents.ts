/**
 * The document map in the folded state: documents by `_id`, split into {@link BUCKETS} (512)
 * buckets by a hash of the ID: an array of 512 plain objects. A write copies the bucket array
 * and one bucket (n / 512 documents), never a record of all n documents, which Immer (which RTK
 * reducers run under) would copy whole on every write. `null` under an ID is a tombstone: the
 * document was deleted, and its ID is never reused.
 */
import { isJsonObject, mergePatch } from '../../core/mergePatch.js'
import { InvalidDocumentError } from './errors.js'
import { BUCKETS, bucketOf } from './ids.js'

/** Documents by bucket, then by `_id`; `null` marks a deleted document. */
export type DocumentBuckets<Doc> = ReadonlyArray<Readonly<Record<string, Doc | null>>>

/** The empty map: {@link BUCKETS} empty buckets. */
export function emptyBuckets<Doc>(): DocumentBuckets<Doc> {
  return Object.freeze(Array.from({ length: BUCKETS }, () => Object.freeze({})))
}

/** What the map holds under `id`: the document, `null` (deleted), or `undefined` (never held). */
export function entryOf<Doc>(docs: DocumentBuckets<Doc>, id: string): Doc | null | undefined {
  const bucket = docs[bucketOf(id)]
  return bucket !== undefined && Object.hasOwn(bucket, id) ? bucket[id] : undefined
}

/**
 * A new map with `value` under `id` (every other bucket shared). Copies are plain loops: V8
 * copies frozen arrays and objects of many string keys through a slow path with spread or
 * `Object.assign` (~10x slower, measured on Node 20). `id` is never `__proto__` (`checkId`).
 */
export function withEntry<Doc>(docs: DocumentBuckets<Doc>, id: string, value: Doc | null): DocumentBuckets<Doc> {
  const at = bucketOf(id)
  const bucket: Record<string, Doc | null> = {}
  const old = docs[at] ?? {}
  for (const k in old) bucket[k] = old[k] as Doc | null
  bucket[id] = value
  const out = new Array<Readonly<Record<string, Doc | null>>>(docs.length)
  for (let i = 0; i < docs.length; i++) out[i] = docs[i] as Readonly<Record<string, Doc | null>>
  out[at] = Object.freeze(bucket)
  return Object.freeze(out)
}

/**
 * Freeze `value` and every object in it that is not frozen yet (state is immutable, as Immer
 * would leave it; a frozen part was frozen whole, so the walk stops there).
 */
export function deepFreeze<T>(value: T): T {
  if (typeof value !== 'object' || value === null || Object.isFrozen(value)) return value
  Object.freeze(value)
  for (const key of Object.keys(value)) deepFreeze((value as Record<string, unknown>)[key])
  return value
}

/** Every live document (tombstones skipped), in bucket order: callers sort. */
export function liveDocuments<Doc>(docs: DocumentBuckets<Doc>): Doc[] {
  const out: Doc[] = []
  for (const bucket of docs) {
    for (const id in bucket) {
      const doc = bucket[id]
      if (doc !== null && doc !== undefined) out.push(doc)
    }
  }
  return out
}

/**
 * RFC 7386 (JSON Merge Patch) applied without mutating `target` (core's `mergePatch`: only
 * objects on the patch's paths are copied). A `__proto__` member anywhere in the patch is refused.
 */
export function applyMergePatch(target: unknown, patch: unknown): unknown {
  refuseProto(patch)
  return mergePatch(target, patch)
}

function refuseProto(patch: unknown): void {
  if (!isJsonObject(patch)) return
  for (const key of Object.keys(patch)) {
    if (key === '__proto__') throw new InvalidDocumentError('a document or patch may not hold a `__proto__` member')
    refuseProto(patch[key])
  }
}
