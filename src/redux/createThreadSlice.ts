import {
  createSlice,
  type CreateSliceOptions,
  type Reducer,
  type Slice,
  type SliceCaseReducers,
  type SliceSelectors,
  type UnknownAction
} from '@reduxjs/toolkit'
import type { EventMeta } from '../engine/threadEvent.js'
import { isDev } from '../platform/env.js'
import { carriedStates, eventOf } from './appliedAction.js'
import { DURABLE, THREAD_COMMAND, THREAD_SLICE, mark, markOf } from './brand.js'

/**
 * What `unwrap()` on a dispatched thread command gives: the event, once it is durable. (A type
 * alias, not an interface: an action that carries it stays assignable to RTK's `UnknownAction`.)
 */
export type DurableCommand = {
  /**
   * Resolves with the command's event (author, seq, clock, identity…) once it is stored in this
   * peer's log, as `createAsyncThunk` results unwrap: rejects with the error that refused or
   * lost it (`NotWriterError`, `StorageFailedError`, …). Settles only once dispatched.
   */
  unwrap(): Promise<EventMeta>
}

/** An action creator of a thread slice: RTK's, whose actions also `unwrap()` once durable. */
export type ThreadCommandCreator<AC> = AC extends (...args: infer A) => infer R ? ((...args: A) => R & DurableCommand) & AC : AC

/** The action creators of a thread slice. */
export type ThreadCommandCreators<Actions> = { readonly [K in keyof Actions]: ThreadCommandCreator<Actions[K]> }

/** Options of {@link createThreadSlice}: RTK's `createSlice` options, and what a thread needs. */
export type CreateThreadSliceOptions<
  State,
  CaseReducers extends SliceCaseReducers<State>,
  Name extends string = string,
  ReducerPath extends string = Name,
  Selectors extends SliceSelectors<State> = SliceSelectors<State>
> = CreateSliceOptions<State, CaseReducers, Name, ReducerPath, Selectors> & {
  /**
   * The version of this slice's reducers and state shape (default `1`). Change it when they
   * change: a snapshot written by another version is not used, and the thread's state is folded
   * again from its events, so a restart never holds a state a fresh peer would not compute.
   */
  readonly version?: string | number
  /**
   * Back any number of threads (one per shared document, say): the slice's state becomes
   * `Record<threadId, State>`, commands name their thread (`slice.forThread(id).actions`), and
   * selectors read one thread (`slice.forThread(id).selectors`). Default false: one thread.
   */
  readonly keyed?: boolean
  /**
   * The reducer the engine folds over the thread's events, where the case reducers are the same
   * transitions written through Immer: a fold over plain, frozen state that builds new objects
   * itself skips Immer's walk of every new object (a document collection's pages: ~0.4 ms a
   * write). It must give the same state as the case reducers for every event. Default: the
   * slice's reducer.
   */
  readonly fold?: Reducer<State>
}

/** A slice whose state is a projection of a thread: an RTK slice, plus what the peer needs. */
export interface ThreadSlice<
  State = unknown,
  CaseReducers extends SliceCaseReducers<State> = SliceCaseReducers<State>,
  Name extends string = string,
  ReducerPath extends string = Name,
  Selectors extends SliceSelectors<State> = SliceSelectors<State>
> extends Omit<Slice<State, CaseReducers, Name, ReducerPath, Selectors>, 'actions'> {
  readonly actions: ThreadCommandCreators<Slice<State, CaseReducers, Name, ReducerPath, Selectors>['actions']>
  readonly [THREAD_SLICE]: true
  /** Marks a thread slice. */
  readonly isThreadSlice: true
  /** Action types that are commands of this slice's thread (its case reducers' actions). */
  readonly commandTypes: ReadonlySet<string>
  /** The reducer as written: what the engine folds over the thread's events. */
  readonly fold: Reducer<State>
  /** The version of its reducers (see {@link CreateThreadSliceOptions.version}). */
  readonly version: string
  /** False: one thread per peer. See {@link createThreadSlice} with `keyed: true`. */
  readonly keyed: false
  /** The state of one thread before any event (the slice's initial state). */
  initialThreadState(): State
}

/** A thread-keyed slice's view of one thread: commands that name it, selectors that read it. */
export interface ThreadView<State, Actions, Selectors> {
  readonly threadId: string
  readonly actions: ThreadCommandCreators<Actions>
  readonly selectors: { readonly [K in keyof Selectors]: Selectors[K] extends (state: State, ...args: infer A) => infer R ? (root: unknown, ...args: A) => R : never }
  /** This thread's state in the root state (the initial state until the thread opens). */
  selectState(root: unknown): State
}

/** A thread slice keyed by thread ID: `createThreadSlice({ …, keyed: true })`. */
export interface KeyedThreadSlice<
  State = unknown,
  CaseReducers extends SliceCaseReducers<State> = SliceCaseReducers<State>,
  Name extends string = string,
  ReducerPath extends string = Name,
  Selectors extends SliceSelectors<State> = SliceSelectors<State>
> {
  readonly name: Name
  readonly reducerPath: ReducerPath
  /** The store-facing reducer: `Record<threadId, State>`. */
  readonly reducer: Reducer<Readonly<Record<string, State>>>
  readonly actions: Slice<State, CaseReducers, Name, ReducerPath, Selectors>['actions']
  readonly caseReducers: Slice<State, CaseReducers, Name, ReducerPath, Selectors>['caseReducers']
  getInitialState(): Readonly<Record<string, State>>
  /** The view of one thread. */
  forThread(threadId: string): ThreadView<State, Slice<State, CaseReducers, Name, ReducerPath, Selectors>['actions'], Selectors>
  readonly [THREAD_SLICE]: true
  readonly isThreadSlice: true
  readonly commandTypes: ReadonlySet<string>
  /** The reducer as written, over one thread's state. */
  readonly fold: Reducer<State>
  readonly version: string
  readonly keyed: true
  initialThreadState(): State
}

/**
 * What a peer needs of a thread slice, whatever its state type: `createThread({ slices })` takes
 * these. (Method syntax keeps every `ThreadSlice<State>` assignable to it.)
 */
export interface ThreadSliceLike {
  readonly name: string
  readonly reducerPath: string
  readonly isThreadSlice: true
  readonly commandTypes: ReadonlySet<string>
  readonly version: string
  readonly keyed: boolean
  fold(state: never, action: UnknownAction): unknown
  /** The state of one thread before any event. */
  initialThreadState(): unknown
}

function commandTypesOf(actions: object): Set<string> {
  const out = new Set<string>()
  for (const creator of Object.values(actions as Record<string, unknown>)) {
    const type = (creator as { type?: unknown }).type
    if (typeof type === 'string') out.add(type)
  }
  return out
}

/**
 * Wrap RTK's action creators so that each action they make knows it is a command of this slice
 * (a registered symbol, so a second copy of the library still sees it) and can `unwrap()`.
 */
export function commandCreators<A extends object>(actions: A, sliceName: string): ThreadCommandCreators<A> {
  const out: Record<string, unknown> = {}
  for (const [key, creator] of Object.entries(actions as Record<string, (...args: unknown[]) => object>)) {
    const wrapped = (...args: unknown[]): object => {
      const action = creator(...args)
      let settle: { resolve: (m: EventMeta) => void; reject: (e: unknown) => void } | undefined
      const durable = new Promise<EventMeta>((resolve, reject) => (settle = { resolve, reject }))
      // Nobody has to unwrap: a refused command must not become an unhandled rejection.
      durable.catch(() => undefined)
      mark(action, THREAD_COMMAND, sliceName)
      mark(action, DURABLE, settle)
      mark(action, 'unwrap', () => durable)
      return action
    }
    out[key] = Object.assign(wrapped, creator)
  }
  return out as ThreadCommandCreators<A>
}

/** The slice name a command was made by, if a thread slice's action creator made it. */
export function threadCommandOf(action: unknown): string | undefined {
  return markOf<string>(action, THREAD_COMMAND)
}

/** Settle a command's `unwrap()`. */
export function settleCommand(action: unknown, outcome: { event: EventMeta } | { error: unknown }): void {
  const settle = markOf<{ resolve: (m: EventMeta) => void; reject: (e: unknown) => void }>(action, DURABLE)
  if (settle === undefined) return
  if ('event' in outcome) settle.resolve(outcome.event)
  else settle.reject(outcome.error)
}

/**
 * The store-facing reducer of a thread slice. Thread state changes only through the thread:
 * it takes the states that `threadApplied` and local commands carry (the engine folded them, so
 * every reducer runs once per event, and the store's state follows from the actions it saw).
 * Any other action leaves it as it is; in development, an `extraReducers` case that would
 * change it on a non-thread action is refused with a message naming the case (DESIGN.md
 * section 4: it would make this peer's state differ from every other one's).
 */
function storeReducer<State>(name: string, path: string, fold: Reducer<State>, initial: () => State, keyed: boolean): Reducer<State> {
  let warned = false
  return (state: State | undefined, action: UnknownAction): State => {
    const current = state ?? initial()
    const carried = carriedStates(action)
    if (carried !== undefined) {
      if (!(path in carried.states)) return current
      const next = carried.states[path] as never
      if (!keyed) return next
      const byThread = current as Record<string, unknown>
      if (carried.reason === 'close') {
        const { [carried.threadId]: _gone, ...rest } = byThread
        return rest as State
      }
      return byThread[carried.threadId] === next ? current : ({ ...byThread, [carried.threadId]: next } as State)
    }
    if (isDev() && !warned && eventOf(action) === undefined) {
      const probe = keyed ? Object.values(current as Record<string, unknown>)[0] : current
      if (probe !== undefined && (fold as Reducer<unknown>)(probe, action) !== probe) {
        warned = true
        console.error(
          `redux-p2p-threads: thread slice \`${name}\` has a case for \`${action.type}\`, which is not an event of its thread. ` +
            'Thread state changes only through thread events (every peer folds the same events); this change is refused. ' +
            'Keep UI state in a plain slice, or make the change a command of the thread.'
        )
      }
    }
    return current
  }
}

/**
 * Create a slice whose state is shared through a thread. It takes `createSlice`'s options
 * (reducers with `prepare` callbacks, `extraReducers`, selectors) and returns an RTK slice:
 * dispatching one of its actions is a command that the peer signs, encrypts, stores, sends and
 * applies; the reducer is the projection every peer folds over the thread's events (DESIGN.md
 * sections 1 and 4). `await store.dispatch(todos.actions.added('milk')).unwrap()` resolves
 * when the command is durable.
 *
 * Reducers must be pure: make ids, dates and random values in `prepare`, so they travel in the
 * event. The event's author, log, seq, clock, time and identity are in `action.meta.event`.
 * `extraReducers` may react to commands of the thread's other slices; a case for any other
 * action is refused (development builds say so).
 *
 * @example
 * ```ts
 * import { createThreadSlice } from 'redux-p2p-threads'
 * import { nanoid, type PayloadAction } from '@reduxjs/toolkit'
 *
 * export const todos = createThreadSlice({
 *   name: 'todos',
 *   initialState: [] as Array<{ id: string; text: string; done: boolean }>,
 *   reducers: {
 *     added: {
 *       reducer: (state, action: PayloadAction<{ id: string; text: string }>) => {
 *         state.push({ ...action.payload, done: false })
 *       },
 *       prepare: (text: string) => ({ payload: { id: nanoid(), text } })
 *     }
 *   }
 * })
 * ```
 */
export function createThreadSlice<
  State,
  CaseReducers extends SliceCaseReducers<State>,
  Name extends string,
  Selectors extends SliceSelectors<State>,
  ReducerPath extends string = Name
>(options: CreateThreadSliceOptions<State, CaseReducers, Name, ReducerPath, Selectors> & { keyed: true }): KeyedThreadSlice<State, CaseReducers, Name, ReducerPath, Selectors>
export function createThreadSlice<
  State,
  CaseReducers extends SliceCaseReducers<State>,
  Name extends string,
  Selectors extends SliceSelectors<State>,
  ReducerPath extends string = Name
>(options: CreateThreadSliceOptions<State, CaseReducers, Name, ReducerPath, Selectors> & { keyed?: false }): ThreadSlice<State, CaseReducers, Name, ReducerPath, Selectors>
export function createThreadSlice<
  State,
  CaseReducers extends SliceCaseReducers<State>,
  Name extends string,
  Selectors extends SliceSelectors<State>,
  ReducerPath extends string = Name
>(options: CreateThreadSliceOptions<State, CaseReducers, Name, ReducerPath, Selectors>): ThreadSlice<State, CaseReducers, Name, ReducerPath, Selectors> | KeyedThreadSlice<State, CaseReducers, Name, ReducerPath, Selectors> {
  const { version, keyed, fold: ownFold, ...sliceOptions } = options
  const slice = createSlice(sliceOptions as CreateSliceOptions<State, CaseReducers, Name, ReducerPath, Selectors>)
  const fold = ownFold ?? slice.reducer
  const common = {
    fold,
    commandTypes: commandTypesOf(slice.actions),
    isThreadSlice: true as const,
    [THREAD_SLICE]: true as const,
    version: String(version ?? 1),
    initialThreadState: slice.getInitialState
  }
  if (keyed !== true) {
    const reducer = storeReducer(slice.name, slice.reducerPath, fold, slice.getInitialState, false)
    return Object.assign(slice, common, { reducer, actions: commandCreators(slice.actions, slice.name), keyed: false as const }) as unknown as ThreadSlice<State, CaseReducers, Name, ReducerPath, Selectors>
  }
  const empty = (): Record<string, State> => ({})
  const views = new Map<string, unknown>()
  const path = slice.reducerPath
  const keyedSlice = {
    ...common,
    name: slice.name,
    reducerPath: path,
    reducer: storeReducer(slice.name, path, fold as Reducer<unknown>, empty, true),
    actions: commandCreators(slice.actions, slice.name),
    caseReducers: slice.caseReducers,
    getInitialState: empty,
    keyed: true as const,
    forThread(threadId: string) {
      // One view per thread: the same action creators and selectors every time (memoised hooks).
      const known = views.get(threadId)
      if (known !== undefined) return known
      const selectState = (root: unknown): State => ((root as Record<string, Record<string, State> | undefined>)[path]?.[threadId] ?? slice.getInitialState())
      const named: Record<string, unknown> = {}
      for (const [key, creator] of Object.entries(slice.actions as Record<string, (...args: unknown[]) => { meta?: unknown }>)) {
        named[key] = Object.assign((...args: unknown[]) => {
          const action = creator(...args)
          return { ...action, meta: { ...(action.meta as object | undefined), threadId } }
        }, creator)
      }
      const view = { threadId, actions: commandCreators(named, slice.name), selectors: slice.getSelectors(selectState), selectState }
      views.set(threadId, view)
      return view
    }
  }
  return keyedSlice as unknown as KeyedThreadSlice<State, CaseReducers, Name, ReducerPath, Selectors>
}

/** True for a slice made by {@link createThreadSlice} (in this copy of the library or another). */
export function isThreadSlice(value: unknown): value is ThreadSliceLike {
  return typeof value === 'object' && value !== null && (value as Record<symbol, unknown>)[THREAD_SLICE] === true
}

export { storeReducer as threadSliceReducer, commandTypesOf }
