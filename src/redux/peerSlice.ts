import { createSlice, type PayloadAction } from '@reduxjs/toolkit'
import type { ThreadStatus } from '../rx/threadStatus.js'
import type { Role } from '../acl/invite.js'
import type { AclDocument } from '../acl/aclProjection.js'
import type { AclRole } from '../acl/roles.js'

/** An access-controlled thread's ACL as this peer has folded it (paper section 5.5.2). */
export interface ThreadAccess {
  /** The owner the thread ID commits to, once its `init` event is folded. */
  readonly owner: string | null
  /** This peer's roles in the thread now. */
  readonly roles: readonly AclRole[]
  /** The thread's ACL document: the default roles and each named peer's. */
  readonly acl: AclDocument
  /** Who may change the ACL (the admin document). */
  readonly admin: AclDocument
  /** The newest read key epoch (0 until the first rotation). */
  readonly epoch: number
}

/** Where the peer is in its life. */
export type PeerPhase = 'idle' | 'starting' | 'ready' | 'closing' | 'closed' | 'failed'

/** A thread as the peer's status shows it: the sync status, and what this peer may do in it. */
export interface ThreadEntry extends ThreadStatus {
  readonly role: Role
  /**
   * Records known to exist on peers (their heads) that this peer does not hold yet, over every
   * log; 0 when caught up with every peer it reached.
   */
  readonly behind: number
  /** True once this peer has compared heads with at least one peer and pulled what it lacked. */
  readonly caughtUp: boolean
  /** The ACL and this peer's roles, for an access-controlled thread; absent for a Raw one. */
  readonly access?: ThreadAccess
}

/** The peer's state in the store, at `state[peer.reducerPath]` (`threads` by default). */
export interface PeerState {
  readonly phase: PeerPhase
  /** This peer's ID (its log ID in every thread), once started. */
  readonly peerId: string | undefined
  /** The error that stopped it, when `phase` is `failed`. */
  readonly error: { readonly name: string; readonly message: string } | undefined
  /** Peers with an open connection. */
  readonly connected: readonly string[]
  /** Every thread open on this peer, by thread ID. */
  readonly threads: Readonly<Record<string, ThreadEntry>>
}

const initialState: PeerState = { phase: 'idle', peerId: undefined, error: undefined, connected: [], threads: {} }

/**
 * The peer's status in the store (RTK Query's shape: a reducer at a `reducerPath`, fed by the
 * peer's middleware), so `useSelector` reads what `status$` streams. The middleware dispatches
 * these actions, coalesced to one per turn of the event loop however busy the peer is.
 */
export const peerSlice = createSlice({
  name: 'redux-threads/peer',
  initialState,
  reducers: {
    phase(state, action: PayloadAction<{ phase: PeerPhase; peerId?: string; error?: { name: string; message: string } }>) {
      state.phase = action.payload.phase
      if (action.payload.peerId !== undefined) state.peerId = action.payload.peerId
      state.error = action.payload.error
    },
    /** New statuses of threads (only those that changed), and the connected peers. */
    status(state, action: PayloadAction<{ threads: Record<string, ThreadEntry>; connected?: string[] }>) {
      for (const [id, entry] of Object.entries(action.payload.threads)) state.threads[id] = entry as never
      if (action.payload.connected !== undefined) state.connected = action.payload.connected
    },
    /** A thread closed or deleted on this peer. */
    closed(state, action: PayloadAction<{ threadId: string }>) {
      delete state.threads[action.payload.threadId]
    }
  }
})

/** Selectors over the root state, given where the peer's reducer is mounted. */
export function peerSelectors(reducerPath: string) {
  const peerState = (root: unknown): PeerState => ((root as Record<string, PeerState | undefined>)[reducerPath] ?? initialState)
  return {
    /** The peer's whole status. */
    selectPeer: peerState,
    /** Where the peer is in its life (`idle` until the first dispatch or `start()`). */
    selectPhase: (root: unknown): PeerPhase => peerState(root).phase,
    /** Every open thread's status, by thread ID. */
    selectThreads: (root: unknown): Readonly<Record<string, ThreadEntry>> => peerState(root).threads,
    /** One thread's status: logs and heads, pending writes, held records, peers, errors, progress, how far behind. */
    selectThreadStatus: (root: unknown, threadId: string): ThreadEntry | undefined => peerState(root).threads[threadId],
    /** True once a thread has caught up with the peers it reached and is not behind any of them. */
    selectIsCaughtUp: (root: unknown, threadId: string): boolean => {
      const t = peerState(root).threads[threadId]
      return t !== undefined && t.caughtUp && t.behind === 0
    },
    /** An access-controlled thread's ACL and this peer's roles in it (undefined for Raw threads). */
    selectAccess: (root: unknown, threadId: string): ThreadAccess | undefined => peerState(root).threads[threadId]?.access,
    /** Peers with an open connection. */
    selectConnected: (root: unknown): readonly string[] => peerState(root).connected
  }
}

export type PeerSelectors = ReturnType<typeof peerSelectors>
