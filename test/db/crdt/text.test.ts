import { describe, expect, it } from 'vitest'
import { applyText, listIds, makeDeleteRange, makeInsertText, makeInsertTextAt, textToString, type TextOp, type TextState, type Stamp } from '../../../src/db/crdt/index.js'
import { foldInOrder, Writer } from './fold.js'

const apply = (s: TextState, op: TextOp, stamp: Stamp) => applyText(s, op, stamp)
const at = (clock: number, logId = 'a'): Stamp => ({ clock, logId, seq: clock })

describe('text (on the list helper)', () => {
  it('inserts text, inserts at offsets, deletes ranges; toString is memoized', () => {
    let s: TextState = []
    s = applyText(s, makeInsertText(null, 'Hello world'), at(1))
    expect(textToString(s)).toBe('Hello world')
    expect(textToString(s)).toBe(textToString(s))
    s = applyText(s, makeInsertTextAt(s, 5, ','), at(2))
    expect(textToString(s)).toBe('Hello, world')
    s = applyText(s, makeDeleteRange(s, 0, 7), at(3))
    expect(textToString(s)).toBe('world')
    s = applyText(s, makeInsertTextAt(s, 0, 'big '), at(4))
    s = applyText(s, makeInsertTextAt(s, 9, '!'), at(5))
    expect(textToString(s)).toBe('big world!')
    expect(() => makeDeleteRange(s, 3, 99)).toThrow(RangeError)
    expect(() => makeInsertTextAt(s, -1, 'x')).toThrow(RangeError)
  })

  it('keeps surrogate pairs whole and counts offsets in UTF-16 units', () => {
    let s: TextState = applyText([], makeInsertText(null, 'a😀b'), at(1))
    expect(s).toHaveLength(3)
    expect(textToString(s)).toBe('a😀b')
    s = applyText(s, makeInsertTextAt(s, 3, '!'), at(2))
    expect(textToString(s)).toBe('a😀!b')
    s = applyText(s, makeDeleteRange(s, 1, 3), at(3))
    expect(textToString(s)).toBe('a!b')
    expect(() => applyText([], { op: 'insert', after: null, id: 'q', values: ['ab'] }, at(1))).toThrow(expect.objectContaining({ name: 'InvalidOperationError' }))
    expect(() => applyText([], { op: 'insert', after: null, id: 'q', values: ['\ud800'] }, at(1))).toThrow(/code point/)
  })

  it('concurrent typing at one place keeps both runs whole; text inserted into a range deleted at once survives', () => {
    const [a, b] = [new Writer('a'), new Writer('b')]
    const base = a.stamp(makeInsertText(null, 'The cat', 'base'))
    const seen = foldInOrder([], [base], apply)
    b.see([base])
    // a inserts " black" after "The"; b inserts " fat" at the same place, then deletes "cat".
    const anchor = listIds(seen)[2] as string
    const black = a.stamp(makeInsertText(anchor, ' black', 'k'))
    const fat = b.stamp(makeInsertText(anchor, ' fat', 'f'))
    const cut = b.stamp(makeDeleteRange(seen, 3, 7))
    // a, meanwhile, types "!" at the end, after the "t" that b deletes.
    const bang = a.stamp(makeInsertTextAt(seen, 7, '!'))
    const ops = [base, black, fat, cut, bang]
    const text = textToString(foldInOrder([], ops, apply))
    expect(['The fat black!', 'The black fat!']).toContain(text)
    expect(textToString(foldInOrder([], [...ops].reverse(), apply))).toBe(text)
  })

  it('a delete of a range takes only the characters its author saw: text typed inside it at once survives', () => {
    const [a, b] = [new Writer('a'), new Writer('b')]
    const base = a.stamp(makeInsertText(null, 'a cat sat', 'base'))
    const seen = foldInOrder([], [base], apply)
    b.see([base])
    a.see([base])
    const inside = a.stamp(makeInsertTextAt(seen, 3, 'ho'))
    const cut = b.stamp(makeDeleteRange(seen, 2, 6))
    for (const order of [[base, inside, cut], [base, cut, inside]]) {
      expect(textToString(order.reduce<TextState>((s, o) => apply(s, o.op, o.stamp), []))).toBe('a hosat')
    }
  })
})
