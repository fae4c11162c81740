/**
 * An in-memory {@link StorageAdapter}: deterministic and fast, for tests, demos and
 * short-lived sessions.
 *
 * @packageDocumentation
 */

import { StorageLockedError } from '../../core/errors.js'
import type {
  RangeOptions,
  StorageAdapter,
  StorageEntry,
  StorageKey,
  StorageOp
} from '../storageAdapter.js'
import { decodeKey, encodeKey, encodeRange, normaliseLimit } from './keyCodec.js'
import { SortedKeySet } from './sortedKeySet.js'

/**
 * Create an empty in-memory storage adapter. Batches are atomic. What it holds lives as long as
 * the object: after `close()`, the next peer to `acquire()` it reopens it (a restart).
 *
 * @remarks
 * Values are kept by reference, not copied, so that large stores stay cheap. Callers must not
 * mutate a `Uint8Array` after putting it, nor one returned by `get` or `range`. Storing the
 * same array under several keys is fine. `range` reads a snapshot taken when iteration starts.
 *
 * @example
 * ```ts
 * import { memoryStorage } from 'redux-p2p-threads/memory'
 *
 * const storage = memoryStorage()
 * await storage.batch([{ type: 'put', key: ['e', '1'], value: new Uint8Array([1]) }])
 * for await (const { key, value } of storage.range(['e'])) console.log(key, value)
 * await storage.close()
 * ```
 */
export function memoryStorage(): StorageAdapter {
  const values = new Map<string, Uint8Array>()
  const keys = new SortedKeySet()
  let closed = false
  /** A peer claimed it (see StorageAdapter.acquire). */
  let held = false

  function assertOpen(): void {
    // After close, until a peer acquires it again: failing loudly beats answering quietly.
    if (closed) throw new Error('memoryStorage: closed')
  }

  async function* range(prefix: StorageKey, options: RangeOptions = {}): AsyncGenerator<StorageEntry> {
    assertOpen()
    const limit = normaliseLimit(options.limit)
    const bounds = encodeRange(prefix, options)
    // Collect before the first yield so the caller sees one consistent state even if it
    // writes between steps.
    const entries: StorageEntry[] = []
    if (limit > 0) {
      for (const key of keys.walk(bounds, options.reverse === true)) {
        entries.push({ key: decodeKey(key), value: values.get(key) as Uint8Array })
        if (entries.length >= limit) break
      }
    }
    yield* entries
  }

  return {
    atomic: true,

    async get(key: StorageKey): Promise<Uint8Array | undefined> {
      assertOpen()
      return values.get(encodeKey(key))
    },

    async batch(ops: readonly StorageOp[]): Promise<void> {
      assertOpen()
      // Encode every key before the first write, so a bad key cannot leave half a batch applied.
      const encoded = ops.map((op) => encodeKey(op.key))
      ops.forEach((op, i) => {
        const key = encoded[i] as string
        if (op.type === 'put') {
          values.set(key, op.value)
          keys.add(key)
        } else {
          values.delete(key)
          keys.delete(key)
        }
      })
    },

    range,

    async acquire(): Promise<void> {
      if (held) throw new StorageLockedError('another peer holds this memory storage (one peer per storage)')
      held = true
      // A peer that closed it handed it on: the next one reopens it with what it holds, as a
      // LevelDB directory is reopened (a restart, in tests and demos).
      closed = false
    },

    async close(): Promise<void> {
      held = false
      closed = true
    }
  }
}
