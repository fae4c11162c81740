/**
 * Transactions over a collection (go-threads' `ReadTxn` / `WriteTxn`), as thunks. A read
 * transaction reads one state (the store's when it starts) and refuses writes with
 * {@link ReadOnlyTransactionError}. A write transaction wraps `peer.thunks.transaction` (paper
 * section 4.1.3; ARCHITECTURE.md "Transactions are synchronous, and applied whole everywhere"):
 * its writes apply at once (later reads in it see them), are stored all or nothing, and apply
 * whole on every peer; if `run` throws (a refused write, or the caller's own error), nothing is
 * stored and the collection returns to where it was.
 */
import type { ThunkAction, UnknownAction } from '@reduxjs/toolkit'
import type { DurableCommand } from '../../redux/createThreadSlice.js'
import type { PeerThunks } from '../../redux/thunks.js'
import type { CollectionState, DocumentBase } from './collectionState.js'
import { entryOf } from './documents.js'
import { ReadOnlyTransactionError } from './errors.js'
import { runQuery, type DocumentQuery } from './query.js'

/** The reads of a transaction. */
export interface ReadTransaction<Doc extends DocumentBase> {
  /** Whether a live document has this `_id`. */
  has(id: string): boolean
  /** The document with this `_id`, or `undefined`. */
  findById(id: string): Doc | undefined
  /** The documents `query` selects (see {@link DocumentQuery}). */
  find(query?: DocumentQuery): Doc[]
  /** How many live documents the collection holds. */
  count(): number
}

/** A document to create: the document, its `_id` optional (a ULID is made when it is absent). */
export type NewDocument<Doc extends DocumentBase> = Omit<Doc, '_id'> & { readonly _id?: string }

/** Reads and writes of a write transaction; each write is applied at once. */
export interface WriteTransaction<Doc extends DocumentBase> extends ReadTransaction<Doc> {
  /** Create a document; returns its `_id`. Throws what the reducer throws (duplicate, schema…). */
  create(doc: NewDocument<Doc>): string
  /** Save the whole new version of a document (only the merge patch travels); false if nothing changed. */
  save(doc: Doc): boolean
  /** Delete a document (a tombstone); a missing `_id` changes nothing. */
  delete(id: string): void
}

/** What a write transaction needs of the peer: its `transaction` thunk. */
export interface TransactionPeer {
  readonly thunks: Pick<PeerThunks, 'transaction'>
}

/** How a view reads and writes; `createCollection` supplies it. */
export interface TransactionParts<Doc extends DocumentBase> {
  readonly name: string
  selectState(root: unknown): CollectionState<Doc>
  create(doc: NewDocument<Doc>): UnknownAction & DurableCommand & { payload: Doc }
  /** The live document `id` in `root`; throws `DocumentNotFoundError` if there is none. */
  current(root: unknown, id: string): Doc
  /** The save action for `doc` against `current`, or undefined if nothing changed. */
  saveAction(current: Doc, doc: Doc): (UnknownAction & DurableCommand) | undefined
  remove(id: string): UnknownAction & DurableCommand
}

function reads<Doc extends DocumentBase>(state: () => CollectionState<Doc>): ReadTransaction<Doc> {
  return {
    has: (id) => {
      const e = entryOf(state().docs, id)
      return e !== undefined && e !== null
    },
    findById: (id) => entryOf(state().docs, id) ?? undefined,
    find: (query = {}) => runQuery(state(), query),
    count: () => state().count
  }
}

/** A read transaction's thunk: `run` gets reads of the state as it is now; writes throw. */
export function readTransactionThunk<Doc extends DocumentBase, R>(parts: TransactionParts<Doc>, run: (tx: ReadTransaction<Doc>) => R): ThunkAction<R, unknown, unknown, UnknownAction> {
  return (_dispatch, getState) => {
    const fixed = parts.selectState(getState())
    const refuse = (what: string) => (): never => {
      throw new ReadOnlyTransactionError(`collection \`${parts.name}\`: \`${what}\` in a read transaction (use \`writeTransaction\`)`)
    }
    const tx = Object.assign(reads(() => fixed), { create: refuse('create'), save: refuse('save'), delete: refuse('delete') })
    return run(tx)
  }
}

/** A write transaction's thunk; resolves with `run`'s result once the transaction is durable. */
export function writeTransactionThunk<Doc extends DocumentBase, R>(parts: TransactionParts<Doc>, peer: TransactionPeer, threadId: string, run: (tx: WriteTransaction<Doc>) => R): ThunkAction<Promise<R>, unknown, unknown, UnknownAction> {
  return async (dispatch, getState) => {
    const state = (): CollectionState<Doc> => parts.selectState(getState())
    const read = reads(state)
    const tx: WriteTransaction<Doc> = {
      ...read,
      create: (doc) => {
        const action = parts.create(doc)
        dispatch(action)
        return action.payload._id
      },
      save: (doc) => {
        const action = parts.saveAction(parts.current(getState(), doc._id), doc)
        if (action === undefined) return false
        dispatch(action)
        return true
      },
      delete: (id) => {
        dispatch(parts.remove(id))
      }
    }
    const result = await dispatch(peer.thunks.transaction({ threadId, run: () => run(tx) })).unwrap()
    return result as R
  }
}
