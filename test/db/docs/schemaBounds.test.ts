/**
 * Schema bounds (docs/DATABASE.md, "Schema bounds"): what a schema may make every peer do is
 * bounded by constants, checked with explicit stacks before ajv sees the schema, so every peer
 * decides the same at any stack depth: refused keywords (regular expressions, formats, `$async`,
 * `$id`, unknown keywords), size and nesting, `$ref` loops, pairwise `uniqueItems`, the cost
 * per document value, and the work per write. Folded with `schemaAuthority: 'anyone'`, so the
 * bounds (not the authority) decide.
 */
import { describe, expect, it, vi } from 'vitest'
import { createCollection, MAX_COMPILE_DEPTH, MAX_RECURSIVE_DEPTH, MAX_SCHEMA_DEPTH, MAX_UNIQUE_ITEMS, MAX_VALIDATION_WORK } from '../../../src/db/index.js'
import { asRemote, atDepth, outcome } from '../attacks/support.js'

const c = createCollection<{ _id: string }>({ name: 'b', schemaAuthority: 'anyone' })
type S = ReturnType<typeof c.initialThreadState>
let n = 0
/** A fresh text each time, so no answer comes from the compile cache. */
const fresh = (schema: object): object => ({ ...schema, $comment: `t${n++}` })
/** setSchema with `frames` more frames on the stack (the payload is decoded first, on a shallow stack: dag-cbor recurses). */
const set = (schema: object, s?: S, frames = 0): S => {
  const payload = asRemote({ schema: fresh(schema) })
  return atDepth(frames, () => c.fold(s as never, { type: 'b/setSchema', payload }) as S)
}
/** Documents are built plainly (as dag-cbor decodes them), outside any timing. */
const create = (s: S, doc: object): S => c.fold(s as never, { type: 'b/create', payload: doc }) as S
const timed = (fn: () => unknown): number => {
  const t = performance.now()
  outcome(fn)
  return performance.now() - t
}
function nested(depth: number): object {
  let s: object = { type: 'string' }
  for (let i = 1; i < depth; i++) s = { type: 'object', properties: { a: s } }
  return s
}

describe('schema bounds', () => {
  it('refuses keywords that run regular expressions, formats, $async, $id, remote refs and unknown keywords, anywhere', () => {
    for (const bad of [
      { properties: { a: { type: 'string', pattern: 'a' } } },
      { patternProperties: { '^a': {} } },
      { items: { format: 'date' } },
      { anyOf: [{ format: 'email' }] },
      { $async: true },
      { $id: 'https://x/y' },
      { $ref: 'https://x/y#' },
      { $ref: '#anchor' },
      { $ref: '#/definitions/missing' },
      { $ref: '#/properties' , properties: {} },
      { $schema: 'https://json-schema.org/draft/2020-12/schema' },
      { definitions: { x: { noSuchKeyword: 1 } } },
      { properties: { a: { type: 'string', maximum: { $data: '1/b' } } } }
    ]) expect([JSON.stringify(bad), outcome(() => set(bad))]).toEqual([JSON.stringify(bad), 'InvalidSchemaError'])
  })

  it('members named like keywords are members, not keywords', () => {
    const s = set({ type: 'object', properties: { pattern: { type: 'string' }, format: { type: 'integer' } }, required: ['pattern'] })
    expect(outcome(() => create(s, { _id: 'a', pattern: 'x', format: 1 }))).toBe('ok')
    expect(outcome(() => create(s, { _id: 'b', format: 1 }))).toBe('SchemaViolationError')
  })

  it('a schema from the code meets the same bounds (createCollection throws)', () => {
    expect(outcome(() => createCollection({ name: 'bad', schema: { properties: { a: { pattern: '^(a+)+$' } } } }))).toBe('InvalidSchemaError')
  })

  it(`nesting deeper than MAX_SCHEMA_DEPTH (${MAX_SCHEMA_DEPTH}) is refused, and the answer is the same on a deep stack`, () => {
    for (const depth of [15, 16, 17, 40, 400]) {
      const shallow = outcome(() => set(nested(depth)))
      const deep = outcome(() => set(nested(depth), undefined, 5_000))
      expect([depth, deep]).toEqual([depth, shallow])
    }
    expect(outcome(() => set(nested(16)))).toBe('ok')
    expect(outcome(() => set(nested(17)))).toBe('InvalidSchemaError')
  })

  it(`$ref chains are bounded (MAX_COMPILE_DEPTH ${MAX_COMPILE_DEPTH}), so compiling never depends on the stack`, () => {
    const chain = (links: number): object => {
      const definitions: Record<string, object> = {}
      for (let i = 0; i < links; i++) definitions[`d${i}`] = i === links - 1 ? { type: 'string' } : { type: 'object', properties: { a: { $ref: `#/definitions/d${i + 1}` } } }
      return { definitions, $ref: '#/definitions/d0' }
    }
    for (const links of [5, 30, 200]) expect([links, outcome(() => set(chain(links), undefined, 5_000))]).toEqual([links, outcome(() => set(chain(links)))])
    expect(outcome(() => set(chain(5)))).toBe('ok')
    expect(outcome(() => set(chain(200)))).toBe('InvalidSchemaError')
  })

  it('a $ref loop that never steps into the data is refused; a recursive schema bounds the depth of documents', () => {
    expect(outcome(() => set({ $ref: '#' }))).toBe('InvalidSchemaError')
    expect(outcome(() => set({ definitions: { a: { $ref: '#/definitions/b' }, b: { anyOf: [{ $ref: '#/definitions/a' }] } }, $ref: '#/definitions/a' }))).toBe('InvalidSchemaError')
    const s = set({ type: 'object', properties: { a: { $ref: '#/definitions/node' } }, definitions: { node: { anyOf: [{ type: 'integer' }, { type: 'array', items: { $ref: '#/definitions/node' } }] } } })
    const deepArray = (depth: number): unknown => {
      let v: unknown = 1
      for (let i = 0; i < depth; i++) v = [v]
      return v
    }
    expect(outcome(() => create(s, { _id: 'ok', a: deepArray(MAX_RECURSIVE_DEPTH - 2) }))).toBe('ok')
    for (const depth of [MAX_RECURSIVE_DEPTH, 5_000]) {
      // Refused by name at any stack depth: by this bound, or first by the documents' own depth
      // bound (MAX_DOCUMENT_DEPTH, the same 64), whichever walk runs first.
      expect(['SchemaViolationError', 'InvalidDocumentError']).toContain(outcome(() => create(s, { _id: `d${depth}`, a: deepArray(depth) })))
      expect(['SchemaViolationError', 'InvalidDocumentError']).toContain(outcome(() => atDepth(5_000, () => create(s, { _id: `d${depth}`, a: deepArray(depth) }))))
    }
  })

  it('a recursive schema whose cost doubles per level is refused (MAX_SCHEMA_COST)', () => {
    expect(outcome(() => set({ definitions: { n: { items: { $ref: '#/definitions/n' }, contains: { $ref: '#/definitions/n' } } }, $ref: '#/definitions/n' }))).toBe('InvalidSchemaError')
  })

  it(`uniqueItems over non-scalar items needs maxItems ≤ ${MAX_UNIQUE_ITEMS}; scalar items are hashed`, () => {
    expect(outcome(() => set({ properties: { a: { type: 'array', uniqueItems: true } } }))).toBe('InvalidSchemaError')
    expect(outcome(() => set({ properties: { a: { type: 'array', uniqueItems: true, maxItems: MAX_UNIQUE_ITEMS + 1 } } }))).toBe('InvalidSchemaError')
    const capped = set({ properties: { a: { type: 'array', uniqueItems: true, maxItems: MAX_UNIQUE_ITEMS } } })
    const objects = Array.from({ length: 8_000 }, (_, i) => ({ k: i }))
    expect(timed(() => create(capped, { _id: 'u', a: objects }))).toBeLessThan(100)
    expect(outcome(() => create(capped, { _id: 'u', a: objects }))).toBe('SchemaViolationError')
    expect(outcome(() => create(capped, { _id: 'v', a: objects.slice(0, MAX_UNIQUE_ITEMS) }))).toBe('ok')
    const scalar = set({ properties: { a: { type: 'array', uniqueItems: true, items: { type: ['string', 'integer'] } } } })
    const strings = Array.from({ length: 50_000 }, (_, i) => `s${i}`)
    expect(timed(() => create(scalar, { _id: 's', a: strings }))).toBeLessThan(200)
    expect(outcome(() => create(scalar, { _id: 's2', a: [...strings, 's7'] }))).toBe('SchemaViolationError')
  })

  it(`a write whose validation would exceed MAX_VALIDATION_WORK (${MAX_VALIDATION_WORK}) is refused before ajv runs`, () => {
    const branches = Array.from({ length: 40 }, (_, i) => ({ type: 'array', items: { type: 'integer', minimum: i } }))
    const s = set({ properties: { a: { anyOf: branches } } })
    expect(outcome(() => create(s, { _id: 'small', a: [50, 60] }))).toBe('ok')
    // Under the documents' own bound on values (MAX_DOCUMENT_VALUES, 100,000), so it is this
    // bound that refuses it.
    const big = Array.from({ length: 95_000 }, () => 0)
    expect(timed(() => create(s, { _id: 'big', a: big }))).toBeLessThan(100)
    expect(outcome(() => create(s, { _id: 'big', a: big }))).toBe('SchemaViolationError')
  })

  it('a bad `$ref` or keyword never reaches the console', () => {
    const warn = vi.spyOn(console, 'warn').mockImplementation(() => {})
    const log = vi.spyOn(console, 'log').mockImplementation(() => {})
    try {
      outcome(() => set({ properties: { a: { format: 'email' } } }))
      outcome(() => set({ required: ['x'], properties: { y: { type: 'string' } }, items: [{}] }))
      expect(warn).not.toHaveBeenCalled()
      expect(log).not.toHaveBeenCalled()
    } finally {
      warn.mockRestore()
      log.mockRestore()
    }
  })

  it('without schemaAuthority, setSchema is refused (the schema changes in code)', () => {
    const strict = createCollection<{ _id: string }>({ name: 's' })
    expect(outcome(() => strict.fold(undefined as never, { type: 's/setSchema', payload: { schema: { type: 'object' } } }))).toBe('SchemaAuthorityError')
    const byList = createCollection<{ _id: string }>({ name: 'l', schemaAuthority: (e) => e.author === 'admin' })
    const meta = (author: string) => ({ event: { threadId: 't', author, logId: author, seq: 1, clock: 1, time: 0, id: 'x', local: false } })
    expect(outcome(() => byList.fold(undefined as never, { type: 'l/setSchema', payload: { schema: { type: 'object' } }, meta: meta('someone') } as never))).toBe('SchemaAuthorityError')
    expect(outcome(() => byList.fold(undefined as never, { type: 'l/setSchema', payload: { schema: { type: 'object' } }, meta: meta('admin') } as never))).toBe('ok')
  })
})
