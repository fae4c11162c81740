/**
 * RFC 7386 JSON Merge Patch, applied without touching its target: the one merge that document
 * saves (`db/docs`), the JSON document CRDT helper (`db/crdt/json`) and the ACL documents
 * (`acl/aclProjection`) share.
 *
 * Why not `json-merge-patch`'s `apply` (we use its `generate`): it writes members with
 * `target[key] = value`, so a member named `__proto__` replaces the result's prototype instead of
 * becoming a member. Peer IDs in ACL documents are strings from the network: every member here
 * is written as an own data property, whatever its name, and callers that refuse such names
 * (documents) check before.
 *
 * What the patch does not name keeps its identity (memoized selectors of untouched parts stay
 * put); only the objects on the patch's paths are copied.
 */

/** A JSON object (not an array, not null). */
export function isJsonObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value)
}

/**
 * `target` with `patch` merged into it (RFC 7386 section 2): a patch that is not an object
 * replaces the target; `null` members remove; object members merge recursively; arrays and
 * scalars replace.
 *
 * @example
 * ```ts
 * mergePatch({ a: 1, b: { c: 2, d: 3 } }, { b: { c: null, e: 4 } })   // { a: 1, b: { d: 3, e: 4 } }
 * ```
 */
export function mergePatch(target: unknown, patch: unknown): unknown {
  if (!isJsonObject(patch)) return patch
  const out: Record<string, unknown> = isJsonObject(target) ? { ...target } : {}
  for (const key of Object.keys(patch)) {
    const value = patch[key]
    if (value === null) {
      delete out[key]
      continue
    }
    const merged = mergePatch(Object.hasOwn(out, key) ? out[key] : undefined, value)
    Object.defineProperty(out, key, { value: merged, enumerable: true, writable: true, configurable: true })
  }
  return out
}
