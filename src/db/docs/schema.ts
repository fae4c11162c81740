/**
 * JSON Schema validation with ajv (paper section 5.3: a collection's instances follow its
 * schema). The schema lives in the thread's state, so every peer validates an event against the
 * same schema, the one in force at the event's place in the order; compiled validators are
 * cached by schema identity, then by its JSON text, so a replay or a second peer in the process
 * does not compile again.
 */
import { Ajv, type ValidateFunction } from 'ajv'
import { InvalidSchemaError, SchemaViolationError } from './errors.js'

/** A JSON Schema (draft-07, as ajv 8 reads it by default): a plain JSON object. */
export type JsonSchema = { readonly [keyword: string]: unknown }

/** The schema in force in a thread, and how many times it was set (the initial schema is version 1). */
export interface SchemaState {
  readonly version: number
  readonly schema: JsonSchema
}

const byIdentity = new WeakMap<object, ValidateFunction>()
const byText = new Map<string, ValidateFunction>()
/** Distinct schema texts kept compiled (oldest dropped first). */
const MAX_CACHED = 64

function isJsonObject(value: unknown): value is Readonly<Record<string, unknown>> {
  return typeof value === 'object' && value !== null && !Array.isArray(value)
}

/**
 * The compiled validator of `schema`. One ajv instance per schema text (`strict: false`, so
 * unknown keywords are ignored as JSON Schema says; `$id`s cannot clash between schemas).
 *
 * @throws {@link InvalidSchemaError} when ajv cannot compile it.
 */
export function validatorOf(schema: JsonSchema): ValidateFunction {
  const known = byIdentity.get(schema)
  if (known !== undefined) return known
  if (!isJsonObject(schema)) throw new InvalidSchemaError('a collection schema must be a JSON Schema object')
  const text = JSON.stringify(schema)
  let validate = byText.get(text)
  if (validate === undefined) {
    try {
      validate = new Ajv({ strict: false, allErrors: false }).compile(schema)
    } catch (cause) {
      throw new InvalidSchemaError(`ajv cannot compile the schema: ${cause instanceof Error ? cause.message : String(cause)}`, {}, { cause })
    }
    if (byText.size >= MAX_CACHED) byText.delete(byText.keys().next().value as string)
    byText.set(text, validate)
  }
  byIdentity.set(schema, validate)
  return validate
}

/**
 * Throw {@link SchemaViolationError} unless `doc` (with its `_id`) is valid under `schema`.
 * The message names the collection, the document and ajv's first error (path and rule).
 */
export function validateDocument(collection: string, schema: JsonSchema, doc: unknown): void {
  const validate = validatorOf(schema)
  const value: unknown = doc
  if (validate(value) === true) return
  const first = validate.errors?.[0]
  const where = first === undefined ? '' : `${first.instancePath === '' ? '(the document)' : first.instancePath} ${first.message ?? 'is invalid'}`
  const id = isJsonObject(doc) && typeof doc._id === 'string' ? doc._id : '?'
  throw new SchemaViolationError(`collection \`${collection}\`: document ${id} does not follow the thread's schema: ${where}`)
}
