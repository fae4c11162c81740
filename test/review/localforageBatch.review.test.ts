import 'fake-indexeddb/auto'
import localforage from 'localforage'
import { describe, expect, it } from 'vitest'
import { localforageStorage } from '../../adapters/storage/localforage.js'
import type { StorageAdapter } from '../../src/store/storageAdapter.js'

let n = 0
const uniqueName = () => `review-lf-${process.pid}-${++n}`
const keysOf = async (s: StorageAdapter) => {
  const out: unknown[] = []
  for await (const { key } of s.range([])) out.push(key)
  return out
}
const u = (...b: number[]) => new Uint8Array(b)

describe('review: localforage one-transaction batch', () => {
  it('applies put/del of the same key in batch order, and the key cache agrees (held)', async () => {
    const name = uniqueName()
    const s = localforageStorage({ name })
    await keysOf(s) // warm the key cache
    await s.batch([
      { type: 'put', key: ['a'], value: u(1) },
      { type: 'del', key: ['a'] },
      { type: 'del', key: ['b'] },
      { type: 'put', key: ['b'], value: u(2) },
      { type: 'put', key: ['c'], value: u(3) },
      { type: 'put', key: ['c'], value: u(4) }
    ])
    expect(await s.get(['a'])).toBeUndefined()
    expect(await s.get(['b'])).toEqual(u(2))
    expect(await s.get(['c'])).toEqual(u(4))
    expect(await keysOf(s)).toEqual([['b'], ['c']])
    const fresh = localforageStorage({ name })
    expect(await keysOf(fresh)).toEqual([['b'], ['c']])
    await s.close()
    await localforage.dropInstance({ name })
  })

  it('empty batch resolves and changes nothing (held)', async () => {
    const name = uniqueName()
    const s = localforageStorage({ name })
    await s.batch([{ type: 'put', key: ['x'], value: u(1) }])
    await expect(Promise.race([s.batch([]).then(() => 'done'), new Promise((r) => setTimeout(() => r('hung'), 2000))])).resolves.toBe('done')
    expect(await keysOf(s)).toEqual([['x']])
    await s.close()
    await localforage.dropInstance({ name })
  })

  it('a transaction aborted after its puts were issued lands nothing, and the key cache is not left claiming them (held)', async () => {
    const name = uniqueName()
    const real = localforage.createInstance({ name, driver: localforage.INDEXEDDB })
    const s = localforageStorage({ instance: real })
    await s.batch([{ type: 'put', key: ['keep'], value: u(1) }])
    expect(await keysOf(s)).toEqual([['keep']])
    const db = (real as unknown as { _dbInfo: { db: IDBDatabase } })._dbInfo.db
    const transaction = db.transaction.bind(db)
    let armed = true
    db.transaction = ((...args: Parameters<IDBDatabase['transaction']>) => {
      const tx = transaction(...args)
      if (armed && args[1] === 'readwrite') {
        armed = false
        // an asynchronous failure after every request was issued (quota, I/O)
        queueMicrotask(() => tx.abort())
      }
      return tx
    }) as IDBDatabase['transaction']
    await expect(
      s.batch([
        { type: 'put', key: ['e', '1'], value: u(1) },
        { type: 'del', key: ['keep'] },
        { type: 'put', key: ['e', '2'], value: u(2) }
      ])
    ).rejects.toBeInstanceOf(Error)
    expect(await s.get(['e', '1'])).toBeUndefined()
    expect(await s.get(['keep'])).toEqual(u(1))
    expect(await keysOf(s)).toEqual([['keep']])
    await s.close()
    await localforage.dropInstance({ name })
  })

  it('concurrent batches commit in call order; last writer wins (held)', async () => {
    const name = uniqueName()
    const s = localforageStorage({ name })
    await keysOf(s)
    await Promise.all([
      s.batch([{ type: 'put', key: ['k'], value: u(1) }, { type: 'put', key: ['a'], value: u(1) }]),
      s.batch([{ type: 'put', key: ['k'], value: u(2) }, { type: 'del', key: ['a'] }]),
      s.batch([{ type: 'put', key: ['k'], value: u(3) }])
    ])
    expect(await s.get(['k'])).toEqual(u(3))
    expect(await s.get(['a'])).toBeUndefined()
    expect(await keysOf(s)).toEqual([['k']])
    await s.close()
    await localforage.dropInstance({ name })
  })

  it('FINDING: after another tab upgrades/deletes the database (versionchange closes the connection), batch keeps failing where localforage.setItem recovers', async () => {
    const name = uniqueName()
    const real = localforage.createInstance({ name, driver: localforage.INDEXEDDB })
    const s = localforageStorage({ instance: real })
    await s.batch([{ type: 'put', key: ['a'], value: u(1) }])
    const version = (real as unknown as { _dbInfo: { db: IDBDatabase } })._dbInfo.db.version
    // "another tab" opens the same database at a higher version (adds a store); localforage's
    // onversionchange handler closes this instance's connection.
    await new Promise<void>((resolve, reject) => {
      const req = indexedDB.open(name, version + 1)
      req.onupgradeneeded = () => req.result.createObjectStore('other')
      req.onsuccess = () => {
        req.result.close()
        resolve()
      }
      req.onerror = () => reject(req.error)
    })
    // the safe behaviour: the write goes through (as localforage's own setItem does, via its reconnect)
    await expect(s.batch([{ type: 'put', key: ['b'], value: u(2) }])).resolves.toBeUndefined()
    expect(await s.get(['b'])).toEqual(u(2))
    await localforage.dropInstance({ name })
  })

  it('control: localforage setItem itself recovers after the same versionchange', async () => {
    const name = uniqueName()
    const real = localforage.createInstance({ name, driver: localforage.INDEXEDDB })
    await real.setItem('a', u(1))
    const version = (real as unknown as { _dbInfo: { db: IDBDatabase } })._dbInfo.db.version
    await new Promise<void>((resolve, reject) => {
      const req = indexedDB.open(name, version + 1)
      req.onupgradeneeded = () => req.result.createObjectStore('other')
      req.onsuccess = () => {
        req.result.close()
        resolve()
      }
      req.onerror = () => reject(req.error)
    })
    await real.setItem('b', u(2))
    expect(await real.getItem('b')).toEqual(u(2))
    await localforage.dropInstance({ name })
  })
})
