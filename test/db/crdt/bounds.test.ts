import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import {
  applyCounter,
  applyJsonPatch,
  applyLwwRegister,
  applyOrSet,
  canonicalKey,
  lwwRegister,
  makeOrSetAdd,
  makeOrSetRemove,
  MAX_OR_SET_TAGS,
  MAX_VALUE_DEPTH,
  orSetHas,
  orSetValues,
  PAGE_MAX_ENTRIES,
  type JsonObject,
  type OrSetState
} from '../../../src/db/crdt/index.js'
import { pagesEntries, pagesGet, pagesWith, type Pages } from '../../../src/db/crdt/pages.js'

const invalid = expect.objectContaining({ name: 'InvalidOperationError' })
const stamp = { clock: 1, logId: 'a', seq: 1 }

function nested(depth: number): unknown {
  let v: unknown = 1
  for (let i = 0; i < depth; i++) v = [v]
  return v
}

describe('sorted pages', () => {
  it('hold what a sorted map holds, in pages of at most PAGE_MAX_ENTRIES, after any puts and removes', () => {
    fc.assert(
      fc.property(fc.array(fc.tuple(fc.boolean(), fc.integer({ min: 0, max: 2_000 })), { maxLength: 1_500 }), (ops) => {
        let pages: Pages<{ key: string; n: number }> = []
        const model = new Map<string, number>()
        for (const [put, n] of ops) {
          const key = `k${n}`
          if (put) model.set(key, n)
          else model.delete(key)
          pages = pagesWith(pages, key, put ? { key, n } : undefined)
        }
        expect(pages.every((p) => p.length > 0 && p.length <= PAGE_MAX_ENTRIES)).toBe(true)
        expect(pagesEntries(pages).map((e) => e.key)).toEqual([...model.keys()].sort())
        for (const [k, n] of model) expect(pagesGet(pages, k)?.n).toBe(n)
      }),
      { numRuns: 20 }
    )
  })
})

describe('values the helpers keep', () => {
  it('are refused past MAX_VALUE_DEPTH, decided by a loop', () => {
    expect(() => applyOrSet({}, makeOrSetAdd(nested(MAX_VALUE_DEPTH)))).not.toThrow()
    expect(() => applyOrSet({}, makeOrSetAdd(nested(MAX_VALUE_DEPTH + 1)))).toThrow(invalid)
    expect(() => canonicalKey(nested(100_000))).toThrow(invalid)
    expect(() => applyLwwRegister(lwwRegister<unknown>(0), { value: nested(MAX_VALUE_DEPTH + 1) }, stamp)).toThrow(invalid)
  })

  it('must be plain JSON: no BigInt, bytes or class instances; -0 is kept as 0', () => {
    for (const value of [10n, new Uint8Array([1]), new Date(0), { a: [undefined] }, Number.NaN]) {
      expect(() => applyOrSet({}, makeOrSetAdd(value as unknown))).toThrow(invalid)
      expect(() => applyJsonPatch({}, { patch: { v: value } as never })).toThrow(invalid)
    }
    const patched: JsonObject = applyJsonPatch({} as JsonObject, { patch: { v: [-0], w: { x: -0 } } })
    expect(Object.is((patched.v as number[])[0], 0)).toBe(true)
    expect(Object.is((patched.w as { x: number }).x, 0)).toBe(true)
    expect(Object.is(applyLwwRegister(lwwRegister(1), { value: -0 }, stamp).value, 0)).toBe(true)
    expect(Object.is(applyCounter(-0, { add: -0 }), 0)).toBe(true)
  })
})

describe('an OR-set member', () => {
  it('holds at most MAX_OR_SET_TAGS tags; a remove frees it', () => {
    let s: OrSetState<string> = {}
    for (let i = 0; i < MAX_OR_SET_TAGS; i++) s = applyOrSet(s, makeOrSetAdd('x', `t${i}`))
    expect(() => applyOrSet(s, makeOrSetAdd('x', 'one-more'))).toThrow(invalid)
    s = applyOrSet(s, makeOrSetRemove(s, 'x'))
    expect(orSetHas(s, 'x')).toBe(false)
    expect(orSetValues(applyOrSet(s, makeOrSetAdd('x', 'again')))).toEqual(['x'])
  })
})
