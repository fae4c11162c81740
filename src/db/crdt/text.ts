import { check } from './errors.js'
import { newId } from './ids.js'
import { applyList, makeListDelete, makeListInsert, type ListDelete, type ListElement, type ListInsert, type ListOp, type ListState } from './list.js'
import { memoByIdentity } from './plain.js'
import type { Stamp } from './stamp.js'

/**
 * Collaborative plain text (paper section 5.4) on the {@link ListState | list} helper: one
 * element per Unicode code point (a surrogate pair is one element, so a payload never holds a
 * lone surrogate, which dag-cbor would replace). Concurrent typing at one place keeps both runs
 * whole, a deleted range keeps tombstones that later inserts can anchor on, and the text is the
 * same on every peer. Offsets in this API are UTF-16 offsets, as `String` and `<textarea>`
 * selections count.
 */
export type TextState = ListState<string>

/** A text command: an insert of characters or a delete of characters (list commands). */
export type TextOp = ListInsert<string> | ListDelete

/**
 * The payload of inserting `text` right after the character `after` (its element ID; `null`:
 * at the start). Each code point becomes one element (IDs as `insertedIds` gives them).
 *
 * @example
 * ```ts
 * import { makeInsertText } from 'redux-p2p-threads/db'
 * store.dispatch(note.actions.typed(makeInsertText(null, 'Hello')))
 * ```
 */
export function makeInsertText(after: string | null, text: string, id: string = newId()): ListInsert<string> {
  return makeListInsert(after, Array.from(text), id)
}

/**
 * The payload of inserting `text` at UTF-16 offset `offset` of the text as this peer sees it:
 * after the character that ends at or before `offset`.
 *
 * @throws RangeError when `offset` is outside `0..length`.
 *
 * @example
 * ```ts
 * import { makeInsertTextAt, textToString } from 'redux-p2p-threads/db'
 * const state = selectNote(store.getState())
 * store.dispatch(note.actions.typed(makeInsertTextAt(state, textToString(state).length, '!')))
 * ```
 */
export function makeInsertTextAt(state: TextState, offset: number, text: string): ListInsert<string> {
  const { ids, ends } = layout(state)
  const length = ends.length === 0 ? 0 : (ends[ends.length - 1] as number)
  if (!Number.isInteger(offset) || offset < 0 || offset > length) throw new RangeError(`offset ${offset} is outside 0..${length}`)
  // The last character that ends at or before the offset.
  const k = upperBound(ends, offset) - 1
  return makeInsertText(k < 0 ? null : (ids[k] as string), text)
}

/**
 * The payload of deleting the characters between UTF-16 offsets `from` (inclusive) and `to`
 * (exclusive) as this peer sees the text: it names those characters, so text a peer inserts
 * into the range at the same time survives.
 *
 * @throws RangeError when `0 ≤ from ≤ to ≤ length` does not hold.
 *
 * @example
 * ```ts
 * import { makeDeleteRange } from 'redux-p2p-threads/db'
 * store.dispatch(note.actions.typed(makeDeleteRange(state, 0, 5)))
 * ```
 */
export function makeDeleteRange(state: TextState, from: number, to: number): ListDelete {
  const { ids, ends } = layout(state)
  const length = ends.length === 0 ? 0 : (ends[ends.length - 1] as number)
  if (!Number.isInteger(from) || !Number.isInteger(to) || from < 0 || from > to || to > length) throw new RangeError(`the range ${from}..${to} is not within 0..${length}`)
  // Characters overlapping [from, to): those that end after `from` and start before `to`.
  const first = upperBound(ends, from)
  const out: string[] = []
  for (let k = first; k < ids.length; k++) {
    const start = k === 0 ? 0 : (ends[k - 1] as number)
    if (start >= to) break
    out.push(ids[k] as string)
  }
  return makeListDelete(out)
}

/**
 * Apply a text command stamped `stamp` (use `stampOf(action)`): {@link applyList}, with each
 * inserted value checked to be one code point.
 *
 * @throws {@link InvalidOperationError} for a malformed command or one `applyList` refuses.
 *
 * @example
 * ```ts
 * import type { PayloadAction } from '@reduxjs/toolkit'
 * import { createThreadSlice } from 'redux-p2p-threads'
 * import { applyText, stampOf, textToString, type TextOp, type TextState } from 'redux-p2p-threads/db'
 *
 * const note = createThreadSlice({
 *   name: 'note',
 *   initialState: { body: [] as TextState },
 *   reducers: {
 *     typed(state, action: PayloadAction<TextOp>) {
 *       state.body = applyText(state.body, action.payload, stampOf(action))
 *     }
 *   },
 *   selectors: { text: (state) => textToString(state.body) }
 * })
 * ```
 */
export function applyText(state: TextState, op: TextOp, stamp: Stamp): TextState {
  check(typeof op === 'object' && op !== null && (op.op === 'insert' || op.op === 'delete'), 'a text operation is a list insert or delete')
  if (op.op === 'insert') {
    check(Array.isArray(op.values) && op.values.every(isCodePoint), 'a text insert holds one Unicode code point per value')
  }
  return applyList(state, op as ListOp<string>, stamp)
}

function isCodePoint(value: unknown): boolean {
  if (typeof value !== 'string' || value.length === 0 || value.length > 2) return false
  const cp = value.codePointAt(0) as number
  return value.length === (cp > 0xffff ? 2 : 1) && !(cp >= 0xd800 && cp <= 0xdfff)
}

const text = memoByIdentity((state: TextState): string => {
  let out = ''
  for (let i = 0; i < state.length; i++) {
    const e = state[i] as ListElement<string>
    if (e.deleted === undefined) out += e.value
  }
  return out
})

/**
 * The text, without deleted characters. Memoized on the state array: the same string until the
 * text changes, so it suits a selector.
 *
 * @example
 * ```ts
 * import { textToString } from 'redux-p2p-threads/db'
 * const selectBody = (root: RootState) => textToString(root.note.body)
 * ```
 */
export function textToString(state: TextState): string {
  return text(state)
}

interface Layout {
  /** Visible characters' IDs, in order. */
  readonly ids: string[]
  /** UTF-16 offset at which each visible character ends. */
  readonly ends: number[]
}

const layout = memoByIdentity((state: TextState): Layout => {
  const ids: string[] = []
  const ends: number[] = []
  let at = 0
  for (let i = 0; i < state.length; i++) {
    const e = state[i] as ListElement<string>
    if (e.deleted !== undefined) continue
    at += e.value.length
    ids.push(e.id)
    ends.push(at)
  }
  return { ids, ends }
})

/** The first index whose value is greater than `x` (sorted ascending). */
function upperBound(sorted: readonly number[], x: number): number {
  let lo = 0
  let hi = sorted.length
  while (lo < hi) {
    const mid = (lo + hi) >>> 1
    if ((sorted[mid] as number) <= x) lo = mid + 1
    else hi = mid
  }
  return lo
}
