import {
  createSlice,
  type CreateSliceOptions,
  type Reducer,
  type Slice,
  type SliceCaseReducers,
  type SliceSelectors,
  type UnknownAction
} from '@reduxjs/toolkit'
import { overrideFor } from './overrides.js'

/** Options of {@link createThreadSlice}: exactly RTK's `createSlice` options. */
export type CreateThreadSliceOptions<
  State,
  CaseReducers extends SliceCaseReducers<State>,
  Name extends string = string,
  ReducerPath extends string = Name,
  Selectors extends SliceSelectors<State> = SliceSelectors<State>
> = CreateSliceOptions<State, CaseReducers, Name, ReducerPath, Selectors>

/**
 * A slice whose state is a projection of a thread: an RTK slice, plus what the peer needs.
 */
export interface ThreadSlice<
  State = unknown,
  CaseReducers extends SliceCaseReducers<State> = SliceCaseReducers<State>,
  Name extends string = string,
  ReducerPath extends string = Name,
  Selectors extends SliceSelectors<State> = SliceSelectors<State>
> extends Slice<State, CaseReducers, Name, ReducerPath, Selectors> {
  /** Marks a thread slice. */
  readonly isThreadSlice: true
  /** Action types that are commands of this slice's thread (its case reducers' actions). */
  readonly commandTypes: ReadonlySet<string>
  /** The reducer as written, without the replay hook: what the engine folds over events. */
  readonly project: Reducer<State>
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
  project(state: never, action: UnknownAction): unknown
  getInitialState(): unknown
}

/**
 * Create a slice whose state is shared through a thread. It takes `createSlice`'s options
 * (reducers with `prepare` callbacks, `extraReducers`, selectors) and returns an RTK slice:
 * dispatching one of its actions is a command that the peer signs, encrypts, stores, sends and
 * applies; the reducer is the projection every peer folds over the thread's events.
 *
 * Reducers must be pure: create ids, dates and random values in `prepare`, so they travel in the
 * event. The event's author, log, seq, clock, time and CID are in `action.meta.event`.
 *
 * @example
 * ```ts
 * import { createThreadSlice } from 'redux-threads'
 * import { nanoid, type PayloadAction } from '@reduxjs/toolkit'
 *
 * const todos = createThreadSlice({
 *   name: 'todos',
 *   initialState: [] as Array<{ id: string; text: string; done: boolean }>,
 *   reducers: {
 *     added: {
 *       reducer: (state, action: PayloadAction<{ id: string; text: string }>) => {
 *         state.push({ ...action.payload, done: false })
 *       },
 *       prepare: (text: string) => ({ payload: { id: nanoid(), text } })
 *     },
 *     toggled: (state, action: PayloadAction<string>) => {
 *       const t = state.find((x) => x.id === action.payload)
 *       if (t) t.done = !t.done
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
>(options: CreateThreadSliceOptions<State, CaseReducers, Name, ReducerPath, Selectors>): ThreadSlice<State, CaseReducers, Name, ReducerPath, Selectors> {
  const slice = createSlice(options)
  const project = slice.reducer
  const path = slice.reducerPath
  const reducer: Reducer<State> = (state: State | undefined, action: UnknownAction): State => {
    const o = overrideFor(action, path)
    return o.found ? (o.state as State) : project(state, action)
  }
  const commandTypes = new Set<string>()
  for (const creator of Object.values(slice.actions as Record<string, unknown>)) {
    const type = (creator as { type?: unknown }).type
    if (typeof type === 'string') commandTypes.add(type)
  }
  for (const type of commandTypes) threadCommandTypes.set(type, slice.name)
  return Object.assign(slice, { reducer, project, commandTypes, isThreadSlice: true as const })
}

/** Every thread slice command type made in this process, with its slice's name. */
const threadCommandTypes = new Map<string, string>()

/** The thread slice an action type belongs to, if any (bound to a thread or not). */
export function threadSliceOf(type: string): string | undefined {
  return threadCommandTypes.get(type)
}

/** True for a slice made by {@link createThreadSlice}. */
export function isThreadSlice(value: unknown): value is ThreadSliceLike {
  return typeof value === 'object' && value !== null && (value as { isThreadSlice?: unknown }).isThreadSlice === true
}
