import { InvalidOperationError } from './errors.js'

/**
 * The deepest nesting a value a CRDT helper or the key-value store takes may have (arrays and
 * objects; a scalar at the top is depth 0). Checked by a loop before any recursive code
 * (canonical keys, merge patches) runs, so whether a value is taken never depends on the stack
 * left when the reducer runs: every peer decides alike.
 */
export const MAX_VALUE_DEPTH = 64

/** Keys a value may not hold at any depth: `__proto__` always; also `constructor` and `prototype` when `strictKeys`. */
const RESERVED = new Set(['__proto__', 'constructor', 'prototype'])

/**
 * Check that `value` is plain JSON data, with one iterative walk: `null`, booleans, strings,
 * finite numbers, arrays and plain objects (prototype `Object.prototype` or `null`), at most
 * {@link MAX_VALUE_DEPTH} deep, no own `__proto__` member anywhere (dag-cbor decodes one as an own
 * property), and with `strictKeys` no `constructor` or `prototype` member either. Refused:
 * `undefined`, functions, symbols, BigInt (dag-cbor decodes integers beyond 2^53 as BigInt),
 * byte strings (`Uint8Array`), CIDs and any other class instance.
 *
 * Returns true when the value holds a `-0` somewhere (dag-cbor decodes it from a peer's body but
 * encodes it as 0, so a snapshot would hold 0): pass the value through {@link withoutNegativeZero}.
 *
 * @throws {@link InvalidOperationError} naming `what`.
 */
export function checkJsonValue(value: unknown, what: string, strictKeys = false): boolean {
  let negativeZero = false
  const stack: Array<readonly [unknown, number]> = [[value, 0]]
  while (stack.length > 0) {
    const [v, depth] = stack.pop() as readonly [unknown, number]
    switch (typeof v) {
      case 'string':
      case 'boolean':
        continue
      case 'number':
        if (!Number.isFinite(v)) throw new InvalidOperationError(`${what} holds a number that is not finite`)
        if (Object.is(v, -0)) negativeZero = true
        continue
      case 'object':
        break
      default:
        throw new InvalidOperationError(`${what} holds a ${typeof v}, which is not JSON`)
    }
    if (v === null) continue
    if (depth >= MAX_VALUE_DEPTH) throw new InvalidOperationError(`${what} is nested more than ${MAX_VALUE_DEPTH} deep`)
    if (Array.isArray(v)) {
      for (let i = 0; i < v.length; i++) stack.push([v[i], depth + 1])
      continue
    }
    const proto = Object.getPrototypeOf(v) as unknown
    if (proto !== Object.prototype && proto !== null) throw new InvalidOperationError(`${what} holds an object that is not plain JSON (a class instance, bytes or a CID)`)
    for (const k of Object.keys(v)) {
      if (k === '__proto__' || (strictKeys && RESERVED.has(k))) throw new InvalidOperationError(`${what} may not hold a \`${k}\` member`)
      stack.push([(v as Record<string, unknown>)[k], depth + 1])
    }
  }
  return negativeZero
}

/**
 * `value` with every `-0` replaced by 0 (copies only the arrays and objects on the way to one).
 * Recursive: call it only on a value {@link checkJsonValue} took (depth bounded).
 */
export function withoutNegativeZero<T>(value: T): T {
  if (typeof value === 'number') return (Object.is(value, -0) ? 0 : value) as T
  if (typeof value !== 'object' || value === null) return value
  if (Array.isArray(value)) {
    let out: unknown[] | undefined
    for (let i = 0; i < value.length; i++) {
      const v = withoutNegativeZero(value[i] as unknown)
      if (!Object.is(v, value[i])) (out ??= [...value])[i] = v
    }
    return (out ?? value) as T
  }
  let out: Record<string, unknown> | undefined
  for (const k of Object.keys(value)) {
    const old = (value as Record<string, unknown>)[k]
    const v = withoutNegativeZero(old)
    if (!Object.is(v, old)) (out ??= { ...(value as Record<string, unknown>) })[k] = v
  }
  return (out ?? value) as T
}

/** `value` checked by {@link checkJsonValue} and with `-0` made 0: what a helper may keep in state. */
export function jsonValue<T>(value: T, what: string, strictKeys = false): T {
  return checkJsonValue(value, what, strictKeys) ? withoutNegativeZero(value) : value
}
