/**
 * Change listeners (go-threads' `Listen` with `ListenOption{Collection, Action, ID}`), the Redux
 * way: every event reaches the store exactly once as its own action, local or remote (see
 * ARCHITECTURE.md, "The store's state follows from the actions it saw"), so a change listener is
 * a matcher for RTK's listener middleware. A matcher takes only event actions (`meta.event`),
 * so a command its reducer refused never matches: put the listener middleware after
 * `peer.middleware`.
 */
import type { EventMeta } from '../../engine/threadEvent.js'
import { eventOf } from '../../redux/appliedAction.js'
import type { DocumentBase } from './collectionState.js'

/** What an event did to a document. */
export type ChangeKind = 'create' | 'save' | 'delete'

/**
 * One filter: every field given must hold (AND); filters passed together are alternatives (OR).
 * A field may list several values (any of them). An empty filter matches every change.
 */
export interface ChangeFilter {
  /** The collection's name. */
  readonly collection?: string | readonly string[]
  /** What the event did. */
  readonly action?: ChangeKind | readonly ChangeKind[]
  /** The document's `_id`. */
  readonly id?: string | readonly string[]
  /** The thread the event is in. */
  readonly threadId?: string | readonly string[]
}

/** A change, as {@link changeOf} reads it from an event action. */
export interface DocumentChange<Doc extends DocumentBase = DocumentBase> {
  readonly collection: string
  readonly action: ChangeKind
  readonly id: string
  readonly threadId: string
  /** `create`: the document. */
  readonly doc?: Doc
  /** `save`: the RFC 7386 merge patch that was applied. */
  readonly patch?: MergePatch<Doc>
  /** Where the event sits: author, log, seq, clock, `local`… */
  readonly event: EventMeta
}

/** An RFC 7386 merge patch of `Doc`: members to set, `null` to remove one; objects are patched member by member, arrays replaced whole. */
export type MergePatch<Doc> = {
  readonly [K in keyof Doc]?: NonNullable<Doc[K]> extends readonly unknown[] ? Doc[K] | null : NonNullable<Doc[K]> extends object ? MergePatch<NonNullable<Doc[K]>> | null : Doc[K] | null
}

/** The action of a document change event (what a matcher narrows to). */
export interface DocumentChangeAction<Doc extends DocumentBase = DocumentBase> {
  readonly type: string
  readonly payload: Doc | { readonly _id: string; readonly patch: MergePatch<Doc> } | { readonly _id: string }
  readonly meta: { readonly event: EventMeta }
}

const KINDS: readonly ChangeKind[] = ['create', 'save', 'delete']

/**
 * Whether each event changed its collection, as its latest fold said, by the event's `meta.event`
 * object (the engine folds and then dispatches the event's action with that same object). An
 * event folded again (a replay) is noted again.
 */
const outcomes = new WeakMap<object, boolean>()

/**
 * Note whether `action`, folded by a collection's transition, changed its state. A `save` of a
 * deleted document (delete wins) and a `delete` of a missing or deleted one change nothing: no
 * listener hears them. Called by `createCollection`'s reducers; a no-op for non-event actions.
 */
export function noteOutcome(action: unknown, changed: boolean): void {
  const event = eventOf(action)
  if (event !== undefined) outcomes.set(event, changed)
}

/**
 * The change an action stands for, if it is an event (`meta.event`) of one of `collections` (by
 * name) that changed the collection when this process folded it: `{ collection, action, id,
 * threadId, doc? (create), patch? (save), event }`. A `save` that delete-wins discarded and a
 * `delete` of a missing or deleted document are no change (`undefined`).
 *
 * @example
 * ```ts
 * import { changeOf } from 'redux-p2p-threads/db'
 * const change = changeOf([people, pets], action)
 * if (change?.action === 'save') console.log(change.id, change.patch, change.event.local ? 'mine' : 'a peer\'s')
 * ```
 */
export function changeOf<Doc extends DocumentBase = DocumentBase>(collections: ReadonlyArray<{ readonly name: string }>, action: unknown): DocumentChange<Doc> | undefined {
  const event = eventOf(action)
  if (event === undefined) return undefined
  // An event its collection folded without a change (delete wins, a delete of nothing) is no change.
  if (outcomes.get(event) === false) return undefined
  const type = (action as { type?: unknown }).type
  if (typeof type !== 'string') return undefined
  const slash = type.lastIndexOf('/')
  const kind = type.slice(slash + 1) as ChangeKind
  if (!KINDS.includes(kind)) return undefined
  const name = type.slice(0, slash)
  if (!collections.some((c) => c.name === name)) return undefined
  const payload = (action as { payload?: { _id?: unknown; patch?: unknown } }).payload
  const id = payload?._id
  if (typeof id !== 'string') return undefined
  const base = { collection: name, action: kind, id, threadId: event.threadId, event }
  if (kind === 'create') return { ...base, doc: payload as unknown as Doc }
  if (kind === 'save') return { ...base, patch: payload?.patch as MergePatch<Doc> }
  return base
}

function allows<T extends string>(want: T | readonly T[] | undefined, value: T): boolean {
  return want === undefined || (typeof want === 'string' ? want === value : want.includes(value))
}

/** True when `change` passes `filter`. */
export function passes(change: DocumentChange, filter: ChangeFilter): boolean {
  return allows(filter.collection, change.collection) && allows(filter.action, change.action) && allows(filter.id, change.id) && allows(filter.threadId, change.threadId)
}

/**
 * A matcher for changes to `collections` that pass any of `filters` (none: every change), for
 * `startListening({ matcher, effect })`, `isAnyOf` or `builder.addMatcher`.
 *
 * @example
 * ```ts
 * import { matchChanges } from 'redux-p2p-threads/db'
 * listener.startListening({
 *   matcher: matchChanges([people], { action: 'delete' }, { id: aliceId }),
 *   effect: (action) => console.log(changeOf([people], action))
 * })
 * ```
 */
export function matchChanges<Doc extends DocumentBase>(collections: ReadonlyArray<{ readonly name: string }>, ...filters: readonly ChangeFilter[]): (action: unknown) => action is DocumentChangeAction<Doc> {
  return (action: unknown): action is DocumentChangeAction<Doc> => {
    const change = changeOf(collections, action)
    return change !== undefined && (filters.length === 0 || filters.some((f) => passes(change, f)))
  }
}
