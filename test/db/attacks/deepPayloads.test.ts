/**
 * FINDING (high): payloads nested thousands deep (dag-cbor decodes arrays ~9,500 deep and maps
 * ~3,500 deep, in a few KB) are walked recursively by the reducers: canonicalKey
 * (src/db/crdt/canonicalKey.ts:18-20, OR-set adds; its RangeError is turned into
 * InvalidOperationError by orSet.ts), ajv's generated validators for a recursive schema
 * (src/db/docs/schema.ts:61), deepFreeze (documents.ts:46), hasReservedKey/merge (json.ts). Whether
 * they overflow depends on the stack left when the reducer runs (the tip, a refold, ingest, JIT
 * state, a browser's stack size), so one peer applies the event and another skips it: a fork.
 * Measured: a 3,000-deep array added to an OR-set applies on a shallow stack and is refused with
 * 3,000 frames more; a 5,000-deep array in a document under a recursive schema is created on a
 * shallow stack and throws RangeError on a deeper one.
 * Fix: a depth bound (say 64 or 128), checked iteratively before any recursive walk, refusing with
 * the module's named error (InvalidOperationError / InvalidDocumentError), the same on every peer.
 */
import { describe, expect, it } from 'vitest'
import { applyOrSet, type OrSetOp } from '../../../src/db/crdt/index.js'
import { createCollection } from '../../../src/db/index.js'
import { atDepth, decodeRaw, outcome } from './support.js'

/** An array nested `depth` deep around 1, as a peer's bytes decode. */
function nestedArray(depth: number): unknown {
  return decodeRaw([...new Array<number>(depth).fill(0x81), 0x01])
}

/**
 * The same value built by a loop: cborg's recursive decoder itself overflows near 9,000 levels
 * when its code is still cold (the first test of the file), which failed the test before the
 * code under test ran.
 */
function nestedPlain(depth: number): unknown {
  let v: unknown = 1
  for (let i = 0; i < depth; i++) v = [v]
  return v
}

/** The same helper, under the name the documents case uses. */
const builtArray = nestedPlain

const tree = createCollection<{ _id: string; a?: unknown }>({
  name: 'tree',
  schema: {
    type: 'object',
    properties: { a: { $ref: '#/definitions/node' } },
    definitions: { node: { anyOf: [{ type: 'integer' }, { type: 'array', items: { $ref: '#/definitions/node' } }] } }
  }
})

describe('deeply nested payloads fold the same at any stack depth', () => {
  it('OR-set adds of arrays 1,000 to 9,000 deep', () => {
    const differ: string[] = []
    for (let depth = 1_000; depth <= 9_000; depth += 1_000) {
      const op = { op: 'add', value: nestedPlain(depth), tag: `t${depth}` } as OrSetOp<unknown>
      const shallow = outcome(() => applyOrSet({}, op))
      const deep = outcome(() => atDepth(3_000, () => applyOrSet({}, op)))
      if (shallow !== deep) differ.push(`${depth}: ${shallow} / ${deep}`)
    }
    expect(differ).toEqual([])
  }, 60_000)

  it('documents 1,000 to 9,000 deep under a recursive schema', () => {
    const differ: string[] = []
    for (let depth = 1_000; depth <= 9_000; depth += 1_000) {
      // Built by a loop, not decoded: cborg's decoder is itself recursive and overflows near 9,000
      // deep depending on the stack, which made this test fail on its input, not on the fold.
      const [sa, da] = [builtArray(depth), builtArray(depth)]
      const shallow = outcome(() => tree.fold(undefined as never, { type: 'tree/create', payload: { _id: `s${depth}`, a: sa } }))
      const deep = outcome(() => atDepth(3_000, () => tree.fold(undefined as never, { type: 'tree/create', payload: { _id: `d${depth}`, a: da } })))
      if (shallow !== deep) differ.push(`${depth}: ${shallow} / ${deep}`)
    }
    expect(differ).toEqual([])
  }, 60_000)
})
