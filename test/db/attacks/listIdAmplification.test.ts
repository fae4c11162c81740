/**
 * FINDING (critical, memory): a list/text insert's element IDs are `${id}:${k}` for each of its k
 * values (src/db/crdt/list.ts:68 `insertedIds`, used by `insert`), and `id` has no
 * length bound (list.ts:196 checks only that it is a non-empty string other than `__proto__`).
 * One event with a 500 KB id and 1,000 values (~501 KB, under the command limit) makes every
 * peer build and keep 1,000 distinct 500 KB strings: 500 MB in state (and in every snapshot),
 * for good; with 100,000 values (still one event) 50 GB: every peer runs out of memory, and again
 * at every restart, since the event stays in the log. Measured here: a 100 KB id with 3,000 values
 * (a 103 KB event) retained 300 MB and took 31 s.
 * Fix: bound element IDs (e.g. ≤ 64 characters, as `_id` is bounded to 256 in collections) and
 * the number of values an insert may carry, refusing with InvalidOperationError; perhaps also
 * derive the k-th ID as a pair (id, k) kept once per run rather than a new string per element.
 */
import { describe, expect, it } from 'vitest'
import { applyList, type ListState } from '../../../src/db/crdt/index.js'
import { asRemote, remote } from './support.js'

describe('a list insert', () => {
  it('with a 50 KB id and 1,000 values is refused, or keeps at most a few times its own size', () => {
    const op = asRemote({ op: 'insert' as const, after: null, id: 'x'.repeat(50_000), values: new Array<number>(1_000).fill(0) })
    let state: ListState<number>
    try {
      state = applyList([] as ListState<number>, op, remote)
    } catch (e) {
      expect((e as Error).name).toBe('InvalidOperationError')
      return
    }
    const idChars = state.reduce((n, e) => n + e.id.length, 0)
    expect(idChars).toBeLessThan(10 * (op.id.length + op.values.length))
  }, 60_000)
})
