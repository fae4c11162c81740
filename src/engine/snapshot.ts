import * as dagCbor from '@ipld/dag-cbor'
import { decrypt, encrypt } from '../core/keys.js'
import { CorruptStoreError } from '../core/errors.js'
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
  /** Per log: the effective clock of that record (clocks of a log only grow). */
  readonly clocks: Readonly<Record<string, number>>
}

const VERSION = 1

/**
 * Write a snapshot, encrypted with the thread's read key: snapshots hold plaintext state, and
 * nothing readable may rest on disk that the records themselves keep encrypted.
 */
export async function writeSnapshot<S>(storage: StorageAdapter, t: string, readKey: Uint8Array, snap: Snapshot<S>): Promise<number> {
  const plain = dagCbor.encode({
    v: VERSION,
    state: snap.state,
    count: snap.count,
    lastKey: snap.lastKey ?? null,
    heads: snap.heads,
    clocks: snap.clocks
  })
  const value = encrypt(readKey, plain)
  await storage.batch([{ type: 'put', key: keys.snapshot(t, 'latest'), value }])
  return value.length
}

/** Read the newest snapshot, or `undefined`. */
export async function readSnapshot<S>(storage: StorageAdapter, t: string, readKey: Uint8Array): Promise<Snapshot<S> | undefined> {
  const value = await storage.get(keys.snapshot(t, 'latest'))
  if (value === undefined) return undefined
  const plain = decrypt(readKey, value)
  if (plain === undefined) throw new CorruptStoreError('snapshot does not open with the read key')
  const v = dagCbor.decode(plain) as {
    v: number
    state: S
    count: number
    lastKey: OrderKey | null
    heads: Record<string, number>
    clocks: Record<string, number>
  }
  if (v.v !== VERSION) throw new CorruptStoreError(`snapshot version ${v.v} is not supported`)
  return { state: v.state, count: v.count, lastKey: v.lastKey ?? undefined, heads: v.heads, clocks: v.clocks }
}

/** Remove the snapshot (for example when it no longer matches the events). */
export async function deleteSnapshot(storage: StorageAdapter, t: string): Promise<void> {
  await storage.batch([{ type: 'del', key: keys.snapshot(t, 'latest') }])
}
