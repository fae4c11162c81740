import { monotonicFactory } from 'ulid'

const next = monotonicFactory()

/**
 * A new unique ID for a CRDT element or tag, made when a command is made (never in a reducer:
 * it travels in the event, so every peer folds the same ID). A monotonic ULID: 26 Crockford
 * base32 characters, 48 bits of time and 80 random bits, strictly increasing within this
 * process, so IDs made in one millisecond still differ.
 *
 * @example
 * ```ts
 * import { newId } from 'redux-p2p-threads/db'
 * newId() // '01JDQ4Y8Z5V3W2KX7M9N0PQRST'
 * ```
 */
export function newId(): string {
  return next()
}
