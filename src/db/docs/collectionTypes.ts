/**
 * The public types of `createCollection`: its options, its commands, selectors and views, and
 * the collection objects it returns (one thread per peer, or keyed by thread).
 */
import type { PayloadAction, Reducer, ThunkAction, UnknownAction } from '@reduxjs/toolkit'
import type { EventMeta } from '../../engine/threadEvent.js'
import type { DurableCommand } from '../../redux/createThreadSlice.js'
import type { ChangeFilter, DocumentChange, DocumentChangeAction, MergePatch } from './changes.js'
import type { CollectionState, DocumentBase } from './collectionState.js'
import type { IndexSpec } from './indexes.js'
import type { DocumentQuery } from './query.js'
import type { JsonSchema, SchemaAuthority, SchemaState } from './schema.js'
import type { NewDocument, ReadTransaction, TransactionPeer, WriteTransaction } from './transactions.js'

type Prev = [never, 0, 1, 2, 3]

/** The dot paths of `Doc` an index may name (objects nested up to four deep; arrays end a path). */
export type DocumentPath<T, Depth extends number = 4> = [Depth] extends [never]
  ? never
  : T extends object
    ? { [K in keyof T & string]: NonNullable<T[K]> extends readonly unknown[] ? K : NonNullable<T[K]> extends object ? K | `${K}.${DocumentPath<NonNullable<T[K]>, Prev[Depth]>}` : K }[keyof T & string]
    : never

/**
 * `T` where every value in it is JSON a thread can store (strings, numbers, booleans, `null`,
 * arrays and objects of them; `undefined` only as an absent optional member), `never` in place of
 * anything else (a `Date`, `Map`, `bigint`, function, class instance…). `unknown` members are
 * allowed (the reducer checks values at run time).
 */
export type JsonShaped<T> = unknown extends T
  ? T
  : T extends string | number | boolean | null | undefined
    ? T
    : T extends (...args: never[]) => unknown
      ? never
      : T extends object
        ? { [K in keyof T]: JsonShaped<T[K]> }
        : never

/**
 * The members of `Doc`, each as {@link JsonShaped} makes it: `createCollection` requires
 * `Doc extends JsonMembers<Doc>`, so a document type that could never be stored (a `Date`
 * member…) is a type error where the collection is made.
 */
export type JsonMembers<Doc> = { [K in keyof Doc]: JsonShaped<Doc[K]> }

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
  /**
   * Who may change the schema through the thread with `actions.setSchema`: `'anyone'`, or a pure
   * function of the event's meta (`event.author`). Default: nobody (`SchemaAuthorityError`); the
   * schema changes with the code. See docs/DATABASE.md, "Who may change the schema".
   */
  readonly schemaAuthority?: SchemaAuthority
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
export interface CollectionBase<Doc extends DocumentBase, Name extends string> {
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
