/**
 * The canonical JSON text of a value: object keys sorted by code unit, no spaces, so equal
 * values give equal keys on every peer. Never `__proto__` (a string's key is quoted), so it is
 * a safe key of a plain state object.
 *
 * @example
 * ```ts
 * canonicalKey({ b: 1, a: [true, 'x'] }) // '{"a":[true,"x"],"b":1}'
 * canonicalKey('tag')                    // '"tag"'
 * ```
 */
export function canonicalKey(value: unknown): string {
  if (value === null || typeof value !== 'object') {
    const text = JSON.stringify(value) as string | undefined
    if (text === undefined) throw new TypeError(`${typeof value} has no JSON form`)
    return text
  }
  if (Array.isArray(value)) return `[${value.map(canonicalKey).join(',')}]`
  const keys = Object.keys(value).sort((a, b) => (a < b ? -1 : a > b ? 1 : 0))
  return `{${keys.map((k) => `${JSON.stringify(k)}:${canonicalKey((value as Record<string, unknown>)[k])}`).join(',')}}`
}
