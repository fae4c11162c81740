/**
 * FINDING (high): `applyList`'s insert spreads the new elements as call arguments
 * (`out.splice(anchor + 1, 0, ...added)`, src/db/crdt/list.ts:213). Past ~120,000 values V8
 * throws `RangeError: Maximum call stack size exceeded`, and where the limit lies depends on the
 * stack left at the call: the same event applies on one peer (or at the tip) and is skipped on
 * another (deeper in a replay, or a browser with another stack size). Peers fork. A 150 KB paste
 * into a text (one element per code point) also fails locally with an unnamed error.
 * A single event fits: 300,000 values of `0` encode to ~300 KB, under the 992 KB command limit.
 */
import { describe, expect, it } from 'vitest'
import { applyList, applyText, makeInsertText, type ListState } from '../../../src/db/crdt/index.js'
import { asRemote, atDepth, outcome, remote } from './support.js'

describe('a large list insert', () => {
  it('applies the same way whatever stack is left (no argument-spread limit)', () => {
    const op = asRemote({ op: 'insert' as const, after: null, id: 'X', values: new Array<number>(110_000).fill(0) })
    const shallow = outcome(() => applyList([] as ListState<number>, op, remote))
    const deep = outcome(() => atDepth(5_000, () => applyList([] as ListState<number>, op, remote)))
    expect(deep).toBe(shallow)
  })

  it('an insert of 300,000 values (one ~300 KB event) applies, or is refused with a named error', () => {
    const op = asRemote({ op: 'insert' as const, after: null, id: 'X', values: new Array<number>(300_000).fill(0) })
    let got: string
    try {
      got = String(applyList([] as ListState<number>, op, remote).length)
    } catch (e) {
      got = (e as Error).name
    }
    expect(['300000', 'InvalidOperationError']).toContain(got)
  })

  it('a 200,000-character paste into a text applies locally', () => {
    const op = makeInsertText(null, 'x'.repeat(200_000))
    expect(() => applyText([], op, { ...remote, local: true })).not.toThrow()
  })
})
