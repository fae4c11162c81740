/**
 * `createCollection`: a document collection (paper section 5.3, Examples 4 to 8; Textile's
 * go-threads `db.Collection`) as a thread slice. Its events are `create`, `save` (an RFC 7386
 * merge patch, Example 8), `delete` and `setSchema`; its reducers are pure functions of the
 * ordered events (see `collectionState.ts`), so replay, snapshots, access control and sync work
 * for it unchanged, and its indexes are part of the folded state.
 */
import { createSelector, isDraft, original, type PayloadAction, type Reducer, type ThunkAction, type UnknownAction } from '@reduxjs/toolkit'
import jsonMergePatch from 'json-merge-patch'
import { createThreadSlice, type DurableCommand } from '../../redux/createThreadSlice.js'
import { THREAD_SLICE } from '../../redux/brand.js'
import { eventOf } from '../../redux/appliedAction.js'
import { changeOf, matchChanges, noteOutcome, type ChangeFilter, type MergePatch } from './changes.js'
import { createDocument, deleteDocument, initialCollectionState, saveDocument, setSchema, type CollectionState, type DocumentBase } from './collectionState.js'
import type { JsonMembers, Collection, CollectionActions, CollectionSelectors, CreateCollectionOptions, KeyedCollection, SavePayload, SaveResult, ThreadCollection } from './collectionTypes.js'
import { deepFreeze, entryOf, liveDocuments } from './documents.js'
import { DocumentNotFoundError } from './errors.js'
import { newDocumentId } from './ids.js'
import type { IndexSpec } from './indexes.js'
import { runQuery, type DocumentQuery } from './query.js'
import { validatorOf, type JsonSchema } from './schema.js'
import { readTransactionThunk, writeTransactionThunk, type NewDocument, type ReadTransaction, type TransactionParts, type TransactionPeer, type WriteTransaction } from './transactions.js'

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
 * `ReducerError` on `status$`, and later events of its log apply. Cost per write, whatever the
 * ids: one page of the document map (≤ 512 entries) and its page list (n / 256 pages at most)
 * and, per index, one page and the page list; see docs/DATABASE.md. `Doc` must be JSON
 * ({@link JsonMembers}): a `Date` member, for one, is a type error.
 *
 * @example
 * ```ts
 * import { createCollection } from 'redux-p2p-threads/db'
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
export function createCollection<Doc extends DocumentBase & JsonMembers<Doc>, Name extends string = string>(options: CreateCollectionOptions<Doc, Name> & { readonly keyed: true }): KeyedCollection<Doc, Name>
export function createCollection<Doc extends DocumentBase & JsonMembers<Doc>, Name extends string = string>(options: CreateCollectionOptions<Doc, Name> & { readonly keyed?: false }): Collection<Doc, Name>
export function createCollection<Doc extends DocumentBase, Name extends string = string>(options: CreateCollectionOptions<Doc, Name>): Collection<Doc, Name> | KeyedCollection<Doc, Name> {
  const { name } = options
  const specs: IndexSpec[] = (options.indexes ?? []).map((i) => (typeof i === 'string' ? { path: i } : { path: i.path, ...(i.unique === true ? { unique: true } : {}) }))
  const schema = options.schema ?? { type: 'object' }
  validatorOf(schema) // the code's schema meets the same bounds as a thread's (InvalidSchemaError here, not at every write)
  const initial = deepFreeze(initialCollectionState<Doc>(schema, specs))
  type S = CollectionState<Doc>
  const slice = createThreadSlice({
    name,
    initialState: initial,
    keyed: options.keyed === true,
    // The indexes are part of the state: other indexes, another fold (snapshots of the old one unused).
    version: `${options.version ?? 1}+indexes:${specs.map((s) => `${s.path}${s.unique === true ? '!' : ''}`).join('|')}`,
    // The engine folds the transitions directly (see `fold` below); the case reducers are the same.
    fold: (state: S | undefined, action: UnknownAction) => fold(state, action),
    reducers: {
      create: {
        reducer: (draft: unknown, action: PayloadAction<Doc>) => fold(base(draft) as S, action),
        prepare: (doc: NewDocument<Doc>) => ({ payload: { ...doc, _id: doc._id ?? newDocumentId() } as unknown as Doc })
      },
      save: (draft: unknown, action: PayloadAction<SavePayload<Doc>>) => fold(base(draft) as S, action),
      delete: {
        reducer: (draft: unknown, action: PayloadAction<{ _id: string }>) => fold(base(draft) as S, action),
        prepare: (id: string) => ({ payload: { _id: id } })
      },
      setSchema: {
        reducer: (draft: unknown, action: PayloadAction<{ schema: JsonSchema }>) => fold(base(draft) as S, action),
        prepare: (next: JsonSchema) => ({ payload: { schema: next } })
      }
    }
  } as never) as unknown as SliceShape

  // What the engine folds: the same transitions, called directly. Under the slice's own reducer
  // Immer would walk every new object to freeze it (the 256-key bucket map, a 512-entry index
  // page: ~0.4 ms a write); the transitions freeze only what they make.
  const types = { create: `${name}/create`, save: `${name}/save`, delete: `${name}/delete`, setSchema: `${name}/setSchema` }
  // Each event's outcome is noted for change listeners: one that changed nothing (a save of a
  // deleted document, a delete of nothing) is not reported as a change.
  function fold(state: S = initial, action: UnknownAction): S {
    const payload = action.payload as { _id?: unknown; patch?: unknown; schema?: unknown } | undefined
    let next: S
    try {
      switch (action.type) {
        case types.create:
          next = createDocument<Doc>(name, specs, state, payload)
          break
        case types.save:
          next = saveDocument<Doc>(name, specs, state, payload?._id, payload?.patch)
          break
        case types.delete:
          next = deleteDocument<Doc>(name, specs, state, payload?._id)
          break
        case types.setSchema:
          next = setSchema<Doc>(state, payload?.schema, eventOf(action), options.schemaAuthority)
          break
        default:
          return state
      }
    } catch (error) {
      noteOutcome(action, false) // refused: no change (it may have applied in an earlier fold)
      throw error
    }
    noteOutcome(action, next !== state)
    return next
  }

  const view = (actions: SliceShape['actions'], selectState: (root: unknown) => S, threadId: string | undefined) => {
    const selectById = (root: unknown, id: string): Doc | undefined => entryOf(selectState(root).docs, id) ?? undefined
    const selectors: CollectionSelectors<Doc> = {
      selectState,
      selectById,
      selectHas: (root, id) => selectById(root, id) !== undefined,
      selectAll: createSelector([(root: unknown) => selectState(root).docs], (docs) => liveDocuments(docs)),
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
    // The slice's own: createThreadSlice's `fold` option, the transitions called directly.
    fold: slice.fold,
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
