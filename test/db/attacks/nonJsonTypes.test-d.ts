/**
 * FINDING (low, types): `createCollection<Doc>` accepts document types that can never be stored:
 * `DocumentBase` (src/db/docs/collectionState.ts:13) constrains only `_id`, so a `Date`, `Map`,
 * `bigint` or `undefined`-valued field type-checks, and every create then throws a TypeError from
 * dag-cbor at dispatch ("cannot be stored"), or (bigint) is stored but breaks JSON consumers.
 * Fix: constrain `Doc` to JSON values (e.g. `Doc extends DocumentBase & JsonObjectLike`), as
 * json.ts's `JsonValue` already describes.
 */
import { createCollection } from '../../../src/db/index.js'

interface Meeting {
  _id: string
  at: Date
}

// @ts-expect-error a Date field cannot be stored in a thread
createCollection<Meeting>({ name: 'meetings' })
