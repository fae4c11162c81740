/**
 * Structural sharing after a replay (issue 9 §5): every part of the new state equal in value to a
 * part of the old keeps the old one's identity, found by position or, for items that moved, by
 * value; and the work is bounded by the window a replay changed, not by the list's length.
 */
import { describe, expect, it } from 'vitest'
import { shareStructure } from '../../../src/redux/structuralSharing.js'

const item = (id: number) => ({ id, text: `t${id}`, tags: [id] })

describe('shareStructure', () => {
  it('returns the old state when the new one is equal in value', () => {
    const prev = { list: [item(1), item(2)], n: 2 }
    const next = { list: [item(1), item(2)], n: 2 }
    expect(shareStructure(prev, next)).toBe(prev)
  })

  it('an item inserted in the middle: every other item keeps its identity, before and after it', () => {
    const prev = Array.from({ length: 1000 }, (_, i) => item(i))
    // A replay: the prefix is the same objects; the inserted item and the suffix are refolded copies.
    const next = [...prev.slice(0, 500), item(5000), ...prev.slice(500).map((x) => ({ ...x, tags: [...x.tags] }))]
    const shared = shareStructure(prev, next)
    expect(shared).toEqual(next)
    expect(shared).not.toBe(prev)
    for (let i = 0; i < 1000; i++) expect(shared[i < 500 ? i : i + 1]).toBe(prev[i])
    expect(shared[500]).toEqual(item(5000))
  })

  it('items that moved keep their identity; a changed item is the new one', () => {
    const prev = [item(1), item(2), item(3)]
    const next = [{ ...item(3) }, { ...item(1) }, { ...item(2), text: 'changed' }]
    const shared = shareStructure(prev, next)
    expect(shared[0]).toBe(prev[2])
    expect(shared[1]).toBe(prev[0])
    expect(shared[2]).toEqual(next[2])
  })

  it('a long list with a short changed window compares only the window (identity elsewhere)', () => {
    const prev = Array.from({ length: 100_000 }, (_, i) => item(i))
    const next = [...prev.slice(0, 99_990), ...prev.slice(99_990).map((x) => ({ ...x })), item(100_000)]
    const started = performance.now()
    const shared = shareStructure(prev, next)
    const ms = performance.now() - started
    for (let i = 99_990; i < 100_000; i++) expect(shared[i]).toBe(prev[i])
    // Not a timing test: a bound loose enough for any machine, tight enough to catch a full walk
    // that serialises 100,000 items (hundreds of ms).
    expect(ms).toBeLessThan(100)
  })
})
