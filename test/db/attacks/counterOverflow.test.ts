/**
 * FINDING (medium): `applyCounter` checks that the delta is finite, not the total
 * (src/db/crdt/counter.ts:69). Two events `{ add: 1.7e308 }` from one writer make the counter
 * Infinity on every peer; nothing can bring it back (finite deltas keep it Infinity), and the
 * thread's state can no longer be snapshotted (dag-cbor refuses Infinity: the Snapshotter reports
 * a SnapshotError once and never writes a snapshot again, so every restart folds all history).
 * Fix: refuse an operation whose result is not finite (InvalidOperationError), e.g.
 * `check(Number.isFinite(state + op.add), ...)`; perhaps also bound deltas to safe integers.
 */
import * as dagCbor from '@ipld/dag-cbor'
import { describe, expect, it } from 'vitest'
import { applyCounter } from '../../../src/db/crdt/index.js'
import { asRemote } from './support.js'

describe('a counter', () => {
  it('never folds to a state that cannot be snapshotted', () => {
    let state = 0
    for (const op of [asRemote({ add: 1.7e308 }), asRemote({ add: 1.7e308 })]) {
      try {
        state = applyCounter(state, op)
      } catch (e) {
        expect((e as Error).name).toBe('InvalidOperationError')
      }
    }
    expect(Number.isFinite(state)).toBe(true)
    expect(() => dagCbor.encode({ likes: state })).not.toThrow()
  })
})
