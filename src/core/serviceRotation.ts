import * as dagCbor from '@ipld/dag-cbor'
import { getCrypto } from './crypto/index.js'
import { DecryptionError, MalformedRecordError, type ErrorContext } from './errors.js'
import { KEY_BYTES, decrypt, encrypt, openSealed, publicKeyFromLogId, sealTo, type LogKey } from './keys.js'
import type { ThreadId } from './threadId.js'

/**
 * Service key rotation (paper section 5.5.2: "revoking follow rotates the service key the same
 * way"; DESIGN.md section 6).
 *
 * @remarks
 * Followers hold no read key, so they cannot open the revocation event (its header and body are
 * sealed with the read key). The new service key therefore travels in the *event node* of the
 * owner's `rotate` record, in a field `service` sealed under the service key of that record's
 * record block (the old key): every member that follows can open it, it is signed with the event
 * (the event CID is in the writer's signed statement, so nobody can add, change or move it), and
 * it costs the other records nothing. Its plaintext is the dag-cbor map
 * `{ epoch, salt, sealed: { peerId: sealed box of the new key } }`.
 *
 * Only the owner rotates (as for read keys): one log, so epochs follow one another. `salt` is the
 * owner's salt from its `init` event, so a follower, which cannot read the ACL, checks that the
 * record's log is the owner's from the thread ID alone ({@link isOwnerLog}): every peer, reader or
 * follower, takes a rotation from the owner's log and ignores any other, whatever its position.
 *
 * @packageDocumentation
 */

/** Most members one service rotation seals the new key to (its event node stays under 512 KiB). */
export const MAX_SERVICE_ROTATION_PEERS = 2048
/**
 * Most service key epochs a thread may have: a rotation to a later epoch is refused by every peer
 * alike (the ACL fold does not admit it, no keyring takes it, the owner does not plan it), so
 * retired keys, kept for opening older records, stay bounded.
 */
export const MAX_SERVICE_EPOCHS = 1024
/** Largest sealed box per member (a sealed 32-byte key is 93 bytes). */
const MAX_SEALED_BYTES = 256
const MAX_ID_CHARS = 128

/** What a service rotation carries, once opened. */
export interface ServiceRotation {
  /** The service key epoch it starts (the owner's previous one + 1). */
  readonly epoch: number
  /** The owner's salt: `sha256(label ‖ owner key ‖ salt)` is the thread ID's random part. */
  readonly salt: Uint8Array
  /** The new key sealed to each member that keeps at least `follow`. */
  readonly sealed: Readonly<Record<string, Uint8Array>>
}

const OWNER_INFO = new TextEncoder().encode('redux-threads/acl-owner/v1')

/**
 * The random part of an access-controlled thread's ID commits to its owner:
 * `sha256("redux-threads/acl-owner/v1" ‖ owner public key ‖ salt)`.
 */
export function ownerCommitment(ownerLogId: string, salt: Uint8Array): Uint8Array {
  const key = publicKeyFromLogId(ownerLogId)
  const bytes = new Uint8Array(OWNER_INFO.length + key.length + salt.length)
  bytes.set(OWNER_INFO)
  bytes.set(key, OWNER_INFO.length)
  bytes.set(salt, OWNER_INFO.length + key.length)
  return getCrypto().sha256(bytes)
}

/** True when `logId` is the owner's log of `thread`, as its ID commits with `salt`. Never throws. */
export function isOwnerLog(thread: ThreadId, logId: string, salt: Uint8Array): boolean {
  const random = thread.random
  if (salt.length < 16 || salt.length > 64 || random.length !== 32) return false
  try {
    const c = ownerCommitment(logId, salt)
    return c.every((b, i) => b === random[i])
  } catch {
    return false
  }
}

/**
 * A new service key for `epoch`, sealed to each member (X25519, as invites and read rotations),
 * and the rotation sealed under `sealingKey`, the service key the rotation record's block is
 * sealed under: pass the box as `service` to the record (`engine.command(…, { service })`).
 *
 * Cost: one X25519 agreement and one AES-GCM seal per member, about 150 bytes each.
 *
 * @example
 * ```ts
 * const { key, box } = createServiceRotation({ members: [owner.id, follower.id], epoch: 1, salt, sealingKey })
 * ```
 */
export function createServiceRotation(input: { members: readonly string[]; epoch: number; salt: Uint8Array; sealingKey: Uint8Array; key?: Uint8Array }): { key: Uint8Array; box: Uint8Array } {
  // `key`: one already kept for this epoch (a retry after a crash), so the epoch keeps one key.
  const key = input.key ?? getCrypto().randomBytes(KEY_BYTES)
  const members = [...new Set(input.members)]
  if (members.length > MAX_SERVICE_ROTATION_PEERS) throw new MalformedRecordError(`a service rotation seals to at most ${MAX_SERVICE_ROTATION_PEERS} members`)
  const sealed: Record<string, Uint8Array> = Object.fromEntries(members.map((peer) => [peer, sealTo(publicKeyFromLogId(peer), key)]))
  const box = encrypt(input.sealingKey, dagCbor.encode({ epoch: input.epoch, salt: input.salt, sealed }))
  return { key, box }
}

/**
 * Open and check a service rotation with the key that sealed its record.
 *
 * @throws {@link DecryptionError} when it does not open with that key,
 * {@link MalformedRecordError} when its plaintext is not a rotation.
 */
export function openServiceRotation(sealingKey: Uint8Array, box: Uint8Array, ctx: ErrorContext): ServiceRotation {
  const plain = decrypt(sealingKey, box)
  if (plain === undefined) throw new DecryptionError('the service rotation does not open with its record block’s key', ctx)
  let v: unknown
  try {
    v = dagCbor.decode(plain)
  } catch (cause) {
    throw new MalformedRecordError('the service rotation is not dag-cbor', ctx, { cause })
  }
  const { epoch, salt, sealed } = (isMap(v) ? v : {}) as { epoch?: unknown; salt?: unknown; sealed?: unknown }
  const entries = isMap(sealed) ? Object.entries(sealed) : []
  if (
    !(typeof epoch === 'number' && Number.isSafeInteger(epoch) && epoch >= 1 && epoch <= MAX_SERVICE_EPOCHS && salt instanceof Uint8Array) ||
    entries.length === 0 ||
    entries.length > MAX_SERVICE_ROTATION_PEERS ||
    !entries.every(([peer, b]) => peer.length <= MAX_ID_CHARS && b instanceof Uint8Array && b.length <= MAX_SEALED_BYTES)
  ) {
    throw new MalformedRecordError('the service rotation is not {epoch, salt, sealed: {peer: box}} within its bounds', ctx)
  }
  return { epoch, salt, sealed: sealed as Record<string, Uint8Array> }
}

function isMap(v: unknown): v is object {
  return typeof v === 'object' && v !== null && !Array.isArray(v) && !(v instanceof Uint8Array)
}

/**
 * The new service key a rotation seals to `me`, or `undefined` when it names no box for it.
 *
 * @throws {@link DecryptionError} when the box named for `me` does not open (sealed to another key).
 */
export function serviceKeyFor(rotation: ServiceRotation, me: Pick<LogKey, 'seed' | 'id'>): Uint8Array | undefined {
  // (The logstore keeps only a 32-byte key.)
  return Object.hasOwn(rotation.sealed, me.id) ? openSealed(me, rotation.sealed[me.id] as Uint8Array) : undefined
}
