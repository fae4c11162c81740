/**
 * FINDING (high): one document with an object member named `constructor` breaks every peer's
 * queries over the collection. mingo classifies values by `v.constructor` (its `typeOf`), so a
 * field `{ constructor: 'x' }` (or 1, null, { name: null }), which ajv, the indexes and the
 * reducer all take, makes `selectFind` throw a TypeError for any `$in`/`$nin` on that field and
 * any sort that compares it, for every peer and every query (the UI's list view crashes).
 * `{ maker: { constructor: 'ACME' } }` is also ordinary user data. Cause: createDocument and
 * saveDocument (src/db/docs/collectionState.ts:63, :80) accept it, and runQuery
 * (src/db/docs/query.ts:172-174) hands it to mingo. DATABASE.md's "Known gaps" mentions objects
 * without a prototype only. Fix: refuse `constructor` (and `__proto__`, `prototype`) members at
 * any depth in documents and patches with InvalidDocumentError (one walk, as deepFreeze does), or
 * query on copies mingo cannot misread.
 */
import { describe, expect, it } from 'vitest'
import { createCollection } from '../../../src/db/index.js'
import { runQuery } from '../../../src/db/docs/query.js'
import { asRemote } from './support.js'

interface Doc { _id: string; a?: unknown; n?: number }
const c = createCollection<Doc>({ name: 'poison', indexes: ['a'] })
type S = ReturnType<typeof c.initialThreadState>
const fold = (s: S | undefined, type: string, payload: unknown): S => c.fold(s as never, { type: `poison/${type}`, payload: asRemote(payload) }) as S

function poisoned(how: 'create' | 'save'): S | undefined {
  let s = fold(undefined, 'create', { _id: 'good', a: { b: 1 }, n: 1 })
  try {
    if (how === 'create') s = fold(s, 'create', { _id: 'evil', a: { constructor: 'x' }, n: 2 })
    else s = fold(fold(s, 'create', { _id: 'evil', a: { b: 2 }, n: 2 }), 'save', { _id: 'evil', patch: { a: { constructor: 'x' } } })
  } catch (e) {
    expect((e as Error).name).toBe('InvalidDocumentError') // refusing it is safe
    return undefined
  }
  return s
}

describe('a document holding a `constructor` member', () => {
  for (const how of ['create', 'save'] as const) {
    it(`(by ${how}) is refused, or every query still answers`, () => {
      const s = poisoned(how)
      if (s === undefined) return
      expect(() => runQuery(s, { filter: { a: { $in: [{ b: 1 }] } } })).not.toThrow()
      expect(() => runQuery(s, { filter: { a: { $nin: [{ b: 1 }] } } })).not.toThrow()
      expect(() => runQuery(s, { sort: { a: 1 } })).not.toThrow()
      expect(() => runQuery(s, { filter: { n: { $gt: 0 } }, sort: { a: -1 } })).not.toThrow()
    })
  }
})
