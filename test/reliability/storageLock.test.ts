/**
 * Issue 8 §9: two peers on one storage (two tabs of one app, two instances on one directory or
 * object) would both take one identity and fork its logs. Only one peer holds a storage at a
 * time; the second gets a StorageLockedError before it reads or writes anything.
 */
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import 'fake-indexeddb/auto'
import { afterAll, describe, expect, it } from 'vitest'
import { levelStorage } from '../../adapters/storage/level.js'
import { localforageStorage } from '../../adapters/storage/localforage.js'
import { memoryStorage } from '../../adapters/storage/memory.js'
import { createPeer } from '../../src/redux/createPeer.js'

const dirs: string[] = []
afterAll(async () => {
  for (const d of dirs) await rm(d, { recursive: true, force: true })
})

describe('one peer per storage (issue 8 §9)', () => {
  it('memory: a second peer on the same object is refused; after close it may open', async () => {
    const storage = memoryStorage()
    await storage.acquire!()
    await expect(storage.acquire!()).rejects.toMatchObject({ name: 'StorageLockedError' })
  })

  it('LevelDB: a second peer on the same directory is refused by name, the first keeps working', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'rt-lock-'))
    dirs.push(dir)
    const first = createPeer({ storage: levelStorage(dir) })
    await first.start()
    // The second peer is made at once (createPeer is synchronous) and refused when it starts.
    const second = createPeer({ storage: levelStorage(dir) })
    await expect(second.start()).rejects.toMatchObject({ name: 'StorageLockedError' })
    await expect(first.storedThreads()).resolves.toEqual([])
    await first.close()
    // Released: the next peer opens it, with the same identity.
    const again = createPeer({ storage: levelStorage(dir) })
    await again.start()
    expect(again.id).toBe(first.id)
    await again.close()
  })

  it('IndexedDB (localforage): a second peer on the same database is refused until the first closes', async () => {
    const name = `lock-${Math.random().toString(36).slice(2)}`
    const first = localforageStorage({ name })
    await first.acquire!()
    const second = localforageStorage({ name })
    await expect(second.acquire!()).rejects.toMatchObject({ name: 'StorageLockedError' })
    await first.close()
    await expect(second.acquire!()).resolves.toBeUndefined()
    await second.close()
  })
})
