/**
 * redux-p2p-threads: Textile's Threads (an event-sourced, end-to-end encrypted, peer-to-peer
 * database over IPLD) as Redux middleware and bindings.
 *
 * ```ts
 * export const peer = createPeer({ storage: levelStorage('./data') })
 * export const store = configureStore({
 *   reducer: { [peer.reducerPath]: peer.reducer, todos: todos.reducer },
 *   middleware: (gDM) => gDM().concat(peer.middleware)
 * })
 * const { threadId } = await store.dispatch(peer.thunks.createThread({ slices: [todos] })).unwrap()
 * await store.dispatch(todos.actions.added('milk')).unwrap()
 * ```
 *
 * The formats, the engine, the sync pieces, `ThreadId` and `generateLogKey` are in
 * `redux-p2p-threads/advanced`.
 *
 * @packageDocumentation
 */

// The peer: storage, identity, threads, and the reducer + middleware that bind them to a store.
export { createPeer } from './redux/createPeer.js'
export type { Peer, PeerOptions, TypedSelectors } from './redux/createPeer.js'
export type { PeerState, PeerPhase, ThreadEntry, ThreadAccess, PeerSelectors } from './redux/peerSlice.js'
export type { PeerThunks, ThreadResult, CreateThreadArgs, OpenThreadArgs, JoinThreadArgs, InviteArgs, TransactionArgs, ChangeAclArgs } from './redux/thunks.js'
export type { AclChange } from './redux/threads.js'
export type { ThreadHandle } from './redux/threadHandle.js'

// Thread slices: RTK slices whose state is a thread's projection.
export { createThreadSlice, isThreadSlice } from './redux/createThreadSlice.js'
export type { ThreadSlice, KeyedThreadSlice, ThreadView, ThreadSliceLike, CreateThreadSliceOptions, DurableCommand } from './redux/createThreadSlice.js'
export { threadApplied, eventOf } from './redux/appliedAction.js'
export type { AppliedPayload, AppliedReason, EventAction, ThreadAction } from './redux/appliedAction.js'
export type { EventMeta } from './engine/threadEvent.js'

// Threads, keys and roles.
export { Variant } from './core/variant.js'
// ThreadId and generateLogKey are in `redux-p2p-threads/advanced`: they need the codecs and the
// crypto, which the main entry leaves to the chunk loaded when a peer starts (engineParts.ts).
export type { LogKey, ThreadKey } from './core/keys.js'
export type { Role } from './acl/invite.js'
export type { AclRole } from './acl/roles.js'
export type { AclDocument, AclScope } from './acl/aclProjection.js'
export type { ThreadStatus, LogStatus, StatusError } from './rx/threadStatus.js'

// The contracts adapters implement.
export type { StorageAdapter } from './store/storageAdapter.js'
export type { NetworkAdapter, NetworkFactory } from './net/networkAdapter.js'

// Errors: one class per condition; branch on `.name` (it survives serialisation).
export * from './core/errors.js'
