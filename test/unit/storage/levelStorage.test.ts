import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, describe, expect, it } from 'vitest'
import { runStorageAdapterTests } from '../../../adapters/storage/conformance.js'
import { levelStorage } from '../../../adapters/storage/level.js'

async function tempDir(): Promise<string> {
  return mkdtemp(join(tmpdir(), 'redux-threads-level-'))
}

runStorageAdapterTests('level', async () => {
  const dir = await tempDir()
  return {
    adapter: levelStorage(dir),
    reopen: async () => levelStorage(dir),
    teardown: () => rm(dir, { recursive: true, force: true })
  }
}, { persistent: true })

describe('levelStorage', () => {
  const dirs: string[] = []
  afterEach(async () => {
    await Promise.all(dirs.splice(0).map((dir) => rm(dir, { recursive: true, force: true })))
  })

  it('is atomic', async () => {
    const dir = await tempDir()
    dirs.push(dir)
    const storage = levelStorage(dir)
    expect(storage.atomic).toBe(true)
    await storage.close()
  })

  it('persists a batch across reopen and leaves no partial batch when a key is malformed', async () => {
    const dir = await tempDir()
    dirs.push(dir)
    const first = levelStorage(dir)
    await first.batch([{ type: 'put', key: ['e', '1'], value: new Uint8Array([1]) }])
    await expect(
      first.batch([
        { type: 'put', key: ['e', '2'], value: new Uint8Array([2]) },
        { type: 'put', key: ['bad\u0000'], value: new Uint8Array([3]) }
      ])
    ).rejects.toThrow(TypeError)
    await first.close()
    const second = levelStorage(dir)
    expect(await second.get(['e', '1'])).toEqual(new Uint8Array([1]))
    expect(await second.get(['e', '2'])).toBeUndefined()
    await second.close()
  })

  it('reports an open failure through the first call, and still closes', async () => {
    const dir = await tempDir()
    dirs.push(dir)
    const storage = levelStorage(join(dir, 'absent'), { createIfMissing: false })
    await expect(storage.get(['x'])).rejects.toThrow()
    await expect(storage.close()).resolves.toBeUndefined()
  })
})
