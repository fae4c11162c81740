/**
 * The document map in the folded state: documents by `_id`, split into {@link BUCKETS} buckets by
 * a hash of the ID, each a plain object. A write copies the bucket map (at most 256 keys) and one
 * bucket (n / 256 documents), never a record of all n documents: Immer (which RTK reducers run
 * under) would copy that whole record on every write. `null` under an ID is a tombstone: the
 * document was deleted, and its ID is never reused.
 */
import { InvalidDocumentError } from './errors.js'
import { BUCKETS, bucketOf } from './ids.js'

/** Documents by bucket, then by `_id`; `null` marks a deleted document. */
export type DocumentBuckets<Doc> = Readonly<Record<string, Readonly<Record<string, Doc | null>>>>

/** What the map holds under `id`: the document, `null` (deleted), or `undefined` (never held). */
export function entryOf<Doc>(docs: DocumentBuckets<Doc>, id: string): Doc | null | undefined {
  const bucket = docs[bucketOf(id)]
  return bucket !== undefined && Object.hasOwn(bucket, id) ? bucket[id] : undefined
}

/** A new map with `value` under `id` (every other bucket shared). */
export function withEntry<Doc>(docs: DocumentBuckets<Doc>, id: string, value: Doc | null): DocumentBuckets<Doc> {
  const key = bucketOf(id)
  return { ...docs, [key]: { ...docs[key], [id]: value } }
}

/** Every live document (tombstones skipped), in bucket order: callers sort. */
export function liveDocuments<Doc>(docs: DocumentBuckets<Doc>): Doc[] {
  const out: Doc[] = []
  for (let b = 0; b < BUCKETS; b++) {
    const bucket = docs[String(b)]
    if (bucket === undefined) continue
    for (const id in bucket) {
      const doc = bucket[id]
      if (doc !== null && doc !== undefined) out.push(doc)
    }
  }
  return out
}

function isJsonObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value)
}

/**
 * RFC 7386 (JSON Merge Patch) applied without mutating `target`: only objects on the patch's
 * paths are copied, everything else is shared (json-merge-patch's `apply` writes into its
 * target, which is frozen state here). `null` in the patch removes a member.
 */
export function applyMergePatch(target: unknown, patch: unknown): unknown {
  if (!isJsonObject(patch)) return patch
  const out: Record<string, unknown> = isJsonObject(target) ? { ...target } : {}
  for (const key of Object.keys(patch)) {
    const value = patch[key]
    if (key === '__proto__') throw new InvalidDocumentError('a document or patch may not hold a `__proto__` member')
    if (value === null) delete out[key]
    else out[key] = applyMergePatch(Object.hasOwn(out, key) ? out[key] : undefined, value)
  }
  return out
}
