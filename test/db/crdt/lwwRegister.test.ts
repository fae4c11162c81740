import { describe, expect, it } from 'vitest'
import { applyLwwRegister, lwwRegister, makeLwwSet, type LwwRegister } from '../../../src/db/crdt/index.js'
import { foldInOrder, Writer } from './fold.js'

describe('LWW register', () => {
  it('starts with its initial value, written by nobody', () => {
    expect(lwwRegister('x')).toEqual({ value: 'x', by: null })
  })

  it('keeps the write last in the total order: clock, then log ID, then seq', () => {
    const r0 = lwwRegister('')
    const r1 = applyLwwRegister(r0, makeLwwSet('b@1'), { clock: 1, logId: 'b', seq: 1 })
    expect(r1).toEqual({ value: 'b@1', by: { clock: 1, logId: 'b', seq: 1 } })
    // Same clock, smaller log ID: sorts before, changes nothing.
    expect(applyLwwRegister(r1, makeLwwSet('a@1'), { clock: 1, logId: 'a', seq: 1 })).toBe(r1)
    // Same clock, larger log ID: wins.
    expect(applyLwwRegister(r1, makeLwwSet('c@1'), { clock: 1, logId: 'c', seq: 1 }).value).toBe('c@1')
    // A higher clock wins whatever the log.
    expect(applyLwwRegister(r1, makeLwwSet('a@2'), { clock: 2, logId: 'a', seq: 2 }).value).toBe('a@2')
    // The same stamp again (a duplicate) changes nothing.
    expect(applyLwwRegister(r1, makeLwwSet('dup'), { clock: 1, logId: 'b', seq: 1 })).toBe(r1)
  })

  it('concurrent writers: every delivery order gives the same value, the last in the total order', () => {
    const [a, b] = [new Writer('a'), new Writer('b')]
    const ops = [a.stamp(makeLwwSet('a1')), b.stamp(makeLwwSet('b1')), a.stamp(makeLwwSet('a2'))]
    const apply = (s: LwwRegister<string>, op: { value: string }, stamp: { clock: number; logId: string; seq: number }) => applyLwwRegister(s, op, stamp)
    expect(foldInOrder(lwwRegister(''), ops, apply).value).toBe('a2')
    // Applied in any order (not only the fold's), the comparison of stamps gives the same.
    for (const order of [ops, [...ops].reverse(), [ops[1], ops[0], ops[2]]]) {
      expect(order.reduce((s, o) => apply(s, o!.op, o!.stamp), lwwRegister('')).value).toBe('a2')
    }
  })

  it('refuses a malformed write', () => {
    expect(() => applyLwwRegister(lwwRegister(1), {} as { value: number }, { clock: 1, logId: 'a', seq: 1 })).toThrow(expect.objectContaining({ name: 'InvalidOperationError' }))
  })
})
