import { produce } from 'immer'
import { describe, expect, it } from 'vitest'
import { applyOrSet, makeOrSetAdd, makeOrSetRemove, orSetEntry, orSetHas, orSetKey, orSetValues, type OrSetOp, type OrSetState } from '../../../src/db/crdt/index.js'
import { foldInOrder, Writer } from './fold.js'

const apply = <T>(s: OrSetState<T>, op: OrSetOp<T>) => applyOrSet(s, op)

describe('OR-set (add wins)', () => {
  it('adds and removes members; values are ordered by key and memoized', () => {
    let s: OrSetState<string> = {}
    s = applyOrSet(s, makeOrSetAdd('b'))
    s = applyOrSet(s, makeOrSetAdd('a'))
    expect(orSetHas(s, 'a')).toBe(true)
    expect(orSetValues(s)).toEqual(['a', 'b'])
    expect(orSetValues(s)).toBe(orSetValues(s))
    s = applyOrSet(s, makeOrSetRemove(s, 'a'))
    expect(orSetHas(s, 'a')).toBe(false)
    expect(orSetValues(s)).toEqual(['b'])
    // Removing a member the set does not hold changes nothing.
    expect(applyOrSet(s, makeOrSetRemove(s, 'zzz'))).toBe(s)
  })

  it('a remove takes only the tags it observed: a concurrent add survives, whichever sorts first', () => {
    const [a, b] = [new Writer('a'), new Writer('b')]
    const first = a.stamp(makeOrSetAdd('x'))
    const seenByB = apply({}, first.op)
    b.see([first])
    // a adds x again (a new tag) while b, who saw only the first add, removes x.
    const again = a.stamp(makeOrSetAdd('x'))
    const removal = b.stamp(makeOrSetRemove(seenByB, 'x'))
    // Applied in either order (as stamps that sort either way would fold them).
    for (const ops of [[first, again, removal], [first, removal, again]]) {
      const s = ops.reduce<OrSetState<string>>((acc, o) => apply(acc, o.op), {})
      expect(orSetHas(s, 'x')).toBe(true)
      expect(orSetEntry(s, 'x')?.tags).toEqual([again.op.tag])
    }
    // b's remove sorted after both adds, yet the add it had not seen survived it.
    expect(removal.stamp.clock).toBeGreaterThanOrEqual(again.stamp.clock)
    // Once b has seen the second add, its remove takes it too.
    const all = foldInOrder({}, [first, again], apply)
    expect(orSetHas(apply(all, makeOrSetRemove(all, 'x')), 'x')).toBe(false)
  })

  it('members are equal by canonical JSON: objects with keys in any order, `__proto__` strings', () => {
    let s: OrSetState<unknown> = {}
    s = applyOrSet(s, makeOrSetAdd({ b: 1, a: [1, 2] }))
    expect(orSetHas(s, { a: [1, 2], b: 1 })).toBe(true)
    s = applyOrSet(s, makeOrSetAdd('__proto__'))
    expect(orSetHas(s, '__proto__')).toBe(true)
    expect(Object.getPrototypeOf(s)).toBe(Object.prototype)
    expect(orSetValues(s)).toHaveLength(2)
    s = applyOrSet(s, makeOrSetRemove(s, { a: [1, 2], b: 1 }))
    expect(orSetValues(s)).toEqual(['__proto__'])
  })

  it('works on an Immer draft without mutating the base', () => {
    const base = { tags: applyOrSet({} as OrSetState<string>, makeOrSetAdd('a')) }
    const next = produce(base, (d) => {
      d.tags = applyOrSet(d.tags, makeOrSetAdd('b'))
      d.tags = applyOrSet(d.tags, makeOrSetRemove(d.tags, 'a'))
    })
    expect(orSetValues(base.tags)).toEqual(['a'])
    expect(orSetValues(next.tags)).toEqual(['b'])
  })

  it('refuses a reused tag and malformed operations', () => {
    const add = makeOrSetAdd('x', 't1')
    const s = applyOrSet({}, add)
    expect(() => applyOrSet(s, add)).toThrow(/already added/)
    expect(() => applyOrSet(s, { op: 'add', value: 'y', tag: '' })).toThrow(expect.objectContaining({ name: 'InvalidOperationError' }))
    expect(() => applyOrSet(s, { op: 'add', value: undefined, tag: 't' })).toThrow(/JSON value/)
    expect(() => applyOrSet(s, { op: 'remove', key: orSetKey('x'), tags: [1] } as unknown as OrSetOp<string>)).toThrow(expect.objectContaining({ name: 'InvalidOperationError' }))
    expect(() => applyOrSet(s, { op: 'clear' } as unknown as OrSetOp<string>)).toThrow(expect.objectContaining({ name: 'InvalidOperationError' }))
  })
})
