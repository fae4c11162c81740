/**
 * RFC 7386 merge patch (core/mergePatch.ts), shared by document saves, the JSON CRDT helper and
 * the ACL documents: the RFC's own examples (appendix A), identity of untouched parts, and
 * members named like prototype keys written as own members.
 */
import { describe, expect, it } from 'vitest'
import { mergePatch } from '../../../src/core/mergePatch.js'

describe('mergePatch (RFC 7386)', () => {
  it('gives the results of the RFC appendix A examples', () => {
    const cases: Array<[unknown, unknown, unknown]> = [
      [{ a: 'b' }, { a: 'c' }, { a: 'c' }],
      [{ a: 'b' }, { b: 'c' }, { a: 'b', b: 'c' }],
      [{ a: 'b' }, { a: null }, {}],
      [{ a: 'b', b: 'c' }, { a: null }, { b: 'c' }],
      [{ a: ['b'] }, { a: 'c' }, { a: 'c' }],
      [{ a: 'c' }, { a: ['b'] }, { a: ['b'] }],
      [{ a: { b: 'c' } }, { a: { b: 'd', c: null } }, { a: { b: 'd' } }],
      [{ a: [{ b: 'c' }] }, { a: [1] }, { a: [1] }],
      [['a', 'b'], ['c', 'd'], ['c', 'd']],
      [{ a: 'b' }, ['c'], ['c']],
      [{ a: 'foo' }, null, null],
      [{ a: 'foo' }, 'bar', 'bar'],
      [{ e: null }, { a: 1 }, { e: null, a: 1 }],
      [[1, 2], { a: 'b', c: null }, { a: 'b' }],
      [{}, { a: { bb: { ccc: null } } }, { a: { bb: {} } }]
    ]
    for (const [target, patch, result] of cases) expect(mergePatch(target, patch)).toEqual(result)
  })

  it('leaves its target alone and shares what the patch does not name', () => {
    const target = Object.freeze({ keep: Object.freeze({ x: 1 }), change: Object.freeze({ y: 1, z: 2 }) })
    const out = mergePatch(target, { change: { y: 3 } }) as typeof target
    expect(out.keep).toBe(target.keep)
    expect(out.change).toEqual({ y: 3, z: 2 })
    expect(target.change).toEqual({ y: 1, z: 2 })
  })

  it('writes a member named __proto__, constructor or prototype as an own member, never as the prototype', () => {
    const patch = JSON.parse('{"__proto__": {"polluted": true}, "constructor": 1, "prototype": [2]}') as Record<string, unknown>
    const out = mergePatch({}, patch) as Record<string, unknown>
    expect(Object.getPrototypeOf(out)).toBe(Object.prototype)
    expect(Object.hasOwn(out, '__proto__')).toBe(true)
    expect((out as { polluted?: unknown }).polluted).toBeUndefined()
    expect(({} as { polluted?: unknown }).polluted).toBeUndefined()
    expect(Object.keys(out).sort()).toEqual(['__proto__', 'constructor', 'prototype'])
  })
})
