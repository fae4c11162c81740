import { getCrypto } from '../core/crypto/index.js'
import { KEY_BYTES, publicKeyFromLogId, sealTo } from '../core/keys.js'

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
