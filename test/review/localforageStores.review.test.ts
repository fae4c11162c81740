import 'fake-indexeddb/auto'
import localforage from 'localforage'
import { expect, it } from 'vitest'
import { localforageStorage } from '../../adapters/storage/localforage.js'

it('two adapters on two stores of one database (same realm): batches on the first survive the second opening its store', async () => {
  const name = `review-lf-stores-${process.pid}`
  const a = localforageStorage({ name, storeName: 'a' })
  await a.batch([{ type: 'put', key: ['x'], value: new Uint8Array([1]) }])
  const b = localforageStorage({ name, storeName: 'b' })
  const results = await Promise.allSettled([
    b.batch([{ type: 'put', key: ['y'], value: new Uint8Array([2]) }]),
    a.batch([{ type: 'put', key: ['x2'], value: new Uint8Array([3]) }]),
    Promise.resolve().then(() => a.batch([{ type: 'put', key: ['x3'], value: new Uint8Array([4]) }]))
  ])
  const after = await a.batch([{ type: 'put', key: ['x4'], value: new Uint8Array([5]) }]).then(() => 'ok', (e: Error) => e.name)
  expect([...results.map((r) => (r.status === 'fulfilled' ? 'ok' : (r.reason as Error).name)), after]).toEqual(['ok', 'ok', 'ok', 'ok'])
  expect(await a.get(['x4'])).toEqual(new Uint8Array([5]))
  expect(await b.get(['y'])).toEqual(new Uint8Array([2]))
  await localforage.dropInstance({ name })
})
