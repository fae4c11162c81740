import { current, freeze, isDraft } from '@reduxjs/toolkit'

/**
 * `value` as a plain object: an Immer draft's current value (its base when unchanged, which
 * costs nothing), anything else as it is. The helpers read through it, so they work on a case
 * reducer's draft and on plain state alike, and never read a large array through a proxy.
 */
export function plain<T>(value: T): T {
  return isDraft(value) ? (current(value as never) as T) : value
}

/**
 * A memo keyed by state object identity: `read(state)` computes once per state object. Drafts
 * (which change in place) are computed every time and never kept.
 */
export function memoByIdentity<S extends object, R>(compute: (state: S) => R): (state: S) => R {
  const cache = new WeakMap<S, R>()
  return (state) => {
    if (isDraft(state)) return compute(current(state as never) as S)
    const known = cache.get(state)
    if (known !== undefined || cache.has(state)) return known as R
    const out = compute(state)
    cache.set(state, out)
    return out
  }
}

/**
 * Freeze what a helper made, as Immer freezes what a reducer returns: `deep` for new objects
 * (their parts are new too), shallow for a big array whose items are old (already frozen) or
 * frozen one by one. Immer then skips it (a frozen value is final), where it would otherwise
 * walk every item of a 10,000-item array on every command.
 */
export function frozen<T>(value: T, deep = true): T {
  return freeze(value, deep)
}
