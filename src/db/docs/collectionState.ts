/**
 * A collection's folded state and its transitions, as pure functions that return new plain
 * objects (no Immer draft is touched: see `documents.ts` and `indexes.ts` for what a write
 * copies). The reducers of `createCollection` call these; they throw the named errors of
 * `errors.ts`, which refuse a local command or make every peer skip a remote event.
 */
import { applyMergePatch, checkJsonValue, deepFreeze, emptyPages, entryOf, normalized, withEntry, type DocumentPages } from './documents.js'
import { DocumentNotFoundError, DuplicateDocumentError, InvalidDocumentError, InvalidSchemaError } from './errors.js'
import { checkId } from './ids.js'
import { checkUnique, entryFor, insertEntry, removeEntry, type IndexPages, type IndexSpec } from './indexes.js'
import { checkSchemaAuthority, validateDocument, validatorOf, type JsonSchema, type SchemaAuthority, type SchemaState } from './schema.js'
import type { EventMeta } from '../../engine/threadEvent.js'

/** Every document has a string `_id`. */
export interface DocumentBase {
  readonly _id: string
}

/**
 * The state of one collection in one thread: plain, serialisable Redux state (dag-cbor in
 * snapshots), a pure function of the thread's ordered events.
 */
export interface CollectionState<Doc extends DocumentBase = DocumentBase> {
  /** The schema in force (set by `createCollection`, then by `setSchema` events). */
  readonly schema: SchemaState
  /** Documents in pages sorted by `_id` (`[_id, doc]`, at most 512 a page); `null` is a tombstone. */
  readonly docs: DocumentPages<Doc>
  /** Live documents. */
  readonly count: number
  /** The secondary indexes, by path. */
  readonly indexes: Readonly<Record<string, IndexPages>>
}

/** The state before any event. */
export function initialCollectionState<Doc extends DocumentBase>(schema: JsonSchema, specs: readonly IndexSpec[]): CollectionState<Doc> {
  return { schema: { version: 1, schema }, docs: emptyPages<Doc>(), count: 0, indexes: Object.fromEntries(specs.map((s) => [s.path, []])) }
}

function checkObject(collection: string, value: unknown): asserts value is Record<string, unknown> {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw new InvalidDocumentError(`collection \`${collection}\`: a document must be a JSON object`)
}

function indexed<Doc extends DocumentBase>(collection: string, specs: readonly IndexSpec[], indexes: CollectionState<Doc>['indexes'], before: Doc | undefined, after: Doc | undefined, id: string): CollectionState<Doc>['indexes'] {
  let out: Record<string, IndexPages> | undefined
  for (const spec of specs) {
    const old = before === undefined ? undefined : entryFor(before, spec.path, id)
    const next = after === undefined ? undefined : entryFor(after, spec.path, id)
    if (old !== undefined && next !== undefined && old[0] === next[0] && old[1] === next[1]) continue
    let pages = indexes[spec.path] ?? []
    if (old !== undefined) pages = removeEntry(pages, old)
    if (next !== undefined) {
      if (spec.unique === true) checkUnique(collection, spec.path, pages, next)
      pages = insertEntry(pages, next)
    }
    ;(out ??= { ...indexes })[spec.path] = pages
  }
  return out === undefined ? indexes : Object.freeze(out)
}

/**
 * Add `doc`. Throws {@link DuplicateDocumentError} if its `_id` is held or was (a tombstone),
 * `SchemaViolationError`, `UniqueIndexError` or `InvalidDocumentError`.
 */
export function createDocument<Doc extends DocumentBase>(collection: string, specs: readonly IndexSpec[], state: CollectionState<Doc>, doc: unknown): CollectionState<Doc> {
  checkObject(collection, doc)
  checkId(doc._id)
  const id = doc._id
  // Before anything recursive (ajv, freezing, mingo) sees it: JSON only, bounded, no reserved names.
  const json = checkJsonValue(collection, `document ${id}`, doc) ? normalized(doc) : doc
  const held = entryOf(state.docs, id)
  if (held !== undefined) throw new DuplicateDocumentError(`collection \`${collection}\`: document ${id} ${held === null ? 'was deleted (its id is not reused)' : 'exists'}`)
  validateDocument(collection, state.schema.schema, json)
  const typed = deepFreeze(json) as unknown as Doc
  const indexes = indexed(collection, specs, state.indexes, undefined, typed, id)
  return Object.freeze({ ...state, docs: withEntry(state.docs, id, typed), count: state.count + 1, indexes })
}

/**
 * Apply an RFC 7386 merge patch to document `id`. A deleted document stays deleted (delete wins).
 * Throws {@link DocumentNotFoundError} if the document never existed, `InvalidDocumentError` for a patch that is not an object or changes
 * `_id`, `SchemaViolationError` or `UniqueIndexError` for the result.
 */
export function saveDocument<Doc extends DocumentBase>(collection: string, specs: readonly IndexSpec[], state: CollectionState<Doc>, id: unknown, patch: unknown): CollectionState<Doc> {
  checkId(id)
  checkObject(collection, patch)
  if (Object.hasOwn(patch, '_id') && patch._id !== id) throw new InvalidDocumentError(`collection \`${collection}\`: a save may not change \`_id\` (document ${id})`)
  const json = checkJsonValue(collection, `the patch of document ${id}`, patch) ? normalized(patch) : patch
  const before = entryOf(state.docs, id)
  // Delete wins: a save that sorts after a delete of its document (two peers editing and
  // deleting at once) changes nothing, on every peer alike. It is ordinary concurrency, not a
  // fault, so it is not refused (a refusal would put a ReducerError on every peer's status).
  // The `save` thunk refuses a save of a document this peer no longer holds.
  if (before === null) return state
  if (before === undefined) throw new DocumentNotFoundError(`collection \`${collection}\`: no document ${id} to save`)
  const after = applyMergePatch(before, json) as Doc
  // The result may be deeper or larger than either part: the same bounds hold for it.
  checkJsonValue(collection, `document ${id} after the save`, after)
  validateDocument(collection, state.schema.schema, after)
  deepFreeze(after)
  const indexes = indexed(collection, specs, state.indexes, before, after, id)
  return Object.freeze({ ...state, docs: withEntry(state.docs, id, after), indexes })
}

/** Delete document `id`, leaving a tombstone; a missing or deleted `id` leaves the state as it is. */
export function deleteDocument<Doc extends DocumentBase>(collection: string, specs: readonly IndexSpec[], state: CollectionState<Doc>, id: unknown): CollectionState<Doc> {
  checkId(id)
  const before = entryOf(state.docs, id)
  if (before === undefined || before === null) return state
  const indexes = indexed(collection, specs, state.indexes, before, undefined, id)
  return Object.freeze({ ...state, docs: withEntry(state.docs, id, null), count: state.count - 1, indexes })
}

/**
 * Put `schema` in force from this event on (version + 1). Documents already held are not
 * validated again; later writes are. Throws {@link InvalidSchemaError} if a schema bound or ajv
 * refuses it (see `schema.ts`), then `SchemaAuthorityError` unless `authority` allows the event's
 * author (`'anyone'`, or a pure function of the event's meta; default: nobody, so the schema
 * changes only in code).
 */
export function setSchema<Doc extends DocumentBase>(state: CollectionState<Doc>, schema: unknown, event?: EventMeta, authority?: SchemaAuthority): CollectionState<Doc> {
  if (typeof schema !== 'object' || schema === null || Array.isArray(schema)) throw new InvalidSchemaError('`setSchema` takes a JSON Schema object')
  validatorOf(schema as JsonSchema)
  checkSchemaAuthority(authority, event)
  return Object.freeze({ ...state, schema: deepFreeze({ version: state.schema.version + 1, schema: schema as JsonSchema }) })
}
