/**
 * JSON Schema validation with ajv (paper section 5.3: a collection's instances follow its
 * schema). The schema lives in the thread's state, so every peer validates an event against the
 * same schema, the one in force at the event's place in the order; compiled validators are
 * cached by schema identity, then by its JSON text, so a replay or a second peer in the process
 * does not compile again.
 *
 * A schema may come from any writer's `setSchema` event, and every peer folds every event
 * synchronously, so what a schema may make a peer do is bounded before ajv sees it, by walks with
 * an explicit stack (never recursion), with constants only (never time): every peer decides the
 * same, at any stack depth, with any ajv cache. See docs/DATABASE.md, "Schema bounds".
 * - Size: {@link MAX_SCHEMA_CHARS}, {@link MAX_SCHEMA_NODES}, {@link MAX_SCHEMA_DEPTH}, and
 *   {@link MAX_COMPILE_DEPTH} for the nesting ajv's compiler walks through `$ref`s.
 * - Keywords: draft-07's, minus those that run a regular expression from the thread (`pattern`,
 *   `patternProperties`, `format`: no formats are installed, and a regex one would backtrack),
 *   `$async` (a validator that returns a Promise), `$id` and remote or anchor `$ref`s (only
 *   `#` and `#/…` JSON pointers). Unknown keywords are refused, not ignored: an ajv that learns
 *   a keyword would otherwise decide differently from one that ignores it.
 * - `uniqueItems` compares items pairwise unless `items` has scalar types only: then it needs
 *   `maxItems` ≤ {@link MAX_UNIQUE_ITEMS}.
 * - `$ref` loops that never step into the data (`{ $ref: '#' }`) are refused; a recursive schema
 *   (a loop through `items`, `properties`…) validates documents nested at most
 *   {@link MAX_RECURSIVE_DEPTH} deep.
 * - Cost: {@link MAX_SCHEMA_COST} bounds the evaluations per value of the document (the schema
 *   unrolled, with its `$ref`s, to that depth); a write whose document size times that cost
 *   exceeds {@link MAX_VALIDATION_WORK} is refused with {@link SchemaViolationError}.
 */
import { Ajv, type ValidateFunction } from 'ajv'
import type { EventMeta } from '../../engine/threadEvent.js'
import { InvalidSchemaError, SchemaAuthorityError, SchemaViolationError } from './errors.js'

/** A JSON Schema (draft-07, as ajv 8 reads it by default): a plain JSON object. */
export type JsonSchema = { readonly [keyword: string]: unknown }

/** The schema in force in a thread, and how many times it was set (the initial schema is version 1). */
export interface SchemaState {
  readonly version: number
  readonly schema: JsonSchema
}

/**
 * Who may put a schema in force through the thread (`setSchema`): `'anyone'` who may write to
 * the thread, or a function of the event's meta (its `author`, a peer ID) that must be pure: it
 * decides on every peer, at every replay, so it may depend only on the event (for example a
 * fixed set of administrators' peer IDs, or the thread's owner known to the app). Default: nobody;
 * the schema then changes only with the code (`schema` and `version` of `createCollection`).
 */
export type SchemaAuthority = 'anyone' | ((event: EventMeta) => boolean)

/**
 * Throw {@link SchemaAuthorityError} unless `authority` allows `event` (an action folded without
 * a thread event, by hand, has no author: only `'anyone'` allows it).
 */
export function checkSchemaAuthority(authority: SchemaAuthority | undefined, event: EventMeta | undefined): void {
  if (authority === 'anyone') return
  if (authority === undefined) throw new SchemaAuthorityError('`setSchema` is refused: this collection takes its schema from the code only (no `schemaAuthority`)')
  let allowed = false
  try {
    allowed = event !== undefined && authority(event) === true
  } catch {
    // a throwing authority refuses, with the named error
  }
  if (!allowed) throw new SchemaAuthorityError(`\`setSchema\` is refused: ${event === undefined ? 'the action is not a thread event' : `${event.author} may not change the schema (\`schemaAuthority\`)`}`)
}

/** Characters of a schema's text (keys and strings counted, plus one per value). */
export const MAX_SCHEMA_CHARS = 64 * 1024
/** JSON values (objects, arrays, scalars) in a schema. */
export const MAX_SCHEMA_NODES = 4_000
/** Nesting of a schema's JSON (objects and arrays). */
export const MAX_SCHEMA_DEPTH = 32
/**
 * Nesting ajv's compiler may walk: the root's depth plus the depth of every distinct `$ref`
 * target (a compile follows each target once). Well below any engine's stack.
 */
export const MAX_COMPILE_DEPTH = 64
/** `maxItems` required beside `uniqueItems` unless `items` allows scalar types only. */
export const MAX_UNIQUE_ITEMS = 256
/** How deep a document may nest under a recursive schema (its validator recurses per level). */
export const MAX_RECURSIVE_DEPTH = 64
/** Schema evaluations per value of a document (the schema unrolled to {@link MAX_RECURSIVE_DEPTH}). */
export const MAX_SCHEMA_COST = 20_000
/** Cost of a schema times the values (and member names) of a document, per write. */
export const MAX_VALIDATION_WORK = 4_000_000

const byIdentity = new WeakMap<object, Compiled>()
const byText = new Map<string, Compiled>()
/** Distinct schema texts kept compiled (oldest dropped first). */
const MAX_CACHED = 64

interface Compiled {
  readonly validate: ValidateFunction
  /** Evaluations per document value. */
  readonly cost: number
  /**
   * True when validation recurses with the data: a `$ref` loop, or `uniqueItems` comparing
   * items deeply (ajv's deep equality recurses).
   */
  readonly recursive: boolean
}

function isJsonObject(value: unknown): value is Readonly<Record<string, unknown>> {
  return typeof value === 'object' && value !== null && !Array.isArray(value)
}

function refuse(message: string): never {
  throw new InvalidSchemaError(`invalid collection schema: ${message}`)
}

const RESERVED = new Set(['__proto__', 'constructor', 'prototype'])

/** Keywords whose value is a schema. */
const ONE_SCHEMA = new Set(['not', 'if', 'then', 'else', 'contains', 'propertyNames', 'additionalProperties', 'additionalItems'])
/** Keywords whose value is an array of schemas. */
const SCHEMA_ARRAY = new Set(['allOf', 'anyOf', 'oneOf'])
/** Keywords whose value is an object of schemas. */
const SCHEMA_MAP = new Set(['properties', 'definitions'])
/** Keywords with plain values (ajv's meta-schema checks them). */
const PLAIN = new Set([
  'type', 'enum', 'const', 'multipleOf', 'maximum', 'exclusiveMaximum', 'minimum', 'exclusiveMinimum',
  'maxLength', 'minLength', 'maxItems', 'minItems', 'uniqueItems', 'maxProperties', 'minProperties', 'required',
  '$schema', '$ref', '$comment', 'title', 'description', 'default', 'examples', 'readOnly', 'writeOnly'
])
/** Refused keywords, and why. */
const REFUSED: Readonly<Record<string, string>> = {
  pattern: 'runs a regular expression from the thread (backtracking has no bound)',
  patternProperties: 'runs regular expressions from the thread (backtracking has no bound)',
  format: 'no formats are installed (ajv-formats is not used), so a format would check nothing',
  $async: 'an asynchronous validator cannot decide a synchronous fold',
  $id: 'schemas are self-contained: `$ref` only to `#` or `#/…` pointers',
  $data: '`$data` references are not enabled'
}
const DRAFT_07 = new Set(['http://json-schema.org/draft-07/schema#', 'http://json-schema.org/draft-07/schema'])

/**
 * Step 1: the schema is plain JSON within {@link MAX_SCHEMA_NODES}, {@link MAX_SCHEMA_CHARS} and
 * {@link MAX_SCHEMA_DEPTH}; checked with an explicit stack before anything recursive
 * (`JSON.stringify`, ajv) sees it.
 */
function checkJson(schema: unknown): void {
  const stack: Array<[unknown, number]> = [[schema, 1]]
  let nodes = 0
  let chars = 0
  while (stack.length > 0) {
    const [value, depth] = stack.pop() as [unknown, number]
    if (++nodes > MAX_SCHEMA_NODES) refuse(`more than ${MAX_SCHEMA_NODES} JSON values (MAX_SCHEMA_NODES)`)
    chars += 1
    if (value === null || typeof value === 'boolean') continue
    if (typeof value === 'number') {
      if (!Number.isFinite(value)) refuse('a number that is not finite')
      continue
    }
    if (typeof value === 'string') {
      chars += value.length
    } else if (typeof value === 'object') {
      if (depth > MAX_SCHEMA_DEPTH) refuse(`nested more than ${MAX_SCHEMA_DEPTH} deep (MAX_SCHEMA_DEPTH)`)
      const width = Array.isArray(value) ? value.length : Object.keys(value).length
      if (nodes + stack.length + width > MAX_SCHEMA_NODES) refuse(`more than ${MAX_SCHEMA_NODES} JSON values (MAX_SCHEMA_NODES)`)
      if (Array.isArray(value)) {
        for (const item of value) stack.push([item, depth + 1])
      } else {
        const proto = Object.getPrototypeOf(value) as unknown
        if (proto !== Object.prototype && proto !== null) refuse('a value that is not plain JSON')
        for (const key of Object.keys(value)) {
          if (RESERVED.has(key)) refuse(`a member named \`${key}\``)
          chars += key.length
          stack.push([(value as Record<string, unknown>)[key], depth + 1])
        }
      }
    } else {
      refuse(`a ${typeof value} value (not JSON)`)
    }
    if (chars > MAX_SCHEMA_CHARS) refuse(`more than ${MAX_SCHEMA_CHARS} characters (MAX_SCHEMA_CHARS)`)
  }
}

/** A schema node of the walk, and how it applies its subschemas. */
interface Node {
  readonly depth: number
  /** Own cost per evaluation. */
  own: number
  /** Subschemas applied to the same value (combinators, `$ref`). */
  readonly same: number[]
  /** Subschemas applied to every member or item. */
  readonly every: number[]
  /** Subschemas of which one applies to a given member or item. */
  readonly some: number[]
  /** `$ref` target pointer (resolved after the walk). */
  ref?: string
  /** JSON nesting of this subtree (filled bottom-up). */
  height: number
  readonly parent: number
}

function escapeToken(token: string): string {
  return token.replaceAll('~', '~0').replaceAll('/', '~1')
}

function isScalarTypes(items: unknown): boolean {
  if (!isJsonObject(items)) return false
  const types = Array.isArray(items.type) ? (items.type as unknown[]) : [items.type]
  return types.length > 0 && types.every((t) => typeof t === 'string' && t !== 'object' && t !== 'array')
}

/** Step 2: keywords, `$ref`s, and the graph of subschemas for the bounds on cost and depth. */
function analyse(root: JsonSchema): { cost: number; recursive: boolean } {
  const nodes: Node[] = []
  const byPointer = new Map<string, number>()
  const stack: Array<[unknown, string, number, number]> = [[root, '', 1, -1]]
  // The schema positions a node's subschemas take, pushed as [value, pointer, JSON depth, parent].
  const pending: Array<{ from: number; kind: 'same' | 'every' | 'some'; pointer: string }> = []
  let pairwise = false
  while (stack.length > 0) {
    const [schema, pointer, depth, parent] = stack.pop() as [unknown, string, number, number]
    const index = nodes.length
    const node: Node = { depth, own: 1, same: [], every: [], some: [], height: 1, parent }
    nodes.push(node)
    byPointer.set(pointer, index)
    if (typeof schema === 'boolean') continue
    if (!isJsonObject(schema)) refuse(`${pointer || '#'} is not a schema (an object or a boolean)`)
    const sub = (value: unknown, at: string, d: number, kind: 'same' | 'every' | 'some' | 'none'): void => {
      stack.push([value, at, d, index])
      if (kind !== 'none') pending.push({ from: index, kind, pointer: at })
    }
    for (const [key, value] of Object.entries(schema)) {
      const at = `${pointer}/${escapeToken(key)}`
      const why = REFUSED[key]
      if (why !== undefined) refuse(`\`${key}\` at ${pointer || '#'}: ${why}`)
      node.own += 1
      if (ONE_SCHEMA.has(key)) {
        sub(value, at, depth + 1, key === 'not' || key === 'if' || key === 'then' || key === 'else' ? 'same' : key === 'contains' || key === 'propertyNames' ? 'every' : 'some')
      } else if (SCHEMA_ARRAY.has(key)) {
        if (!Array.isArray(value)) refuse(`\`${key}\` at ${pointer || '#'} is not an array of schemas`)
        value.forEach((s, i) => sub(s, `${at}/${i}`, depth + 2, 'same'))
      } else if (SCHEMA_MAP.has(key)) {
        if (!isJsonObject(value)) refuse(`\`${key}\` at ${pointer || '#'} is not an object of schemas`)
        for (const [name, s] of Object.entries(value)) {
          node.own += 1
          sub(s, `${at}/${escapeToken(name)}`, depth + 2, key === 'properties' ? 'some' : 'none')
        }
      } else if (key === 'items') {
        if (Array.isArray(value)) value.forEach((s, i) => sub(s, `${at}/${i}`, depth + 2, 'some'))
        else sub(value, at, depth + 1, 'every')
      } else if (key === 'dependencies') {
        if (!isJsonObject(value)) refuse(`\`dependencies\` at ${pointer || '#'} is not an object`)
        for (const [name, d] of Object.entries(value)) {
          node.own += 1
          if (!Array.isArray(d)) sub(d, `${at}/${escapeToken(name)}`, depth + 2, 'same')
          else node.own += d.length
        }
      } else if (PLAIN.has(key)) {
        if (Array.isArray(value)) node.own += value.length
        if (key === '$schema' && !DRAFT_07.has(value as string)) refuse(`\`$schema\` at ${pointer || '#'}: only draft-07 is read`)
        if (key === '$ref') {
          if (typeof value !== 'string' || (value !== '#' && !value.startsWith('#/')) || value.includes('%')) refuse(`\`$ref\` at ${pointer || '#'}: only \`#\` and \`#/…\` JSON pointers (no remote schemas, anchors or escapes)`)
          node.ref = value.slice(1)
        }
      } else {
        refuse(`unknown keyword \`${key}\` at ${pointer || '#'} (draft-07 keywords only)`)
      }
    }
    if (schema.uniqueItems === true && !isScalarTypes(schema.items)) {
      const max = schema.maxItems
      if (typeof max !== 'number' || max > MAX_UNIQUE_ITEMS) refuse(`\`uniqueItems\` at ${pointer || '#'} compares items pairwise unless \`items\` has scalar types: it needs \`maxItems\` ≤ ${MAX_UNIQUE_ITEMS} (MAX_UNIQUE_ITEMS)`)
      node.own += max
      pairwise = true
    }
  }
  for (const p of pending) {
    const to = byPointer.get(p.pointer) as number
    ;(nodes[p.from] as Node)[p.kind].push(to)
  }
  // Subtree heights, children before parents (a child is always pushed after its parent).
  for (let i = nodes.length - 1; i > 0; i--) {
    const n = nodes[i] as Node
    const parent = nodes[n.parent] as Node
    parent.height = Math.max(parent.height, n.height + (n.depth - parent.depth))
  }
  const targets = new Set<number>()
  for (const n of nodes) {
    if (n.ref === undefined) continue
    const to = byPointer.get(n.ref)
    if (to === undefined) refuse(`\`$ref\` \`#${n.ref}\` does not point to a schema in this schema`)
    n.same.push(to)
    targets.add(to)
  }
  let compileDepth = (nodes[0] as Node).height
  for (const t of targets) compileDepth += (nodes[t] as Node).height
  if (compileDepth > MAX_COMPILE_DEPTH) refuse(`its \`$ref\` targets nest more than ${MAX_COMPILE_DEPTH} deep together (MAX_COMPILE_DEPTH)`)

  // Same-value order (Kahn): a loop of same-value edges is a `$ref` loop that never steps into the data.
  const order = topological(nodes.length, (i) => (nodes[i] as Node).same)
  if (order === undefined) refuse('a `$ref` loop that never steps into the data (as `{ $ref: \'#\' }`): it cannot validate anything')
  const recursive = topological(nodes.length, (i) => {
    const n = nodes[i] as Node
    return [...n.same, ...n.every, ...n.some]
  }) === undefined

  // Cost per value: cost(n, d) = own + Σ same(d) + [d > 0] (Σ every(d−1) + max some(d−1)),
  // unrolled to MAX_RECURSIVE_DEPTH (at least as deep as any non-recursive schema reaches through
  // its `$ref`s, MAX_COMPILE_DEPTH); saturated just above the bound.
  const levels = Math.max(MAX_RECURSIVE_DEPTH, MAX_COMPILE_DEPTH)
  const cap = MAX_SCHEMA_COST + 1
  let below = new Array<number>(nodes.length).fill(0)
  let cost = new Array<number>(nodes.length).fill(0)
  for (let d = 0; d <= levels; d++) {
    cost = new Array<number>(nodes.length).fill(0)
    for (const i of order) {
      const n = nodes[i] as Node
      let c = n.own
      for (const s of n.same) c += cost[s] as number
      if (d > 0) {
        for (const s of n.every) c += below[s] as number
        let most = 0
        for (const s of n.some) most = Math.max(most, below[s] as number)
        c += most
      }
      cost[i] = Math.min(c, cap)
    }
    below = cost
  }
  const total = cost[0] as number
  if (total > MAX_SCHEMA_COST) refuse(`validating one value may take more than ${MAX_SCHEMA_COST} schema evaluations (MAX_SCHEMA_COST)`)
  return { cost: total, recursive: recursive || pairwise }
}

/** The nodes in an order where each comes after those it points to, or undefined on a loop. */
function topological(count: number, edges: (i: number) => readonly number[]): number[] | undefined {
  const pointedBy = new Array<number>(count).fill(0)
  const back: number[][] = Array.from({ length: count }, () => [])
  for (let i = 0; i < count; i++) {
    for (const j of edges(i)) {
      pointedBy[i] = (pointedBy[i] as number) + 1
      ;(back[j] as number[]).push(i)
    }
  }
  const ready: number[] = []
  for (let i = 0; i < count; i++) if (pointedBy[i] === 0) ready.push(i)
  const out: number[] = []
  while (ready.length > 0) {
    const j = ready.pop() as number
    out.push(j)
    for (const i of back[j] as number[]) {
      pointedBy[i] = (pointedBy[i] as number) - 1
      if (pointedBy[i] === 0) ready.push(i)
    }
  }
  return out.length === count ? out : undefined
}

/**
 * ajv's options: draft-07, strict about the schema (unknown keywords and formats throw; the walk
 * above refuses them first), no `$data`, no type coercion, no defaults written, no removal, the
 * first error only, no remote loading, `u` regular expressions, and no logger (a reducer never
 * logs).
 */
function newAjv(): Ajv {
  return new Ajv({
    strict: true,
    strictTypes: false,
    strictTuples: false,
    strictRequired: false,
    $data: false,
    coerceTypes: false,
    useDefaults: false,
    removeAdditional: false,
    allErrors: false,
    validateFormats: true,
    unicodeRegExp: true,
    addUsedSchema: false,
    logger: false
  })
}

function compiledOf(schema: unknown): Compiled {
  if (isJsonObject(schema)) {
    const known = byIdentity.get(schema)
    if (known !== undefined) return known
  }
  if (!isJsonObject(schema)) refuse('a collection schema must be a JSON Schema object')
  checkJson(schema)
  const text = JSON.stringify(schema)
  let compiled = byText.get(text)
  if (compiled === undefined) {
    const { cost, recursive } = analyse(schema)
    let validate: ValidateFunction
    try {
      validate = newAjv().compile(schema)
    } catch (cause) {
      throw new InvalidSchemaError(`ajv cannot compile the schema: ${cause instanceof Error ? cause.message : String(cause)}`, {}, { cause })
    }
    if ((validate as { $async?: unknown }).$async !== undefined) refuse('an asynchronous validator cannot decide a synchronous fold')
    compiled = { validate, cost, recursive }
    if (byText.size >= MAX_CACHED) byText.delete(byText.keys().next().value as string)
    byText.set(text, compiled)
  }
  byIdentity.set(schema, compiled)
  return compiled
}

/**
 * The compiled validator of `schema`, after the bounds above. One ajv instance per schema text
 * (`$id`s are refused anyway).
 *
 * @throws {@link InvalidSchemaError} when a bound or a keyword refuses it, or ajv cannot compile it.
 */
export function validatorOf(schema: JsonSchema): ValidateFunction {
  return compiledOf(schema).validate
}

/**
 * Values and member names of `doc` (a string counts one more per 16 characters: `maxLength`
 * and `enum` read it whole), and its nesting, counted with an explicit stack (stops past `limit`).
 */
function measure(doc: unknown, limit: number): { size: number; depth: number } {
  const stack: Array<[unknown, number]> = [[doc, 1]]
  let size = 0
  let depth = 0
  while (stack.length > 0 && size <= limit) {
    const [value, d] = stack.pop() as [unknown, number]
    size++
    if (d > depth) depth = d
    if (typeof value === 'string') size += value.length >> 4
    if (typeof value !== 'object' || value === null) continue
    const keys = Array.isArray(value) ? undefined : Object.keys(value)
    // Stop before pushing a member list that passes the limit (a wide array is refused cheaply).
    if (size + stack.length + (keys === undefined ? (value as unknown[]).length : 2 * keys.length) > limit) return { size: limit + 1, depth }
    if (keys === undefined) {
      for (const item of value as unknown[]) stack.push([item, d + 1])
    } else {
      for (const key of keys) {
        size++
        stack.push([(value as Record<string, unknown>)[key], d + 1])
      }
    }
  }
  return { size, depth }
}

/**
 * Throw {@link SchemaViolationError} unless `doc` (with its `_id`) is valid under `schema`.
 * The message names the collection, the document and ajv's first error (path and rule). A
 * document whose validation would cost more than {@link MAX_VALIDATION_WORK}, or nested deeper
 * than {@link MAX_RECURSIVE_DEPTH} under a recursive schema, is refused the same way, before ajv runs.
 */
export function validateDocument(collection: string, schema: JsonSchema, doc: unknown): void {
  const { validate, cost, recursive } = compiledOf(schema)
  const id = isJsonObject(doc) && typeof doc._id === 'string' ? doc._id : '?'
  const { size, depth } = measure(doc, Math.floor(MAX_VALIDATION_WORK / cost))
  if (size * cost > MAX_VALIDATION_WORK) throw new SchemaViolationError(`collection \`${collection}\`: document ${id} is too large to validate under the thread's schema (MAX_VALIDATION_WORK: ${MAX_VALIDATION_WORK} = document values × ${cost} evaluations per value)`)
  if (recursive && depth > MAX_RECURSIVE_DEPTH) throw new SchemaViolationError(`collection \`${collection}\`: document ${id} nests more than ${MAX_RECURSIVE_DEPTH} deep under a recursive schema (MAX_RECURSIVE_DEPTH)`)
  const value: unknown = doc
  if (validate(value) === true) return
  const first = validate.errors?.[0]
  const where = first === undefined ? '' : `${first.instancePath === '' ? '(the document)' : first.instancePath} ${first.message ?? 'is invalid'}`
  throw new SchemaViolationError(`collection \`${collection}\`: document ${id} does not follow the thread's schema: ${where}`)
}
