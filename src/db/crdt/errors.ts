import { ThreadsError } from '../../core/errors.js'

/**
 * An operation a database module cannot apply: a malformed payload (a key that is not a
 * string, a count that is not a finite number), an element or anchor its state does not hold,
 * an ID used twice, a value its validation hook refused. Thrown from a reducer, so a local
 * command is refused (nothing is signed or stored) and a peer's event is skipped by every peer
 * alike and reported as a `ReducerError` whose `cause` is this error (paper section 5.3).
 * Callers branch on `.name` (`'InvalidOperationError'`).
 */
export class InvalidOperationError extends ThreadsError {
  static override readonly NAME = 'InvalidOperationError'
}

/** Throw an {@link InvalidOperationError} naming `what` unless `ok`. */
export function check(ok: boolean, what: string): asserts ok {
  if (!ok) throw new InvalidOperationError(what)
}

/**
 * True for a string usable as a key of a plain state object: not `__proto__`, which a plain
 * object (and an Immer draft of one) would take as its prototype rather than as a key.
 */
export function isSafeKey(key: unknown): key is string {
  return typeof key === 'string' && key !== '__proto__'
}
