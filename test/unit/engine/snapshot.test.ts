/**
 * Snapshots, version 2: the state at a point of the total order, with each log's last folded seq
 * and the identity of that record, encrypted with the read key. Anything else found in their
 * place is damage (or another version), which the engine reports and folds past.
 */
import * as dagCbor from '@ipld/dag-cbor'
import { describe, expect, it } from 'vitest'
import { memoryStorage } from '../../../adapters/storage/memory.js'
import { createThreadKey, encrypt, generateLogKey } from '../../../src/core/keys.js'
import { ThreadId } from '../../../src/core/threadId.js'
import { deleteSnapshot, readSnapshot, unencodablePath, writeSnapshot, type Snapshot } from '../../../src/engine/snapshot.js'
import { keys } from '../../../src/store/storageKeys.js'
import { headOf, makeRecords } from '../store/storeHelpers.js'

const thread = ThreadId.create()
const threadKey = createThreadKey()
const a = generateLogKey()
const b = generateLogKey()
const ra = makeRecords(thread, a, threadKey, 3)
const rb = makeRecords(thread, b, threadKey, 2)

const snap: Snapshot<{ items: string[] }> = {
  state: { items: ['x', 'y'] },
  count: 5,
  lastKey: { clock: 3, logId: a.id, seq: 3 },
  heads: { [a.id]: 3, [b.id]: 2 },
  ids: { [a.id]: headOf(ra[2]!).id, [b.id]: headOf(rb[1]!).id },
  clocks: { [a.id]: 3, [b.id]: 2 }
}

async function rejection(p: Promise<unknown>): Promise<Error> {
  try {
    await p
  } catch (e) {
    return e as Error
  }
  throw new Error('expected a rejection')
}

/** Store `value` (dag-cbor, encrypted with the read key) where the snapshot lives. */
async function putRaw(storage: ReturnType<typeof memoryStorage>, value: unknown): Promise<void> {
  await storage.batch([{ type: 'put', key: keys.snapshot('t0', 'latest'), value: encrypt(threadKey.read, dagCbor.encode(value)) }])
}

describe('snapshots', () => {
  it('round-trips a snapshot: state, count, last key, and each log\'s seq with its identity', async () => {
    const storage = memoryStorage()
    expect(await readSnapshot(storage, 't0', threadKey.read)).toBeUndefined()
    const bytes = await writeSnapshot(storage, 't0', threadKey.read, snap, 'v7')
    expect(bytes).toBeGreaterThan(0)
    const back = await readSnapshot<{ items: string[] }>(storage, 't0', threadKey.read)
    expect(back?.state).toEqual(snap.state)
    expect(back?.count).toBe(5)
    expect(back?.lastKey).toEqual(snap.lastKey)
    expect(back?.heads).toEqual(snap.heads)
    expect(back?.clocks).toEqual(snap.clocks)
    expect(back?.version).toBe('v7')
    expect(back?.ids[a.id]?.equals(ra[2]!.id)).toBe(true)
    expect(back?.ids[b.id]?.equals(rb[1]!.id)).toBe(true)
    await deleteSnapshot(storage, 't0')
    expect(await readSnapshot(storage, 't0', threadKey.read)).toBeUndefined()
  })

  it('is encrypted at rest: no plaintext state, and another read key does not open it', async () => {
    const storage = memoryStorage()
    await writeSnapshot(storage, 't0', threadKey.read, { ...snap, state: { items: ['a very secret grocery'] } })
    const raw = (await storage.get(keys.snapshot('t0', 'latest')))!
    expect(Buffer.from(raw).includes(Buffer.from('secret'))).toBe(false)
    expect((await rejection(readSnapshot(storage, 't0', createThreadKey().read))).name).toBe('CorruptStoreError')
  })

  it('reports a damaged snapshot (a flipped byte) as CorruptStoreError', async () => {
    const storage = memoryStorage()
    await writeSnapshot(storage, 't0', threadKey.read, snap)
    const raw = Uint8Array.from((await storage.get(keys.snapshot('t0', 'latest')))!)
    raw[raw.length - 5] = (raw[raw.length - 5] as number) ^ 1
    await storage.batch([{ type: 'put', key: keys.snapshot('t0', 'latest'), value: raw }])
    expect((await rejection(readSnapshot(storage, 't0', threadKey.read))).name).toBe('CorruptStoreError')
  })

  it('refuses a snapshot of another version (the first format had no identities) with UnsupportedFormatError', async () => {
    const storage = memoryStorage()
    const { ids: _, ...v1 } = { ...snap, v: 1, lastKey: snap.lastKey }
    await putRaw(storage, v1)
    expect((await rejection(readSnapshot(storage, 't0', threadKey.read))).name).toBe('UnsupportedFormatError')
    await putRaw(storage, { ...snap, v: 3 })
    expect((await rejection(readSnapshot(storage, 't0', threadKey.read))).name).toBe('UnsupportedFormatError')
  })

  it.each([
    ['a head without its identity', { ids: { [a.id]: ra[2]!.id } }],
    ['an identity that is a record block CID', { ids: { [a.id]: ra[2]!.cid, [b.id]: rb[1]!.id } }],
    ['a seq of 0', { heads: { [a.id]: 0, [b.id]: 2 } }],
    ['a negative clock', { clocks: { [a.id]: -1 } }],
    ['no count', { count: 'five' }],
    ['no heads', { heads: null }]
  ])('reports a snapshot with %s as CorruptStoreError', async (_, change) => {
    const storage = memoryStorage()
    await putRaw(storage, { ...snap, lastKey: snap.lastKey, v: 2, ...change })
    expect((await rejection(readSnapshot(storage, 't0', threadKey.read))).name).toBe('CorruptStoreError')
  })

  it('names the value a state cannot hold (SnapshotError), writing nothing', async () => {
    const storage = memoryStorage()
    const e = await rejection(writeSnapshot(storage, 't0', threadKey.read, { ...snap, state: { items: ['ok'], when: new Date(0) } as unknown as { items: string[] } }))
    expect(e.name).toBe('SnapshotError')
    expect(e.message).toContain('state.when is a Date')
    expect(await storage.get(keys.snapshot('t0', 'latest'))).toBeUndefined()
    expect(unencodablePath({ a: [1, { b: undefined }] })).toBe('state.a[1].b is undefined')
    expect(unencodablePath({ n: Number.NaN })).toBe('state.n is NaN')
    expect(unencodablePath({ bytes: new Uint8Array(2), ok: [null, true, 'x'] })).toBeUndefined()
  })

  it('names the right value when the state also holds a CID (which dag-cbor encodes)', async () => {
    expect(unencodablePath({ id: ra[0]!.id })).toBeUndefined()
    const storage = memoryStorage()
    const e = await rejection(writeSnapshot(storage, 't0', threadKey.read, { ...snap, state: { id: ra[0]!.id, when: new Date(0) } as unknown as { items: string[] } }))
    expect(e.name).toBe('SnapshotError')
    expect(e.message).toContain('state.when is a Date')
  })
})
