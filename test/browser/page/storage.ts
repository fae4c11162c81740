/**
 * Page entry: the shared storage conformance suite (adapters/storage/conformance.ts, unchanged)
 * on the localforage adapter over Chromium's real IndexedDB. `vitest` is the page-side runner
 * (vitestShim.ts), so the suite registers its cases here; Node runs each one by name.
 */
import localforage from 'localforage'
import { runStorageAdapterTests } from '../../../adapters/storage/conformance.js'
import { localforageStorage } from '../../../adapters/storage/localforage.js'
import { pageTests, runPageTest } from './vitestShim.js'

let n = 0

runStorageAdapterTests(
  'localforage on IndexedDB in Chromium',
  async () => {
    // A database of its own per test; dropped afterwards, so tests stay independent.
    const name = `conformance-${Date.now()}-${n++}`
    return {
      adapter: localforageStorage({ name }),
      reopen: async () => localforageStorage({ name }),
      teardown: () => localforage.dropInstance({ name })
    }
  },
  { persistent: true }
)

/** What the adapter wrote, read back with the raw IndexedDB API: the entries really are in IndexedDB. */
async function rawIndexedDb(): Promise<{ databases: string[]; stores: string[]; value: number[] | undefined }> {
  const name = `raw-${Date.now()}`
  const adapter = localforageStorage({ name })
  await adapter.batch([{ type: 'put', key: ['raw', 'k'], value: Uint8Array.of(1, 2, 3) }])
  await adapter.close()
  const databases = (await indexedDB.databases()).map((d) => d.name ?? '')
  const db = await new Promise<IDBDatabase>((resolve, reject) => {
    const req = indexedDB.open(name)
    req.onsuccess = () => resolve(req.result)
    req.onerror = () => reject(req.error)
  })
  const stores = Array.from(db.objectStoreNames)
  const value = await new Promise<unknown>((resolve, reject) => {
    const tx = db.transaction('storage', 'readonly')
    let found: unknown
    // Whatever key encoding the adapter uses: the store holds one entry, the one just written.
    const req = tx.objectStore('storage').openCursor()
    req.onsuccess = () => {
      const cursor = req.result
      if (cursor !== null) {
        found = cursor.value
        cursor.continue()
      }
    }
    tx.oncomplete = () => resolve(found)
    tx.onerror = () => reject(tx.error)
  })
  db.close()
  await localforage.dropInstance({ name })
  return { databases, stores, value: value instanceof Uint8Array ? [...value] : undefined }
}

export interface StorageHarness {
  rawIndexedDb: typeof rawIndexedDb
  tests(): string[]
  run: typeof runPageTest
}

const harness: StorageHarness = {
  rawIndexedDb,
  tests: pageTests,
  run: runPageTest
}
;(globalThis as { harness?: StorageHarness }).harness = harness
