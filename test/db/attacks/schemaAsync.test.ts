/**
 * FINDING (high): `setSchema` takes a schema with `$async: true` (src/db/docs/schema.ts:43 compiles
 * whatever ajv accepts). ajv then compiles an async validator: `validate(doc)` returns a Promise,
 * so `validate(value) === true` (schema.ts:61) is false for every document and every later write
 * is refused on every peer; and for an invalid document the Promise rejects with nobody
 * listening: an unhandled rejection, which terminates a Node process by default
 * (`--unhandled-rejections=throw`), on every peer, again at every replay or restart.
 * One event from any writer (see setSchemaByWriter.test.ts).
 */
import { afterEach, describe, expect, it } from 'vitest'
import { createCollection } from '../../../src/db/index.js'
import { asRemote, outcome } from './support.js'

const c = createCollection<{ _id: string; a?: unknown }>({ name: 'asyncc' })
const fold = (s: unknown, a: { type: string; payload: unknown }) => c.fold(s as never, a) as ReturnType<typeof c.initialThreadState>

const seen: unknown[] = []
const onRejection = (e: unknown): void => {
  seen.push(e)
}
afterEach(() => {
  process.off('unhandledRejection', onRejection)
})

describe('an $async schema from a peer', () => {
  it('is refused by setSchema with InvalidSchemaError', () => {
    const schema = asRemote({ $async: true, type: 'object', properties: { a: { type: 'string' } } })
    expect(outcome(() => fold(undefined, { type: 'asyncc/setSchema', payload: { schema } }))).toBe('InvalidSchemaError')
  })

  it('never leaves an unhandled promise rejection behind a refused write', async () => {
    process.on('unhandledRejection', onRejection)
    const schema = asRemote({ $async: true, type: 'object', properties: { a: { type: 'string' } } })
    let s: unknown
    try {
      s = fold(undefined, { type: 'asyncc/setSchema', payload: { schema } })
    } catch {
      return // refused: nothing to check
    }
    outcome(() => fold(s, { type: 'asyncc/create', payload: asRemote({ _id: 'x', a: 1 }) }))
    await new Promise((r) => setTimeout(r, 50))
    expect(seen).toEqual([])
  })
})
