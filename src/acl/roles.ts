/**
 * The roles of an access-controlled thread (the paper's section 5.5.2, Definitions 5.2 to 5.6).
 *
 * - `no-access`: nothing (the default role).
 * - `follow`: the service (follow) key: verify, store and serve records, read nothing.
 * - `read`: the read key too: read every event.
 * - `write`: author events (a log of one's own); implies read and follow.
 * - `delete`: mark an earlier event deleted; implies follow.
 *
 * @packageDocumentation
 */

import type { AclDocument, AclState } from './aclProjection.js'

export const ACL_ROLES = ['no-access', 'follow', 'read', 'write', 'delete'] as const

/** One of the five roles. */
export type AclRole = (typeof ACL_ROLES)[number]

/** True for a role name. */
export function isAclRole(value: unknown): value is AclRole {
  return typeof value === 'string' && (ACL_ROLES as readonly string[]).includes(value)
}

/**
 * Whether a set of roles grants `role`: write implies read, and every role but `no-access`
 * implies follow.
 *
 * @example
 * ```ts
 * grants(['write'], 'read')   // true
 * grants(['delete'], 'read')  // false
 * ```
 */
export function grants(roles: readonly AclRole[], role: AclRole): boolean {
  if (roles.includes(role)) return true
  if (role === 'read') return roles.includes('write')
  if (role === 'follow') return roles.some((r) => r === 'read' || r === 'write' || r === 'delete')
  return false
}

/** Roles in canonical order without duplicates (`no-access` alone, or dropped beside others). */
export function normalRoles(roles: readonly AclRole[]): AclRole[] {
  const set = new Set<AclRole>(roles.filter((r) => r !== 'no-access'))
  const out = ACL_ROLES.filter((r) => set.has(r))
  return out.length === 0 ? ['no-access'] : out
}

/** The roles a document gives a peer: its own entry, else the document's default. */
export function rolesIn(doc: AclDocument, peerId: string): readonly AclRole[] {
  return (Object.hasOwn(doc.peers, peerId) ? doc.peers[peerId] : undefined) ?? doc.default
}

/** The roles a peer holds in a thread's ACL. */
export function roleOf(s: AclState, peerId: string): readonly AclRole[] {
  return rolesIn(s.thread, peerId)
}
