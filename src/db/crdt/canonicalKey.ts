import { checkJsonValue } from './values.js'

/**
 * The canonical JSON text of a value: object keys sorted by code unit, no spaces, so equal
 * values give equal keys on every peer. Never `__proto__` (a string's key is quoted), so it is
 * a safe key of a plain state object.
 *
 * @throws {@link InvalidOperationError} for a value that is not plain JSON or is nested deeper
 * than `MAX_VALUE_DEPTH` (checked by a loop before the recursive walk).
 *
 * @example
 * ```ts
 * canonicalKey({ b: 1, a: [true, 'x'] }) // '{"a":[true,"x"],"b":1}'
 * canonicalKey('tag')                    // '"tag"'
 * ```
 */
export function canonicalKey(value: unknown): string {
  // Depth and kind first, by a loop: the recursion below then never depends on the stack left.
  checkJsonValue(value, 'a value given a canonical key')
  return keyOf(value)
}

function keyOf(value: unknown): string {
  if (value === null || typeof value !== 'object') {
    const text = JSON.stringify(value) as string | undefined
    if (text === undefined) throw new TypeError(`${typeof value} has no JSON form`)
    return text
  }
  if (Array.isArray(value)) return `[${value.map(keyOf).join(',')}]`
  const keys = Object.keys(value).sort((a, b) => (a < b ? -1 : a > b ? 1 : 0))
  return `{${keys.map((k) => `${JSON.stringify(k)}:${keyOf((value as Record<string, unknown>)[k])}`).join(',')}}`
}
