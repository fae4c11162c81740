import 'fake-indexeddb/auto'
import localforage from 'localforage'
import { expect, it } from 'vitest'
import { localforageStorage } from '../../adapters/storage/localforage.js'

it('FINDING (persistence): batch-only writers stay broken after a versionchange until some localforage read reconnects', async () => {
  const name = `review-lf-persist-${process.pid}`
  const real = localforage.createInstance({ name, driver: localforage.INDEXEDDB })
  const s = localforageStorage({ instance: real })
  await s.batch([{ type: 'put', key: ['a'], value: new Uint8Array([1]) }])
  const version = (real as unknown as { _dbInfo: { db: IDBDatabase } })._dbInfo.db.version
  await new Promise<void>((resolve) => {
    const req = indexedDB.open(name, version + 1)
    req.onupgradeneeded = () => req.result.createObjectStore('other')
    req.onsuccess = () => (req.result.close(), resolve())
  })
  const outcomes: string[] = []
  for (let i = 0; i < 3; i++) outcomes.push(await s.batch([{ type: 'put', key: ['b', String(i)], value: new Uint8Array([i]) }]).then(() => 'ok', (e: Error) => e.name))
  await s.get(['a']) // a localforage read reconnects and refreshes _dbInfo.db
  outcomes.push(await s.batch([{ type: 'put', key: ['c'], value: new Uint8Array([1]) }]).then(() => 'ok', (e: Error) => e.name))
  expect(outcomes).toEqual(['ok', 'ok', 'ok', 'ok'])
  await localforage.dropInstance({ name })
})
