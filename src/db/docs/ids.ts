/**
 * Document IDs: a ULID made when the command is made (in `prepare`, so it travels in the event
 * and every peer folds the same ID), monotonic within this process (two IDs made in one
 * millisecond still sort in the order they were made). The paper's section 5.3 gives every
 * instance an `_id`; Textile's go-threads makes it a ULID too.
 */
import { monotonicFactory } from 'ulid'
import { InvalidDocumentError } from './errors.js'

const next = monotonicFactory()

/**
 * A new document ID: a 26-character ULID (Crockford base32; 48 bits of milliseconds, 80 random),
 * monotonic within this process. `actions.create` calls it in `prepare` when `_id` is absent.
 *
 * @example
 * ```ts
 * import { newDocumentId } from 'redux-p2p-threads/db'
 * store.dispatch(people.actions.create({ _id: newDocumentId(), name: 'Ada', age: 36 }))
 * ```
 */
export function newDocumentId(): string {
  return next()
}

/** The longest `_id` a collection takes (characters). */
export const MAX_ID_CHARS = 256

/** Throw {@link InvalidDocumentError} unless `id` is a usable document ID. */
export function checkId(id: unknown): asserts id is string {
  if (typeof id !== 'string' || id.length === 0 || id.length > MAX_ID_CHARS) {
    throw new InvalidDocumentError(`\`_id\` must be a string of 1 to ${MAX_ID_CHARS} characters (got ${typeof id === 'string' ? `${id.length} characters` : typeof id})`)
  }
  if (id === '__proto__') throw new InvalidDocumentError('`_id` may not be `__proto__`')
}

