/**
 * Named errors of document collections (one class per condition; callers branch on `.name`,
 * which survives `miniSerializeError`). A reducer throws them: on this peer's own command the
 * command is refused (nothing stored, `unwrap()` rejects with it); on a remote event every peer
 * skips the event alike and reports a `ReducerError` whose `cause` is this error.
 */
import { ThreadsError } from '../../core/errors.js'

/** `create` named an `_id` the collection holds, or held (a tombstone keeps a deleted id). */
export class DuplicateDocumentError extends ThreadsError {
  static override readonly NAME = 'DuplicateDocumentError'
}

/** `save` (a merge patch) named an `_id` the collection does not hold (never created, or deleted). */
export class DocumentNotFoundError extends ThreadsError {
  static override readonly NAME = 'DocumentNotFoundError'
}

/** A document that the thread's current JSON Schema refuses (the message lists ajv's errors). */
export class SchemaViolationError extends ThreadsError {
  static override readonly NAME = 'SchemaViolationError'
}

/** A JSON Schema that ajv cannot compile, or a `setSchema` that is not a JSON object. */
export class InvalidSchemaError extends ThreadsError {
  static override readonly NAME = 'InvalidSchemaError'
}

/** A document or patch of the wrong form: not a JSON object, a bad `_id`, a patch that changes `_id`, a value that is not JSON, a reserved member name (`__proto__`, `constructor`, `prototype`), or beyond a bound (depth, values, characters: see `documents.ts`). */
export class InvalidDocumentError extends ThreadsError {
  static override readonly NAME = 'InvalidDocumentError'
}

/** A write that would give two documents one value of a `unique` index. */
export class UniqueIndexError extends ThreadsError {
  static override readonly NAME = 'UniqueIndexError'
}

/** A write attempted inside a read transaction (`readTransaction`). */
export class ReadOnlyTransactionError extends ThreadsError {
  static override readonly NAME = 'ReadOnlyTransactionError'
}

/** A `setSchema` event whose author the collection's `schemaAuthority` does not allow (by default nobody: the schema changes in code). */
export class SchemaAuthorityError extends ThreadsError {
  static override readonly NAME = 'SchemaAuthorityError'
}
