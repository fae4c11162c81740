/**
 * FINDING (critical): a JSON Schema in the thread has no bound on the work it makes every peer do.
 * `validatorOf` (src/db/docs/schema.ts:43) compiles any schema ajv accepts, with ajv's defaults:
 * - `uniqueItems` on an array of objects is O(n²) deep comparisons: a 60 KB document takes
 *   seconds, a 1 MB one (170,000 items) about twenty minutes, on every peer, at every replay;
 * - `pattern` / `patternProperties` run JavaScript's backtracking RegExp: `^(a+)+$` against 28
 *   characters takes seconds (each more character doubles it);
 * - compiling is unbounded: an 830 KB schema (20,000 properties) costs ~3 s of ajv code generation
 *   and then fails with a stack overflow.
 * A schema comes from the app's code or from any writer's `setSchema` (setSchemaByWriter.test.ts);
 * either way one crafted document blocks every peer's thread (the fold is synchronous).
 * The safe behaviour asserted: each event costs bounded time (or is refused, with a named error).
 */
import { describe, expect, it } from 'vitest'
import { createCollection } from '../../../src/db/index.js'
import { asRemote } from './support.js'

const c = createCollection<{ _id: string }>({ name: 'cost' })
type S = ReturnType<typeof c.initialThreadState>
const fold = (s: S | undefined, type: string, payload: unknown): S => c.fold(s as never, { type: `cost/${type}`, payload: asRemote(payload) }) as S

/** Milliseconds `fn` took, whether it threw or not. */
function timed(fn: () => unknown): number {
  const t = performance.now()
  try {
    fn()
  } catch {
    // refused: fine, only the time counts
  }
  return performance.now() - t
}

/** The state after `schema`, or undefined when setSchema refuses it (which is safe). */
function withSchema(schema: object): S | undefined {
  try {
    return fold(undefined, 'setSchema', { schema })
  } catch {
    return undefined
  }
}

describe('the cost of validating one event is bounded', () => {
  it('uniqueItems over 8,000 objects (one 47 KB create) takes well under a second', () => {
    const s = withSchema({ type: 'object', properties: { a: { type: 'array', uniqueItems: true } } })
    if (s === undefined) return
    const a = Array.from({ length: 8_000 }, (_, i) => ({ k: i }))
    expect(timed(() => fold(s, 'create', { _id: 'u', a }))).toBeLessThan(300)
  }, 60_000)

  it('a catastrophic `pattern` against a 25-character string takes well under a second', () => {
    const s = withSchema({ type: 'object', properties: { a: { type: 'string', pattern: '^(a+)+$' } } })
    if (s === undefined) return
    expect(timed(() => fold(s, 'create', { _id: 'r', a: `${'a'.repeat(25)}!` }))).toBeLessThan(300)
  }, 60_000)

  it('setSchema of an 830 KB schema is decided (compiled or refused) quickly', () => {
    const properties: Record<string, object> = {}
    for (let i = 0; i < 20_000; i++) properties[`p${i}`] = { type: 'string', minLength: 1, maxLength: 5 }
    // Decoded before timing: dag-cbor's decoding of 830 KB (150-300 ms here) is the engine's cost
    // for any event that size, not the schema's.
    const payload = asRemote({ schema: { type: 'object', properties } })
    expect(timed(() => c.fold(undefined as never, { type: 'cost/setSchema', payload }))).toBeLessThan(300)
  }, 60_000)
})
