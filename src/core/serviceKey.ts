import * as dagCbor from '@ipld/dag-cbor'
import { blockOf, boxOf, type Block } from './block.js'
import { getCrypto } from './crypto/index.js'
import { MalformedRecordError, UnknownServiceKeyError, type ErrorContext } from './errors.js'
import { encrypt } from './keys.js'

/**
 * Service key epochs (paper section 5.5.2, "revoking follow rotates the service key"; DESIGN.md
 * section 6): which service key sealed a record's outer layer, said in the clear.
 *
 * @remarks
 * A record block sealed under the thread's first service key (epoch 0) is, as before, the
 * dag-cbor byte string `nonce ‖ ciphertext ‖ tag`. One sealed under a rotated key is the dag-cbor
 * array `[keyId(8), nonce ‖ ciphertext ‖ tag]`, where the key ID is the first 8 bytes of
 * `sha256("redux-threads/service-key-id/v1" ‖ key)`. The ID is derived from the key, not a counter:
 * two different keys cannot share one (short of a 64-bit hash collision), so a key a peer kept
 * from a refused or forged rotation can never be mistaken for the real key of an epoch, and the
 * ID tells an outsider nothing about the key. Epoch numbers stay local (the logstore keeps keys by
 * the epoch the owner's rotation names; only the owner rotates, in one log, so they never compete).
 *
 * @packageDocumentation
 */

/** Bytes of a service key ID in a record block. */
export const SERVICE_KEY_ID_BYTES = 8
const ID_INFO = new TextEncoder().encode('redux-threads/service-key-id/v1')
/** CBOR heads of the rotated form: an array of 2, then a byte string of 8. */
const ARRAY_2 = 0x82
const BYTES_8 = 0x48

const ids = new WeakMap<Uint8Array, Uint8Array>()

/**
 * The ID a record block names its service key by: the first 8 bytes of
 * `sha256("redux-threads/service-key-id/v1" ‖ key)`.
 *
 * @example
 * ```ts
 * serviceKeyId(thread.key.service) // Uint8Array(8)
 * ```
 */
export function serviceKeyId(key: Uint8Array): Uint8Array {
  let id = ids.get(key)
  if (id === undefined) {
    const bytes = new Uint8Array(ID_INFO.length + key.length)
    bytes.set(ID_INFO)
    bytes.set(key, ID_INFO.length)
    id = getCrypto().sha256(bytes).subarray(0, SERVICE_KEY_ID_BYTES)
    ids.set(key, id)
  }
  return id
}

/** A service key with its epoch (0: the thread's first) and ID. */
export interface ServiceKey {
  readonly epoch: number
  readonly key: Uint8Array
  readonly id: Uint8Array
}

/** The service keys a peer holds for a thread, by epoch and by ID. */
export interface ServiceKeyring {
  /** The key of an epoch, if held. */
  byEpoch(epoch: number): Uint8Array | undefined
  /** The key a record block names, if held. */
  byId(id: Uint8Array): ServiceKey | undefined
  /** The thread's first key (epoch 0): the plain record block form is sealed under it. */
  first(): ServiceKey
  /** The newest key held: new records are sealed under it, and the handshake proves it. */
  newest(): ServiceKey
  /** Every key held, oldest first. */
  all(): readonly ServiceKey[]
}

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false
  return true
}

/** A service rotation the ACL fold admitted: its epoch and, when the rotate event names it, the key's ID. */
export interface AdmittedServiceKey {
  readonly epoch: number
  readonly id?: Uint8Array
}

interface KeyIndex {
  readonly size: number
  readonly sorted: readonly ServiceKey[]
  readonly byHex: ReadonlyMap<string, ServiceKey>
}

const indexes = new WeakMap<ReadonlyMap<number, Uint8Array>, KeyIndex>()

function hexOf(id: Uint8Array): string {
  let out = ''
  for (const b of id) out += (b < 16 ? '0' : '') + b.toString(16)
  return out
}

/**
 * Forget the index of a key map whose entry for an epoch was replaced (the logstore does, when an
 * ACL-admitted rotation's key replaces another held for its epoch). Growth is seen by its size.
 */
export function invalidateServiceKeyIndex(later: ReadonlyMap<number, Uint8Array>): void {
  indexes.delete(later)
}

function indexOf(later: ReadonlyMap<number, Uint8Array>): KeyIndex {
  const cached = indexes.get(later)
  if (cached !== undefined && cached.size === later.size) return cached
  const sorted: ServiceKey[] = []
  for (const [epoch, key] of [...later].sort((a, b) => a[0] - b[0])) if (epoch > 0) sorted.push({ epoch, key, id: serviceKeyId(key) })
  const byHex = new Map<string, ServiceKey>()
  for (const k of sorted) if (!byHex.has(hexOf(k.id))) byHex.set(hexOf(k.id), k)
  const index = { size: later.size, sorted, byHex }
  indexes.set(later, index)
  return index
}

/**
 * A keyring over the thread's first service key and those of later epochs. It reads `later`
 * when asked, so a map the logstore extends is seen at once; lookups by ID are O(1) (an index
 * by hex ID, rebuilt when the map grows).
 *
 * `admitted`, for a peer that folds the ACL: the service rotations its fold admitted, oldest
 * first. Its newest key is then the key of the newest admitted epoch it holds (with the ID the
 * rotate event names), not merely the newest held: a key an invite planted, or one kept from a
 * rotation the order refused, is a candidate for opening records only, never sealed under or
 * proved. Without `admitted` (a follower, or a thread without an ACL), the newest key held.
 *
 * @example
 * ```ts
 * const keys = serviceKeyring(thread.key.service, thread.serviceKeys)
 * keys.newest().epoch // 0 until a rotation
 * ```
 */
export function serviceKeyring(first: Uint8Array, later: ReadonlyMap<number, Uint8Array> = new Map(), admitted?: readonly AdmittedServiceKey[]): ServiceKeyring {
  const genesis: ServiceKey = { epoch: 0, key: first, id: serviceKeyId(first) }
  const genesisHex = hexOf(genesis.id)
  const all = (): ServiceKey[] => [genesis, ...indexOf(later).sorted]
  const byId = (id: Uint8Array): ServiceKey | undefined => {
    const hex = hexOf(id)
    return hex === genesisHex ? genesis : indexOf(later).byHex.get(hex)
  }
  const newest = (): ServiceKey => {
    if (admitted === undefined) return indexOf(later).sorted.at(-1) ?? genesis
    for (let i = admitted.length - 1; i >= 0; i--) {
      const a = admitted[i] as AdmittedServiceKey
      const key = later.get(a.epoch)
      if (key === undefined) continue
      const k: ServiceKey = { epoch: a.epoch, key, id: serviceKeyId(key) }
      if (a.id === undefined || sameBytes(a.id, k.id)) return k
    }
    return genesis
  }
  return {
    byEpoch: (epoch) => (epoch === 0 ? first : later.get(epoch)),
    first: () => genesis,
    byId,
    newest,
    all
  }
}

/** A keyring of one key (epoch 0), or the keyring given. */
export function asKeyring(keys: Uint8Array | ServiceKeyring): ServiceKeyring {
  return keys instanceof Uint8Array ? serviceKeyring(keys) : keys
}

/**
 * Seal a record node into its record block under a service key: the plain byte-string form for
 * epoch 0, `[keyId, box]` for a rotated key.
 */
export function sealRecordBlock(key: ServiceKey, plain: Uint8Array, nonce: Uint8Array): Block {
  return recordBlockOfBox(key, encrypt(key.key, plain, nonce))
}

/** `[id, box]` as dag-cbor, from the box's own byte-string encoding. */
function wrapBox(id: Uint8Array, encodedBox: Uint8Array): Uint8Array {
  const out = new Uint8Array(2 + SERVICE_KEY_ID_BYTES + encodedBox.length)
  out[0] = ARRAY_2
  out[1] = BYTES_8
  out.set(id, 2)
  out.set(encodedBox, 2 + SERVICE_KEY_ID_BYTES)
  return out
}

/**
 * Rebuild a record block from its box as sealed under the key of `epoch` (stored records keep the
 * box's nonce and the epoch).
 */
export function recordBlockOfBox(key: ServiceKey, box: Uint8Array): Block {
  const encoded = dagCbor.encode(box)
  return blockOf(key.epoch === 0 ? encoded : wrapBox(key.id, encoded))
}

/**
 * Split a record block into the key ID it names (`undefined`: the thread's first key) and its box.
 *
 * @throws {@link MalformedRecordError} for bytes of neither form.
 */
export function parseRecordBlock(bytes: Uint8Array, ctx: ErrorContext): { id: Uint8Array | undefined; box: Uint8Array } {
  if (bytes[0] !== ARRAY_2) return { id: undefined, box: boxOf(bytes, ctx) }
  if (bytes[1] !== BYTES_8 || bytes.length < 2 + SERVICE_KEY_ID_BYTES) throw new MalformedRecordError('not [key ID, box]', ctx)
  return { id: bytes.subarray(2, 2 + SERVICE_KEY_ID_BYTES), box: boxOf(bytes.subarray(2 + SERVICE_KEY_ID_BYTES), ctx) }
}

/**
 * The key that opens a record block, by the ID it names.
 *
 * @throws {@link UnknownServiceKeyError} when this peer holds no key with that ID (a rotation it
 * has not received yet, or one it was not given), {@link MalformedRecordError} for bad bytes or
 * for the array form naming the first key (the plain form is the only encoding under it).
 */
export function keyForRecordBlock(keys: ServiceKeyring, bytes: Uint8Array, ctx: ErrorContext): { key: ServiceKey; box: Uint8Array } {
  const { id, box } = parseRecordBlock(bytes, ctx)
  if (id === undefined) return { key: keys.first(), box }
  const key = keys.byId(id)
  if (key === undefined) throw new UnknownServiceKeyError('sealed under a service key this peer does not hold', ctx)
  // One encoding per record: under the first key the record block is the plain byte string.
  if (key.epoch === 0) throw new MalformedRecordError('the [key ID, box] form never names the first service key', ctx)
  return { key, box }
}
