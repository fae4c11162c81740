import { getCrypto } from '../core/crypto/index.js'
import { KEY_BYTES, publicKeyFromLogId, sealTo } from '../core/keys.js'
import { MAX_SERVICE_EPOCHS, createServiceRotation } from '../core/serviceRotation.js'
import { serviceKeyId } from '../core/serviceKey.js'
import { namedFollowers, namedReaders, staleKeyHolders, staleServiceHolders, type AclState } from './aclProjection.js'

/** What a revocation carries to rotate a key: the epoch it starts, and the key sealed to each member. */
export interface RotationPayload {
  readonly epoch: number
  readonly sealed: Readonly<Record<string, Uint8Array>>
}

/**
 * A new read key for epoch `epoch`, sealed to each member that keeps reading (X25519 from their
 * Ed25519 identities, as invites are): the revocation event carries the boxes, so every remaining
 * reader opens its copy when it folds the event, and a revoked one, missing from the map, cannot
 * read anything sealed under the new key (the paper's section 5.5.2; DESIGN.md section 6).
 *
 * Cost: one X25519 agreement and one AES-GCM seal per member, about 93 bytes each.
 *
 * @example
 * ```ts
 * const { key, rotate } = createRotation([owner.id, alice.id], 1)
 * engine.command({ type: 'redux-threads/acl/revoke', payload: { peer: bob.id, roles: ['read'], lastSeq, rotate: { read: rotate } } })
 * ```
 */
export function createRotation(members: readonly string[], epoch: number): { key: Uint8Array; rotate: RotationPayload } {
  const key = getCrypto().randomBytes(KEY_BYTES)
  // fromEntries defines own properties: a peer ID can never reach Object's prototype.
  const sealed: Record<string, Uint8Array> = Object.fromEntries([...new Set(members)].map((peer) => [peer, sealTo(publicKeyFromLogId(peer), key)]))
  return { key, rotate: { epoch, sealed } }
}

/**
 * Whether the owner should rotate: a peer that may hold the newest read key no longer reads, or
 * one that may hold the newest service key no longer follows.
 */
export function needsRotation(acl: AclState): boolean {
  return staleKeyHolders(acl).length > 0 || (acl.salt !== undefined && staleServiceHolders(acl).length > 0)
}

/** What the owner writes to rotate: the `rotate` payload, the new keys, and the sealed service rotation. */
export interface RotationPlan {
  readonly payload: { readonly rotate: { readonly read?: RotationPayload; readonly service?: { readonly epoch: number; readonly peers: readonly string[]; readonly id: Uint8Array } } }
  readonly read?: { readonly epoch: number; readonly key: Uint8Array }
  /** The new service key, and the rotation for the event node (`engine.command(…, { service: box })`). */
  readonly service?: { readonly epoch: number; readonly key: Uint8Array; readonly box: Uint8Array }
}

/**
 * The owner's rotation for the ACL as it stands (paper section 5.5.2; DESIGN.md section 6): a new
 * read key sealed to every named reader when a key holder lost read, and a new service key sealed
 * to every named member with at least `follow` when a service key holder lost follow (revoked
 * follow, or set to no-access). The service rotation is sealed under `sealingKey`, the newest
 * service key, which seals the rotation's own record, so followers open it; its recipients are
 * listed in the (read-key sealed) event, with the new key's ID, so every reader's ACL knows who
 * holds the new key and which key it is.
 *
 * `sealingKey` must be the key of the newest epoch the ACL admitted (`engine.serviceKeys().newest()`
 * on a peer that folds the ACL), and `heldServiceKey` gives the key already kept for an epoch: a
 * retry after a crash between keeping the new key and saving the rotate record reuses it, so an
 * epoch has one key. No service rotation is planned beyond `MAX_SERVICE_EPOCHS`.
 *
 * @returns `undefined` when nothing needs rotating.
 *
 * @example
 * ```ts
 * const plan = planRotation(engine.system, engine.serviceKeys().newest().key, (e) => engine.serviceKeys().byEpoch(e))
 * if (plan) engine.command({ type: 'redux-threads/acl/rotate', payload: plan.payload }, undefined, { service: plan.service?.box })
 * ```
 */
export function planRotation(acl: AclState, sealingKey: Uint8Array, heldServiceKey?: (epoch: number) => Uint8Array | undefined): RotationPlan | undefined {
  let rotate: RotationPlan['payload']['rotate'] = {}
  let read: RotationPlan['read']
  let service: RotationPlan['service']
  if (staleKeyHolders(acl).length > 0) {
    const epoch = (acl.rotations.read.at(-1)?.epoch ?? 0) + 1
    const r = createRotation(namedReaders(acl), epoch)
    rotate = { ...rotate, read: r.rotate }
    read = { epoch, key: r.key }
  }
  const serviceEpoch = (acl.rotations.service.at(-1)?.epoch ?? 0) + 1
  if (acl.salt !== undefined && staleServiceHolders(acl).length > 0 && serviceEpoch <= MAX_SERVICE_EPOCHS) {
    const epoch = serviceEpoch
    const peers = namedFollowers(acl)
    const held = heldServiceKey?.(epoch)
    const r = createServiceRotation({ members: peers, epoch, salt: acl.salt, sealingKey, ...(held === undefined ? {} : { key: held }) })
    rotate = { ...rotate, service: { epoch, peers, id: Uint8Array.from(serviceKeyId(r.key)) } }
    service = { epoch, key: r.key, box: r.box }
  }
  if (read === undefined && service === undefined) return undefined
  return { payload: { rotate }, ...(read === undefined ? {} : { read }), ...(service === undefined ? {} : { service }) }
}
