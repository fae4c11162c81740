import * as dagCbor from '@ipld/dag-cbor'
import { CID } from 'multiformats/cid'
import { decrypt, encrypt } from '../core/keys.js'
import { CorruptStoreError, SnapshotError, UnsupportedFormatError } from '../core/errors.js'
import { isRecordId } from '../core/recordId.js'
import type { StorageAdapter } from '../store/storageAdapter.js'
import { keys } from '../store/storageKeys.js'
import type { OrderKey } from './threadEvent.js'

/**
 * The state of a thread's projection at a point of its total order: every event of each log up
 * to `heads[log]` is folded in, and nothing else. A restart folds only what follows.
 */
export interface Snapshot<S> {
  readonly state: S
  /** Events folded into `state`. */
  readonly count: number
  /** Order key of the newest folded event. */
  readonly lastKey: OrderKey | undefined
  /** Per log: the last seq folded in. */
  readonly heads: Readonly<Record<string, number>>
  /** Per log: the identity of that record, which the events read after the snapshot must chain to. */
  readonly ids: Readonly<Record<string, CID>>
  /** Per log: the effective clock of that record (clocks of a log only grow). */
  readonly clocks: Readonly<Record<string, number>>
  /** The projection version that wrote it (see `ThreadEngineOptions.version`). */
  readonly version?: string
}

/** The first path in `value` that dag-cbor cannot encode, and why; `undefined` when it can. */
export function unencodablePath(value: unknown, path = 'state'): string | undefined {
  if (value === undefined) return `${path} is undefined`
  if (typeof value === 'number' && !Number.isFinite(value)) return `${path} is ${String(value)}`
  if (typeof value === 'function' || typeof value === 'symbol' || typeof value === 'bigint') return `${path} is a ${typeof value}`
  if (value === null || typeof value !== 'object' || value instanceof Uint8Array) return undefined
  if (Array.isArray(value)) {
    for (let i = 0; i < value.length; i++) {
      const bad = unencodablePath(value[i], `${path}[${i}]`)
      if (bad !== undefined) return bad
    }
    return undefined
  }
  if (CID.asCID(value) !== null) return undefined
  const proto = Object.getPrototypeOf(value) as unknown
  if (proto !== Object.prototype && proto !== null) return `${path} is a ${(value as object).constructor?.name ?? 'class instance'}`
  for (const [k, v] of Object.entries(value)) {
    const bad = unencodablePath(v, `${path}.${k}`)
    if (bad !== undefined) return bad
  }
  return undefined
}

/** dag-cbor bytes of a snapshot, or a {@link SnapshotError} that names the value it cannot hold. */
function encodeOrExplain(value: Record<string, unknown>): Uint8Array {
  try {
    return dagCbor.encode(value)
  } catch (cause) {
    // The engine's state holds the system state and the app's: name paths in the app's.
    const st = value.state as { app?: unknown } | null
    const path = unencodablePath(st !== null && typeof st === 'object' && 'app' in st && 'system' in st ? st.app : st) ?? 'the state'
    throw new SnapshotError(`the thread state cannot be snapshotted: ${path} (store plain data: strings, numbers, booleans, null, arrays, objects; make dates ISO strings and ids strings when the command is made)`, {}, { cause })
  }
}

const VERSION = 2

/**
 * Write a snapshot, encrypted with the thread's read key: snapshots hold plaintext state, and
 * nothing readable may rest on disk that the records themselves keep encrypted.
 */
export async function writeSnapshot<S>(storage: StorageAdapter, t: string, readKey: Uint8Array, snap: Snapshot<S>, version?: string): Promise<number> {
  const plain = encodeOrExplain({
    v: VERSION,
    state: snap.state,
    count: snap.count,
    lastKey: snap.lastKey ?? null,
    heads: snap.heads,
    ids: snap.ids,
    clocks: snap.clocks,
    ...(version === undefined ? {} : { version })
  })
  const value = encrypt(readKey, plain)
  await storage.batch([{ type: 'put', key: keys.snapshot(t, 'latest'), value }])
  return value.length
}

/**
 * Read the newest snapshot, or `undefined`.
 *
 * @throws {@link CorruptStoreError} when it does not open with the read key or is not a snapshot
 * (damaged in storage), {@link UnsupportedFormatError} for another version: the caller folds from
 * the events instead.
 */
export async function readSnapshot<S>(storage: StorageAdapter, t: string, readKey: Uint8Array): Promise<Snapshot<S> | undefined> {
  const value = await storage.get(keys.snapshot(t, 'latest'))
  if (value === undefined) return undefined
  const plain = decrypt(readKey, value)
  if (plain === undefined) throw new CorruptStoreError('snapshot does not open with the read key (damaged in storage)')
  let v: { v: number; state: S; count: number; lastKey: OrderKey | null; heads: Record<string, number>; ids: Record<string, CID>; clocks: Record<string, number>; version?: unknown }
  try {
    v = dagCbor.decode(plain) as typeof v
  } catch (cause) {
    throw new CorruptStoreError('snapshot is not dag-cbor', {}, { cause })
  }
  if (typeof v !== 'object' || v === null) throw new CorruptStoreError('snapshot is not a map')
  if (v.v !== VERSION) throw new UnsupportedFormatError(`snapshot version ${String(v.v)} is not supported`)
  const ok =
    typeof v.count === 'number' &&
    typeof v.heads === 'object' && v.heads !== null &&
    typeof v.ids === 'object' && v.ids !== null &&
    typeof v.clocks === 'object' && v.clocks !== null &&
    Object.entries(v.heads).every(([log, seq]) => Number.isSafeInteger(seq) && seq >= 1 && isRecordId(v.ids[log])) &&
    Object.values(v.clocks).every((c) => Number.isSafeInteger(c) && c >= 0)
  if (!ok) throw new CorruptStoreError('snapshot fields are damaged')
  return { state: v.state, count: v.count, lastKey: v.lastKey ?? undefined, heads: v.heads, ids: v.ids, clocks: v.clocks, ...(typeof v.version === 'string' ? { version: v.version } : {}) }
}

/** Remove the snapshot (for example when it no longer matches the events). */
export async function deleteSnapshot(storage: StorageAdapter, t: string): Promise<void> {
  await storage.batch([{ type: 'del', key: keys.snapshot(t, 'latest') }])
}
