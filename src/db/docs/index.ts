/**
 * Document collections (paper section 5.3; Textile's go-threads `db`): `createCollection`, its
 * query, change and transaction types, and the named errors.
 */
export { createCollection } from './createCollection.js'
export type {
  CreateCollectionOptions,
  Collection,
  KeyedCollection,
  ThreadCollection,
  CollectionView,
  CollectionActions,
  CollectionSelectors,
  CommandCreator,
  SavePayload,
  SaveResult,
  DocumentPath,
  JsonShaped,
  JsonMembers
} from './collectionTypes.js'
export type { CollectionState, DocumentBase } from './collectionState.js'
export type { DocumentBuckets, DocumentPages, DocumentEntry } from './documents.js'
export { MAX_DOCUMENT_DEPTH, MAX_DOCUMENT_VALUES, MAX_DOCUMENT_CHARS, RESERVED_MEMBERS, DOC_PAGE_MAX } from './documents.js'
export { MAX_ID_CHARS } from './ids.js'
export type { IndexSpec, IndexEntry, IndexPages, IndexValue } from './indexes.js'
export type { JsonSchema, SchemaState } from './schema.js'
export { candidatesOf } from './query.js'
export type { DocumentQuery, DocumentFilter, DocumentSort, QueryPlan } from './query.js'
export { matchChanges, changeOf } from './changes.js'
export type { ChangeKind, ChangeFilter, DocumentChange, DocumentChangeAction, MergePatch } from './changes.js'
export type { ReadTransaction, WriteTransaction, NewDocument, TransactionPeer } from './transactions.js'
export { DuplicateDocumentError, DocumentNotFoundError, SchemaViolationError, InvalidSchemaError, InvalidDocumentError, UniqueIndexError, ReadOnlyTransactionError } from './errors.js'
export { newDocumentId } from './ids.js'
export { SchemaAuthorityError } from './errors.js'
export type { SchemaAuthority } from './schema.js'
export { MAX_SCHEMA_CHARS, MAX_SCHEMA_NODES, MAX_SCHEMA_DEPTH, MAX_COMPILE_DEPTH, MAX_UNIQUE_ITEMS, MAX_RECURSIVE_DEPTH, MAX_SCHEMA_COST, MAX_VALIDATION_WORK } from './schema.js'
