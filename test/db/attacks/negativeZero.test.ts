/**
 * FINDING (low): dag-cbor decodes a float64 -0 from a peer's body, but encodes -0 as the integer 0
 * (the engine relies on that for local commands: threadEngine.ts:542), so a `-0` a peer crafts is
 * held as -0 by every peer that folded the event and as 0 by a peer restored from a snapshot
 * (snapshots are dag-cbor). The states differ (Object.is, 1/x, `toEqual`), e.g. a kv value, a
 * document field, an index entry. Fix: normalise -0 to 0 where payloads enter the modules (or in
 * decodeCommand), so the fold never holds -0.
 */
import * as dagCbor from '@ipld/dag-cbor'
import { describe, expect, it } from 'vitest'
import { createCollection } from '../../../src/db/index.js'
import { cborText, decodeRaw } from './support.js'

const c = createCollection<{ _id: string; v: number }>({ name: 'negz', indexes: ['v'] })

describe('a -0 from a peer', () => {
  it('folds to a state equal to its own snapshot', () => {
    const doc = decodeRaw([0xa2, ...cborText('_id'), ...cborText('z'), ...cborText('v'), 0xfb, 0x80, 0, 0, 0, 0, 0, 0, 0])
    const live = c.fold(undefined as never, { type: 'negz/create', payload: doc })
    const restored = dagCbor.decode(dagCbor.encode(live))
    expect(restored).toEqual(live)
  })
})
