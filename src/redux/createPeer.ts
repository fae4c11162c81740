import { isAction, type Middleware, type MiddlewareAPI, type UnknownAction } from '@reduxjs/toolkit'
import { Subject, type Observable } from 'rxjs'
import { memoryStorage } from '../store/memory/memoryStorage.js'
import type { Command } from '../core/command.js'
import { NotFoundError } from '../core/errors.js'
import { createThreadKey, generateLogKey, logKeyFromSeed, type LogKey, type ThreadKey } from '../core/keys.js'
import type { LogHead, RecordBlocks } from '../core/record.js'
import { recordBlocks } from '../core/record.js'
import { ThreadId, Variant } from '../core/threadId.js'
import type { CheckpointPolicy } from '../engine/checkpointPolicy.js'
import type { EventMeta, ThreadEvent } from '../engine/threadEvent.js'
import { ThreadEngine, type IngestResult, type Progress } from '../engine/threadEngine.js'
import { trackStatus, type StatusTracker, type ThreadStatus } from '../rx/threadStatus.js'
import { EventStore } from '../store/eventStore.js'
import type { StorageAdapter } from '../store/storageAdapter.js'
import { MAX_INVITE_ADDRS, createInvite, openInvite, type Role } from '../acl/invite.js'
import type { NetworkAdapter, NetworkFactory } from '../net/networkAdapter.js'
import { SyncService } from '../net/syncService.js'
import { logstoreAddressBook } from '../net/addressBook.js'
import { multiaddr } from '@multiformats/multiaddr'
import { threadApplied, type AppliedReason, type EventAction } from './appliedAction.js'
import { threadSliceOf, type ThreadSliceLike } from './createThreadSlice.js'
import { attachOverrides } from './overrides.js'

/** The states of a thread's slices, by reducer path: the thread's projection. */
export type SliceStates = Readonly<Record<string, unknown>>

/** Options of {@link createPeer}. */
export interface PeerOptions {
  /** Where logs, keys and snapshots live. Default: in memory (lost on exit); use `levelStorage` in Node. */
  readonly storage?: StorageAdapter
  /** This peer's identity (its log key in every thread). Default: the one in storage, or a new one. */
  readonly identity?: LogKey
  /** Write a snapshot of each thread every this many events (default 1,000; 0: never). */
  readonly snapshotEvery?: number
  /** Compact each thread's timeline after every snapshot (default false). */
  readonly compactOnSnapshot?: boolean
  /** Checkpoint spacing of the timelines (default every 32 events, thinning with age). */
  readonly checkpoints?: CheckpointPolicy
  /** Clock for event times (tests). */
  readonly now?: () => number
  /**
   * The network: `libp2pNetwork({ listen })` from `redux-threads/libp2p`, or an in-memory hub's
   * `hub.network()`. Without one, peers exchange records by hand (`recordsSince` / `ingest`).
   */
  readonly network?: NetworkFactory
  /** Exchange heads with every peer and redial known addresses this often (ms; default 10,000). */
  readonly syncIntervalMs?: number
}

/** An applied event on {@link Peer.events$}. */
export interface AppliedEvent {
  readonly action: EventAction
  readonly meta: EventMeta
}

/** Options of {@link Peer.createThread} and {@link Peer.openThread}. */
export interface ThreadOptions {
  /** The thread slices whose state this thread holds. A slice belongs to one thread of a peer. */
  readonly slices: readonly ThreadSliceLike[]
  /** Long work (loading events) reports here as well as on `status$`. */
  readonly onProgress?: (p: Progress) => void
}

/** Options of {@link Thread.invite}. */
export interface InviteOptions {
  /** What the invitee may do: `follow` (replicate, read nothing), `read`, or `write` (default). */
  readonly role?: Role
  /** Seal the invite to this peer ID: only it can open it. Without, the invite is a bearer link. */
  readonly to?: string
}

/** A thread this peer holds and projects into the store. */
export interface Thread {
  readonly id: ThreadId
  /** The thread's keys (service ‖ read). Share them only through invites. */
  readonly key: ThreadKey
  readonly engine: ThreadEngine<SliceStates>
  /** The sync status: logs and heads, pending writes, held records, errors, progress. */
  readonly status$: Observable<ThreadStatus>
  /**
   * Run `fn` as one transaction: the commands it dispatches are applied at once and stored all
   * or nothing. If `fn` throws, the slices return to their state before it and nothing is stored.
   * Resolves with `fn`'s result when the commands are durable.
   */
  transaction<T>(fn: () => T): Promise<T>
  /** Take records of one log from another peer (any order, duplicates allowed). */
  ingest(logId: string, blocks: readonly RecordBlocks[]): Promise<IngestResult<SliceStates>>
  /** Log heads, by log ID. */
  heads(): Map<string, LogHead>
  /** Everything this peer has beyond `theirs` (seq per log), as record blocks per log. */
  recordsSince(theirs: ReadonlyMap<string, number>): Promise<Array<{ logId: string; blocks: RecordBlocks[] }>>
  /** Resolves when every event so far is durable. */
  flush(): Promise<void>
  /** Write a snapshot now. */
  snapshot(): Promise<void>
  /** Drop stable events from memory (records stay in storage); returns how many. */
  compact(): number
  /** This peer's role in the thread. */
  readonly role: Role
  /**
   * An invite string for another peer (paper section 3.2.3): the thread ID, this peer's
   * addresses, and the keys the role grants, sealed to `to` or as a bearer link.
   */
  invite(options?: InviteOptions): string
  /** Authenticated peers connected for this thread. */
  peers(): string[]
}

/** A peer: one identity, its storage, its threads, and the middleware that binds them to a store. */
export interface Peer {
  /** The identity's log ID (a libp2p peer ID). */
  readonly id: string
  readonly identity: LogKey
  readonly eventStore: EventStore
  /** Add to the store's middleware: `middleware: (d) => d().concat(peer.middleware)`. */
  readonly middleware: Middleware
  /** Every applied event of every thread, local and remote, in apply order. */
  readonly events$: Observable<AppliedEvent>
  /** Create a new thread holding `slices`. */
  createThread(options: ThreadOptions & { variant?: Variant }): Promise<Thread>
  /**
   * Open a thread held in storage, or join one whose keys you were given: its slices are
   * restored from the newest snapshot and the events after it, without any network.
   */
  openThread(id: ThreadId | string, options: ThreadOptions & { key?: ThreadKey }): Promise<Thread>
  /** A thread opened by this peer. */
  thread(id: ThreadId | string): Thread | undefined
  /** IDs of every thread in storage. */
  storedThreads(): ThreadId[]
  /** The status stream of an opened thread. */
  status$(id: ThreadId | string): Observable<ThreadStatus>
  /** Resolves when everything written so far is durable. */
  flush(): Promise<void>
  /** Join a thread from an invite string; `follow` invites need no slices. */
  joinThread(invite: string, options?: Partial<ThreadOptions>): Promise<Thread>
  /** The network adapter, when the peer has one. */
  readonly network: NetworkAdapter | undefined
  /** Addresses other peers can dial (multiaddrs with `/p2p/`); empty without a network. */
  addresses(): string[]
  /** Dial a peer by multiaddr (with `/p2p/<peer>`). */
  connect(addr: string): Promise<void>
  /** Run a sync round now: dial known addresses, exchange heads, pull what is missing. */
  syncNow(): Promise<void>
  /** Resolves when this peer has no sync work under way and its writes are durable. */
  idle(): Promise<void>
  close(): Promise<void>
}

/** How long addresses learnt from an invite stay in the address book (ms). */
export const INVITE_ADDR_TTL = 24 * 60 * 60 * 1000

const durables = new WeakMap<object, Promise<void>>()

/**
 * The promise that a dispatched command is durable (stored in this peer's log).
 *
 * @example
 * ```ts
 * import { durable } from 'redux-threads'
 * await durable(store.dispatch(todos.actions.added('milk')))
 * ```
 */
export function durable(dispatched: unknown): Promise<void> {
  return (typeof dispatched === 'object' && dispatched !== null ? durables.get(dispatched) : undefined) ?? Promise.resolve()
}

const IDENTITY_KEY = ['i']

const actions = new WeakMap<ThreadEvent, EventAction>()

/** The action of an event (made once per event: the middleware, events$ and folds share it). */
function eventAction(e: ThreadEvent): EventAction {
  let action = actions.get(e)
  if (action === undefined) actions.set(e, (action = makeEventAction(e)))
  return action
}

function makeEventAction(e: ThreadEvent): EventAction {
  const c = e.command
  const userMeta = typeof c.meta === 'object' && c.meta !== null ? (c.meta as Record<string, unknown>) : {}
  const action: Record<string, unknown> = { type: c.type, payload: c.payload, meta: { ...userMeta, event: e.meta } }
  if (c.error !== undefined) action.error = c.error
  return action as unknown as EventAction
}

function commandOf(action: UnknownAction): Command {
  const { type, payload, meta, error } = action as UnknownAction & { payload?: unknown; meta?: unknown; error?: boolean }
  return { type, payload, meta, ...(error === undefined ? {} : { error }) }
}

function hasEventMeta(action: UnknownAction): boolean {
  const meta = (action as { meta?: { event?: unknown } }).meta
  return typeof meta === 'object' && meta !== null && typeof meta.event === 'object'
}

interface Binding {
  readonly thread: Thread
  readonly engine: ThreadEngine<SliceStates>
  readonly slices: readonly ThreadSliceLike[]
  readonly status: StatusTracker
}

/**
 * Create a peer: an identity, an event store, and Redux middleware that turns thread slice
 * actions into signed, encrypted events and peer events into state.
 *
 * @example
 * ```ts
 * import { configureStore } from '@reduxjs/toolkit'
 * import { createPeer, createThreadSlice } from 'redux-threads'
 * import { levelStorage } from 'redux-threads/level'
 *
 * const peer = await createPeer({ storage: levelStorage('./data') })
 * const store = configureStore({ reducer: { todos: todos.reducer }, middleware: (d) => d().concat(peer.middleware) })
 * const thread = await peer.createThread({ slices: [todos] })
 * store.dispatch(todos.actions.added('milk'))   // signed, stored, applied
 * ```
 */
export async function createPeer(options: PeerOptions = {}): Promise<Peer> {
  const storage = options.storage ?? memoryStorage()
  // One peer per storage: a second one would take the same identity and fork its logs.
  await storage.acquire?.()
  const eventStore = await EventStore.open(storage, options.now === undefined ? {} : { now: options.now })
  let identity = options.identity
  if (identity === undefined) {
    const seed = await storage.get(IDENTITY_KEY)
    identity = seed === undefined ? generateLogKey() : logKeyFromSeed(seed)
    if (seed === undefined) await storage.batch([{ type: 'put', key: IDENTITY_KEY, value: identity.seed }])
  }
  const me = identity
  const network = options.network?.({ identity: me })
  if (network !== undefined && network !== null) await network.start()
  const engineOptions = {
    ...(options.snapshotEvery === undefined ? {} : { snapshotEvery: options.snapshotEvery }),
    ...(options.checkpoints === undefined ? {} : { checkpoints: options.checkpoints }),
    ...(options.now === undefined ? {} : { now: options.now }),
    ...(options.compactOnSnapshot === undefined ? {} : { compactOnSnapshot: options.compactOnSnapshot })
  }
  const bindings = new Map<string, Binding>()
  const commandIndex = new Map<string, Binding>()
  const events$ = new Subject<AppliedEvent>()
  let api: MiddlewareAPI | undefined
  const pendingInstalls = new Set<Binding>()
  let warnedMount = false

  const sync =
    network === undefined
      ? undefined
      : new SyncService({
          network,
          // Engines are sync targets as they are (structurally): the net layer never sees the class.
          host: {
            target: (tid) => bindings.get(tid)?.engine,
            targets: () => [...bindings.values()].map((b) => b.engine)
          },
          addrBook: logstoreAddressBook(eventStore.logstore),
          ...(options.syncIntervalMs === undefined ? {} : { intervalMs: options.syncIntervalMs })
        })
  /** Errors an engine refused and reported itself: the sync service's strike must not count them again. */
  const reportedByEngine = new WeakSet<object>()
  if (sync !== undefined) {
    sync.events.on('peers', ({ threadId, peers }) => bindings.get(threadId)?.status.setPeers(peers))
    sync.events.on('error', ({ error }) => {
      if (reportedByEngine.has(error)) return
      // A refusal that names a thread goes to that thread's status; others to every thread's.
      const target = error.threadId === undefined ? undefined : bindings.get(error.threadId)
      for (const b of target === undefined ? bindings.values() : [target]) b.engine.events.emit('rejected', error)
    })
    await sync.start()
  }

  const storedRole = async (id: ThreadId): Promise<Role> => {
    const t = eventStore.logstore.getThread(id)
    const r = await eventStore.logstore.metadata.getString(t.n, 'role')
    if (r === 'follow' || r === 'read' || r === 'write') return r
    return t.key.read === undefined ? 'follow' : 'write'
  }

  const dispatchApplied = (b: Binding, reason: AppliedReason, events: readonly ThreadEvent[], state: SliceStates, replayed: number): void => {
    if (api === undefined) {
      pendingInstalls.add(b)
      return
    }
    const action = threadApplied({ threadId: b.engine.id, reason, actions: events.map(eventAction), replayed })
    const overrides = new Map<string, unknown>(b.slices.map((s) => [s.reducerPath, state[s.reducerPath]]))
    api.dispatch(attachOverrides(action, overrides))
    if (!warnedMount && process.env.NODE_ENV !== 'production') {
      const root = api.getState() as Record<string, unknown>
      for (const s of b.slices) {
        if (root[s.reducerPath] !== state[s.reducerPath]) {
          warnedMount = true
          console.error(
            `redux-threads: thread slice \`${s.name}\` must be mounted at \`state.${s.reducerPath}\` (its reducerPath). ` +
              `Add \`${s.reducerPath}: ${s.name}.reducer\` to configureStore's \`reducer\`.`
          )
        }
      }
    }
  }

  const flushInstalls = (): void => {
    if (api === undefined || pendingInstalls.size === 0) return
    const list = [...pendingInstalls]
    pendingInstalls.clear()
    for (const b of list) dispatchApplied(b, 'open', [], b.engine.state, 0)
  }

  const selectThread = (b: Binding): SliceStates => {
    const root = (api as MiddlewareAPI).getState() as Record<string, unknown>
    const out: Record<string, unknown> = {}
    for (const s of b.slices) out[s.reducerPath] = root[s.reducerPath]
    return out
  }

  const middleware: Middleware = (storeApi) => {
    if (api !== undefined) {
      throw new TypeError('`peer.middleware` is already part of a store: a peer projects its threads into one Redux store. Create one peer per store.')
    }
    api = storeApi
    return (next) => (action) => {
      flushInstalls()
      if (!isAction(action) || hasEventMeta(action)) return next(action)
      const b = commandIndex.get(action.type)
      if (b === undefined) {
        const slice = threadSliceOf(action.type)
        // Applied here alone, it would make this store's state differ from the thread forever.
        if (slice !== undefined) {
          throw new TypeError(
            `\`${action.type}\` is a command of thread slice \`${slice}\`, which is not bound to an open thread of this peer. ` +
              'Call `peer.createThread`, `peer.openThread` or `peer.joinThread` with `slices: [' + slice + ']` (and await it) before dispatching.'
          )
        }
        return next(action)
      }
      let dispatched: unknown
      const result = b.engine.command(commandOf(action), (event) => {
        // The canonical command (as every peer decodes it), with the event's meta.
        dispatched = next(eventAction(event))
        return selectThread(b)
      })
      if (typeof dispatched === 'object' && dispatched !== null) durables.set(dispatched, result.durable)
      durables.set(action, result.durable)
      return dispatched
    }
  }

  const project = (slices: readonly ThreadSliceLike[]) => ({
    initial: Object.fromEntries(slices.map((s) => [s.reducerPath, s.getInitialState()])) as SliceStates,
    fold: (state: SliceStates, e: ThreadEvent): SliceStates => {
      const action = eventAction(e) as unknown as UnknownAction
      let out: Record<string, unknown> | undefined
      for (const s of slices) {
        const prev = state[s.reducerPath]
        const next = s.project(prev as never, action)
        if (next !== prev) (out ??= { ...state })[s.reducerPath] = next
      }
      return out ?? state
    }
  })

  /** Misuse is refused before anything is written (no orphan thread in storage). */
  const checkBindable = (id: ThreadId | undefined, slices: readonly ThreadSliceLike[]): void => {
    if (id !== undefined && bindings.has(id.toString())) throw new TypeError(`thread ${id.toString()} is already open on this peer`)
    for (const s of slices) {
      for (const type of s.commandTypes) {
        if (commandIndex.has(type)) throw new TypeError(`slice \`${s.name}\` already belongs to an open thread: a thread slice feeds one thread per peer`)
      }
    }
  }

  const bind = async (id: ThreadId, options: ThreadOptions, role: Role): Promise<Thread> => {
    checkBindable(id, options.slices)
    const info = eventStore.logstore.getThread(id)
    await eventStore.logstore.metadata.putString(info.n, 'role', role)
    if (role === 'write' && info.key.read !== undefined && eventStore.logstore.ownLog(id) === undefined) {
      await eventStore.logstore.addLog(id, me.id, me)
    }
    const engine = await ThreadEngine.open<SliceStates>({
      store: eventStore,
      threadId: id,
      projection: project(options.slices),
      ...engineOptions,
      ...(options.onProgress === undefined ? {} : { onProgress: options.onProgress })
    })
    engine.events.on('rejected', (e) => reportedByEngine.add(e))
    const status = trackStatus(engine)
    // Damage found while opening (keys, heads, records, snapshot) reaches status$ now it listens.
    engine.reportDamage()
    const thread: Thread = {
      id,
      key: engine.thread.key,
      engine,
      status$: status.status$,
      transaction: <T>(fn: () => T): Promise<T> => {
        try {
          const { result, durable: d } = engine.transaction(fn, (state) => dispatchApplied(binding, 'rollback', [], state, 0))
          return d.then(() => result)
        } catch (e) {
          return Promise.reject(e)
        }
      },
      ingest: (logId, blocks) => engine.ingest(logId, blocks),
      heads: () => engine.heads(),
      recordsSince: async (theirs) => {
        const out: Array<{ logId: string; blocks: RecordBlocks[] }> = []
        for (const [logId, head] of engine.heads()) {
          const from = (theirs.get(logId) ?? 0) + 1
          if (from > head.seq) continue
          const records = await eventStore.records(id, logId, { from })
          out.push({ logId, blocks: records.map(recordBlocks) })
        }
        return out
      },
      flush: () => engine.flush(),
      snapshot: () => engine.snapshot(),
      compact: () => engine.compact(),
      role,
      invite: (o = {}) =>
        createInvite({
          threadId: id,
          key: engine.thread.key,
          role: o.role ?? 'write',
          // An invite holds at most MAX_INVITE_ADDRS addresses: a peer listening on every
          // interface of a large machine has more.
          addrs: (network?.addresses() ?? []).slice(0, MAX_INVITE_ADDRS),
          from: me.id,
          ...(o.to === undefined ? {} : { to: o.to })
        }),
      peers: () => sync?.peersOf(id.toString()) ?? []
    }
    const binding: Binding = { thread, engine, slices: options.slices, status }
    bindings.set(id.toString(), binding)
    for (const s of options.slices) for (const type of s.commandTypes) commandIndex.set(type, binding)
    engine.events.on('applied', ({ events, state, replayed }) => {
      for (const e of events) events$.next({ action: eventAction(e), meta: e.meta })
      const local = events.length === 1 && (events[0] as ThreadEvent).meta.local && !replayed
      if (!local) dispatchApplied(binding, replayed ? 'replay' : 'remote', events, state, replayed ? engine.timeline.length : 0)
    })
    dispatchApplied(binding, 'open', [], engine.state, 0)
    sync?.addThread(engine)
    return thread
  }

  const getBinding = (id: ThreadId | string): Binding => {
    const b = bindings.get(id.toString())
    if (b === undefined) throw new NotFoundError('the thread is not open on this peer (peer.openThread)', { threadId: id.toString() })
    return b
  }

  return {
    id: me.id,
    identity: me,
    eventStore,
    middleware,
    events$: events$.asObservable(),
    async createThread(opts) {
      checkBindable(undefined, opts.slices)
      const id = ThreadId.create(opts.variant ?? Variant.Raw)
      await eventStore.logstore.addThread(id, createThreadKey())
      return bind(id, opts, 'write')
    },
    async openThread(idIn, opts) {
      const id = ThreadId.from(idIn)
      checkBindable(id, opts.slices)
      if (opts.key !== undefined) {
        await eventStore.logstore.addThread(id, opts.key)
        return bind(id, opts, opts.key.read === undefined ? 'follow' : 'write')
      }
      if (eventStore.logstore.thread(id) === undefined) {
        throw new NotFoundError('the thread is not in storage; pass its `key` to join it', { threadId: id.toString() })
      }
      const thread = await bind(id, opts, await storedRole(id))
      // Redial the peers in the address book now, not a sync interval later. Not awaited: a dead
      // address must not hold up opening from storage.
      void sync?.syncNow().catch(() => undefined)
      return thread
    },
    async joinThread(text, opts = {}) {
      // Everything that can refuse the invite runs before the first write: openInvite validates
      // the whole invite (throwing only InvalidInviteError), so a bad one leaves no thread behind.
      const invite = openInvite(text, me)
      checkBindable(invite.threadId, opts.slices ?? [])
      // The peer each address reaches is its last /p2p/ (earlier ones are relays). openInvite has
      // parsed every address already; an address that still will not parse is skipped, never thrown.
      const learnt: Array<{ peerId: string; addr: string }> = []
      for (const addr of invite.addrs) {
        let peerId: string | undefined
        try {
          peerId = multiaddr(addr)
            .getComponents()
            .filter((c) => c.name === 'p2p')
            .at(-1)?.value
        } catch {
          continue
        }
        if (peerId !== undefined && peerId !== me.id) learnt.push({ peerId, addr })
      }
      const info = await eventStore.logstore.addThread(invite.threadId, invite.key)
      for (const { peerId, addr } of learnt) await eventStore.logstore.addrs.addAddrs(info.n, peerId, [addr], INVITE_ADDR_TTL)
      const thread = await bind(invite.threadId, { slices: opts.slices ?? [], ...(opts.onProgress === undefined ? {} : { onProgress: opts.onProgress }) }, invite.role)
      await sync?.syncNow()
      return thread
    },
    network,
    addresses: () => network?.addresses() ?? [],
    async connect(addr) {
      if (network === undefined) throw new TypeError('this peer has no network: pass `network` to createPeer')
      // The last /p2p/ names the peer reached; earlier ones are relays.
      const peerId = multiaddr(addr).getComponents().filter((c) => c.name === 'p2p').at(-1)?.value
      if (peerId === undefined) throw new TypeError(`the address needs a /p2p/<peer id> component: ${addr}`)
      await network.dial(peerId, [addr])
    },
    syncNow: async () => {
      await sync?.syncNow()
    },
    async idle() {
      await sync?.idle()
      await Promise.all([...bindings.values()].map((b) => b.engine.flush()))
    },
    thread: (id) => bindings.get(id.toString())?.thread,
    storedThreads: () => eventStore.logstore.threads().map((t) => t.id),
    status$: (id) => getBinding(id).status.status$,
    async flush() {
      await Promise.all([...bindings.values()].map((b) => b.engine.flush()))
    },
    async close() {
      await Promise.all([...bindings.values()].map((b) => b.engine.flush()))
      await sync?.stop()
      await network?.stop()
      for (const b of bindings.values()) b.status.stop()
      events$.complete()
      await eventStore.close()
    }
  }
}
