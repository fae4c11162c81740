import type { Role } from '../acl/invite.js'
import { loadPart } from '../engine/loadPart.js'
import { ClosedError, MisuseError, NotFoundError, ThreadsError } from '../core/errors.js'
import { nextMacrotask } from '../platform/scheduler.js'
import type { AclDocument, AclScope, AclState } from '../acl/aclProjection.js'
import type { AclRole } from '../acl/roles.js'
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
import { isAclState } from './access.js'

/** The access-control half (aclParts.ts): loaded for access-controlled threads only. */
function loadAcl(): Promise<typeof import('./aclParts.js')> {
  return loadPart('access control (redux-p2p-threads aclParts chunk)', () => import('./aclParts.js'))
}

/** How long addresses learnt from an invite stay in the address book (ms). */
export const INVITE_ADDR_TTL = 24 * 60 * 60 * 1000

/** A change to an access-controlled thread's ACL. */
export type AclChange =
  | { readonly kind: 'grant'; readonly peer: string; readonly roles: readonly AclRole[]; readonly scope?: AclScope; readonly fromSeq?: number }
  | { readonly kind: 'revoke'; readonly peer: string; readonly roles: readonly AclRole[]; readonly scope?: AclScope }
  | { readonly kind: 'default'; readonly roles: readonly AclRole[]; readonly scope?: AclScope }
  | { readonly kind: 'delete'; readonly event: string }

function docOf(acl: AclState, scope: AclScope): AclDocument {
  if (scope === 'thread') return acl.thread
  if (scope === 'admin') return acl.admin
  return acl.entities[scope.entity] ?? { default: ['no-access'], peers: {} }
}

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

  /**
   * A new thread holding `slices`, with this peer as its first writer. An access-controlled one
   * (`Variant.AccessControlled`) has an ID that commits to this peer as its owner, and its first
   * event founds the ACL (the owner holds write and delete, and alone may change the ACL).
   */
  async create(options: OpenOptions & { variant?: Variant }): Promise<Binding> {
    const s = await this.#started()
    this.#registry.checkBindable(undefined, options.slices)
    const aclParts = options.variant === Variant.AccessControlled ? await loadAcl() : undefined
    const acl = aclParts?.createAclThreadId(s.identity.id)
    const id = acl?.threadId ?? ThreadId.create(options.variant ?? Variant.Raw)
    await s.eventStore.logstore.addThread(id, createThreadKey())
    const b = await this.#bind(s, id, options, 'write', false)
    if (acl !== undefined && aclParts !== undefined) await b.engine.command({ type: `${aclParts.ACL_PREFIX}init`, payload: { salt: acl.salt } }).durable
    return b
  }

  /**
   * Change an access-controlled thread's ACL with one of its own events: grant or revoke roles,
   * set a default, delete an event. Refused before it is signed when this peer may not
   * (`AccessDeniedError`). Revoking a peer's read access rotates the read key: the new key is
   * sealed to every remaining reader in the revocation, and this peer seals what it writes next
   * under it.
   */
  async changeAcl(threadId: string, change: AclChange): Promise<void> {
    await this.#started()
    const b = this.#get(threadId)
    const acl = b.engine.system
    if (!isAclState(acl)) throw new MisuseError('the thread has no ACL: create it with `variant: Variant.AccessControlled`', { threadId })
    const { ACL_PREFIX, grants, rolesIn } = await loadAcl()
    let payload: Record<string, unknown>
    if (change.kind === 'delete') {
      // Where the event is: every peer can tell whether it lies in its compacted base.
      const target = b.engine.timeline.events.find((e) => e.meta.id === change.event)?.meta
      payload = { event: change.event, ...(target === undefined ? {} : { log: target.logId, seq: target.seq }) }
    } else if (change.kind === 'default') {
      payload = { roles: change.roles }
    } else {
      const scope = change.scope ?? 'thread'
      const had = rolesIn(docOf(acl, scope), change.peer)
      // The last record of the peer's log applied here: its records after it are cut. Applied,
      // not stored, so a transaction is never split.
      const lastSeq = b.engine.appliedSeq(change.peer)
      payload = { peer: change.peer, roles: change.roles }
      if (change.kind === 'revoke') payload.lastSeq = lastSeq
      else if (scope === 'thread' && grants(had, 'write') && !grants(change.roles, 'write')) payload.lastSeq = lastSeq
      else if (scope === 'thread' && grants(change.roles, 'write')) {
        // Write granted again after a revocation: its records count again from its next one.
        const fromSeq = change.fromSeq ?? (Object.hasOwn(acl.cuts, change.peer) ? lastSeq + 1 : undefined)
        if (fromSeq !== undefined) payload.fromSeq = fromSeq
      }
    }
    if (change.kind !== 'delete' && change.scope !== undefined) payload.scope = change.scope
    await b.engine.command({ type: `${ACL_PREFIX}${change.kind}`, payload }).durable
    await this.#rotateIfNeeded(b)
  }

  /**
   * The owner rotates the read key when a peer that may hold it no longer reads (revoked by the
   * owner or by an admin): the new key is sealed to every reader named in the ACL, in a `rotate`
   * event sealed under the old key (the readers need it to find theirs); what the owner writes
   * next is sealed under the new one. Likewise the service key when a holder lost follow
   * (`planRotation`). Only the owner rotates, so epochs never compete.
   */
  async #rotateIfNeeded(b: Binding): Promise<void> {
    // One at a time per thread: the new service key is kept (awaited) before the rotate event is
    // written, and two rotations planned meanwhile would name the same epoch.
    const run = (this.#rotating.get(b) ?? Promise.resolve()).then(() => this.#rotateNow(b))
    this.#rotating.set(
      b,
      run.catch(() => undefined)
    )
    return run
  }

  readonly #rotating = new WeakMap<Binding, Promise<void>>()

  async #rotateNow(b: Binding): Promise<void> {
    const { ACL_PREFIX, needsRotation, planRotation } = await loadAcl()
    const s = this.#runtime.started
    const acl = b.engine.system
    if (s === undefined || !isAclState(acl) || acl.owner !== s.identity.id || !needsRotation(acl)) return
    // The read key, the service key (a member lost follow), or both, in one event; the service
    // rotation rides in the event node, sealed under the current service key (followers open it).
    // Sealed under the key of the newest epoch the ACL admitted; a key already kept for the next
    // epoch (a crash before the rotate record was saved) is reused, so an epoch has one key.
    const keys = b.engine.serviceKeys()
    const plan = planRotation(acl, keys.newest().key, (epoch) => keys.byEpoch(epoch))
    if (plan === undefined) return
    // The new service key is kept first: until the rotate event is folded the ACL does not admit
    // it, so nothing is sealed under it yet; a crash after the record is durable is recovered at
    // open from the owner's own rotate record (the owner seals the rotation to itself).
    if (plan.service !== undefined) await b.engine.addServiceKey(plan.service.epoch, plan.service.key)
    const { durable } = b.engine.command({ type: `${ACL_PREFIX}rotate`, payload: plan.payload }, undefined, plan.service === undefined ? {} : { service: plan.service.box })
    if (plan.read !== undefined) await s.eventStore.logstore.addReadKey(b.threadId, plan.read.epoch, plan.read.key)
    await durable
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
    const { openInvite, multiaddr } = await loadPart('the invite codec', () => import('./inviteParts.js'))
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
    // Read keys of later epochs (the thread's read key was rotated before this peer joined).
    for (const [epoch, key] of invite.epochs) await s.eventStore.logstore.addReadKey(invite.threadId, epoch, key)
    // Service keys of later epochs (a member lost follow before this peer joined): candidates for
    // opening records; this peer seals under one only once its ACL fold admits that key.
    for (const [epoch, key] of invite.services) await s.eventStore.logstore.addServiceKey(invite.threadId, epoch, key)
    for (const { peerId, addr } of learnt) await s.eventStore.logstore.addrs.addAddrs(info.n, peerId, [addr], INVITE_ADDR_TTL)
    const b = await this.#bind(s, invite.threadId, { slices, ...(options.onProgress === undefined ? {} : { onProgress: options.onProgress }) }, invite.role, !s.identityIsNew)
    await s.sync?.syncNow()
    return b
  }

  /**
   * An invite string for another peer: the thread ID, this peer's addresses, and the keys the
   * role grants. In an access-controlled thread the invitee is added to the ACL first (by this
   * peer, which must be entitled to), so the invite must name it (`to`).
   */
  async invite(threadId: string, role: Role, to?: string): Promise<string> {
    const s = await this.#started()
    const { createInvite, MAX_INVITE_ADDRS } = await loadPart('the invite codec', () => import('./inviteParts.js'))
    const b = this.#get(threadId)
    if (b.engine.thread.id.variant === Variant.AccessControlled) {
      if (to === undefined) throw new MisuseError('an access-controlled thread invites a named peer: pass `to` (its peer ID), so it can be added to the ACL', { threadId })
      await this.changeAcl(threadId, { kind: 'grant', peer: to, roles: [role] })
    }
    return createInvite({
      threadId: b.engine.thread.id,
      key: b.engine.thread.key,
      role,
      // An invite holds at most MAX_INVITE_ADDRS addresses: a peer listening on every interface has more.
      addrs: (s.network?.addresses() ?? []).slice(0, MAX_INVITE_ADDRS),
      from: s.identity.id,
      // Rotated read keys: a reader added after a rotation reads what was written since.
      epochs: [...(s.eventStore.logstore.thread(threadId)?.readKeys ?? new Map<number, Uint8Array>())].sort((a, b) => a[0] - b[0]),
      // Rotated service keys, those the ACL admitted (a key an invite planted is not passed on).
      services: b.engine.invitableServiceKeys(),
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
    // In an ACL thread the ACL, not the invite, says who writes: a reader gets a log too, so a
    // later grant of write needs no new invite (its commands are refused until then).
    const writes = role === 'write' || (role === 'read' && id.variant === Variant.AccessControlled)
    const fresh = writes && info.key.read !== undefined && eventStore.logstore.ownLog(id) === undefined
    if (fresh) await eventStore.logstore.addLog(id, s.identity.id, s.identity)
    const projection = projectionOf(options.slices)
    const o = this.#runtime.options
    const aclParts = id.variant === Variant.AccessControlled ? await loadAcl() : undefined
    const engine = await ThreadEngine.open<SliceStates>({
      store: eventStore,
      threadId: id,
      projection,
      identity: s.identity,
      ...(aclParts === undefined ? {} : { system: aclParts.aclProjection() }),
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
    if (aclParts !== undefined) {
      const { needsRotation } = aclParts
      // The owner's peer rotates the read key when an admin's revocation (or a late one) left a
      // key holder without read: after the turn that applied it, never inside the engine's event.
      let scheduled = false
      offs.push(
        engine.events.on('applied', () => {
          const acl = engine.system
          if (scheduled || !isAclState(acl) || acl.owner !== s.identity.id || !needsRotation(acl)) return
          scheduled = true
          nextMacrotask(() => {
            scheduled = false
            if (this.#registry.get(binding.threadId) !== binding) return
            this.#rotateIfNeeded(binding).catch((e: unknown) => engine.events.emit('rejected', e instanceof ThreadsError ? e : new ThreadsError(`key rotation failed: ${String(e)}`, { threadId: binding.threadId }, { cause: e })))
          })
        })
      )
    }
    // Damage found while opening (keys, heads, records, snapshot) reaches the status now it listens.
    engine.reportDamage()
    this.#registry.bind(binding)
    this.#link.applied(binding, 'open', [], engine.state)
    s.sync?.addThread(engine)
    return binding
  }
}
