import { AccessDeniedError, type ThreadsError } from '../core/errors.js'
import type { LogKey } from '../core/keys.js'
import type { LogRecord } from '../core/record.js'
import { serviceKeyring, type ServiceKeyring } from '../core/serviceKey.js'
import { MAX_SERVICE_EPOCHS, isOwnerLog, openServiceRotation, serviceKeyFor, type ServiceRotation } from '../core/serviceRotation.js'
import { serviceKeyId } from '../core/serviceKey.js'
import type { Logstore, ThreadInfo } from '../store/logstore/logstore.js'

/**
 * Service key rotations as records arrive (paper section 5.5.2; DESIGN.md section 6), for readers
 * and followers alike: a follower cannot fold the ACL, so the rule must not need it.
 *
 * @remarks
 * The rule, the same on every peer and independent of the order: a verified record's event node
 * that carries a service rotation (`core/serviceRotation.ts`) is taken when its log is the
 * thread's owner (the rotation's salt and the log key make the thread ID's random part), its
 * epoch is the one right after the key its own record is sealed under (the owner seals the
 * rotation to epoch e+1 under the key of epoch e, so the keys a peer takes form one chain from
 * the first key, the chain a reader's ACL fold admits; an epoch the ACL would refuse, such as one
 * past `MAX_SERVICE_EPOCHS` or 2^32, is never taken), and it seals a box to this peer; the key
 * is then kept for that epoch, durably, before the records are stored. A key held for that epoch
 * already stays, unless `admittedId` (a peer that folds the ACL) names this rotation's key for
 * it: then the admitted key replaces one an invite planted. Any other
 * rotation is ignored (reported once, `AccessDeniedError`): a writer that is not the owner cannot
 * hand followers a key, so nobody seals under a key the owner did not make, and records sealed
 * under an unknown key are refused by everyone (`UnknownServiceKeyError`). A reading peer's ACL
 * fold applies the same rule to the `rotate` event (only the owner rotates).
 *
 * @returns whether a key was added (records refused for it may now be taken).
 *
 * @example
 * ```ts
 * const added = await absorbServiceRotations({ thread, logstore, identity, records: verified, report })
 * ```
 */
export async function absorbServiceRotations(input: {
  readonly thread: ThreadInfo
  readonly logstore: Logstore
  readonly identity: Pick<LogKey, 'id' | 'seed'> | undefined
  readonly records: readonly LogRecord[]
  readonly report: (e: ThreadsError) => void
  /** For a peer that folds the ACL: the key ID its fold admitted for an epoch, if any. */
  readonly admittedId?: (epoch: number) => Uint8Array | undefined
}): Promise<boolean> {
  const { thread, identity } = input
  if (identity === undefined) return false
  let added = false
  for (const r of input.records) {
    if (r.service === undefined) continue
    const ctx = { threadId: thread.id.toString(), logId: r.logId, seq: r.seq }
    const keys = serviceKeyring(thread.key.service, thread.serviceKeys)
    const sealing = keys.byEpoch(r.serviceEpoch ?? 0)
    if (sealing === undefined) continue
    let rotation: ServiceRotation
    let key: Uint8Array | undefined
    let replace = false
    try {
      rotation = openServiceRotation(sealing, r.service, ctx)
      if (!isOwnerLog(thread.id, r.logId, rotation.salt)) throw new AccessDeniedError('a service rotation not from the owner’s log is ignored', ctx)
      if (rotation.epoch !== (r.serviceEpoch ?? 0) + 1 || rotation.epoch > MAX_SERVICE_EPOCHS) continue
      const held = keys.byEpoch(rotation.epoch)
      const admitted = held === undefined ? undefined : input.admittedId?.(rotation.epoch)
      // Held already: kept, unless the ACL admitted another key for the epoch (opened to check).
      if (held !== undefined && (admitted === undefined || sameBytes(serviceKeyId(held), admitted))) continue
      key = serviceKeyFor(rotation, identity)
      if (held !== undefined && (key === undefined || !sameBytes(serviceKeyId(key), admitted as Uint8Array))) continue
      replace = held !== undefined
    } catch (e) {
      // Typed errors only (a rotation that does not open, or not the owner's): the writer's doing
      // (it signed it), reported, never thrown. A storage failure below is this peer's own.
      input.report(e as ThreadsError)
      continue
    }
    if (key !== undefined && (await input.logstore.addServiceKey(thread.id, rotation.epoch, key, { replace }))) added = true
  }
  return added
}

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && a.every((x, i) => x === b[i])
}

/**
 * The keys a peer proves in the handshake, and those it accepts from others (DESIGN.md section
 * 6): it proves its newest; a peer that folds the ACL (`knowsMembers`) accepts a proof under any
 * key it holds, because it serves only the peers the ACL entitles, so a remaining member that
 * has not yet received a rotation catches up from it; a peer that cannot read the ACL (a
 * follower) accepts only its newest key, so a revoked follower, holding only older keys, is
 * refused. `known` is every key held: a proof under a retired one is recognised, and refused
 * by name (`UnauthorizedError` on the sync service's events), not counted as noise.
 */
export function authKeysOf(keys: ServiceKeyring, knowsMembers: boolean): { send: Uint8Array; accept: readonly Uint8Array[]; known: readonly Uint8Array[] } {
  const send = keys.newest().key
  const known = keys.all().map((k) => k.key)
  return { send, accept: knowsMembers ? known : [send], known }
}
