import { produce } from 'immer'
import { describe, expect, it } from 'vitest'
import { applyJsonPatch, makeJsonPatch, type JsonObject, type JsonPatchOp } from '../../../src/db/crdt/index.js'
import { foldInOrder, Writer } from './fold.js'

const apply = (d: JsonObject, op: JsonPatchOp) => applyJsonPatch(d, op)

describe('JSON document (RFC 7386 merge patches in total order)', () => {
  const base: JsonObject = { title: 'Notes', body: 'x', meta: { tags: ['a'], owner: 'ada', size: 1 } }

  it('makes patches of only the changed fields; an unchanged document gives an empty patch', () => {
    expect(makeJsonPatch(base, { ...base, title: 'Minutes' })).toEqual({ patch: { title: 'Minutes' } })
    expect(makeJsonPatch(base, { title: 'Notes', meta: base.meta as JsonObject })).toEqual({ patch: { body: null } })
    expect(makeJsonPatch(base, { ...base, meta: { tags: ['a'], owner: 'bob', size: 1 } })).toEqual({ patch: { meta: { owner: 'bob' } } })
    expect(makeJsonPatch(base, { ...base })).toEqual({ patch: {} })
    expect(applyJsonPatch(base, { patch: {} })).toBe(base)
  })

  it('two peers saving different fields at once both keep their field, in every order', () => {
    const [a, b] = [new Writer('a'), new Writer('b')]
    const pa = a.stamp(makeJsonPatch(base, { ...base, title: 'Minutes' }))
    const pb = b.stamp(makeJsonPatch(base, { ...base, meta: { tags: ['a', 'b'], owner: 'ada', size: 1 } }))
    const pc = b.stamp(makeJsonPatch(base, { ...base, meta: { tags: ['a'], owner: 'ada', size: 2 } }))
    const expected = { title: 'Minutes', body: 'x', meta: { tags: ['a', 'b'], owner: 'ada', size: 2 } }
    expect(foldInOrder(base, [pa, pb, pc], apply)).toEqual(expected)
    expect(foldInOrder(base, [pc, pb, pa], apply)).toEqual(expected)
  })

  it('one field saved by two peers: the save last in the total order wins; null removes a field', () => {
    const [a, b] = [new Writer('a'), new Writer('b')]
    const pa = a.stamp(makeJsonPatch(base, { ...base, title: 'A' }))
    const pb = b.stamp(makeJsonPatch(base, { ...base, title: 'B' }))
    expect(foldInOrder(base, [pa, pb], apply).title).toBe('B')
    const { body: _gone, ...withoutBody } = base
    expect(applyJsonPatch(base, makeJsonPatch(base, withoutBody))).toEqual(withoutBody)
  })

  it('shares what a patch does not touch, never mutates its input, and works on a draft', () => {
    const frozen: JsonObject = Object.freeze({ ...base, meta: Object.freeze({ ...(base.meta as JsonObject) }) })
    const next = applyJsonPatch(frozen, { patch: { title: 'T' } })
    expect(next.meta).toBe(frozen.meta)
    expect(frozen.title).toBe('Notes')
    const deeper = applyJsonPatch(frozen, { patch: { meta: { owner: 'bob' } } })
    expect(deeper.meta).toEqual({ tags: ['a'], owner: 'bob', size: 1 })
    expect((deeper.meta as JsonObject).tags).toBe((frozen.meta as JsonObject).tags)
    const drafted = produce({ doc: base }, (d) => {
      d.doc = applyJsonPatch(d.doc, { patch: { body: 'y' } })
    })
    expect(drafted.doc).toEqual({ ...base, body: 'y' })
    expect(base.body).toBe('x')
  })

  it('refuses a patch that is not an object or that names a prototype key', () => {
    expect(() => applyJsonPatch(base, { patch: [1] as unknown as JsonObject })).toThrow(expect.objectContaining({ name: 'InvalidOperationError' }))
    expect(() => applyJsonPatch(base, { patch: JSON.parse('{"meta":{"__proto__":{"polluted":true}}}') as JsonObject })).toThrow(/__proto__/)
    expect(({} as Record<string, unknown>).polluted).toBeUndefined()
    expect(() => applyJsonPatch(base, { patch: { constructor: { prototype: 1 } } })).toThrow(expect.objectContaining({ name: 'InvalidOperationError' }))
  })
})
