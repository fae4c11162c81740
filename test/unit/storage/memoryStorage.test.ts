import { describe, expect, it } from 'vitest'
import { runStorageAdapterTests } from '../../../adapters/storage/conformance.js'
import { memoryStorage } from '../../../adapters/storage/memory.js'

runStorageAdapterTests('memory', async () => ({ adapter: memoryStorage() }))

describe('memoryStorage', () => {
  it('is atomic', () => {
    expect(memoryStorage().atomic).toBe(true)
  })

  it('rejects malformed keys before writing anything from the batch', async () => {
    const storage = memoryStorage()
    await expect(
      storage.batch([
        { type: 'put', key: ['ok'], value: new Uint8Array([1]) },
        { type: 'put', key: ['bad\u0000key'], value: new Uint8Array([1]) }
      ])
    ).rejects.toThrow(TypeError)
    await expect(storage.batch([{ type: 'put', key: [], value: new Uint8Array([1]) }])).rejects.toThrow(TypeError)
    expect(await storage.get(['ok'])).toBeUndefined()
    await expect(storage.get(['a\u0000b'])).rejects.toThrow(TypeError)
  })

  it('reads a snapshot: writes after iteration starts are not seen by it', async () => {
    const storage = memoryStorage()
    await storage.batch([
      { type: 'put', key: ['s', '1'], value: new Uint8Array([1]) },
      { type: 'put', key: ['s', '2'], value: new Uint8Array([2]) }
    ])
    const seen: number[] = []
    for await (const { value } of storage.range(['s'])) {
      seen.push(value[0] as number)
      await storage.batch([
        { type: 'put', key: ['s', '2'], value: new Uint8Array([20]) },
        { type: 'put', key: ['s', '3'], value: new Uint8Array([3]) }
      ])
    }
    expect(seen).toEqual([1, 2])
  })

  it('iterates 100k entries in order, with writes between reads', async () => {
    const storage = memoryStorage()
    const count = 100_000
    const key = (i: number): string[] => ['e', i.toString(16).padStart(8, '0')]
    await storage.batch(
      Array.from({ length: count }, (_, i) => ({ type: 'put' as const, key: key(count - 1 - i), value: new Uint8Array(0) }))
    )
    let seen = 0
    let outOfOrder = 0
    let previous = ''
    for await (const entry of storage.range(['e'])) {
      const id = entry.key[1] as string
      if (id <= previous) outOfOrder++
      previous = id
      seen++
    }
    expect(seen).toBe(count)
    expect(outOfOrder).toBe(0)
    // Appending then reading the tail is the event store's pattern: it must merge, not resort.
    for (let i = count; i < count + 200; i++) {
      await storage.batch([{ type: 'put', key: key(i), value: new Uint8Array(0) }])
      const [last] = await collectKeys(storage.range(['e'], { reverse: true, limit: 1 }))
      expect(last).toEqual(key(i))
    }
  })
})

async function collectKeys(entries: AsyncIterable<{ readonly key: readonly string[] }>): Promise<string[][]> {
  const out: string[][] = []
  for await (const entry of entries) out.push([...entry.key])
  return out
}
