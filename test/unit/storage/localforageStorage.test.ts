import 'fake-indexeddb/auto'
import localforage from 'localforage'
import { describe, expect, it } from 'vitest'
import { runStorageAdapterTests } from '../../../adapters/storage/conformance.js'
import { localforageStorage } from '../../../adapters/storage/localforage.js'

let databases = 0
function uniqueName(): string {
  databases++
  return `redux-threads-test-${process.pid}-${databases}`
}

async function drop(name: string): Promise<void> {
  await localforage.dropInstance({ name })
}

runStorageAdapterTests('localforage', async () => {
  const name = uniqueName()
  return {
    adapter: localforageStorage({ name }),
    reopen: async () => localforageStorage({ name }),
    teardown: () => drop(name)
  }
}, { persistent: true })

/** Records when each write to the wrapped instance starts and finishes. */
/**
 * An instance whose writes are logged. It hides the driver (`driver()` answers null), so the
 * adapter takes its per-item path (`setItem` one after another), as for any instance that shares
 * no IndexedDB database.
 */
function recordingInstance(name: string): { instance: LocalForage; log: string[] } {
  const real = localforage.createInstance({ name, driver: localforage.INDEXEDDB })
  const log: string[] = []
  const instance: LocalForage = Object.create(real)
  instance.driver = () => null as unknown as string
  instance.setItem = async <T>(key: string, value: T): Promise<T> => {
    log.push(`start put ${key}`)
    const stored = await real.setItem(key, value)
    log.push(`end put ${key}`)
    return stored
  }
  instance.removeItem = async (key: string): Promise<void> => {
    log.push(`start del ${key}`)
    await real.removeItem(key)
    log.push(`end del ${key}`)
  }
  return { instance, log }
}

describe('localforageStorage', () => {
  it('is not atomic', async () => {
    const name = uniqueName()
    const storage = localforageStorage({ name })
    expect(storage.atomic).toBe(false)
    await storage.close()
    await drop(name)
  })

  it("writes a batch's last operation only after all the others finished", async () => {
    const name = uniqueName()
    const { instance, log } = recordingInstance(name)
    const storage = localforageStorage({ instance })
    await storage.batch([
      { type: 'put', key: ['e', '1'], value: new Uint8Array([1]) },
      { type: 'put', key: ['e', '2'], value: new Uint8Array([2]) },
      { type: 'del', key: ['e', '0'] },
      { type: 'put', key: ['head'], value: new Uint8Array([2]) }
    ])
    expect(log).toEqual([
      'start put e\u00001',
      'end put e\u00001',
      'start put e\u00002',
      'end put e\u00002',
      'start del e\u00000',
      'end del e\u00000',
      'start put head',
      'end put head'
    ])
    expect(await storage.get(['head'])).toEqual(new Uint8Array([2]))
    await storage.close()
    await drop(name)
  })

  it('keeps the writes before a failed operation and reports the failure', async () => {
    const name = uniqueName()
    const { instance } = recordingInstance(name)
    const failing: LocalForage = Object.create(instance)
    failing.setItem = async <T>(key: string, value: T): Promise<T> => {
      if (key === 'head') throw new Error('quota exceeded')
      return instance.setItem(key, value)
    }
    const storage = localforageStorage({ instance: failing })
    await storage.batch([{ type: 'put', key: ['e', '0'], value: new Uint8Array([0]) }])
    await expect(
      storage.batch([
        { type: 'put', key: ['e', '1'], value: new Uint8Array([1]) },
        { type: 'put', key: ['head'], value: new Uint8Array([1]) }
      ])
    ).rejects.toThrow('quota exceeded')
    expect(await storage.get(['head'])).toBeUndefined()
    expect(await collectKeys(storage.range([]))).toEqual([['e', '0'], ['e', '1']])
    await storage.close()
    await drop(name)
  })

  it('writes a batch in one IndexedDB transaction under localforage: all of it, or on a failure none of it', async () => {
    const name = uniqueName()
    const real = localforage.createInstance({ name, driver: localforage.INDEXEDDB })
    let setItems = 0
    const counting: LocalForage = Object.create(real)
    counting.setItem = async <T>(key: string, value: T): Promise<T> => {
      setItems++
      return real.setItem(key, value)
    }
    const storage = localforageStorage({ instance: counting })
    await storage.batch([
      { type: 'put', key: ['e', '1'], value: new Uint8Array([1]) },
      { type: 'put', key: ['e', '2'], value: new Uint8Array([2]) },
      { type: 'del', key: ['e', '1'] },
      { type: 'put', key: ['head'], value: new Uint8Array([2]) }
    ])
    expect(setItems).toBe(0)
    // What one transaction wrote, localforage reads back.
    expect(await real.getItem('head')).toEqual(new Uint8Array([2]))
    expect(await collectKeys(storage.range([]))).toEqual([['e', '2'], ['head']])
    // A put that throws (as for a value IndexedDB cannot clone) aborts the transaction: nothing
    // of the batch lands.
    const info = (real as unknown as { _dbInfo: { db: IDBDatabase } })._dbInfo
    const db = info.db
    const transaction = db.transaction.bind(db)
    db.transaction = ((...args: Parameters<IDBDatabase['transaction']>) => {
      const tx = transaction(...args)
      const objectStore = tx.objectStore.bind(tx)
      tx.objectStore = (storeName: string) => {
        const store = objectStore(storeName)
        const put = store.put.bind(store)
        store.put = (value: unknown, key?: IDBValidKey) => {
          if (key === 'bad') throw new DOMException('could not be cloned', 'DataCloneError')
          return put(value, key)
        }
        return store
      }
      return tx
    }) as IDBDatabase['transaction']
    await expect(
      storage.batch([
        { type: 'put', key: ['e', '3'], value: new Uint8Array([3]) },
        { type: 'put', key: ['bad'], value: new Uint8Array([9]) }
      ])
    ).rejects.toThrow('could not be cloned')
    expect(await storage.get(['e', '3'])).toBeUndefined()
    expect(await collectKeys(storage.range([]))).toEqual([['e', '2'], ['head']])
    await storage.close()
    await drop(name)
  })

  it('does not cache a key listing that raced with a write', async () => {
    const name = uniqueName()
    const real = localforage.createInstance({ name, driver: localforage.INDEXEDDB })
    let release: () => void = () => undefined
    const gate = new Promise<void>((resolve) => {
      release = resolve
    })
    let listed: () => void = () => undefined
    const listing = new Promise<void>((resolve) => {
      listed = resolve
    })
    const slowKeys: LocalForage = Object.create(real)
    slowKeys.keys = async (): Promise<string[]> => {
      const keys = await real.keys()
      listed()
      await gate
      return keys
    }
    const storage = localforageStorage({ instance: slowKeys })
    await storage.batch([{ type: 'put', key: ['k', '1'], value: new Uint8Array([1]) }])
    const first = collectKeys(storage.range(['k']))
    await listing
    await storage.batch([{ type: 'put', key: ['k', '2'], value: new Uint8Array([2]) }])
    release()
    expect(await first).toEqual([['k', '1']])
    expect(await collectKeys(storage.range(['k']))).toEqual([['k', '1'], ['k', '2']])
    await storage.close()
    await drop(name)
  })

  it('sees writes made before the first range through another adapter on the same store', async () => {
    const name = uniqueName()
    const writer = localforageStorage({ name })
    await writer.batch([{ type: 'put', key: ['k', '1'], value: new Uint8Array([1]) }])
    const reader = localforageStorage({ name })
    expect(await collectKeys(reader.range(['k']))).toEqual([['k', '1']])
    await writer.close()
    await reader.close()
    await drop(name)
  })
})

async function collectKeys(entries: AsyncIterable<{ readonly key: readonly string[] }>): Promise<string[][]> {
  const out: string[][] = []
  for await (const entry of entries) out.push([...entry.key])
  return out
}
