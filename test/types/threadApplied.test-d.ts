/**
 * Types of `threadApplied` and `eventOf` (checked by `vitest --typecheck`, never run): the applied
 * action creator is typed as RTK's `createAction`, its payload carries states and an event count
 * (no actions: each event follows as its own action), and `eventOf` reads the EventMeta of any
 * action.
 */
import { createListenerMiddleware, createSlice, isAnyOf, type UnknownAction } from '@reduxjs/toolkit'
import { describe, expectTypeOf, it } from 'vitest'
import { createThreadSlice, eventOf, threadApplied, type AppliedPayload, type AppliedReason, type EventAction, type EventMeta } from '../../src/index.js'

const list = createThreadSlice({
  name: 'list',
  initialState: [] as string[],
  reducers: { pushed: (state, action: { type: string; payload: string }) => void state.push(action.payload) }
})

describe('threadApplied and eventOf types', () => {
  it('threadApplied is a typed action creator', () => {
    expectTypeOf(threadApplied.type).toEqualTypeOf<'redux-threads/applied'>()
    expectTypeOf(threadApplied).parameter(0).toEqualTypeOf<AppliedPayload>()
    expectTypeOf(threadApplied({ threadId: 't', reason: 'remote', states: {}, events: 2 })).toEqualTypeOf<{ payload: AppliedPayload; type: 'redux-threads/applied' }>()
    const a: UnknownAction = { type: 'x' }
    if (threadApplied.match(a)) {
      expectTypeOf(a.payload).toEqualTypeOf<AppliedPayload>()
      expectTypeOf(a.payload.reason).toEqualTypeOf<AppliedReason>()
      expectTypeOf(a.payload.states).toEqualTypeOf<Readonly<Record<string, unknown>>>()
      expectTypeOf(a.payload.events).toEqualTypeOf<number>()
      expectTypeOf(a.payload.threadId).toEqualTypeOf<string>()
    }
  })

  it('the payload has the new shape: reasons, states, an event count, no actions', () => {
    expectTypeOf<AppliedReason>().toEqualTypeOf<'open' | 'remote' | 'replay' | 'rollback' | 'reload' | 'close'>()
    expectTypeOf<AppliedPayload>().not.toHaveProperty('actions')
    expectTypeOf<AppliedPayload>().not.toHaveProperty('replayed')
    // @ts-expect-error: 'late' is not a reason
    threadApplied({ threadId: 't', reason: 'late', states: {}, events: 0 })
    // @ts-expect-error: the events follow as their own actions; the payload counts them
    threadApplied({ threadId: 't', reason: 'remote', states: {}, actions: [] })
  })

  it('works as a case in a plain slice and in a listener', () => {
    createSlice({
      name: 'ui',
      initialState: { replays: 0, remote: 0 },
      reducers: {},
      extraReducers: (b) =>
        b
          .addCase(threadApplied, (state, action) => {
            expectTypeOf(action.payload).toEqualTypeOf<AppliedPayload>()
            if (action.payload.reason === 'replay') state.replays++
          })
          .addMatcher(isAnyOf(list.actions.pushed), (state, action) => {
            expectTypeOf(eventOf(action)).toEqualTypeOf<EventMeta | undefined>()
            if (eventOf(action)?.local === false) state.remote++
          })
    })
    const listener = createListenerMiddleware()
    listener.startListening({
      actionCreator: list.actions.pushed,
      effect: (action) => {
        expectTypeOf(action.payload).toEqualTypeOf<string>()
        expectTypeOf(eventOf(action)).toEqualTypeOf<EventMeta | undefined>()
      }
    })
  })

  it('eventOf reads the EventMeta of anything; EventAction carries it', () => {
    expectTypeOf(eventOf).parameter(0).toEqualTypeOf<unknown>()
    expectTypeOf(eventOf).returns.toEqualTypeOf<EventMeta | undefined>()
    expectTypeOf<EventAction['meta']['event']>().toEqualTypeOf<EventMeta>()
    expectTypeOf<EventAction<number>['payload']>().toEqualTypeOf<number>()
    expectTypeOf<EventAction['meta']['replay']>().toEqualTypeOf<true | undefined>()
    expectTypeOf<EventMeta>().toHaveProperty('threadId').toEqualTypeOf<string>()
    expectTypeOf<EventMeta>().toHaveProperty('author').toEqualTypeOf<string>()
    expectTypeOf<EventMeta>().toHaveProperty('logId').toEqualTypeOf<string>()
    expectTypeOf<EventMeta>().toHaveProperty('clock').toEqualTypeOf<number>()
    expectTypeOf<EventMeta>().toHaveProperty('time').toEqualTypeOf<number>()
  })
})
