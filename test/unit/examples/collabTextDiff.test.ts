/** examples/collab's textarea diff: one run that turns the old text into the new, on code point boundaries. */
import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { diff } from '../../../examples/collab/src/textDiff.js'

const splitsPair = (s: string, i: number): boolean => i > 0 && i < s.length && /[\ud800-\udbff]/.test(s[i - 1] as string) && /[\udc00-\udfff]/.test(s[i] as string)

describe('collab text diff', () => {
  it('examples', () => {
    expect(diff('shared notes', 'ALICE shared notes')).toEqual({ start: 0, removed: 0, inserted: 'ALICE ' })
    expect(diff('abc', 'abXc')).toEqual({ start: 2, removed: 0, inserted: 'X' })
    expect(diff('hello world', 'hello')).toEqual({ start: 5, removed: 6, inserted: '' })
    // Two emoji sharing their high surrogate: the change covers the whole code point.
    expect(diff('a😀b', 'a😁b')).toEqual({ start: 1, removed: 2, inserted: '😁' })
  })

  it('rebuilds the new text from the old, never splitting a surrogate pair', () => {
    const text = fc.string({ unit: fc.constantFrom('a', 'b', '😀', '😁', '🙂', 'é'), maxLength: 12 })
    fc.assert(
      fc.property(text, text, (a, b) => {
        const { start, removed, inserted } = diff(a, b)
        expect(a.slice(0, start) + inserted + a.slice(start + removed)).toBe(b)
        expect(splitsPair(a, start) || splitsPair(a, start + removed) || splitsPair(b, start + inserted.length)).toBe(false)
      }),
      { numRuns: 2000 }
    )
  })
})
