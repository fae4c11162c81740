import type { Middleware, Reducer } from '@reduxjs/toolkit'
import { filter, firstValueFrom, type Observable } from 'rxjs'
import { NotFoundError } from '../core/errors.js'
import type { LogKey } from '../core/keys.js'
import type { NetworkAdapter } from '../net/networkAdapter.js'
import { StoreLink } from './middleware.js'
import { peerSelectors, peerSlice, type PeerSelectors, type PeerState, type ThreadEntry } from './peerSlice.js'
import { ThreadRegistry, type Binding } from './registry.js'
import { PeerRuntime, type PeerOptions } from './runtime.js'
import { StatusFeed } from './statusFeed.js'
import type { ThreadLifecycle } from './threads.js'
import { createThunks, type PeerThunks } from './thunks.js'
import type { ThreadHandle } from './threadHandle.js'

export type { PeerOptions } from './runtime.js'

/** {@link PeerSelectors}, taking your `RootState`. */
export type TypedSelectors<RootState> = {
  readonly [K in keyof PeerSelectors]: PeerSelectors[K] extends (root: unknown, ...args: infer A) => infer R ? (root: RootState, ...args: A) => R : never
}

/**
 * A peer: one identity, its storage, its threads, and the reducer and middleware that bind them
 * to one Redux store (RTK Query's shape: `reducerPath`, `reducer`, `middleware`, `thunks`,
 * `selectors`).
 */
export interface Peer<ReducerPath extends string = 'threads'> {
  /** Where `reducer` is mounted: `threads` unless `createPeer({ reducerPath })` says otherwise. */
  readonly reducerPath: ReducerPath
  /** The peer's status in the store: threads, heads, how far behind, held records, errors, progress. */
  readonly reducer: Reducer<PeerState>
  /** Add to the store's middleware: `middleware: (gDM) => gDM().concat(peer.middleware)`. */
  readonly middleware: Middleware
  /** The lifecycle: start, create, open, join, invite, leave, delete, sync, transactions. */
  readonly thunks: PeerThunks
  /** Selectors over the root state. */
  readonly selectors: PeerSelectors
  /**
   * The selectors typed for your `RootState`, bound once (RTK's `withTypes` habit), so they
   * compose with `createSelector` without casts.
   *
   * @example
   * ```ts
   * export const { selectors } = peer.withTypes<RootState>()
   * const selectBehind = createSelector([selectors.selectThreads], (t) => Object.values(t).map((x) => x.behind))
   * ```
   */
  withTypes<RootState>(): { readonly selectors: TypedSelectors<RootState> }
  /** Start now (storage, identity, network); the first thunk does it otherwise. */
  start(): Promise<void>
  /** This peer's ID (its log ID in every thread), once started. */
  readonly id: string | undefined
  /** This peer's identity key, once started. */
  readonly identity: LogKey | undefined
  /** The network adapter, once started (when the peer has one). */
  readonly network: NetworkAdapter | undefined
  /** Addresses other peers can dial (multiaddrs with `/p2p/`); empty without a network. */
  addresses(): string[]
  /** IDs of every thread in storage (starts the peer). */
  storedThreads(): Promise<string[]>
  /** A thread open on this peer: its capabilities (heads, manual exchange, CAR export, snapshots). */
  thread(threadId: string): ThreadHandle | undefined
  /** A thread's status as an RxJS stream: the same objects the store holds, at once and at every change. */
  status$(threadId: string): Observable<ThreadEntry>
  /** Resolves when nothing is being synced and every write is durable. */
  idle(): Promise<void>
  /** Flush, stop syncing, close the network and the storage. */
  close(): Promise<void>
}

/**
 * Create a peer, synchronously: a store module can build its store at import time, as RTK users
 * write them (`store.ts`, Next's `makeStore`, tests). The peer starts on its first thunk or on
 * `peer.start()`: it claims its storage (one peer per storage), loads or makes its identity, and
 * starts its network.
 *
 * @example
 * ```ts
 * import { configureStore } from '@reduxjs/toolkit'
 * import { createPeer, createThreadSlice } from 'redux-p2p-threads'
 * import { levelStorage } from 'redux-p2p-threads/level'
 *
 * export const peer = createPeer({ storage: levelStorage('./data') })
 * export const store = configureStore({
 *   reducer: { [peer.reducerPath]: peer.reducer, todos: todos.reducer },
 *   middleware: (gDM) => gDM().concat(peer.middleware)
 * })
 * const { threadId } = await store.dispatch(peer.thunks.createThread({ slices: [todos] })).unwrap()
 * await store.dispatch(todos.actions.added('milk')).unwrap()     // signed, stored, applied, sent
 * peer.selectors.selectThreadStatus(store.getState(), threadId)
 * ```
 */
export function createPeer<ReducerPath extends string = 'threads'>(options: PeerOptions<ReducerPath> = {}): Peer<ReducerPath> {
  const reducerPath = (options.reducerPath ?? 'threads') as ReducerPath
  const registry = new ThreadRegistry()
  const link = new StoreLink(registry)
  let runtime: PeerRuntime | undefined
  const entryOf = (b: Binding): ThreadEntry => {
    const sync = runtime?.started?.sync
    const behind = sync?.behind(b.threadId) ?? 0
    const caught = sync === undefined || sync.caughtUp(b.threadId)
    // Own-log recovery ends once the peers reached were asked (see ThreadEngine.recoverOwnLog).
    if (caught) b.engine.endOwnLogRecovery()
    const access = runtime?.started?.parts.accessOf(b.engine.system, runtime.started.identity.id)
    return { ...b.status.current(), role: b.role, behind, caughtUp: caught, ...(access === undefined ? {} : { access }) }
  }
  const feed = new StatusFeed(() => link.dispatch, entryOf)
  /** Refusals an engine reported itself: the sync service's strike for the same error must not count it again. */
  const reportedByEngine = new WeakSet<object>()
  runtime = new PeerRuntime(
    options,
    { target: (id) => registry.get(id)?.engine, targets: () => registry.all().map((b) => b.engine) },
    {
      starting: () => link.dispatch?.(peerSlice.actions.phase({ phase: 'starting' })),
      started: (s) => {
        link.dispatch?.(peerSlice.actions.phase({ phase: 'ready', peerId: s.identity.id }))
        s.sync?.events.on('peers', ({ threadId, peers }) => {
          const b = registry.get(threadId)
          if (b === undefined) return
          b.status.setPeers(peers)
          feed.touch(b)
        })
        // What the sync service blames a peer for reaches the thread's status as a refusal (one
        // that names no thread, every thread's): garbage, rate limits, bad gossip, forged proofs.
        s.sync?.events.on('error', ({ error }) => {
          if (reportedByEngine.has(error)) return
          const target = error.threadId === undefined ? undefined : registry.get(error.threadId)
          for (const b of target === undefined ? registry.all() : [target]) b.engine.events.emit('rejected', error)
        })
        s.sync?.events.on('heads', ({ threadId }) => {
          const b = registry.get(threadId)
          if (b !== undefined) feed.touch(b)
        })
        const connected = (): void => feed.connected(s.network?.connectedPeers() ?? [])
        s.network?.on('peer:connect', connected)
        s.network?.on('peer:disconnect', connected)
      },
      failed: (e) => link.dispatch?.(peerSlice.actions.phase({ phase: 'failed', error: { name: (e as Error).name, message: (e as Error).message } }))
    }
  )
  const rt = runtime
  let closing: Promise<void> | undefined
  // The engine chunk starts downloading now, while the app renders, not at the first thunk.
  rt.preload()
  // The lifecycle lives in the engine half (engineParts.ts), built once the peer has started.
  let lifecycle: ThreadLifecycle | undefined
  const threads = async (): Promise<ThreadLifecycle> => {
    const s = await rt.start()
    lifecycle ??= new s.parts.ThreadLifecycle({ runtime: rt, registry, link, feed, reportedByEngine })
    return lifecycle
  }
  /** Resolves when the thread has caught up with the peers it reached, or the wait ran out. */
  const caughtUp = async (threadId: string, timeoutMs: number): Promise<boolean> => {
    const b = registry.get(threadId)
    if (b === undefined) return false
    const stream = feed.stream(b)
    const done = (e: ThreadEntry): boolean => e.caughtUp && e.behind === 0
    feed.touch(b)
    if (timeoutMs <= 0) return done(entryOf(b))
    const timeout = new Promise<boolean>((resolve) => setTimeout(() => resolve(false), timeoutMs))
    return Promise.race([firstValueFrom(stream.pipe(filter(done))).then(() => true, () => false), timeout])
  }
  const thunks = createThunks({
    runtime: rt,
    threads,
    registry,
    caughtUp,
    rollback: (threadId, state) => {
      const b = registry.get(threadId)
      if (b !== undefined) link.applied(b, 'rollback', [], state)
    }
  })
  const peer: Peer<ReducerPath> = {
    reducerPath,
    reducer: peerSlice.reducer,
    middleware: link.middleware,
    thunks,
    selectors: peerSelectors(reducerPath),
    withTypes<RootState>() {
      return { selectors: peer.selectors as unknown as TypedSelectors<RootState> }
    },
    async start() {
      await rt.start()
    },
    get id() {
      return rt.started?.identity.id
    },
    get identity() {
      return rt.started?.identity
    },
    get network() {
      return rt.started?.network
    },
    addresses: () => rt.started?.network?.addresses() ?? [],
    async storedThreads() {
      const s = await rt.start()
      return s.eventStore.logstore.threads().map((t) => t.id.toString())
    },
    thread: (threadId) => {
      const b = registry.closed ? undefined : registry.get(threadId)
      // A thread is bound only after start, so the engine half is loaded whenever b exists.
      const parts = rt.started?.parts
      return b === undefined || parts === undefined ? undefined : new parts.ThreadHandle(b, rt)
    },
    status$(threadId) {
      const b = registry.get(threadId)
      if (b === undefined) throw new NotFoundError('the thread is not open on this peer', { threadId })
      return feed.stream(b)
    },
    async idle() {
      const s = rt.started
      await s?.sync?.idle()
      await Promise.all(registry.all().map((b) => b.engine.flush()))
      feed.flush()
    },
    close() {
      // Every call resolves when the storage is closed, the second waiting for the first.
      closing ??= (async () => {
        // From here a thread command is refused at dispatch (ClosedError): the store must not
        // take a command the closing log would not keep.
        registry.close()
        await Promise.all(registry.all().map((b) => b.engine.flush().catch(() => undefined)))
        link.dispatch?.(peerSlice.actions.phase({ phase: 'closing' }))
        for (const b of registry.all()) {
          b.stop()
          feed.forget(b.threadId)
        }
        await rt.close()
        link.dispatch?.(peerSlice.actions.phase({ phase: 'closed' }))
      })()
      return closing
    }
  }
  return peer
}
