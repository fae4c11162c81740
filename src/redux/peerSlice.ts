import { createSlice, type PayloadAction } from '@reduxjs/toolkit'
import type { ThreadStatus } from '../rx/threadStatus.js'
import type { Role } from '../acl/invite.js'

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
    /** Peers with an open connection. */
    selectConnected: (root: unknown): readonly string[] => peerState(root).connected
  }
}

export type PeerSelectors = ReturnType<typeof peerSelectors>
