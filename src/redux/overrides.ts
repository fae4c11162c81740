/**
 * How a replay reaches the store: the engine computes the new state of a thread's slices, and
 * one action carries it to their reducers. The states travel beside the action (a WeakMap keyed
 * by the action object), not inside it, so DevTools and RTK's serializability check see a small
 * action, and a slice that is not a thread slice never sees them at all.
 */
const pending = new WeakMap<object, ReadonlyMap<string, unknown>>()

/** Attach slice states (by reducer path) to an action object. */
export function attachOverrides<A extends object>(action: A, states: ReadonlyMap<string, unknown>): A {
  pending.set(action, states)
  return action
}

/** The state this action sets for the slice at `path`, if it carries one. */
export function overrideFor(action: unknown, path: string): { found: true; state: unknown } | { found: false } {
  if (typeof action !== 'object' || action === null) return { found: false }
  const states = pending.get(action)
  if (states === undefined || !states.has(path)) return { found: false }
  return { found: true, state: states.get(path) }
}
