/**
 * Types of the Redux bindings (checked by `vitest --typecheck`, never run): a thread slice's
 * state flows to the store's RootState, action creators are typed as in RTK, createPeer returns
 * typed threads, and a wrong payload is a type error.
 */
import { configureStore, type PayloadAction, type Reducer, type UnknownAction } from '@reduxjs/toolkit'
import { applyMiddleware, combineReducers, legacy_createStore } from 'redux'
import type { Observable } from 'rxjs'
import { describe, expectTypeOf, it } from 'vitest'
import type { ThreadKey } from '../../../src/core/keys.js'
import type { ThreadId } from '../../../src/core/threadId.js'
import type { EventMeta } from '../../../src/engine/threadEvent.js'
import type { ThreadEngine } from '../../../src/engine/threadEngine.js'
import type { AppliedPayload, EventAction } from '../../../src/redux/appliedAction.js'
import { threadApplied } from '../../../src/redux/appliedAction.js'
import { createPeer, durable, type AppliedEvent, type Peer, type SliceStates, type Thread } from '../../../src/redux/createPeer.js'
import { createThreadSlice, type ThreadSlice, type ThreadSliceLike } from '../../../src/redux/createThreadSlice.js'
import type { ThreadStatus } from '../../../src/rx/threadStatus.js'

interface Todo {
  id: string
  text: string
  done: boolean
}

const todos = createThreadSlice({
  name: 'todos',
  initialState: [] as Todo[],
  reducers: {
    added: {
      reducer(state, action: PayloadAction<{ id: string; text: string }, string, { at: number }>) {
        state.push({ ...action.payload, done: false })
      },
      prepare(text: string) {
        return { payload: { id: 'id', text }, meta: { at: 1 } }
      }
    },
    toggled(state, action: PayloadAction<string>) {
      const t = state.find((x) => x.id === action.payload)
      if (t) t.done = !t.done
    },
    cleared() {
      return [] as Todo[]
    }
  },
  selectors: {
    open: (state) => state.filter((t) => !t.done)
  }
})

const counter = createThreadSlice({
  name: 'counter',
  reducerPath: 'count',
  initialState: { n: 0 },
  reducers: {
    add(state, action: PayloadAction<number>) {
      state.n += action.payload
    }
  }
})

describe('createThreadSlice types', () => {
  it('is an RTK slice and a ThreadSliceLike', () => {
    expectTypeOf(todos).toExtend<ThreadSlice<Todo[]>>()
    expectTypeOf(todos).toExtend<ThreadSliceLike>()
    expectTypeOf(counter).toExtend<ThreadSliceLike>()
    expectTypeOf(todos.name).toEqualTypeOf<'todos'>()
    expectTypeOf(counter.reducerPath).toEqualTypeOf<'count'>()
    expectTypeOf(todos.reducer).toExtend<Reducer<Todo[]>>()
    expectTypeOf(todos.getInitialState()).toEqualTypeOf<Todo[]>()
    expectTypeOf(todos.commandTypes).toEqualTypeOf<ReadonlySet<string>>()
    expectTypeOf(todos.isThreadSlice).toEqualTypeOf<true>()
  })

  it('types action creators as RTK does: prepare arguments, payload, meta, .type and .match', () => {
    expectTypeOf(todos.actions.added).parameters.toEqualTypeOf<[text: string]>()
    expectTypeOf(todos.actions.added('milk').payload).toEqualTypeOf<{ id: string; text: string }>()
    expectTypeOf(todos.actions.added('milk').meta).toEqualTypeOf<{ at: number }>()
    expectTypeOf(todos.actions.added.type).toEqualTypeOf<'todos/added'>()
    expectTypeOf(todos.actions.toggled).parameter(0).toEqualTypeOf<string>()
    expectTypeOf(todos.actions.toggled('x')).toEqualTypeOf<{ payload: string; type: 'todos/toggled' }>()
    expectTypeOf(counter.actions.add.type).toEqualTypeOf<'counter/add'>()
    const a: UnknownAction = { type: 'x' }
    if (todos.actions.toggled.match(a)) expectTypeOf(a.payload).toEqualTypeOf<string>()
  })

  it('rejects a wrong payload type', () => {
    // @ts-expect-error: toggled takes a string id
    todos.actions.toggled(42)
    // @ts-expect-error: added's prepare takes the text
    todos.actions.added({ text: 'milk' })
    // @ts-expect-error: add takes a number
    counter.actions.add('1')
    // @ts-expect-error: an action creator without a payload takes none of the wrong kind
    todos.actions.added()
  })

  it('the slice state flows to the store RootState (configureStore and legacy createStore)', () => {
    const build = (peer: Peer) =>
      configureStore({
        reducer: { todos: todos.reducer, count: counter.reducer, ui: (s: { open: boolean } = { open: false }) => s },
        middleware: (d) => d().concat(peer.middleware)
      })
    type Store = ReturnType<typeof build>
    type RootState = ReturnType<Store['getState']>
    expectTypeOf<RootState['todos']>().toEqualTypeOf<Todo[]>()
    expectTypeOf<RootState['count']>().toEqualTypeOf<{ n: number }>()
    expectTypeOf<RootState['ui']>().toEqualTypeOf<{ open: boolean }>()
    expectTypeOf(todos.selectors.open).parameter(0).toExtend<{ todos: Todo[] }>()
    expectTypeOf(todos.selectors.open).returns.toEqualTypeOf<Todo[]>()
    // The peer's middleware keeps the store's dispatch typed.
    expectTypeOf<Store['dispatch']>().toBeCallableWith(todos.actions.added('milk'))

    const legacy = (peer: Peer) => legacy_createStore(combineReducers({ todos: todos.reducer }), applyMiddleware(peer.middleware))
    expectTypeOf<ReturnType<ReturnType<typeof legacy>['getState']>['todos']>().toEqualTypeOf<Todo[]>()
  })

  it('createPeer returns a typed Peer whose threads are typed', async () => {
    expectTypeOf(createPeer).returns.resolves.toEqualTypeOf<Peer>()
    const peer = await createPeer()
    const thread = await peer.createThread({ slices: [todos, counter] })
    expectTypeOf(thread).toEqualTypeOf<Thread>()
    expectTypeOf(thread.id).toEqualTypeOf<ThreadId>()
    expectTypeOf(thread.key).toEqualTypeOf<ThreadKey>()
    expectTypeOf(thread.engine).toEqualTypeOf<ThreadEngine<SliceStates>>()
    expectTypeOf(thread.transaction(() => 42)).resolves.toEqualTypeOf<number>()
    expectTypeOf(await peer.openThread(thread.id, { slices: [todos] })).toEqualTypeOf<Thread>()
    expectTypeOf(peer.thread(thread.id)).toEqualTypeOf<Thread | undefined>()
    expectTypeOf(peer.events$).toEqualTypeOf<Observable<AppliedEvent>>()
    expectTypeOf<AppliedEvent['meta']>().toEqualTypeOf<EventMeta>()
    expectTypeOf<AppliedEvent['action']>().toEqualTypeOf<EventAction>()
    thread.status$.subscribe((s) => expectTypeOf(s).toEqualTypeOf<ThreadStatus>())
    expectTypeOf(durable).returns.toEqualTypeOf<Promise<void>>()
    // @ts-expect-error: a plain object is not a thread slice
    await peer.createThread({ slices: [{ name: 'x' }] })
  })

  it('threadApplied is a typed action creator', () => {
    expectTypeOf(threadApplied.type).toEqualTypeOf<'redux-threads/applied'>()
    const a: UnknownAction = { type: 'x' }
    if (threadApplied.match(a)) expectTypeOf(a.payload).toEqualTypeOf<AppliedPayload>()
  })
})
