/**
 * CRDT helpers (paper section 5.4): plain state types, pure functions to use in any thread
 * slice's case reducers, and makers of command payloads for what must be decided when a command
 * is made (unique IDs, observed tags). The thread's total order decides every merge; see
 * docs/DATABASE.md, "CRDT helpers".
 */
export { InvalidOperationError } from './errors.js'
export { stampOf, compareStamps, type Stamp } from './stamp.js'
export { newId } from './ids.js'
export { canonicalKey } from './canonicalKey.js'
export { MAX_VALUE_DEPTH } from './values.js'
export { PAGE_MAX_ENTRIES } from './pages.js'
export { applyCounter, makeIncrement, makeDecrement, MAX_COUNTER_MAGNITUDE, type CounterState, type CounterOp } from './counter.js'
export { applyLwwRegister, lwwRegister, makeLwwSet, type LwwRegister, type LwwSet } from './lwwRegister.js'
export { applyOrSet, makeOrSetAdd, makeOrSetRemove, orSetEntry, orSetHas, MAX_OR_SET_TAGS, MAX_TAG_LENGTH, orSetKey, orSetValues, type OrSetState, type OrSetEntry, type OrSetOp, type OrSetAdd, type OrSetRemove } from './orSet.js'
export {
  applyList,
  insertedIds,
  listIdAt,
  listIds,
  listIndexOf,
  listValues,
  listMissingIds,
  MAX_LIST_ID_LENGTH,
  MAX_LIST_INSERT_VALUES,
  makeListDelete,
  makeListInsert,
  makeListInsertAt,
  makeListSet,
  type ListState,
  type ListElement,
  type ListOp,
  type ListInsert,
  type ListDelete,
  type ListSet
} from './list.js'
export { applyText, makeDeleteRange, makeInsertText, makeInsertTextAt, textToString, type TextState, type TextOp } from './text.js'
export { applyJsonPatch, makeJsonPatch, type JsonObject, type JsonPatchOp, type JsonValue } from './json.js'
