/**
 * Types of the CRDT helpers (checked by `vitest --typecheck`, never run): payload makers infer
 * element types, appliers keep them, and they compose into a thread slice's case reducers with
 * RTK's `PayloadAction` (the event's stamp from `stampOf`).
 */
import type { PayloadAction } from '@reduxjs/toolkit'
import { describe, expectTypeOf, it } from 'vitest'
import { createThreadSlice } from '../../src/index.js'
import {
  applyCounter,
  applyJsonPatch,
  applyList,
  applyLwwRegister,
  applyOrSet,
  applyText,
  listValues,
  lwwRegister,
  makeIncrement,
  makeInsertText,
  makeJsonPatch,
  makeListInsert,
  makeLwwSet,
  makeOrSetAdd,
  orSetValues,
  stampOf,
  textToString,
  type JsonObject,
  type JsonPatchOp,
  type ListInsert,
  type ListOp,
  type ListState,
  type LwwRegister,
  type OrSetAdd,
  type OrSetOp,
  type OrSetState,
  type Stamp,
  type TextOp,
  type TextState
} from '../../src/db/index.js'

const stamp: Stamp = { clock: 1, logId: 'a', seq: 1 }

describe('CRDT helper types', () => {
  it('payload makers infer element types and appliers keep them', () => {
    expectTypeOf(makeListInsert(null, [1, 2])).toEqualTypeOf<ListInsert<number>>()
    expectTypeOf(applyList([] as ListState<number>, makeListInsert(null, [1]), stamp)).toEqualTypeOf<ListState<number>>()
    expectTypeOf(listValues([] as ListState<number>)).toEqualTypeOf<readonly number[]>()
    expectTypeOf(makeOrSetAdd('x')).toEqualTypeOf<OrSetAdd<string>>()
    expectTypeOf(orSetValues({} as OrSetState<string>)).toEqualTypeOf<readonly string[]>()
    expectTypeOf(applyLwwRegister(lwwRegister('t'), makeLwwSet('u'), stamp)).toEqualTypeOf<LwwRegister<string>>()
    expectTypeOf(applyCounter(0, makeIncrement())).toEqualTypeOf<number>()
    expectTypeOf(textToString([] as TextState)).toEqualTypeOf<string>()
    expectTypeOf(makeJsonPatch({ a: 1 }, { a: 2 })).toEqualTypeOf<JsonPatchOp>()
    // @ts-expect-error a list of numbers takes numbers
    applyList([] as ListState<number>, makeListInsert(null, ['x']), stamp)
    // @ts-expect-error a stamp is needed where the helper keeps one
    applyList([] as ListState<number>, makeListInsert(null, [1]))
    // @ts-expect-error a text insert carries strings
    applyText([], makeListInsert(null, [1]), stamp)
  })

  it('compose into a thread slice with PayloadAction and stampOf', () => {
    const note = createThreadSlice({
      name: 'note',
      initialState: { likes: 0, title: lwwRegister(''), tags: {} as OrSetState<string>, items: [] as ListState<string>, body: [] as TextState, doc: {} as JsonObject },
      reducers: {
        liked: (state, action: PayloadAction<{ add: number }>) => {
          state.likes = applyCounter(state.likes, action.payload)
        },
        titled: (state, action: PayloadAction<{ value: string }>) => {
          state.title = applyLwwRegister(state.title, action.payload, stampOf(action))
        },
        tagged: (state, action: PayloadAction<OrSetOp<string>>) => {
          state.tags = applyOrSet(state.tags, action.payload)
        },
        listed: (state, action: PayloadAction<ListOp<string>>) => {
          state.items = applyList(state.items, action.payload, stampOf(action))
        },
        typed: (state, action: PayloadAction<TextOp>) => {
          state.body = applyText(state.body, action.payload, stampOf(action))
        },
        saved: (state, action: PayloadAction<JsonPatchOp>) => {
          state.doc = applyJsonPatch(state.doc, action.payload)
        }
      },
      selectors: { text: (state) => textToString(state.body), items: (state) => listValues(state.items) }
    })
    expectTypeOf(note.actions.typed).parameter(0).toEqualTypeOf<TextOp>()
    expectTypeOf(note.actions.typed(makeInsertText(null, 'hi')).type).toEqualTypeOf<'note/typed'>()
    expectTypeOf(note.selectors.text).returns.toEqualTypeOf<string>()
  })
})
