import { createAsyncThunk, miniSerializeError } from '@reduxjs/toolkit'
import type { Role } from '../acl/invite.js'
import type { ThreadKey } from '../core/keys.js'
import type { Variant } from '../core/variant.js'
import { NotFoundError } from '../core/errors.js'
import type { Progress } from '../engine/engineTypes.js'
import type { ThreadSliceLike } from './createThreadSlice.js'
import type { ThreadRegistry } from './registry.js'
import type { AclChange, ThreadLifecycle } from './threads.js'
import type { PeerRuntime } from './runtime.js'

/** What a thread thunk resolves with. */
export interface ThreadResult {
  readonly threadId: string
  readonly role: Role
}

/** Arguments of `createThread`. */
export interface CreateThreadArgs {
  readonly slices: readonly ThreadSliceLike[]
  /** `Variant.Raw` (default) or `Variant.AccessControlled`. */
  readonly variant?: Variant
  readonly onProgress?: (p: Progress) => void
}

/** Arguments of `openThread`: a thread in storage, or one whose keys you hold. */
export interface OpenThreadArgs {
  readonly threadId: string
  readonly slices: readonly ThreadSliceLike[]
  readonly key?: ThreadKey
  readonly onProgress?: (p: Progress) => void
}

/** Arguments of `joinThread`. */
export interface JoinThreadArgs {
  /** A `threads:…` invite string. */
  readonly invite: string
  /** The slices to project the thread into (none for `follow` invites). */
  readonly slices?: readonly ThreadSliceLike[]
  readonly onProgress?: (p: Progress) => void
  /**
   * Resolve once the thread has caught up with the peers it reached, waiting at most this long
   * (ms; default 30,000; 0: resolve at once). The status says how far behind it still is.
   */
  readonly waitForSyncMs?: number
}

/** Arguments of `invite`. */
export interface InviteArgs {
  readonly threadId: string
  /** What the invitee may do: `follow` (replicate, read nothing), `read`, or `write` (default). */
  readonly role?: Role
  /** Seal the invite to this peer ID: only it can open it. Without, the invite is a bearer link. */
  readonly to?: string
}

/** Arguments of `changeAcl`: the thread, and one change to its ACL. */
export interface ChangeAclArgs {
  readonly threadId: string
  readonly change: AclChange
}

/** Arguments of `transaction`. */
export interface TransactionArgs<T> {
  readonly threadId: string
  /** Dispatch the transaction's commands here, synchronously: stored all or nothing, applied whole everywhere. */
  readonly run: () => T
}

const serializeError = (e: unknown): ReturnType<typeof miniSerializeError> => miniSerializeError(e)

/**
 * The peer's lifecycle as thunks (RTK's `createAsyncThunk`): each has `pending`, `fulfilled` and
 * `rejected` actions for reducers and listeners, and `dispatch(thunk).unwrap()` resolves with
 * its result or throws its error (a named `ThreadsError`, kept by name through
 * `miniSerializeError`). Each starts the peer if it has not started.
 */
export function createThunks(parts: {
  runtime: PeerRuntime
  /** The lifecycle, once the peer has started (it is part of the engine half, loaded then). */
  threads: () => Promise<ThreadLifecycle>
  registry: ThreadRegistry
  caughtUp: (threadId: string, timeoutMs: number) => Promise<boolean>
  rollback: (threadId: string, state: Readonly<Record<string, unknown>>) => void
}) {
  const { runtime, threads, registry } = parts
  const options = { serializeError }
  return {
    /** Start the peer now (storage, identity, network) instead of on the first thunk. */
    start: createAsyncThunk('redux-threads/start', async () => {
      const s = await runtime.start()
      return { peerId: s.identity.id }
    }, options),
    /** Create a thread holding `slices`, with this peer as its first writer. */
    createThread: createAsyncThunk('redux-threads/createThread', async (args: CreateThreadArgs): Promise<ThreadResult> => {
      const b = await (await threads()).create(args)
      return { threadId: b.threadId, role: b.role }
    }, options),
    /** Open a thread held in storage (no network needed), or one whose keys you pass. */
    openThread: createAsyncThunk('redux-threads/openThread', async (args: OpenThreadArgs): Promise<ThreadResult> => {
      const b = await (await threads()).open(args.threadId, args)
      return { threadId: b.threadId, role: b.role }
    }, options),
    /** Join a thread from an invite; resolves once caught up with the peers reached (or the wait ran out). */
    joinThread: createAsyncThunk('redux-threads/joinThread', async (args: JoinThreadArgs): Promise<ThreadResult & { caughtUp: boolean }> => {
      const b = await (await threads()).join(args.invite, args)
      const caughtUp = await parts.caughtUp(b.threadId, args.waitForSyncMs ?? 30_000)
      return { threadId: b.threadId, role: b.role, caughtUp }
    }, options),
    /** An invite string for another peer (sealed to `to`, or a bearer link). */
    invite: createAsyncThunk('redux-threads/invite', async (args: InviteArgs): Promise<string> => (await threads()).invite(args.threadId, args.role ?? 'write', args.to), options),
    /**
     * Change an access-controlled thread's ACL (paper section 5.5.2): grant a peer roles, revoke
     * them (a writer's later records are cut everywhere; a reader's revocation rotates the read
     * key to the readers left), set the default roles, or delete an event. Resolves when the
     * change is durable; rejects with `AccessDeniedError` when this peer may not make it, or
     * `MisuseError` for a Raw thread.
     *
     * @example
     * ```ts
     * await store.dispatch(peer.thunks.changeAcl({ threadId, change: { kind: 'revoke', peer: bob, roles: ['write'] } })).unwrap()
     * ```
     */
    changeAcl: createAsyncThunk('redux-threads/changeAcl', async (args: ChangeAclArgs): Promise<ChangeAclArgs> => {
      await (await threads()).changeAcl(args.threadId, args.change)
      return args
    }, options),
    /** Stop projecting and syncing a thread; it stays in storage. */
    leaveThread: createAsyncThunk('redux-threads/leaveThread', async (args: { threadId: string }): Promise<{ threadId: string }> => {
      await (await threads()).close(args.threadId)
      return args
    }, options),
    /** Delete a thread from this peer: stop syncing it, remove all it stored, refuse its commands. */
    deleteThread: createAsyncThunk('redux-threads/deleteThread', async (args: { threadId: string }): Promise<{ threadId: string }> => {
      await (await threads()).close(args.threadId, { delete: true })
      return args
    }, options),
    /** Run a sync round now: dial known addresses, exchange heads, pull what is missing. */
    syncNow: createAsyncThunk('redux-threads/syncNow', async (): Promise<void> => {
      const s = await runtime.start()
      await s.sync?.syncNow()
    }, options),
    /**
     * Run `run` as one transaction (paper section 4.1.3): the commands it dispatches apply at once,
     * are stored all or nothing, and apply whole on every other peer. If it throws, the slices
     * return to where they were and nothing is stored. Resolves with its result when durable.
     */
    transaction: createAsyncThunk('redux-threads/transaction', async (args: TransactionArgs<unknown>): Promise<unknown> => {
      const b = registry.get(args.threadId)
      if (b === undefined) throw new NotFoundError('the thread is not open on this peer', { threadId: args.threadId })
      const { result, durable } = b.engine.transaction(args.run, (state) => parts.rollback(b.threadId, state))
      await durable
      return result
    }, options)
  }
}

export type PeerThunks = ReturnType<typeof createThunks>
