import { current, isDraft } from '@reduxjs/toolkit'

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
