import { AccessDeniedError, type ThreadsError } from '../core/errors.js'
import { getCrypto } from '../core/crypto/index.js'
import { ownerCommitment } from '../core/serviceRotation.js'
import { ThreadId } from '../core/threadId.js'
import { mergePatch } from '../core/mergePatch.js'
import { inCuts, type CutRange, type SystemProjection } from '../engine/system.js'
import type { ThreadEvent } from '../engine/threadEvent.js'
import { grants, isAclRole, normalRoles, roleOf, rolesIn, type AclRole } from './roles.js'
import { MAX_SERVICE_EPOCHS, MAX_SERVICE_ROTATION_PEERS } from '../core/serviceRotation.js'
import { SERVICE_KEY_ID_BYTES } from '../core/serviceKey.js'

/** The prefix of every access-control command type. */
export const ACL_PREFIX = 'redux-threads/acl/'

/**
 * An ACL document (the paper's Example 13): a default role for every peer, and roles delegated to
 * peers by ID. Roles are sets (`["write", "delete"]`).
 */
export interface AclDocument {
  readonly default: readonly AclRole[]
  readonly peers: Readonly<Record<string, readonly AclRole[]>>
}

/** A key rotation: the epoch it starts and the event that carries the new key, sealed per member. */
export interface Rotation {
  readonly epoch: number
  readonly event: string
  /**
   * Service rotations only: the ID of the new key (`serviceKeyId`), when the rotate event names it
   * (the owner's peer always does). A peer that folds the ACL seals under, and proves, only a key
   * with this ID, so a key an invite planted is never its newest.
   */
  readonly id?: Uint8Array
  /** Service rotations only: the log and seq of the record that carries it (the owner's). */
  readonly log?: string
  readonly seq?: number
}

/**
 * The system state of an access-controlled thread, folded from its own events in the total order
 * before the app's slices (DESIGN.md sections 4 and 6).
 */
export interface AclState {
  /** The thread's creator, once its `init` event is folded; nothing is admitted before. */
  readonly owner: string | null
  /** The salt of the owner's `init` (the thread ID commits to the owner with it); a service rotation carries it. */
  readonly salt?: Uint8Array
  /** The thread-level ACL: who may follow, read, write and delete. */
  readonly thread: AclDocument
  /** The ACL's own document ACL (Example 14): `write` here may change any ACL of the thread. */
  readonly admin: AclDocument
  /** Entity-level ACLs, by entity ID: events that target one entity need `write` there too. */
  readonly entities: Readonly<Record<string, AclDocument>>
  /** Per log, the ranges every peer ignores, whatever clock their records claim. */
  readonly cuts: Readonly<Record<string, readonly CutRange[]>>
  /**
   * The cuts the owner made: they remove ACL events too, wherever they sort (the owner's log is
   * never cut, so these follow from the owner's events alone and need no fixpoint).
   */
  readonly ownerCuts: Readonly<Record<string, readonly CutRange[]>>
  /** Events an admitted `delete` marked deleted, by identity, with the log and seq it named. */
  readonly deleted: Readonly<Record<string, DeletedEvent>>
  /**
   * Peers that may hold the newest read key: every peer granted read since the last rotation, and
   * the recipients of that rotation. When one of them no longer reads, the owner rotates.
   */
  readonly keyHolders: Readonly<Record<string, true>>
  /**
   * Peers that may hold the newest service key: every peer granted at least follow since the
   * last service rotation, and the recipients of that rotation. When one of them no longer
   * follows, the owner rotates the service key.
   */
  readonly serviceHolders: Readonly<Record<string, true>>
  /** Key rotations: read and service key epochs, newest last. */
  readonly rotations: { readonly read: readonly Rotation[]; readonly service: readonly Rotation[] }
}

/** An event a `delete` names: its identity, and where the deleter says it is (a hint). */
export interface DeletedEvent {
  readonly logId?: string
  readonly seq?: number
}

const NONE: AclDocument = { default: ['no-access'], peers: {} }

/**
 * A value of a record keyed by untrusted strings, only if it is the record's own: peer IDs and
 * entity names come from events, and `constructor` or `__proto__` must not find Object's.
 */
function own<T>(record: Readonly<Record<string, T>>, key: string): T | undefined {
  return Object.hasOwn(record, key) ? record[key] : undefined
}

/** The state before the `init` event: no one may do anything. */
export const INITIAL_ACL: AclState = { owner: null, thread: NONE, admin: NONE, entities: {}, cuts: {}, ownerCuts: {}, deleted: {}, keyHolders: {}, serviceHolders: {}, rotations: { read: [], service: [] } }

/**
 * The random part of an access-controlled thread's ID commits to its owner:
 * `sha256("redux-threads/acl-owner/v1" ‖ owner public key ‖ salt)`. The owner's `init` event
 * carries the salt, so every peer checks who owns the thread from the ID alone, and nobody else
 * can claim it (an `init` is valid only from the owner's own log). (Defined in `core`: followers
 * check a service rotation's author with it.)
 */
export { ownerCommitment }

/**
 * A new access-controlled thread ID owned by `ownerLogId`, and the salt its `init` event carries
 * (`{ type: 'redux-threads/acl/init', payload: { salt } }`, from the owner's own log).
 */
export function createAclThreadId(ownerLogId: string): { threadId: ThreadId; salt: Uint8Array } {
  const salt = getCrypto().randomBytes(16)
  const commitment = ownerCommitment(ownerLogId, salt)
  const bytes = new Uint8Array(2 + commitment.length)
  bytes[0] = 1
  bytes[1] = 0x70 // Variant.AccessControlled: uvarint(0x70) is one byte
  bytes.set(commitment, 2)
  return { threadId: ThreadId.fromBytes(bytes), salt }
}

/** The document a command scopes: the thread's, the ACL's own, or an entity's. */
export type AclScope = 'thread' | 'admin' | { readonly entity: string }

function docOf(s: AclState, scope: AclScope): AclDocument {
  if (scope === 'thread') return s.thread
  if (scope === 'admin') return s.admin
  return own(s.entities, scope.entity) ?? NONE
}

function withDoc(s: AclState, scope: AclScope, doc: AclDocument): AclState {
  if (scope === 'thread') return { ...s, thread: doc }
  if (scope === 'admin') return { ...s, admin: doc }
  return { ...s, entities: { ...s.entities, [scope.entity]: doc } }
}

export { rolesIn, roleOf } from './roles.js'

/** True when records at `seq` of `logId` are cut (strong remove). */
export function isCut(s: AclState, logId: string, seq: number): boolean {
  return inCuts(s.cuts, logId, seq)
}

function scopeOf(v: unknown): AclScope | undefined {
  if (v === undefined || v === 'thread') return 'thread'
  if (v === 'admin') return 'admin'
  if (typeof v === 'object' && v !== null && Object.hasOwn(v, 'entity') && typeof (v as { entity?: unknown }).entity === 'string') return { entity: (v as { entity: string }).entity }
  return undefined
}

function rolesFrom(v: unknown): AclRole[] | undefined {
  if (!Array.isArray(v) || v.length === 0 || v.length > 5 || !v.every(isAclRole)) return undefined
  return normalRoles(v)
}

function denied(event: ThreadEvent, why: string): ThreadsError {
  const m = event.meta
  return new AccessDeniedError(`${why}: \`${event.command.type}\` is ignored by every peer`, { threadId: m.threadId, logId: m.logId, seq: m.seq, cid: m.id })
}

/** The entity an event targets, if any (`meta.entity` of its command): its entity ACL applies. */
export function entityOf(event: ThreadEvent): string | undefined {
  const meta = event.command.meta
  const entity = typeof meta === 'object' && meta !== null && Object.hasOwn(meta, 'entity') ? (meta as { entity?: unknown }).entity : undefined
  return typeof entity === 'string' ? entity : undefined
}

/** Why an access-control command cannot be folded (its shape or its author's rights), or undefined. */
function refuseAcl(s: AclState, event: ThreadEvent): ThreadsError | undefined {
  const kind = event.command.type.slice(ACL_PREFIX.length)
  const p = (event.command.payload ?? {}) as Record<string, unknown>
  const author = event.meta.author
  if (kind === 'init') {
    if (s.owner !== null) return denied(event, 'the thread has an owner already')
    const salt = p.salt
    if (!(salt instanceof Uint8Array) || salt.length < 16 || salt.length > 64) return denied(event, 'an init carries a salt of 16 to 64 bytes')
    let random: Uint8Array
    try {
      random = ThreadId.parse(event.meta.threadId).random
    } catch {
      return denied(event, 'not a thread ID')
    }
    const commitment = ownerCommitment(author, salt)
    if (random.length !== 32 || !commitment.every((b, i) => b === random[i])) return denied(event, 'the thread ID does not commit to this author as its owner')
    return undefined
  }
  if (s.owner === null) return denied(event, 'the thread has no owner yet')
  if (isCut(s, event.meta.logId, event.meta.seq)) return denied(event, 'the author was removed before this record')
  if (kind === 'delete') {
    if (!grants(roleOf(s, author), 'delete')) return denied(event, 'the author may not delete')
    if (typeof p.event !== 'string' || p.event.length > MAX_ID_CHARS) return denied(event, 'a delete names the event it deletes')
    // And where it is: every peer can tell whether it lies in its compacted base without a fold.
    if (typeof p.log !== 'string' || p.log.length > MAX_ID_CHARS || !isSeq(p.seq) || p.seq === 0) return denied(event, 'a delete names the log and seq of the event it deletes')
    return undefined
  }
  if (kind === 'rotate') {
    // Only the owner rotates: one log, so epochs follow one another and never compete.
    if (author !== s.owner) return denied(event, 'only the owner rotates keys')
    const read = hasRotation(p, 'read')
    const service = hasRotation(p, 'service')
    if (!read && !service) return denied(event, 'rotates no key')
    if (read && rotationOf(p, s) === undefined) return denied(event, 'a rotation names the next epoch and seals its key to peers')
    if (service && serviceRotationOf(p, s) === undefined) return denied(event, 'not the next service epoch')
    return undefined
  }
  if (!grants(rolesIn(s.admin, author), 'write')) return denied(event, 'the author may not change the ACL')
  const scope = scopeOf(p.scope)
  if (scope === undefined) return denied(event, 'unknown ACL scope')
  if (kind === 'grant' || kind === 'revoke') {
    if (typeof p.peer !== 'string' || p.peer.length > MAX_ID_CHARS) return denied(event, 'no peer named')
    // The owner's roles are fixed by the thread ID: nobody changes them, so its log is never cut.
    if (p.peer === s.owner && (scope === 'thread' || scope === 'admin')) return denied(event, 'the owner’s roles cannot change')
    if (rolesFrom(p.roles) === undefined) return denied(event, 'no valid roles')
    if (p.lastSeq !== undefined && !isSeq(p.lastSeq)) return denied(event, 'lastSeq is a seq')
    if (p.fromSeq !== undefined && !isSeq(p.fromSeq)) return denied(event, 'fromSeq is a seq')
    return undefined
  }
  if (kind === 'default') return rolesFrom(p.roles) === undefined ? denied(event, 'no valid roles') : undefined
  return denied(event, 'unknown access-control command')
}

const MAX_ID_CHARS = 128
/** Most peers one rotation seals the new key to, and the largest box it may carry each. */
const MAX_ROTATION_PEERS = 10_000
const MAX_SEALED_BYTES = 256

function isSeq(v: unknown): v is number {
  return typeof v === 'number' && Number.isSafeInteger(v) && v >= 0
}

/** A rotation to the next read key epoch, if `p.rotate.read` is one (epoch, boxes per peer). */
function rotationOf(p: Record<string, unknown>, s: AclState): { epoch: number; sealed: Record<string, Uint8Array> } | undefined {
  const rotate = p.rotate
  if (typeof rotate !== 'object' || rotate === null || !Object.hasOwn(rotate, 'read')) return undefined
  const read = (rotate as { read?: unknown }).read
  if (typeof read !== 'object' || read === null) return undefined
  const { epoch, sealed } = read as { epoch?: unknown; sealed?: unknown }
  if (epoch !== (s.rotations.read.at(-1)?.epoch ?? 0) + 1) return undefined
  if (typeof sealed !== 'object' || sealed === null || Array.isArray(sealed) || sealed instanceof Uint8Array) return undefined
  const entries = Object.entries(sealed)
  if (entries.length === 0 || entries.length > MAX_ROTATION_PEERS) return undefined
  if (!entries.every(([peer, box]) => peer.length <= MAX_ID_CHARS && box instanceof Uint8Array && box.length <= MAX_SEALED_BYTES)) return undefined
  return { epoch: epoch as number, sealed: sealed as Record<string, Uint8Array> }
}

function hasRotation(p: Record<string, unknown>, which: 'read' | 'service'): boolean {
  const rotate = p.rotate
  return typeof rotate === 'object' && rotate !== null && Object.hasOwn(rotate, which)
}

/**
 * A rotation to the next service key epoch, if `p.rotate.service` is one: `{ epoch, peers }`, the
 * members the new key is sealed to (the boxes themselves travel in the record's event node,
 * where followers can open them; see `core/serviceRotation.ts`).
 */
function serviceRotationOf(p: Record<string, unknown>, s: AclState): { epoch: number; peers: string[]; id?: Uint8Array } | undefined {
  if (!hasRotation(p, 'service')) return undefined
  const service = (p.rotate as { service?: unknown }).service
  if (typeof service !== 'object' || service === null) return undefined
  const { epoch, peers, id } = service as { epoch?: unknown; peers?: unknown; id?: unknown }
  if (epoch !== (s.rotations.service.at(-1)?.epoch ?? 0) + 1 || (epoch as number) > MAX_SERVICE_EPOCHS) return undefined
  if (!Array.isArray(peers) || peers.length === 0 || peers.length > MAX_SERVICE_ROTATION_PEERS) return undefined
  if (!peers.every((peer) => typeof peer === 'string' && peer.length <= MAX_ID_CHARS)) return undefined
  if (id !== undefined && !(id instanceof Uint8Array && id.length === SERVICE_KEY_ID_BYTES)) return undefined
  return { epoch: epoch as number, peers: peers as string[], ...(id === undefined ? {} : { id }) }
}

/** Add a cut from `from` on to a log's ranges. */
function cutFrom(cuts: AclState['cuts'], peer: string, from: number): AclState['cuts'] {
  return { ...cuts, [peer]: [...(own(cuts, peer) ?? []), { from, to: Number.MAX_SAFE_INTEGER }] }
}

/** End a log's open cut before `resume` (dropping it if it started there or later). */
function resumeAt(cuts: AclState['cuts'], peer: string, resume: number): AclState['cuts'] {
  const ranges = own(cuts, peer)
  if (ranges === undefined) return cuts
  const next = ranges.flatMap((r) => (r.to !== Number.MAX_SAFE_INTEGER ? [r] : resume > r.from ? [{ from: r.from, to: resume - 1 }] : []))
  return { ...cuts, [peer]: next }
}

function foldAcl(s: AclState, event: ThreadEvent): AclState {
  const kind = event.command.type.slice(ACL_PREFIX.length)
  const p = (event.command.payload ?? {}) as Record<string, unknown>
  const author = event.meta.author
  if (kind === 'init') {
    const owner: AclDocument = { default: ['no-access'], peers: { [author]: ['write', 'delete'] } }
    return { ...s, owner: author, salt: p.salt as Uint8Array, thread: owner, admin: { default: ['no-access'], peers: { [author]: ['write'] } }, keyHolders: { [author]: true }, serviceHolders: { [author]: true } }
  }
  if (kind === 'delete') {
    const target: DeletedEvent = { logId: p.log as string, seq: p.seq as number }
    return { ...s, deleted: { ...s.deleted, [p.event as string]: target } }
  }
  if (kind === 'rotate') return withRotation(s, p, event)
  const scope = scopeOf(p.scope) as AclScope
  const doc = docOf(s, scope)
  const roles = rolesFrom(p.roles) as AclRole[]
  if (kind === 'default') return withDoc(s, scope, mergePatch(doc, { default: roles }) as AclDocument)
  const peer = p.peer as string
  const had = rolesIn(doc, peer)
  const byOwner = author === s.owner
  let left: readonly AclRole[]
  if (kind === 'grant') {
    left = roles
  } else {
    const removed = new Set(roles)
    // Removing a role removes what implies it: no read without follow, no write without read.
    left = removed.has('follow') ? normalRoles([]) : normalRoles(had.filter((r) => !removed.has(r) && !(r === 'write' && removed.has('read'))))
  }
  // The ACL document changes by a merge patch (the JSON document helper's merge, RFC 7386): a
  // peer ID, whatever string it is, becomes an own member.
  let next = withDoc(s, scope, mergePatch(doc, { peers: { [peer]: left } }) as AclDocument)
  if (scope === 'thread') {
    if (grants(left, 'read') && !grants(had, 'read')) next = { ...next, keyHolders: { ...next.keyHolders, [peer]: true } }
    if (grants(left, 'follow') && !grants(had, 'follow')) next = { ...next, serviceHolders: { ...next.serviceHolders, [peer]: true } }
    if (grants(had, 'write') && !grants(left, 'write') && (kind === 'revoke' || isSeq(p.lastSeq))) {
      // Strong remove: the peer's records after the last one the changer had applied are ignored,
      // whatever clock they claim (a revoked writer cannot backdate its way in).
      const from = (isSeq(p.lastSeq) ? p.lastSeq : 0) + 1
      next = { ...next, cuts: cutFrom(next.cuts, peer, from), ...(byOwner ? { ownerCuts: cutFrom(next.ownerCuts, peer, from) } : {}) }
    } else if (kind === 'grant' && grants(left, 'write') && isSeq(p.fromSeq)) {
      // Write granted again from a seq on: the cut that ended the peer's writing stops there.
      next = { ...next, cuts: resumeAt(next.cuts, peer, p.fromSeq), ...(byOwner ? { ownerCuts: resumeAt(next.ownerCuts, peer, p.fromSeq) } : {}) }
    }
  }
  // The owner's revocation may carry the rotation it calls for.
  return byOwner ? withRotation(next, p, event) : next
}

/** Fold the rotations an owner's event carries (read, service or both), each if it is to the next epoch. */
function withRotation(s: AclState, p: Record<string, unknown>, event: ThreadEvent): AclState {
  let next = s
  const r = rotationOf(p, s)
  if (r !== undefined) {
    next = { ...next, keyHolders: holdersOf(Object.keys(r.sealed)), rotations: { ...next.rotations, read: [...next.rotations.read, { epoch: r.epoch, event: event.meta.id }] } }
  }
  const svc = serviceRotationOf(p, s)
  if (svc !== undefined) {
    next = { ...next, serviceHolders: holdersOf(svc.peers), rotations: { ...next.rotations, service: [...next.rotations.service, { epoch: svc.epoch, event: event.meta.id, log: event.meta.logId, seq: event.meta.seq, ...(svc.id === undefined ? {} : { id: svc.id }) }] } }
  }
  return next
}

/** A set of peers as own properties (a peer ID can never reach Object's prototype). */
function holdersOf(peers: readonly string[]): Record<string, true> {
  const holders: Record<string, true> = {}
  for (const peer of peers) Object.defineProperty(holders, peer, { value: true, enumerable: true, writable: true, configurable: true })
  return holders
}

/** Peers that may hold the newest service key and no longer follow: the owner should rotate it. */
export function staleServiceHolders(s: AclState): string[] {
  return Object.keys(s.serviceHolders ?? {}).filter((peer) => !grants(roleOf(s, peer), 'follow'))
}

/** Peers named in the thread ACL that follow (read and write imply it): a service rotation's recipients. */
export function namedFollowers(s: AclState): string[] {
  return namedWith(s, 'follow')
}

function namedWith(s: AclState, role: AclRole): string[] {
  return Object.entries(s.thread.peers)
    .filter(([, roles]) => grants(roles, role))
    .map(([peer]) => peer)
}

/** Peers that may hold the newest read key and no longer read: the owner should rotate. */
export function staleKeyHolders(s: AclState): string[] {
  return Object.keys(s.keyHolders).filter((peer) => !grants(roleOf(s, peer), 'read'))
}

/** Peers named in the thread ACL that read (the recipients of a rotation). */
export function namedReaders(s: AclState): string[] {
  return namedWith(s, 'read')
}

/**
 * The access-control system projection (the paper's section 5.5.2): the thread-level ACL and its
 * own document ACL, entity ACLs, strong removes, deletes and key rotations, folded from the
 * thread's `redux-threads/acl/*` events in the total order. An app event is admitted if its
 * author holds `write` at its position, its record is not cut, and (when it targets an entity)
 * the entity's ACL lets it write too; every peer decides alike.
 *
 * @example
 * ```ts
 * const engine = await ThreadEngine.open({ store, threadId, projection, system: aclProjection() })
 * ```
 */
export function aclProjection(): SystemProjection<AclState> {
  return {
    initial: INITIAL_ACL,
    version: 'acl@3',
    isSystem: (event) => event.command.type.startsWith(ACL_PREFIX),
    fold: (s, event) => (refuseAcl(s, event) === undefined ? foldAcl(s, event) : s),
    admit(s, event) {
      if (event.command.type.startsWith(ACL_PREFIX)) return refuseAcl(s, event)
      if (s.owner === null) return denied(event, 'the thread has no owner yet')
      const author = event.meta.author
      if (isCut(s, event.meta.logId, event.meta.seq)) return denied(event, 'the author was removed before this record')
      if (!grants(roleOf(s, author), 'write')) return denied(event, 'the author may not write here')
      const entity = entityOf(event)
      const entityDoc = entity === undefined ? undefined : own(s.entities, entity)
      if (entityDoc !== undefined && !grants(rolesIn(entityDoc, author), 'write')) {
        return denied(event, `the author may not write to entity ${entity}`)
      }
      return undefined
    },
    deleted: (s) => s.deleted,
    cuts: (s) => s.cuts,
    systemCuts: (s) => s.ownerCuts,
    // Never: the gossip topic reaches every holder of the service key, named in the ACL or not
    // (a revoked member, a leaked device). Records travel over sessions, each checked against
    // the ACL when it is served.
    gossips: () => false,
    knowsMembers: (s) => s.owner !== null,
    // Before the owner's init is folded there is nothing to protect, and a joiner must let its
    // inviter in to get the ACL at all. A follower never folds it (it cannot read events): it
    // serves holders of the service key, as the issue allows ("the ACL, or a proven key").
    entitled: (s, peerId) => s.owner === null || grants(roleOf(s, peerId), 'follow'),
    rotations: (s) => s.rotations.read,
    serviceRotations: (s) => s.rotations.service,
    sealedKeyFor(event, epoch, peerId) {
      const rotate = (event.command.payload as { rotate?: { read?: { epoch?: unknown; sealed?: unknown } } } | undefined)?.rotate?.read
      const sealed = rotate?.epoch === epoch ? rotate.sealed : undefined
      const box = typeof sealed === 'object' && sealed !== null && Object.hasOwn(sealed, peerId) ? (sealed as Record<string, unknown>)[peerId] : undefined
      return box instanceof Uint8Array ? box : undefined
    }
  }
}
