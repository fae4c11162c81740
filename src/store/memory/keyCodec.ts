/**
 * The string form of storage keys, shared by the adapters that store keys as strings.
 *
 * Components are joined with `\u0000`. Because components never contain `\u0000` and every
 * other code unit is greater than it, comparing joined strings by code unit gives exactly the
 * component-wise order of {@link StorageKey}: `a\0b` < `a\0b\0c` < `a\0ba`. That lets every
 * backend use its native string order (LevelDB bytes, IndexedDB, `Array#sort`) unchanged.
 *
 * @internal
 * @packageDocumentation
 */

import type { RangeOptions, StorageKey } from '../storageAdapter.js'

const SEPARATOR = '\u0000'
/** The code unit just above the separator: `p\u0001` is the first string past every `p\0…`. */
const AFTER_SEPARATOR = '\u0001'

/** Half-open string interval `[gte, lt)`; `lt` undefined means unbounded. */
export interface EncodedRange {
  readonly gte: string
  readonly lt: string | undefined
}

function joinComponents(components: readonly string[], what: string): string {
  for (const component of components) {
    // A separator inside a component would silently merge two keys' orders, so refuse early.
    if (typeof component !== 'string' || component.includes(SEPARATOR)) {
      throw new TypeError(`storage ${what}: components must be strings without \\u0000`)
    }
  }
  return components.join(SEPARATOR)
}

/**
 * The stored form of `key`.
 *
 * @throws TypeError when `key` is empty (it would collide with `['']`) or a component
 * contains `\u0000`.
 */
export function encodeKey(key: StorageKey): string {
  if (key.length === 0) throw new TypeError('storage key: must have at least one component')
  return joinComponents(key, 'key')
}

/** Inverse of {@link encodeKey}. */
export function decodeKey(encoded: string): string[] {
  return encoded.split(SEPARATOR)
}

/**
 * The string interval holding the keys that start with `prefix` and are strictly longer than
 * it, narrowed by the suffix bounds of `options`.
 *
 * @remarks
 * The key equal to `prefix` itself is excluded: `range(['a'])` lists what lives under `a`,
 * not `a`. An empty prefix covers every key.
 */
export function encodeRange(prefix: StorageKey, options: RangeOptions = {}): EncodedRange {
  const joined = joinComponents(prefix, 'range prefix')
  const base = prefix.length === 0 ? '' : joined + SEPARATOR
  const gte = options.gte === undefined ? base : base + joinComponents(options.gte, 'range gte')
  let lt: string | undefined
  if (options.lt !== undefined) lt = base + joinComponents(options.lt, 'range lt')
  else if (prefix.length > 0) lt = joined + AFTER_SEPARATOR
  return { gte, lt }
}

/** `limit` as a count: `Infinity` when absent, never negative or fractional. */
export function normaliseLimit(limit: number | undefined): number {
  if (limit === undefined) return Infinity
  if (Number.isNaN(limit)) throw new RangeError('storage range: limit is NaN')
  return Math.max(0, Math.floor(limit))
}
