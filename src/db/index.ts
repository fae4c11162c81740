/**
 * redux-p2p-threads/db: database modules on threads (the paper's sections 5.1 to 5.4). Each module is
 * a thread slice with more machinery, so replay, snapshots, access control and sync work for it
 * unchanged: a key-value store, document collections with queries and indexes, and CRDT helpers
 * (reducer helpers whose merge follows the thread's total order).
 *
 * @packageDocumentation
 */
export * from './kv/index.js'
export * from './crdt/index.js'
export * from './docs/index.js'
