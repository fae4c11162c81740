/**
 * The document map and what enters it: the JSON check of documents and patches (reserved names at
 * any depth, non-JSON values, the bounds, `-0`), the sorted pages (any ids, splits, tombstones,
 * snapshots), index ranges with bounds of mixed types, mingo without scripts, and which events
 * change listeners hear.
 */
import * as dagCbor from '@ipld/dag-cbor'
import type { UnknownAction } from '@reduxjs/toolkit'
import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { changeOf } from '../../../src/db/docs/changes.js'
import { DOC_PAGE_MAX, documentsAt, entryOf, liveDocuments, withEntry, type DocumentPages } from '../../../src/db/docs/documents.js'
import { runQuery } from '../../../src/db/docs/query.js'
import { MAX_DOCUMENT_CHARS, MAX_DOCUMENT_DEPTH, MAX_DOCUMENT_VALUES, createCollection, type CollectionState } from '../../../src/db/index.js'

interface Doc { _id: string; a?: unknown; v?: number }
const c = createCollection<Doc>({ name: 'dm', indexes: ['v', 'a'] })
type S = CollectionState<Doc>
const fold = (s: S | undefined, type: string, payload: unknown, meta?: object): S => c.fold(s as never, { type: `dm/${type}`, payload, ...(meta === undefined ? {} : { meta }) } as UnknownAction) as S
const outcome = (fn: () => unknown): string => {
  try {
    fn()
    return 'ok'
  } catch (e) {
    return (e as Error).name
  }
}
const base = fold(undefined, 'create', { _id: 'x', a: { b: [1, { c: 'd' }] }, v: 1 })
const create = (a: unknown) => outcome(() => fold(base, 'create', { _id: 'y', a }))
const save = (a: unknown) => outcome(() => fold(base, 'save', { _id: 'x', patch: { a } }))
function nested(depth: number): unknown {
  let v: unknown = 1
  for (let i = 0; i < depth; i++) v = [v]
  return v
}
const own = (key: string, value: unknown): object => Object.defineProperty({}, key, { value, enumerable: true, writable: true, configurable: true })

describe('what a document and a patch may hold', () => {
  const refused: Array<[string, unknown]> = [
    ['`constructor` at the top', own('constructor', 'x')],
    ['`constructor` in an array', [{ k: [own('constructor', 1)] }]],
    ['`prototype` deep', { b: { c: own('prototype', {}) } }],
    ['an own `__proto__` in an array', [own('__proto__', { polluted: true })]],
    ['a BigInt', 2n ** 64n],
    ['a byte string', new Uint8Array([1, 2])],
    ['a Date', new Date(0)],
    ['a Map', new Map()],
    ['an object without a prototype', Object.create(null)],
    ['NaN', Number.NaN],
    ['Infinity', [Number.POSITIVE_INFINITY]],
    ['undefined', [undefined]],
    ['a function', () => 1],
    ['a symbol-named member', { [Symbol('s')]: 1 }],
    [`${MAX_DOCUMENT_DEPTH} levels under the document`, nested(MAX_DOCUMENT_DEPTH)],
    [`more than ${MAX_DOCUMENT_VALUES} values`, new Array(MAX_DOCUMENT_VALUES).fill(0)],
    [`more than ${MAX_DOCUMENT_CHARS} characters`, ['x'.repeat(MAX_DOCUMENT_CHARS / 2), 'y'.repeat(MAX_DOCUMENT_CHARS / 2)]]
  ]
  for (const [what, value] of refused) {
    it(`refuses ${what}, in a create and in a save, with InvalidDocumentError`, () => {
      expect(create(value)).toBe('InvalidDocumentError')
      expect(save(value)).toBe('InvalidDocumentError')
    })
  }

  it('takes JSON up to the bounds', () => {
    expect(create(nested(MAX_DOCUMENT_DEPTH - 2))).toBe('ok')
    expect(create({ s: 'ünïcødé', n: [0, -1.5, 1e300], t: true, z: null, e: {}, l: [] })).toBe('ok')
    expect(create(new Array(MAX_DOCUMENT_VALUES - 10).fill(0))).toBe('ok')
  })

  it('bounds the document a save makes, not only the patch', () => {
    const deep = fold(base, 'create', { _id: 'deep', a: { b: nested(40) } })
    expect(outcome(() => fold(deep, 'save', { _id: 'deep', patch: { a: { c: nested(30) } } }))).toBe('ok')
    expect(outcome(() => fold(deep, 'save', { _id: 'deep', patch: { a: { b: [[[nested(30)]]] } } }))).toBe('ok')
    expect(outcome(() => fold(deep, 'save', { _id: 'deep', patch: { a: { b: nested(70) } } }))).toBe('InvalidDocumentError')
  })

  it('refuses the same at any stack depth', () => {
    const at = (frames: number, fn: () => unknown): unknown => (frames === 0 ? fn() : at(frames - 1, fn))
    for (const depth of [65, 1_000, 20_000]) {
      const value = nested(depth)
      expect(outcome(() => fold(base, 'create', { _id: 'y', a: value }))).toBe('InvalidDocumentError')
      expect(outcome(() => at(5_000, () => fold(base, 'create', { _id: 'y', a: value })))).toBe('InvalidDocumentError')
    }
  })

  it('stores -0 as 0, in documents, patches and index entries, so a snapshot equals the fold', () => {
    let s = fold(undefined, 'create', { _id: 'z', v: -0, a: [{ n: -0 }] })
    s = fold(fold(s, 'create', { _id: 'w', v: 1 }), 'save', { _id: 'w', patch: { v: -0, a: { m: -0 } } })
    expect(Object.is(c.selectors.selectById({ dm: s }, 'z')?.v, 0)).toBe(true)
    expect(Object.is(c.selectors.selectById({ dm: s }, 'w')?.v, 0)).toBe(true)
    expect(dagCbor.decode(dagCbor.encode(s))).toEqual(s)
  })
})

describe('the document map: sorted pages', () => {
  it('holds what a Map holds, in _id order, for any ids, writes and deletes', () => {
    fc.assert(
      fc.property(fc.array(fc.tuple(fc.string({ maxLength: 4 }), fc.oneof(fc.integer(), fc.constant(null))), { maxLength: 3_000 }), (writes) => {
        let pages: DocumentPages<number> = []
        const model = new Map<string, number | null>()
        for (const [id, v] of writes) {
          pages = withEntry(pages, id, v)
          model.set(id, v)
        }
        for (const page of pages) expect(page.length).toBeGreaterThan(0)
        for (const page of pages) expect(page.length).toBeLessThanOrEqual(DOC_PAGE_MAX)
        const flat = pages.flat()
        expect(flat.map((e) => e[0])).toEqual([...model.keys()].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0)))
        for (const [id, v] of model) expect(entryOf(pages, id)).toBe(v)
        expect(entryOf(pages, '\uffff\uffff\uffff\uffff\uffff')).toBeUndefined()
        expect(liveDocuments(pages)).toEqual(flat.filter((e) => e[1] !== null).map((e) => e[1]))
        const asked = [...writes.map(([id]) => id), ...writes.map(([id]) => `${id}?`)].sort()
        expect(documentsAt(pages, asked)).toEqual(flat.filter((e) => e[1] !== null).map((e) => e[1]))
      }),
      { numRuns: 40 }
    )
  })

  it('keeps pages of ordered ids full, and reads them back after a snapshot', () => {
    let s: S | undefined
    for (let i = 0; i < 2_000; i++) s = fold(s, 'create', { _id: `id${String(i).padStart(5, '0')}`, v: i })
    s = fold(s as S, 'delete', { _id: 'id00007' })
    expect(s.docs.map((p) => p.length)).toEqual([512, 512, 512, 464])
    const restored = dagCbor.decode(dagCbor.encode(s)) as S
    expect(restored).toEqual(s)
    expect(c.selectors.selectById({ dm: restored }, 'id01999')?.v).toBe(1999)
    expect(c.selectors.selectHas({ dm: restored }, 'id00007')).toBe(false)
    expect(outcome(() => fold(restored, 'create', { _id: 'id00007' }))).toBe('DuplicateDocumentError')
    expect(c.selectors.selectAll({ dm: restored }).length).toBe(1_999)
  })
})

describe('queries', () => {
  const s = [3, 7, 'b', 'z', true, [5]].reduce<S | undefined>((st, v, i) => fold(st, 'create', { _id: `q${i}`, a: v }), undefined) as S
  const scan = createCollection<Doc>({ name: 'dm' })
  const t = [3, 7, 'b', 'z', true, [5]].reduce<S | undefined>((st, v, i) => scan.fold(st as never, { type: 'dm/create', payload: { _id: `q${i}`, a: v } }) as S, undefined) as S
  const filters = [
    { a: { $gt: 5, $gte: 'a' } },
    { a: { $lt: 10, $lte: 'a' } },
    { a: { $gte: 'a', $gt: 5 } },
    { a: { $gt: false, $lt: 'zz' } },
    { a: { $gte: 3, $gt: 4 } },
    { a: Number.NaN },
    { a: { $in: [Number.NaN, 3] } }
  ]
  for (const filter of filters) {
    it(`${JSON.stringify(filter)} gives what a scan gives`, () => {
      expect(runQuery(s, { filter }).map((d) => d._id)).toEqual(runQuery(t, { filter }).map((d) => d._id))
    })
  }

  it('refuses `$where` (mingo runs no scripts)', () => {
    expect(() => runQuery(s, { filter: { $where: 'true' } })).toThrow()
  })
})

describe('change listeners hear only what changed the collection', () => {
  it('a delete of nothing, a save of a deleted document and a refused event are no change', () => {
    const ev = (seq: number) => ({ event: { threadId: 't', author: 'a', logId: 'l', seq, clock: seq, time: 0, id: `e${seq}`, local: false } })
    const act = (type: string, payload: unknown, seq: number) => ({ type: `dm/${type}`, payload, meta: ev(seq) }) as UnknownAction
    const a1 = act('create', { _id: 'd', v: 1 }, 1)
    const a2 = act('delete', { _id: 'd' }, 2)
    const a3 = act('save', { _id: 'd', patch: { v: 2 } }, 3)
    const a4 = act('delete', { _id: 'nobody' }, 4)
    const a5 = act('create', { _id: 'e', a: own('constructor', 1) }, 5)
    let s = c.fold(undefined as never, a1) as S
    s = c.fold(s as never, a2) as S
    s = c.fold(s as never, a3) as S
    s = c.fold(s as never, a4) as S
    expect(() => c.fold(s as never, a5)).toThrow()
    expect([a1, a2, a3, a4, a5].map((a) => changeOf([c], a)?.action)).toEqual(['create', 'delete', undefined, undefined, undefined])
    expect([a1, a2, a3, a4, a5].map((a) => c.matchChanges()(a))).toEqual([true, true, false, false, false])
  })
})
