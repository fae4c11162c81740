/**
 * `createCollection`: a document collection (paper section 5.3, Examples 4 to 8; Textile's
 * go-threads `db.Collection`) as a thread slice. Its events are `create`, `save` (an RFC 7386
 * merge patch, Example 8), `delete` and `setSchema`; its reducers are pure functions of the
 * ordered events (see `collectionState.ts`), so replay, snapshots, access control and sync work
 * for it unchanged, and its indexes are part of the folded state.
 */
import { createSelector, isDraft, original, type PayloadAction, type Reducer, type ThunkAction, type UnknownAction } from '@reduxjs/toolkit'
import jsonMergePatch from 'json-merge-patch'
import type { EventMeta } from '../../engine/threadEvent.js'
import { createThreadSlice, type DurableCommand } from '../../redux/createThreadSlice.js'
import { THREAD_SLICE } from '../../redux/brand.js'
import { changeOf, matchChanges, type ChangeFilter, type DocumentChange, type DocumentChangeAction, type MergePatch } from './changes.js'
import { createDocument, deleteDocument, initialCollectionState, saveDocument, setSchema, type CollectionState, type DocumentBase } from './collectionState.js'
import { deepFreeze, entryOf, liveDocuments } from './documents.js'
import { DocumentNotFoundError } from './errors.js'
import { newDocumentId } from './ids.js'
import type { IndexSpec } from './indexes.js'
import { runQuery, type DocumentQuery } from './query.js'
import type { JsonSchema, SchemaState } from './schema.js'
import { readTransactionThunk, writeTransactionThunk, type NewDocument, type ReadTransaction, type TransactionParts, type TransactionPeer, type WriteTransaction } from './transactions.js'

type Prev = [never, 0, 1, 2, 3]

/** The dot paths of `Doc` an index may name (objects nested up to four deep; arrays end a path). */
export type DocumentPath<T, Depth extends number = 4> = [Depth] extends [never]
  ? never
  : T extends object
    ? { [K in keyof T & string]: NonNullable<T[K]> extends readonly unknown[] ? K : NonNullable<T[K]> extends object ? K | `${K}.${DocumentPath<NonNullable<T[K]>, Prev[Depth]>}` : K }[keyof T & string]
    : never

/** Options of {@link createCollection}. */
export interface CreateCollectionOptions<Doc extends DocumentBase, Name extends string = string> {
  /** The collection's name: its reducer path and the prefix of its action types (`people/create`). */
  readonly name: Name
  /**
   * The JSON Schema (ajv, draft-07) every document must follow, `_id` included. It is the thread's
   * schema version 1; `actions.setSchema` replaces it for every peer from that event on.
   * Default `{ type: 'object' }`.
   */
  readonly schema?: JsonSchema
  /** Secondary indexes: dot paths, or `{ path, unique }`. Default none. */
  readonly indexes?: ReadonlyArray<DocumentPath<Doc> | IndexSpec<DocumentPath<Doc>>>
  /** One collection per thread for any number of threads (`forThread(id)`), as `createThreadSlice`'s `keyed`. Default false. */
  readonly keyed?: boolean
  /** The version of your documents' shape (default 1): change it with the schema in code. */
  readonly version?: string | number
}

/** An action creator of a collection command: RTK's, whose actions `unwrap()` once durable. */
export type CommandCreator<Args extends unknown[], P> = ((...args: Args) => PayloadAction<P> & DurableCommand) & {
  readonly type: string
  match(action: unknown): action is PayloadAction<P>
}

/** What a `save` event carries: the document's `_id` and the merge patch (only what changed). */
export interface SavePayload<Doc extends DocumentBase> {
  readonly _id: string
  readonly patch: MergePatch<Doc>
}

/** The commands of a collection. */
export interface CollectionActions<Doc extends DocumentBase> {
  /** Create a document (`_id`: given, or a new ULID). Refused: `DuplicateDocumentError`, `SchemaViolationError`, `UniqueIndexError`. */
  readonly create: CommandCreator<[doc: NewDocument<Doc>], Doc>
  /** Apply a merge patch to a live document. Refused: `DocumentNotFoundError`, `SchemaViolationError`, `UniqueIndexError`. */
  readonly save: CommandCreator<[change: SavePayload<Doc>], SavePayload<Doc>>
  /** Delete a document, leaving a tombstone (its `_id` is never reused); a missing `_id` changes nothing. */
  readonly delete: CommandCreator<[id: string], { readonly _id: string }>
  /** Put a new JSON Schema in force for every peer from this event on. Refused: `InvalidSchemaError`. */
  readonly setSchema: CommandCreator<[schema: JsonSchema], { readonly schema: JsonSchema }>
}

/** Selectors over the root state (memoized where they build a result). */
export interface CollectionSelectors<Doc extends DocumentBase> {
  selectState(root: unknown): CollectionState<Doc>
  selectById(root: unknown, id: string): Doc | undefined
  selectHas(root: unknown, id: string): boolean
  /** Every live document in `_id` order (memoized on the documents). */
  selectAll(root: unknown): Doc[]
  selectCount(root: unknown): number
  /** The schema in force and its version. */
  selectSchema(root: unknown): SchemaState
  /** The documents `query` selects (memoized per state and query object: keep the query stable). */
  selectFind(root: unknown, query: DocumentQuery): Doc[]
}

/** What `save(doc)` returns: `unwrap()` resolves with the event, or `undefined` when nothing changed. */
export interface SaveResult {
  unwrap(): Promise<EventMeta | undefined>
}

/** A collection in one thread: commands, selectors, `save` and transactions. */
export interface CollectionView<Doc extends DocumentBase> {
  readonly actions: CollectionActions<Doc>
  readonly selectors: CollectionSelectors<Doc>
  /**
   * A thunk that saves the whole new version `doc` of a live document: it computes the RFC 7386
   * merge patch against the current state and dispatches `actions.save` with it (nothing if
   * nothing changed; paper Example 8). Throws `DocumentNotFoundError` for a missing document,
   * and what the reducer throws (`SchemaViolationError`, `UniqueIndexError`).
   *
   * @example
   * ```ts
   * const event = await store.dispatch(people.save({ ...ada, age: 37 })).unwrap()   // sends { age: 37 }
   * ```
   */
  save(doc: Doc): ThunkAction<SaveResult, unknown, unknown, UnknownAction>
  /**
   * A thunk running `run` over the current state (one state throughout); returns what `run`
   * returns. Writes throw `ReadOnlyTransactionError`.
   *
   * @example
   * ```ts
   * const { n, adults } = store.dispatch(people.readTransaction((tx) => ({ n: tx.count(), adults: tx.find({ filter: { age: { $gte: 18 } } }) })))
   * ```
   */
  readTransaction<R>(run: (tx: ReadTransaction<Doc>) => R): ThunkAction<R, unknown, unknown, UnknownAction>
}

/** The parts every collection shares: what a peer needs of a thread slice, and change matchers. */
interface CollectionBase<Doc extends DocumentBase, Name extends string> {
  readonly name: Name
  readonly reducerPath: Name
  /** Marks a thread slice (with a registered symbol at run time, which `isThreadSlice` reads). */
  readonly isThreadSlice: true
  readonly commandTypes: ReadonlySet<string>
  readonly version: string
  readonly indexes: readonly IndexSpec[]
  fold(state: never, action: UnknownAction): unknown
  initialThreadState(): CollectionState<Doc>
  /**
   * A matcher for this collection's changes passing any of `filters` (none: all), for RTK's
   * listener middleware (placed after `peer.middleware`); see `matchChanges`.
   *
   * @example
   * ```ts
   * listener.startListening({ matcher: people.matchChanges({ action: 'delete' }, { id }), effect: (action) => people.changeOf(action) })
   * ```
   */
  matchChanges(...filters: readonly ChangeFilter[]): (action: unknown) => action is DocumentChangeAction<Doc>
  /** The change an event action of this collection stands for, or `undefined`. */
  changeOf(action: unknown): DocumentChange<Doc> | undefined
}

/** A collection backing one thread per peer (`keyed` false). */
export interface Collection<Doc extends DocumentBase, Name extends string = string> extends CollectionBase<Doc, Name>, CollectionView<Doc> {
  readonly keyed: false
  readonly reducer: Reducer<CollectionState<Doc>>
  /**
   * A thunk running `run` as one transaction of `threadId` (paper section 4.1.3): its writes
   * apply at once, are stored all or nothing and apply whole on every peer. Resolves with what
   * `run` returns once durable; rejects with what `run` or a refused write threw (nothing stored).
   *
   * @example
   * ```ts
   * const id = await store.dispatch(people.writeTransaction({ peer, threadId }, (tx) => {
   *   const id = tx.create({ name: 'Ada', age: 36 })
   *   tx.delete(oldId)
   *   return id
   * }))
   * ```
   */
  writeTransaction<R>(target: { readonly peer: TransactionPeer; readonly threadId: string }, run: (tx: WriteTransaction<Doc>) => R): ThunkAction<Promise<R>, unknown, unknown, UnknownAction>
}

/** A keyed collection's view of one thread. */
export interface ThreadCollection<Doc extends DocumentBase> extends CollectionView<Doc> {
  readonly threadId: string
  writeTransaction<R>(target: { readonly peer: TransactionPeer }, run: (tx: WriteTransaction<Doc>) => R): ThunkAction<Promise<R>, unknown, unknown, UnknownAction>
}

/** A collection keyed by thread (`keyed: true`): state `Record<threadId, CollectionState>`. */
export interface KeyedCollection<Doc extends DocumentBase, Name extends string = string> extends CollectionBase<Doc, Name> {
  readonly keyed: true
  readonly reducer: Reducer<Readonly<Record<string, CollectionState<Doc>>>>
  /**
   * The collection in one thread (the same object every time).
   *
   * @example
   * ```ts
   * const notes = docs.forThread(threadId)
   * store.dispatch(notes.actions.create({ text: 'hi' }))
   * notes.selectors.selectAll(store.getState())
   * ```
   */
  forThread(threadId: string): ThreadCollection<Doc>
}

/** The plain state under a draft: reducers compute new plain objects instead of writing through Immer's proxies. */
function base<S>(draft: S): S {
  return isDraft(draft) ? (original(draft as never) as S) : draft
}

interface SliceShape {
  readonly actions: Record<'create' | 'save' | 'delete' | 'setSchema', (...args: unknown[]) => UnknownAction & DurableCommand>
  readonly reducer: Reducer
  readonly fold: Reducer
  readonly commandTypes: ReadonlySet<string>
  readonly version: string
  initialThreadState(): unknown
  forThread(id: string): { actions: SliceShape['actions'] }
}

/**
 * Create a document collection: a thread slice whose state holds documents by `_id`, the
 * thread's JSON Schema and secondary indexes, with commands to create, save (a merge patch) and
 * delete documents, memoized query selectors, change matchers and transactions. Put it in a
 * thread's `slices` and its `reducer` in the store, as any thread slice. Paper section 5.3.
 *
 * Writes are validated by the reducer against the schema in the thread's state: a write of this
 * peer that fails is refused before it is stored (`dispatch` throws, `unwrap()` rejects with the
 * named error); a peer's event that fails is skipped by every peer alike and reported as a
 * `ReducerError` on `status$`, and later events of its log apply. Cost per write: one bucket of
 * the document map (n / 256 documents) and, per index, one page (≤ 512 entries) and the page
 * list (n / 256 pages at most); see docs/DATABASE.md.
 *
 * @example
 * ```ts
 * import { createCollection } from 'redux-threads/db'
 * interface Person { _id: string; name: string; age: number }
 * export const people = createCollection<Person>({
 *   name: 'people',
 *   schema: { type: 'object', required: ['_id', 'name', 'age'], properties: { _id: { type: 'string' }, name: { type: 'string' }, age: { type: 'integer', minimum: 0 } } },
 *   indexes: ['age']
 * })
 * // store: reducer { [peer.reducerPath]: peer.reducer, people: people.reducer }; thread: slices: [people]
 * const { payload } = store.dispatch(people.actions.create({ name: 'Ada', age: 36 }))
 * await store.dispatch(people.save({ ...payload, age: 37 })).unwrap()   // sends { age: 37 }
 * const adults = people.selectors.selectFind(store.getState(), { filter: { age: { $gte: 18 } }, sort: { name: 1 }, limit: 10 })
 * ```
 */
export function createCollection<Doc extends DocumentBase, Name extends string = string>(options: CreateCollectionOptions<Doc, Name> & { readonly keyed: true }): KeyedCollection<Doc, Name>
export function createCollection<Doc extends DocumentBase, Name extends string = string>(options: CreateCollectionOptions<Doc, Name> & { readonly keyed?: false }): Collection<Doc, Name>
export function createCollection<Doc extends DocumentBase, Name extends string = string>(options: CreateCollectionOptions<Doc, Name>): Collection<Doc, Name> | KeyedCollection<Doc, Name> {
  const { name } = options
  const specs: IndexSpec[] = (options.indexes ?? []).map((i) => (typeof i === 'string' ? { path: i } : { path: i.path, ...(i.unique === true ? { unique: true } : {}) }))
  const schema = options.schema ?? { type: 'object' }
  const initial = deepFreeze(initialCollectionState<Doc>(schema, specs))
  type S = CollectionState<Doc>
  const slice = createThreadSlice({
    name,
    initialState: initial,
    keyed: options.keyed === true,
    // The indexes are part of the state: other indexes, another fold (snapshots of the old one unused).
    version: `${options.version ?? 1}+indexes:${specs.map((s) => `${s.path}${s.unique === true ? '!' : ''}`).join('|')}`,
    reducers: {
      create: {
        reducer: (draft: unknown, action: PayloadAction<Doc>) => createDocument<Doc>(name, specs, base(draft) as S, action.payload),
        prepare: (doc: NewDocument<Doc>) => ({ payload: { ...doc, _id: doc._id ?? newDocumentId() } as unknown as Doc })
      },
      save: (draft: unknown, action: PayloadAction<SavePayload<Doc>>) => saveDocument<Doc>(name, specs, base(draft) as S, action.payload?._id, action.payload?.patch),
      delete: {
        reducer: (draft: unknown, action: PayloadAction<{ _id: string }>) => deleteDocument<Doc>(name, specs, base(draft) as S, action.payload?._id),
        prepare: (id: string) => ({ payload: { _id: id } })
      },
      setSchema: {
        reducer: (draft: unknown, action: PayloadAction<{ schema: JsonSchema }>) => setSchema<Doc>(base(draft) as S, action.payload?.schema),
        prepare: (next: JsonSchema) => ({ payload: { schema: next } })
      }
    }
  } as never) as unknown as SliceShape

  // What the engine folds: the same transitions, called directly. Under the slice's own reducer
  // Immer would walk every new object to freeze it (the 256-key bucket map, a 512-entry index
  // page: ~0.4 ms a write); the transitions freeze only what they make.
  const types = { create: `${name}/create`, save: `${name}/save`, delete: `${name}/delete`, setSchema: `${name}/setSchema` }
  const fold = (state: S = initial, action: UnknownAction): S => {
    const payload = action.payload as { _id?: unknown; patch?: unknown; schema?: unknown } | undefined
    switch (action.type) {
      case types.create:
        return createDocument<Doc>(name, specs, state, payload)
      case types.save:
        return saveDocument<Doc>(name, specs, state, payload?._id, payload?.patch)
      case types.delete:
        return deleteDocument<Doc>(name, specs, state, payload?._id)
      case types.setSchema:
        return setSchema<Doc>(state, payload?.schema)
      default:
        return state
    }
  }

  const view = (actions: SliceShape['actions'], selectState: (root: unknown) => S, threadId: string | undefined) => {
    const selectById = (root: unknown, id: string): Doc | undefined => entryOf(selectState(root).docs, id) ?? undefined
    const selectors: CollectionSelectors<Doc> = {
      selectState,
      selectById,
      selectHas: (root, id) => selectById(root, id) !== undefined,
      selectAll: createSelector([(root: unknown) => selectState(root).docs], (docs) => liveDocuments(docs).sort((a, b) => (a._id < b._id ? -1 : a._id > b._id ? 1 : 0))),
      selectCount: (root) => selectState(root).count,
      selectSchema: (root) => selectState(root).schema,
      selectFind: createSelector([selectState, (_root: unknown, query: DocumentQuery) => query], (state, query) => runQuery(state, query))
    }
    const parts: TransactionParts<Doc> = {
      name,
      selectState,
      create: (doc) => actions.create(doc) as UnknownAction & DurableCommand & { payload: Doc },
      current: (root, id) => {
        const doc = selectById(root, id)
        if (doc === undefined) throw new DocumentNotFoundError(`collection \`${name}\`: no document ${id} to save`)
        return doc
      },
      saveAction: (current, doc) => {
        const patch = jsonMergePatch.generate(current, doc) as MergePatch<Doc> | undefined
        return patch === undefined ? undefined : actions.save({ _id: doc._id, patch })
      },
      remove: (id) => actions.delete(id)
    }
    return {
      actions: actions as unknown as CollectionActions<Doc>,
      selectors,
      save: (doc: Doc): ThunkAction<SaveResult, unknown, unknown, UnknownAction> => (dispatch, getState) => {
        const action = parts.saveAction(parts.current(getState(), doc._id), doc)
        if (action === undefined) return { unwrap: () => Promise.resolve(undefined) }
        dispatch(action)
        return action
      },
      readTransaction: <R>(run: (tx: ReadTransaction<Doc>) => R) => readTransactionThunk(parts, run),
      writeTransaction: <R>(target: { readonly peer: TransactionPeer; readonly threadId?: string }, run: (tx: WriteTransaction<Doc>) => R) =>
        writeTransactionThunk(parts, target.peer, target.threadId ?? (threadId as string), run)
    }
  }

  const self = [{ name }]
  const common = {
    name,
    reducerPath: name,
    isThreadSlice: true as const,
    [THREAD_SLICE]: true as const,
    commandTypes: slice.commandTypes,
    version: slice.version,
    indexes: specs,
    reducer: slice.reducer,
    fold,
    initialThreadState: () => slice.initialThreadState() as S,
    matchChanges: (...filters: readonly ChangeFilter[]) => matchChanges<Doc>(self, ...filters),
    changeOf: (action: unknown) => changeOf<Doc>(self, action)
  }
  if (options.keyed !== true) {
    const selectState = (root: unknown): S => ((root as Record<string, S | undefined>)[name] ?? initial)
    return { ...common, keyed: false as const, ...view(slice.actions, selectState, undefined) } as unknown as Collection<Doc, Name>
  }
  const views = new Map<string, ThreadCollection<Doc>>()
  return {
    ...common,
    keyed: true as const,
    forThread(threadId: string): ThreadCollection<Doc> {
      let v = views.get(threadId)
      if (v === undefined) {
        const selectState = (root: unknown): S => ((root as Record<string, Record<string, S> | undefined>)[name]?.[threadId] ?? initial)
        v = { threadId, ...view(slice.forThread(threadId).actions, selectState, threadId) } as unknown as ThreadCollection<Doc>
        views.set(threadId, v)
      }
      return v
    }
  } as unknown as KeyedCollection<Doc, Name>
}
