import { AccessDeniedError, type ThreadsError } from '../core/errors.js'
import { getCrypto } from '../core/crypto/index.js'
import { publicKeyFromLogId } from '../core/keys.js'
import { ThreadId } from '../core/threadId.js'
import { inCuts, type CutRange, type SystemProjection } from '../engine/system.js'
import type { ThreadEvent } from '../engine/threadEvent.js'
import { grants, isAclRole, normalRoles, type AclRole } from './roles.js'

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
}

/**
 * The system state of an access-controlled thread, folded from its own events in the total order
 * before the app's slices (DESIGN.md sections 4 and 6).
 */
export interface AclState {
  /** The thread's creator, once its `init` event is folded; nothing is admitted before. */
  readonly owner: string | null
  /** The thread-level ACL: who may follow, read, write and delete. */
  readonly thread: AclDocument
  /** The ACL's own document ACL (Example 14): `write` here may change any ACL of the thread. */
  readonly admin: AclDocument
  /** Entity-level ACLs, by entity ID: events that target one entity need `write` there too. */
  readonly entities: Readonly<Record<string, AclDocument>>
  /** Per log, the ranges every peer ignores, whatever clock their records claim. */
  readonly cuts: Readonly<Record<string, readonly CutRange[]>>
  /** Events an admitted `delete` marked deleted (their identities). */
  readonly deleted: Readonly<Record<string, true>>
  /** Key rotations: read and service key epochs, newest last. */
  readonly rotations: { readonly read: readonly Rotation[]; readonly service: readonly Rotation[] }
}

const NONE: AclDocument = { default: ['no-access'], peers: {} }

/** The state before the `init` event: no one may do anything. */
export const INITIAL_ACL: AclState = { owner: null, thread: NONE, admin: NONE, entities: {}, cuts: {}, deleted: {}, rotations: { read: [], service: [] } }

const OWNER_INFO = new TextEncoder().encode('redux-threads/acl-owner/v1')

/**
 * The random part of an access-controlled thread's ID commits to its owner:
 * `sha256("redux-threads/acl-owner/v1" ‖ owner public key ‖ salt)`. The owner's `init` event
 * carries the salt, so every peer checks who owns the thread from the ID alone, and nobody else
 * can claim it (an `init` is valid only from the owner's own log).
 */
export function ownerCommitment(ownerLogId: string, salt: Uint8Array): Uint8Array {
  const key = publicKeyFromLogId(ownerLogId)
  const bytes = new Uint8Array(OWNER_INFO.length + key.length + salt.length)
  bytes.set(OWNER_INFO)
  bytes.set(key, OWNER_INFO.length)
  bytes.set(salt, OWNER_INFO.length + key.length)
  return getCrypto().sha256(bytes)
}

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
  return s.entities[scope.entity] ?? NONE
}

function withDoc(s: AclState, scope: AclScope, doc: AclDocument): AclState {
  if (scope === 'thread') return { ...s, thread: doc }
  if (scope === 'admin') return { ...s, admin: doc }
  return { ...s, entities: { ...s.entities, [scope.entity]: doc } }
}

/** The roles a peer holds in a document. */
export function rolesIn(doc: AclDocument, peerId: string): readonly AclRole[] {
  return doc.peers[peerId] ?? doc.default
}

/** The roles a peer holds in a thread's ACL. */
export function roleOf(s: AclState, peerId: string): readonly AclRole[] {
  return rolesIn(s.thread, peerId)
}

/** True when records at `seq` of `logId` are cut (strong remove). */
export function isCut(s: AclState, logId: string, seq: number): boolean {
  return inCuts(s.cuts, logId, seq)
}

function scopeOf(v: unknown): AclScope | undefined {
  if (v === undefined || v === 'thread') return 'thread'
  if (v === 'admin') return 'admin'
  if (typeof v === 'object' && v !== null && typeof (v as { entity?: unknown }).entity === 'string') return { entity: (v as { entity: string }).entity }
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
  const entity = typeof meta === 'object' && meta !== null ? (meta as { entity?: unknown }).entity : undefined
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
    return typeof p.event === 'string' ? undefined : denied(event, 'a delete names the event it deletes')
  }
  if (!grants(rolesIn(s.admin, author), 'write')) return denied(event, 'the author may not change the ACL')
  const scope = scopeOf(p.scope)
  if (scope === undefined) return denied(event, 'unknown ACL scope')
  if (kind === 'grant' || kind === 'revoke') {
    if (typeof p.peer !== 'string') return denied(event, 'no peer named')
    if (rolesFrom(p.roles) === undefined) return denied(event, 'no valid roles')
    if (kind === 'revoke' && p.lastSeq !== undefined && (typeof p.lastSeq !== 'number' || !Number.isSafeInteger(p.lastSeq) || p.lastSeq < 0)) return denied(event, 'lastSeq is a seq')
    return undefined
  }
  if (kind === 'default') return rolesFrom(p.roles) === undefined ? denied(event, 'no valid roles') : undefined
  return denied(event, 'unknown access-control command')
}

function foldAcl(s: AclState, event: ThreadEvent): AclState {
  const kind = event.command.type.slice(ACL_PREFIX.length)
  const p = (event.command.payload ?? {}) as Record<string, unknown>
  const author = event.meta.author
  if (kind === 'init') {
    const owner: AclDocument = { default: ['no-access'], peers: { [author]: ['write', 'delete'] } }
    return { ...s, owner: author, thread: owner, admin: { default: ['no-access'], peers: { [author]: ['write'] } } }
  }
  if (kind === 'delete') return { ...s, deleted: { ...s.deleted, [p.event as string]: true } }
  const scope = scopeOf(p.scope) as AclScope
  const doc = docOf(s, scope)
  const roles = rolesFrom(p.roles) as AclRole[]
  if (kind === 'default') return withDoc(s, scope, { ...doc, default: roles })
  const peer = p.peer as string
  const had = rolesIn(doc, peer)
  let next: AclState
  if (kind === 'grant') {
    next = withDoc(s, scope, { ...doc, peers: { ...doc.peers, [peer]: roles } })
    // Write granted again from a seq on: the cut that ended the peer's writing stops there.
    const resume = p.fromSeq
    if (scope === 'thread' && grants(roles, 'write') && typeof resume === 'number' && Number.isSafeInteger(resume)) {
      const cuts = (s.cuts[peer] ?? []).map((r) => (r.to === Number.MAX_SAFE_INTEGER && resume > r.from ? { from: r.from, to: resume - 1 } : r))
      next = { ...next, cuts: { ...s.cuts, [peer]: cuts } }
    }
  } else {
    const removed = new Set(roles)
    // Removing a role removes what implies it: no read without follow, no write without read.
    const left = removed.has('follow') ? normalRoles([]) : normalRoles(had.filter((r) => !removed.has(r) && !(r === 'write' && removed.has('read'))))
    next = withDoc(s, scope, { ...doc, peers: { ...doc.peers, [peer]: left } })
    // Strong remove: the peer's records after the last one the revoker had applied are ignored,
    // whatever clock they claim (a revoked writer cannot backdate its way in).
    if (scope === 'thread' && grants(had, 'write') && !grants(left, 'write')) {
      const lastSeq = typeof p.lastSeq === 'number' ? p.lastSeq : 0
      next = { ...next, cuts: { ...s.cuts, [peer]: [...(s.cuts[peer] ?? []), { from: lastSeq + 1, to: Number.MAX_SAFE_INTEGER }] } }
    }
  }
  const rotate = p.rotate as { read?: { epoch?: unknown }; service?: { epoch?: unknown } } | undefined
  if (rotate !== undefined && typeof rotate === 'object') {
    const add = (list: readonly Rotation[], r: { epoch?: unknown } | undefined): readonly Rotation[] => {
      const epoch = r?.epoch
      const top = list.at(-1)?.epoch ?? 0
      return typeof epoch === 'number' && epoch === top + 1 ? [...list, { epoch, event: event.meta.id }] : list
    }
    next = { ...next, rotations: { read: add(next.rotations.read, rotate.read), service: add(next.rotations.service, rotate.service) } }
  }
  return next
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
    version: 'acl@1',
    isSystem: (event) => event.command.type.startsWith(ACL_PREFIX),
    fold: (s, event) => (refuseAcl(s, event) === undefined ? foldAcl(s, event) : s),
    admit(s, event) {
      if (event.command.type.startsWith(ACL_PREFIX)) return refuseAcl(s, event)
      if (s.owner === null) return denied(event, 'the thread has no owner yet')
      const author = event.meta.author
      if (isCut(s, event.meta.logId, event.meta.seq)) return denied(event, 'the author was removed before this record')
      if (!grants(roleOf(s, author), 'write')) return denied(event, 'the author may not write here')
      const entity = entityOf(event)
      if (entity !== undefined && s.entities[entity] !== undefined && !grants(rolesIn(s.entities[entity], author), 'write')) {
        return denied(event, `the author may not write to entity ${entity}`)
      }
      return undefined
    },
    deleted: (s) => Object.keys(s.deleted),
    cuts: (s) => s.cuts,
    // Before the owner's init is folded there is nothing to protect, and a joiner must let its
    // inviter in to get the ACL at all.
    // Never: the gossip topic reaches every holder of the service key, named in the ACL or not
    // (a revoked member, a leaked device). Records travel over sessions, each checked against
    // the ACL when it is served.
    gossips: () => false,
    entitled: (s, peerId) => s.owner === null || grants(roleOf(s, peerId), 'follow'),
    rotations: (s) => s.rotations.read,
    sealedKeyFor(event, epoch, peerId) {
      const rotate = (event.command.payload as { rotate?: { read?: { epoch?: unknown; sealed?: Record<string, unknown> } } } | undefined)?.rotate?.read
      const box = rotate?.epoch === epoch ? rotate.sealed?.[peerId] : undefined
      return box instanceof Uint8Array ? box : undefined
    }
  }
}
