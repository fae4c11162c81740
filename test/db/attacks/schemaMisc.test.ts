/**
 * FINDINGS (low): schemas ajv compiles but that misbehave afterwards.
 * - `{ $ref: '#' }` (a reference loop with no data step) compiles, so setSchema takes it
 *   (src/db/docs/collectionState.ts:111-113); every later write then overflows the stack inside the
 *   validator and is skipped with a bare RangeError (not a named error) on every peer.
 * - An unknown `format` (ajv-formats is not installed: 'email', 'date-time', 'uri'… are all
 *   unknown) is ignored: `strict: false` makes ajv log `unknown format "email" ignored` through
 *   console.warn at every compile (on every peer, once per schema text, so a peer's schema with
 *   thousands of formats floods every log) and validate nothing. DATABASE.md does not say so; a
 *   user writing `format: 'email'` believes it is checked.
 * Fix: refuse at setSchema what cannot validate (compile once against a probe, or detect loops),
 * and either add ajv-formats (deterministic formats only) or refuse unknown formats with
 * InvalidSchemaError and pass ajv a silent logger.
 */
import { describe, expect, it, vi } from 'vitest'
import { createCollection } from '../../../src/db/index.js'
import { asRemote, outcome } from './support.js'

const c = createCollection<{ _id: string; email?: string }>({ name: 'misc' })
type S = ReturnType<typeof c.initialThreadState>
const fold = (s: S | undefined, type: string, payload: unknown): S => c.fold(s as never, { type: `misc/${type}`, payload: asRemote(payload) }) as S

describe('schemas that compile but cannot validate', () => {
  it('a $ref loop is refused by setSchema, or writes under it fail with a named error', () => {
    let s: S
    try {
      s = fold(undefined, 'setSchema', { schema: { $ref: '#' } })
    } catch (e) {
      expect((e as Error).name).toBe('InvalidSchemaError')
      return
    }
    expect(outcome(() => fold(s, 'create', { _id: 'x' }))).toMatch(/SchemaViolationError|InvalidSchemaError/)
  })

  it('a `format` is either enforced or refused, and never logs from the reducer', () => {
    const warn = vi.spyOn(console, 'warn').mockImplementation(() => {})
    try {
      let s: S
      try {
        s = fold(undefined, 'setSchema', { schema: { type: 'object', properties: { email: { type: 'string', format: 'email', $comment: 'misc-1' } } } })
      } catch (e) {
        expect((e as Error).name).toBe('InvalidSchemaError')
        return
      }
      expect(outcome(() => fold(s, 'create', { _id: 'e', email: 'not an address' }))).toBe('SchemaViolationError')
    } finally {
      expect(warn).not.toHaveBeenCalled()
      warn.mockRestore()
    }
  })
})
