import * as dagCbor from '@ipld/dag-cbor'
import { base32 } from 'multiformats/bases/base32'
import { InvalidInviteError, ThreadsError } from '../core/errors.js'
import {
  openSealed,
  publicKeyFromLogId,
  sealTo,
  threadKeyFromBytes,
  threadKeyToBytes,
  type LogKey,
  type ThreadKey
} from '../core/keys.js'
import { ThreadId } from '../core/threadId.js'

/**
 * What an invite grants (paper sections 3.1.3 and 5.5.2):
 * - `follow`: the service key only: verify, store and serve the thread's logs, read nothing;
 * - `read`: service and read keys: read everything, write nothing (no log of its own);
 * - `write`: both keys, and the invitee opens a log of its own.
 */
export type Role = 'follow' | 'read' | 'write'

/** An invite, opened. */
export interface Invite {
  readonly threadId: ThreadId
  readonly role: Role
  /** The key set the role grants (the read key is absent for `follow`). */
  readonly key: ThreadKey
  /** Where to reach the thread: multiaddrs with `/p2p/<peer>` of the inviter and others. */
  readonly addrs: readonly string[]
  /** The inviter's peer ID. */
  readonly from: string
}

/** The prefix of invite strings: `threads:` then a multibase base32 payload. */
export const INVITE_PREFIX = 'threads:'
const VERSION = 1
const MAX_INVITE_CHARS = 64 * 1024

interface KeySet {
  role: Role
  key: Uint8Array
}

function keySetOf(role: Role, key: ThreadKey): KeySet {
  if (role !== 'follow' && key.read === undefined) throw new InvalidInviteError(`a ${role} invite needs the read key, which this peer does not hold`)
  return { role, key: threadKeyToBytes(role === 'follow' ? { service: key.service } : key) }
}

function checkRole(role: unknown): Role {
  if (role !== 'follow' && role !== 'read' && role !== 'write') throw new InvalidInviteError('invite role must be follow, read or write')
  return role
}

/**
 * Make an invite string. With `to` (the invitee's peer ID), the key set is sealed to that peer's
 * public key (X25519 derived from its Ed25519 key) and only it can open the invite. Without,
 * the invite is a bearer link: whoever holds the string holds the keys, so share it like one.
 *
 * @example
 * ```ts
 * import { createInvite } from 'redux-threads'
 * const link = createInvite({ threadId, key, role: 'write', addrs: peer.addresses(), from: peer.id })
 * const sealed = createInvite({ threadId, key, role: 'read', addrs, from: peer.id, to: bobPeerId })
 * ```
 */
export function createInvite(options: { threadId: ThreadId; key: ThreadKey; role: Role; addrs: readonly string[]; from: string; to?: string }): string {
  const inner = { thread: options.threadId.bytes, addrs: [...options.addrs], from: options.from, keys: dagCbor.encode(keySetOf(options.role, options.key)) }
  // A sealed invite seals everything, not only the keys: its thread and addresses cannot be
  // changed on the way without the box failing to open.
  const body = options.to === undefined ? { v: VERSION, ...inner } : { v: VERSION, to: options.to, sealed: sealTo(publicKeyFromLogId(options.to), dagCbor.encode(inner)) }
  return INVITE_PREFIX + base32.encode(dagCbor.encode(body))
}

/**
 * Open an invite string. A sealed invite opens only with the invitee's identity.
 *
 * @throws {@link InvalidInviteError} for anything but a well-formed invite this peer can open.
 */
export function openInvite(text: string, identity?: Pick<LogKey, 'id' | 'seed'>): Invite {
  if (typeof text !== 'string' || !text.startsWith(INVITE_PREFIX) || text.length > MAX_INVITE_CHARS) {
    throw new InvalidInviteError(`an invite is a string starting with "${INVITE_PREFIX}"`)
  }
  let body: Record<string, unknown>
  try {
    body = dagCbor.decode(base32.decode(text.slice(INVITE_PREFIX.length))) as Record<string, unknown>
  } catch (cause) {
    throw new InvalidInviteError('the invite is damaged (not base32 dag-cbor)', {}, { cause })
  }
  if (typeof body !== 'object' || body === null || body.v !== VERSION) throw new InvalidInviteError('unsupported invite version')
  try {
    if (body.sealed instanceof Uint8Array) {
      if (identity === undefined || body.to !== identity.id) {
        throw new InvalidInviteError(`this invite is sealed to ${String(body.to)}, not to this peer`)
      }
      body = dagCbor.decode(openSealed(identity, body.sealed)) as Record<string, unknown>
      if (typeof body !== 'object' || body === null) throw new InvalidInviteError('the sealed invite holds no invite')
    }
    const threadId = ThreadId.fromBytes(body.thread as Uint8Array)
    const addrs = body.addrs
    if (!Array.isArray(addrs) || !addrs.every((a) => typeof a === 'string')) throw new InvalidInviteError('invite addrs must be strings')
    if (typeof body.from !== 'string') throw new InvalidInviteError('invite `from` must be a peer ID')
    if (!(body.keys instanceof Uint8Array)) throw new InvalidInviteError('the invite carries no key set')
    const keySetBytes: Uint8Array = body.keys
    const keySet = dagCbor.decode(keySetBytes) as { role?: unknown; key?: unknown }
    const role = checkRole(keySet.role)
    if (!(keySet.key instanceof Uint8Array)) throw new InvalidInviteError('the invite key set has no key')
    const key = threadKeyFromBytes(keySet.key)
    if (role !== 'follow' && key.read === undefined) throw new InvalidInviteError(`a ${role} invite must carry the read key`)
    return { threadId, role, key: role === 'follow' ? { service: key.service } : key, addrs, from: body.from }
  } catch (e) {
    if (e instanceof InvalidInviteError) throw e
    throw new InvalidInviteError(`the invite cannot be opened: ${e instanceof ThreadsError ? e.message : String(e)}`, {}, { cause: e })
  }
}
