/**
 * Types of `createThreadSlice` (checked by `vitest --typecheck`, never run): a thread slice is an
 * RTK slice whose action creators keep RTK's types and whose dispatched commands `unwrap()` to
 * their event; its state flows to the store's RootState; `keyed: true` gives a
 * {@link KeyedThreadSlice} whose per-thread views are typed; `version` is part of the options.
 */
import { configureStore, type PayloadAction, type Reducer, type UnknownAction } from '@reduxjs/toolkit'
import { applyMiddleware, combineReducers, legacy_createStore } from 'redux'
import { describe, expectTypeOf, it } from 'vitest'
import {
  createPeer,
  createThreadSlice,
  isThreadSlice,
  type DurableCommand,
  type EventMeta,
  type KeyedThreadSlice,
  type Peer,
  type ThreadAction,
  type ThreadSlice,
  type ThreadSliceLike,
  type ThreadView
} from '../../src/index.js'

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
    open: (state) => state.filter((t) => !t.done),
    byId: (state, id: string) => state.find((t) => t.id === id)
  }
})

const counter = createThreadSlice({
  name: 'counter',
  reducerPath: 'count',
  version: 2,
  initialState: { n: 0 },
  reducers: {
    add(state, action: PayloadAction<number>) {
      state.n += action.payload
    },
    // The event's meta, typed for a reducer (ThreadAction); an action with meta takes a prepare (RTK's rule).
    stamped: {
      reducer(state, action: ThreadAction<number>) {
        state.n = action.payload + (action.meta.event?.clock ?? 0)
      },
      prepare: (n: number) => ({ payload: n, meta: {} })
    }
  }
})

const docs = createThreadSlice({
  name: 'docs',
  keyed: true,
  version: 'v3',
  initialState: { title: '', lines: [] as string[] },
  reducers: {
    titled(state, action: PayloadAction<string>) {
      state.title = action.payload
    },
    lineAdded: {
      reducer(state, action: PayloadAction<{ text: string }>) {
        state.lines.push(action.payload.text)
      },
      prepare: (text: string) => ({ payload: { text } })
    }
  },
  selectors: {
    lineCount: (state) => state.lines.length,
    line: (state, i: number) => state.lines[i]
  }
})

describe('createThreadSlice types', () => {
  it('is an RTK slice and a ThreadSliceLike', () => {
    expectTypeOf(todos).toExtend<ThreadSlice<Todo[]>>()
    expectTypeOf(todos).toExtend<ThreadSliceLike>()
    expectTypeOf(counter).toExtend<ThreadSliceLike>()
    expectTypeOf(docs).toExtend<ThreadSliceLike>()
    expectTypeOf(todos.name).toEqualTypeOf<'todos'>()
    expectTypeOf(counter.reducerPath).toEqualTypeOf<'count'>()
    expectTypeOf(todos.reducer).toExtend<Reducer<Todo[]>>()
    expectTypeOf(todos.fold).toExtend<Reducer<Todo[]>>()
    expectTypeOf(todos.getInitialState()).toEqualTypeOf<Todo[]>()
    expectTypeOf(todos.initialThreadState()).toEqualTypeOf<Todo[]>()
    expectTypeOf(todos.commandTypes).toEqualTypeOf<ReadonlySet<string>>()
    expectTypeOf(todos.isThreadSlice).toEqualTypeOf<true>()
    expectTypeOf(todos.version).toEqualTypeOf<string>()
    expectTypeOf(todos.keyed).toEqualTypeOf<false>()
    const x: unknown = todos
    if (isThreadSlice(x)) expectTypeOf(x).toEqualTypeOf<ThreadSliceLike>()
  })

  it('types action creators as RTK does: prepare arguments, payload, meta, .type and .match', () => {
    expectTypeOf(todos.actions.added).parameters.toEqualTypeOf<[text: string]>()
    expectTypeOf(todos.actions.added('milk').payload).toEqualTypeOf<{ id: string; text: string }>()
    expectTypeOf(todos.actions.added('milk').meta).toEqualTypeOf<{ at: number }>()
    expectTypeOf(todos.actions.added.type).toEqualTypeOf<'todos/added'>()
    expectTypeOf(todos.actions.toggled).parameter(0).toEqualTypeOf<string>()
    expectTypeOf(todos.actions.toggled('x')).toEqualTypeOf<{ payload: string; type: 'todos/toggled' } & DurableCommand>()
    expectTypeOf(todos.actions.cleared()).toExtend<{ type: 'todos/cleared' }>()
    expectTypeOf(counter.actions.add.type).toEqualTypeOf<'counter/add'>()
    expectTypeOf(counter.actions.stamped).parameters.toEqualTypeOf<[n: number]>()
    // A command is still an action RTK accepts anywhere.
    expectTypeOf(todos.actions.added('milk')).toExtend<UnknownAction>()
    const a: UnknownAction = { type: 'x' }
    if (todos.actions.toggled.match(a)) expectTypeOf(a.payload).toEqualTypeOf<string>()
    if (todos.actions.added.match(a)) expectTypeOf(a.meta).toEqualTypeOf<{ at: number }>()
  })

  it('gains unwrap(): Promise<EventMeta> on the made action and on the dispatch result', () => {
    expectTypeOf(todos.actions.added('milk').unwrap).returns.toEqualTypeOf<Promise<EventMeta>>()
    expectTypeOf(counter.actions.add(1).unwrap()).resolves.toEqualTypeOf<EventMeta>()
    const peer = createPeer()
    const store = configureStore({
      reducer: { [peer.reducerPath]: peer.reducer, todos: todos.reducer },
      middleware: (d) => d().concat(peer.middleware)
    })
    const dispatched = store.dispatch(todos.actions.added('milk'))
    expectTypeOf(dispatched.unwrap()).resolves.toEqualTypeOf<EventMeta>()
    expectTypeOf(dispatched.payload).toEqualTypeOf<{ id: string; text: string }>()
    // A plain action has nothing to unwrap.
    // @ts-expect-error: only thread commands unwrap
    store.dispatch({ type: 'ui/clicked' }).unwrap()
  })

  it('types the event meta for reducers (ThreadAction) and for readers of an EventMeta', () => {
    expectTypeOf<ThreadAction<number>['meta']['event']>().toEqualTypeOf<EventMeta | undefined>()
    expectTypeOf<ThreadAction<number>['payload']>().toEqualTypeOf<number>()
    expectTypeOf<EventMeta['id']>().toEqualTypeOf<string>()
    expectTypeOf<EventMeta['local']>().toEqualTypeOf<boolean>()
    expectTypeOf<EventMeta['seq']>().toEqualTypeOf<number>()
    // `cid` became `id`.
    // @ts-expect-error: EventMeta has no cid
    expectTypeOf<EventMeta['cid']>().toBeString()
  })

  it('rejects a wrong payload type', () => {
    createThreadSlice({
      name: 'noPrepare',
      initialState: 0,
      reducers: {
        // @ts-expect-error: a case reducer whose action has meta needs a prepare callback, as in RTK
        stamped: (state, action: ThreadAction<number>) => state + action.payload
      }
    })
    // @ts-expect-error: toggled takes a string id
    todos.actions.toggled(42)
    // @ts-expect-error: added's prepare takes the text
    todos.actions.added({ text: 'milk' })
    // @ts-expect-error: add takes a number
    counter.actions.add('1')
    // @ts-expect-error: an action creator without a payload takes none of the wrong kind
    todos.actions.added()
    // @ts-expect-error: lineAdded's prepare takes a string
    docs.forThread('t').actions.lineAdded(1)
  })

  it('takes a version (string or number) and keyed as options', () => {
    expectTypeOf(counter.version).toEqualTypeOf<string>()
    expectTypeOf(docs.version).toEqualTypeOf<string>()
    createThreadSlice({
      name: 'bad',
      initialState: 0,
      // @ts-expect-error: a version is a string or a number
      version: { major: 1 },
      reducers: {}
    })
  })

  it('the slice state flows to the store RootState (configureStore and legacy createStore)', () => {
    const build = (peer: Peer) =>
      configureStore({
        reducer: { [peer.reducerPath]: peer.reducer, todos: todos.reducer, count: counter.reducer, docs: docs.reducer, ui: (s: { open: boolean } = { open: false }) => s },
        middleware: (d) => d().concat(peer.middleware)
      })
    type Store = ReturnType<typeof build>
    type RootState = ReturnType<Store['getState']>
    expectTypeOf<RootState['todos']>().toEqualTypeOf<Todo[]>()
    expectTypeOf<RootState['count']>().toEqualTypeOf<{ n: number }>()
    expectTypeOf<RootState['docs']>().toEqualTypeOf<Readonly<Record<string, { title: string; lines: string[] }>>>()
    expectTypeOf<RootState['ui']>().toEqualTypeOf<{ open: boolean }>()
    expectTypeOf(todos.selectors.open).parameter(0).toExtend<{ todos: Todo[] }>()
    expectTypeOf(todos.selectors.open).returns.toEqualTypeOf<Todo[]>()
    expectTypeOf(todos.selectors.byId).returns.toEqualTypeOf<Todo | undefined>()
    // The peer's middleware keeps the store's dispatch typed.
    expectTypeOf<Store['dispatch']>().toBeCallableWith(todos.actions.added('milk'))

    const legacy = (peer: Peer) => legacy_createStore(combineReducers({ todos: todos.reducer }), applyMiddleware(peer.middleware))
    expectTypeOf<ReturnType<ReturnType<typeof legacy>['getState']>['todos']>().toEqualTypeOf<Todo[]>()
  })

  it('keyed: true gives a KeyedThreadSlice whose per-thread views are typed', () => {
    expectTypeOf(docs).toExtend<KeyedThreadSlice<{ title: string; lines: string[] }>>()
    expectTypeOf(docs.keyed).toEqualTypeOf<true>()
    expectTypeOf(docs.name).toEqualTypeOf<'docs'>()
    expectTypeOf(docs.getInitialState()).toEqualTypeOf<Readonly<Record<string, { title: string; lines: string[] }>>>()
    expectTypeOf(docs.initialThreadState()).toEqualTypeOf<{ title: string; lines: string[] }>()
    const view = docs.forThread('thread-id')
    expectTypeOf(view).toExtend<ThreadView<{ title: string; lines: string[] }, unknown, unknown>>()
    expectTypeOf(view.threadId).toEqualTypeOf<string>()
    expectTypeOf(view.actions.titled).parameters.toEqualTypeOf<[payload: string]>()
    expectTypeOf(view.actions.lineAdded).parameters.toEqualTypeOf<[text: string]>()
    expectTypeOf(view.actions.lineAdded('a').payload).toEqualTypeOf<{ text: string }>()
    expectTypeOf(view.actions.lineAdded('a').unwrap()).resolves.toEqualTypeOf<EventMeta>()
    expectTypeOf(view.actions.titled.type).toEqualTypeOf<'docs/titled'>()
    expectTypeOf(view.selectState).returns.toEqualTypeOf<{ title: string; lines: string[] }>()
    // Selectors take the root state and the selector's own arguments.
    expectTypeOf(view.selectors.lineCount).toEqualTypeOf<(root: unknown) => number>()
    expectTypeOf(view.selectors.line).toEqualTypeOf<(root: unknown, i: number) => string | undefined>()
    // A keyed slice is not an unkeyed ThreadSlice.
    expectTypeOf(docs).not.toExtend<ThreadSlice>()
    // @ts-expect-error: an unkeyed slice has no per-thread views
    todos.forThread('x')
  })
})
