/**
 * FINDING (high): whether `setSchema` takes a schema depends on the stack left when the reducer
 * runs. ajv compiles recursively (src/db/docs/schema.ts:43, via `validatorOf` from
 * collectionState.ts:113); a schema nested a few hundred levels deep compiles on a shallow stack
 * and overflows (caught and turned into InvalidSchemaError) on a deeper one. The reducer runs at
 * different depths on different peers (the tip, a replay from a checkpoint, ingest, a browser with
 * another stack size), so one peer puts schema v2 in force and another skips the event: they then
 * accept different documents, and the thread forks for good. The byText cache makes it worse: a
 * process that compiled the text once (another thread) never fails on it.
 * Fix: bound depth and size of schemas (and documents) with explicit limits checked iteratively,
 * refusing with a named error, so the answer never depends on the stack.
 */
import { describe, expect, it } from 'vitest'
import { createCollection } from '../../../src/db/index.js'
import { asRemote, atDepth, outcome } from './support.js'

const c = createCollection<{ _id: string }>({ name: 'stack' })

function nestedSchema(depth: number, tag: string): object {
  let s: object = { type: 'object', $comment: tag }
  for (let i = 0; i < depth; i++) s = { type: 'object', properties: { a: s } }
  return s
}

describe('setSchema decides the same at any stack depth', () => {
  it('schemas nested 150 to 700 deep: accepted or refused alike on a shallow and a deep stack', () => {
    const differ: string[] = []
    for (let depth = 150; depth <= 700; depth += 50) {
      // Distinct texts, so neither call is answered from the compile cache.
      const shallow = outcome(() => c.fold(undefined as never, { type: 'stack/setSchema', payload: { schema: asRemote(nestedSchema(depth, `shallow${depth}`)) } }))
      const deep = outcome(() => atDepth(3_000, () => c.fold(undefined as never, { type: 'stack/setSchema', payload: { schema: asRemote(nestedSchema(depth, `deep${depth}`)) } })))
      if (shallow !== deep) differ.push(`${depth}: ${shallow} / ${deep}`)
    }
    expect(differ).toEqual([])
  }, 120_000)
})
