import { describe, expect, it } from 'vitest'
import { applyCounter, makeDecrement, makeIncrement } from '../../../src/db/crdt/index.js'
import { foldInOrder, Writer } from './fold.js'

describe('counter', () => {
  it('adds deltas: increments and decrements', () => {
    expect(applyCounter(0, makeIncrement())).toBe(1)
    expect(applyCounter(5, makeIncrement(3))).toBe(8)
    expect(applyCounter(5, makeDecrement())).toBe(4)
    expect(applyCounter(5, makeDecrement(7))).toBe(-2)
  })

  it('loses no concurrent increment, in any order', () => {
    const writers = ['a', 'b', 'c'].map((id) => new Writer(id))
    const ops = writers.flatMap((w, i) => Array.from({ length: 5 }, () => w.stamp(makeIncrement(i + 1))))
    const total = foldInOrder(0, ops, (s, op) => applyCounter(s, op))
    expect(total).toBe(5 * (1 + 2 + 3))
    expect(foldInOrder(0, [...ops].reverse(), (s, op) => applyCounter(s, op))).toBe(total)
  })

  it('refuses a delta that is not a finite number', () => {
    for (const add of [Number.NaN, Number.POSITIVE_INFINITY, '1' as unknown as number]) {
      expect(() => applyCounter(0, { add })).toThrow(expect.objectContaining({ name: 'InvalidOperationError' }))
    }
    expect(() => applyCounter(0, null as unknown as { add: number })).toThrow(/finite number/)
  })
})
