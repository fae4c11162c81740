/**
 * FINDING (medium): values that are not JSON reach the folded state from a peer's bytes, although
 * the modules promise JSON-like state and refuse `__proto__` elsewhere (kv keys, OR-set keys,
 * merge patches). dag-cbor decodes, from a crafted body: an own `__proto__` member (cborg defines
 * it as an own property), integers beyond 2^53 as BigInt, byte strings as Uint8Array, tag 42 as
 * CID instances.
 * - createDocument (src/db/docs/collectionState.ts:63-70) stores an own `__proto__` member anywhere in
 *   a document (only patches are checked, documents.ts:79, whose message says "a document or
 *   patch may not hold a `__proto__` member"). Any app code that merges such a document with a
 *   for-in/assignment deep merge (a common settings pattern) pollutes Object.prototype.
 * - A Uint8Array member makes deepFreeze (documents.ts:46-50) throw a bare TypeError ("Cannot freeze
 *   array buffer views with elements") instead of a named error.
 * - applyJsonPatch (src/db/crdt/json.ts:96, hasReservedKey) does not look inside arrays, so
 *   `{ list: [{ __proto__: … }] }` passes the rule "patches naming __proto__, constructor or
 *   prototype are refused".
 * - A BigInt put by a peer's patch makes every later `makeJsonPatch` of that document throw
 *   (json.ts:107, JSON.stringify), so honest peers can no longer edit it with the helper.
 * Fix: one iterative walk of every incoming document/patch/value refusing (InvalidDocumentError /
 * InvalidOperationError) reserved keys at any depth, and non-JSON values (bigint, bytes, CIDs),
 * with a depth bound.
 */
import { describe, expect, it } from 'vitest'
import { applyJsonPatch, makeJsonPatch, type JsonObject, type JsonPatchOp } from '../../../src/db/crdt/index.js'
import { createCollection } from '../../../src/db/index.js'
import { cborText, decodeRaw, outcome } from './support.js'

const c = createCollection<{ _id: string }>({ name: 'nj' })
const create = (payload: unknown) => outcome(() => c.fold(undefined as never, { type: 'nj/create', payload }))

describe('non-JSON values and reserved keys from a peer', () => {
  it('a document with an own `__proto__` member (nested) is refused with InvalidDocumentError', () => {
    const doc = decodeRaw([0xa2, ...cborText('_id'), ...cborText('p'), ...cborText('a'), 0xa1, ...cborText('__proto__'), 0xa1, ...cborText('polluted'), 0xf5])
    expect(Object.hasOwn((doc as { a: object }).a, '__proto__')).toBe(true)
    expect(create(doc)).toBe('InvalidDocumentError')
  })

  it('a document with a byte string is refused with a named error', () => {
    const doc = decodeRaw([0xa2, ...cborText('_id'), ...cborText('b'), ...cborText('a'), 0x42, 0x01, 0x02])
    expect((doc as { a: unknown }).a).toBeInstanceOf(Uint8Array)
    expect(create(doc)).toBe('InvalidDocumentError')
  })

  it('applyJsonPatch refuses `__proto__` inside an array of the patch', () => {
    const patch = decodeRaw([0xa1, ...cborText('patch'), 0xa1, ...cborText('list'), 0x81, 0xa1, ...cborText('__proto__'), 0xa1, ...cborText('polluted'), 0xf5]) as JsonPatchOp
    expect(outcome(() => applyJsonPatch({} as JsonObject, patch))).toBe('InvalidOperationError')
  })

  it('after a peer patches in a 64-bit integer, this peer can still make a patch of the document', () => {
    const patch = decodeRaw([0xa1, ...cborText('patch'), 0xa1, ...cborText('n'), 0x1b, 0x7f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff]) as JsonPatchOp
    let doc: JsonObject = { title: 'a' }
    try {
      doc = applyJsonPatch(doc, patch)
    } catch (e) {
      expect((e as Error).name).toBe('InvalidOperationError') // refused: safe
      return
    }
    expect(() => makeJsonPatch(doc, { ...doc, title: 'b' })).not.toThrow()
  })
})
