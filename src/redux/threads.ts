import { multiaddr } from '@multiformats/multiaddr'
import { MAX_INVITE_ADDRS, createInvite, openInvite, type Role } from '../acl/invite.js'
import { ClosedError, NotFoundError } from '../core/errors.js'
import { createThreadKey, type ThreadKey } from '../core/keys.js'
import { ThreadId, Variant } from '../core/threadId.js'
import { ThreadEngine } from '../engine/threadEngine.js'
import type { Progress } from '../engine/engineTypes.js'
import { trackStatus } from '../rx/threadStatus.js'
import type { ThreadSliceLike } from './createThreadSlice.js'
import type { StoreLink } from './middleware.js'
import { projectionOf, shareStates, type SliceStates } from './projection.js'
import type { Binding, ThreadRegistry } from './registry.js'
import type { PeerRuntime, Started } from './runtime.js'
import type { StatusFeed } from './statusFeed.js'

/** How long addresses learnt from an invite stay in the address book (ms). */
export const INVITE_ADDR_TTL = 24 * 60 * 60 * 1000

/** What opening a thread takes. */
export interface OpenOptions {
  /** The thread slices whose state this thread holds. An unkeyed slice feeds one thread per peer. */
  readonly slices: readonly ThreadSliceLike[]
  /** Long work (loading events) reports here as well as in the thread's status. */
  readonly onProgress?: (p: Progress) => void
}

/**
 * Opening, joining, leaving and deleting threads: everything between storage, engines, the sync
 * service and the registry. The thunks are thin wrappers over this.
 */
export class ThreadLifecycle {
  readonly #runtime: PeerRuntime
  readonly #registry: ThreadRegistry
  readonly #link: StoreLink
  readonly #feed: StatusFeed
  readonly #reportedByEngine: WeakSet<object>

  constructor(parts: { runtime: PeerRuntime; registry: ThreadRegistry; link: StoreLink; feed: StatusFeed; reportedByEngine: WeakSet<object> }) {
    this.#runtime = parts.runtime
    this.#registry = parts.registry
    this.#link = parts.link
    this.#feed = parts.feed
    this.#reportedByEngine = parts.reportedByEngine
  }

  async #started(): Promise<Started> {
    const s = await this.#runtime.start()
    if (this.#runtime.closed) throw new ClosedError('the peer is closed')
    return s
  }

  /** A new thread holding `slices`, with this peer as its first writer. */
  async create(options: OpenOptions & { variant?: Variant }): Promise<Binding> {
    const s = await this.#started()
    this.#registry.checkBindable(undefined, options.slices)
    const id = ThreadId.create(options.variant ?? Variant.Raw)
    await s.eventStore.logstore.addThread(id, createThreadKey())
    return this.#bind(s, id, options, 'write', false)
  }

  /**
   * A thread held in storage (restored from its newest snapshot and the events after it, with no
   * network), or one whose keys the caller has.
   */
  async open(idIn: string, options: OpenOptions & { key?: ThreadKey }): Promise<Binding> {
    const s = await this.#started()
    const id = ThreadId.from(idIn)
    this.#registry.checkBindable(id.toString(), options.slices)
    if (options.key !== undefined) {
      await s.eventStore.logstore.addThread(id, options.key)
      return this.#bind(s, id, options, options.key.read === undefined ? 'follow' : 'write', !s.identityIsNew)
    }
    if (s.eventStore.logstore.thread(id) === undefined) throw new NotFoundError('the thread is not in storage; pass its `key`, or join it with an invite', { threadId: id.toString() })
    const role = await this.#storedRole(s, id)
    const b = await this.#bind(s, id, options, role, false)
    // Redial the peers in the address book now, not a sync interval later; a dead address must
    // not hold up opening from storage.
    void s.sync?.syncNow().catch(() => undefined)
    return b
  }

  /**
   * Join from an invite (paper section 3.2.3): everything in it is checked before anything is
   * stored; its addresses go to the address book; a write invite opens this peer's own log.
   */
  async join(text: string, options: Partial<OpenOptions>): Promise<Binding> {
    const s = await this.#started()
    const invite = openInvite(text, s.identity)
    const slices = options.slices ?? []
    this.#registry.checkBindable(invite.threadId.toString(), slices)
    // The peer each address reaches is its last /p2p/ (earlier ones are relays). The invite was
    // validated whole, so nothing here can throw after the thread is stored.
    const learnt: Array<{ peerId: string; addr: string }> = []
    for (const addr of invite.addrs) {
      const peerId = multiaddr(addr).getComponents().filter((c) => c.name === 'p2p').at(-1)?.value
      if (peerId !== undefined && peerId !== s.identity.id) learnt.push({ peerId, addr })
    }
    const info = await s.eventStore.logstore.addThread(invite.threadId, invite.key)
    for (const { peerId, addr } of learnt) await s.eventStore.logstore.addrs.addAddrs(info.n, peerId, [addr], INVITE_ADDR_TTL)
    const b = await this.#bind(s, invite.threadId, { slices, ...(options.onProgress === undefined ? {} : { onProgress: options.onProgress }) }, invite.role, !s.identityIsNew)
    await s.sync?.syncNow()
    return b
  }

  /** An invite string for another peer: the thread ID, this peer's addresses, and the keys the role grants. */
  async invite(threadId: string, role: Role, to?: string): Promise<string> {
    const s = await this.#started()
    const b = this.#get(threadId)
    return createInvite({
      threadId: b.engine.thread.id,
      key: b.engine.thread.key,
      role,
      // An invite holds at most MAX_INVITE_ADDRS addresses: a peer listening on every interface has more.
      addrs: (s.network?.addresses() ?? []).slice(0, MAX_INVITE_ADDRS),
      from: s.identity.id,
      ...(to === undefined ? {} : { to })
    })
  }

  /**
   * Stop projecting and syncing a thread. With `delete`, also remove its keys, records, heads,
   * snapshots, addresses and proofs from storage; its commands are refused from then on
   * (`ThreadDeletedError`). Without, it stays in storage and can be opened again.
   */
  async close(threadId: string, options: { delete?: boolean } = {}): Promise<void> {
    const s = await this.#started()
    const b = this.#get(threadId)
    await b.engine.flush().catch(() => undefined)
    s.sync?.removeThread?.(threadId)
    this.#registry.unbind(threadId, options.delete === true)
    b.stop()
    this.#feed.forget(threadId)
    const initial = Object.fromEntries(b.slices.map((sl) => [sl.reducerPath, sl.initialThreadState()]))
    this.#link.applied(b, 'close', [], initial)
    if (options.delete === true) await s.eventStore.logstore.deleteThread(threadId)
  }

  #get(threadId: string): Binding {
    const b = this.#registry.get(threadId)
    if (b === undefined) throw new NotFoundError('the thread is not open on this peer', { threadId })
    return b
  }

  async #storedRole(s: Started, id: ThreadId): Promise<Role> {
    const t = s.eventStore.logstore.getThread(id)
    const r = await s.eventStore.logstore.metadata.getString(t.n, 'role')
    if (r === 'follow' || r === 'read' || r === 'write') return r
    return t.key.read === undefined ? 'follow' : 'write'
  }

  /**
   * Open the thread's engine and bind it. `recoverOwnLog`: this identity may have written to the
   * thread before (it did not start with this storage), so its own log is pulled from peers
   * before it writes.
   */
  async #bind(s: Started, id: ThreadId, options: OpenOptions, role: Role, recoverOwnLog: boolean): Promise<Binding> {
    const { eventStore } = s
    const info = eventStore.logstore.getThread(id)
    await eventStore.logstore.metadata.putString(info.n, 'role', role)
    const fresh = role === 'write' && info.key.read !== undefined && eventStore.logstore.ownLog(id) === undefined
    if (fresh) await eventStore.logstore.addLog(id, s.identity.id, s.identity)
    const projection = projectionOf(options.slices)
    const o = this.#runtime.options
    const engine = await ThreadEngine.open<SliceStates>({
      store: eventStore,
      threadId: id,
      projection,
      version: projection.version,
      share: shareStates,
      ...(o.snapshotEvery === undefined ? {} : { snapshotEvery: o.snapshotEvery }),
      ...(o.checkpoints === undefined ? {} : { checkpoints: o.checkpoints }),
      ...(o.now === undefined ? {} : { now: o.now }),
      ...(o.compactOnSnapshot === undefined ? {} : { compactOnSnapshot: o.compactOnSnapshot }),
      ...(options.onProgress === undefined ? {} : { onProgress: options.onProgress })
    })
    if (fresh && recoverOwnLog && s.sync !== undefined) engine.recoverOwnLog()
    const status = trackStatus(engine)
    const offs: Array<() => void> = []
    const binding: Binding = {
      threadId: id.toString(),
      engine,
      slices: options.slices,
      role,
      status,
      stop: () => {
        for (const off of offs) off()
        status.stop()
      }
    }
    offs.push(
      engine.events.on('rejected', (e) => this.#reportedByEngine.add(e)),
      engine.events.on('applied', ({ events, state, replayed }) => this.#link.applied(binding, replayed ? 'replay' : 'remote', events, state)),
      this.#feed.watch(binding)
    )
    // Damage found while opening (keys, heads, records, snapshot) reaches the status now it listens.
    engine.reportDamage()
    this.#registry.bind(binding)
    this.#link.applied(binding, 'open', [], engine.state)
    s.sync?.addThread(engine)
    return binding
  }
}
