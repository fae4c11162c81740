import type { AclState } from '../acl/aclProjection.js'
import { roleOf } from '../acl/roles.js'
import type { ThreadAccess } from './peerSlice.js'

/** True for an access-controlled thread's system state (a Raw thread's is null). */
export function isAclState(system: unknown): system is AclState {
  return typeof system === 'object' && system !== null && 'thread' in system && 'admin' in system && 'cuts' in system
}

/**
 * What the status shows of an ACL thread's system state: the owner, the ACL documents, the
 * newest read key epoch, and this peer's roles. Undefined for a Raw thread. The documents are the
 * projection's own immutable objects, so an unchanged ACL keeps its identity from one status to
 * the next (selectors over it do not recompute).
 */
export function accessOf(system: unknown, peerId: string | undefined): ThreadAccess | undefined {
  if (!isAclState(system)) return undefined
  return {
    owner: system.owner,
    roles: peerId === undefined ? [] : roleOf(system, peerId),
    acl: system.thread,
    admin: system.admin,
    epoch: system.rotations.read.at(-1)?.epoch ?? 0
  }
}
