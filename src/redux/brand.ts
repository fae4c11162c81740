/**
 * The marks the Redux bindings put on their own objects. They are registered symbols
 * (`Symbol.for`), so a second copy of the library in one process (its ESM and CJS builds, a
 * linked workspace, hot reloading) recognises them too: there is no module-level registry to
 * fall out of step (REVIEW.md P2).
 */

/** On a slice made by `createThreadSlice`. */
export const THREAD_SLICE: unique symbol = Symbol.for('redux-threads/thread-slice') as never
/** On a command made by a thread slice's action creator: the slice's name (non-enumerable). */
export const THREAD_COMMAND: unique symbol = Symbol.for('redux-threads/thread-command') as never
/** On a command: the deferred its `unwrap()` awaits (non-enumerable). */
export const DURABLE: unique symbol = Symbol.for('redux-threads/durable') as never

/** Attach a value under a symbol without making it part of the action (not enumerable, not serialised). */
export function mark<T extends object>(target: T, key: PropertyKey, value: unknown): T {
  Object.defineProperty(target, key, { value, enumerable: false, configurable: true, writable: true })
  return target
}

/** A value attached with {@link mark}, if any. */
export function markOf<V>(target: unknown, key: symbol): V | undefined {
  return typeof target === 'object' && target !== null ? ((target as Record<symbol, unknown>)[key] as V | undefined) : undefined
}
