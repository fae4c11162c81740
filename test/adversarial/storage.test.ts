/**
 * Issue 7 §7: every byte read back from storage may be damaged. Damage is found where it is read
 * (records' identities, heads, keys, snapshots), reported as CorruptStoreError, never served and
 * never folded; a stored record is never overwritten by a different one; a damaged record is
 * repaired from peers that have it.
 */
import * as dagCbor from '@ipld/dag-cbor'
import { describe, expect, it } from 'vitest'
import { memoryStorage } from '../../adapters/storage/memory.js'
import type { StorageAdapter } from '../../src/store/storageAdapter.js'
import { keys } from '../../src/store/storageKeys.js'
import { generateLogKey } from '../../src/core/keys.js'
import { blocksOf, newThread, openEngine, openWriter, write, type TestEngine, type TestThread } from '../support/engines.js'

const items = (n: number): string[] => Array.from({ length: n }, (_, i) => `item${i + 1}`)

function where(t: TestEngine, logId: string): { tn: string; ln: string } {
  const thread = t.store.logstore.getThread(t.engine.thread.id)
  const log = t.store.logstore.log(thread.id, logId)!
  return { tn: thread.n, ln: log.n }
}

async function flip(storage: StorageAdapter, key: string[], at: number): Promise<void> {
  const bytes = await storage.get(key)
  if (bytes === undefined) throw new Error(`nothing stored at ${key.join('/')}`)
  const copy = Uint8Array.from(bytes)
  const i = at < 0 ? copy.length + at : at
  copy[i] = copy[i]! ^ 0x5a
  await storage.batch([{ type: 'put', key, value: copy }])
}

/** A writer with 20 items, and a second peer holding them: the one repairs the other. */
async function twenty(): Promise<{ thread: TestThread; writer: TestEngine; storage: StorageAdapter; logId: string; peer: TestEngine }> {
  const thread = newThread()
  const storage = memoryStorage()
  const logKey = generateLogKey()
  const writer = await openWriter(thread, { storage, logKey })
  await write(writer, ...items(20))
  const peer = await openEngine(thread)
  await peer.engine.ingest(logKey.id, await blocksOf(writer, logKey.id))
  return { thread, writer, storage, logId: logKey.id, peer }
}

function reopen(thread: TestThread, storage: StorageAdapter): Promise<TestEngine> {
  return openEngine(thread, { storage })
}

describe('storage integrity (issue 7 §7)', () => {
  it('a flipped byte in a stored record body is found on open, reported, never folded, and repaired from a peer', async () => {
    const { thread, writer, storage, peer } = await twenty()
    const other = generateLogKey()
    const reader = await openWriter(thread, { logKey: other })
    await reader.engine.ingest(writer.logKey!.id, await blocksOf(writer, writer.logKey!.id))
    // Damage record 12 of the writer's log in the reader's storage: the body box is last.
    const { tn, ln } = where(reader, writer.logKey!.id)
    await flip(reader.storage, keys.record(tn, ln, 12), -3)
    const again = await reopen(thread, reader.storage)
    expect(again.engine.damage.map((e) => e.name)).toContain('CorruptStoreError')
    expect(again.engine.damage.find((e) => e.name === 'CorruptStoreError')?.seq).toBe(12)
    // Only what is intact is folded; the head is lowered below the damage, so sync pulls it.
    expect(again.engine.state).toEqual(items(11))
    expect(again.engine.heads().get(writer.logKey!.id)?.seq).toBe(11)
    // A peer's records fill the log again; nothing is lost.
    const result = await again.engine.ingest(writer.logKey!.id, await blocksOf(peer, writer.logKey!.id))
    expect(result.rejected).toEqual([])
    expect(again.engine.state).toEqual(items(20))
    expect(storage).toBeDefined()
  })

  it('a damaged record is never served: the page stops before it, and the damage is reported', async () => {
    const { thread, writer } = await twenty()
    const follower = await openEngine(thread, { key: { service: thread.key.service } })
    await follower.engine.ingest(writer.logKey!.id, await blocksOf(writer, writer.logKey!.id))
    const { tn, ln } = where(follower, writer.logKey!.id)
    await flip(follower.storage, keys.record(tn, ln, 7), -2)
    // Reopened: records written lately are served from memory, as they were written.
    const served = await openEngine(thread, { storage: follower.storage, key: { service: thread.key.service } })
    const errors: string[] = []
    served.engine.events.on('rejected', (e) => errors.push(e.name))
    const page = await served.engine.records(writer.logKey!.id, 1, 20)
    expect(page.map((r) => r.seq)).toEqual([1, 2, 3, 4, 5, 6])
    expect(errors).toContain('CorruptStoreError')
    // The receiver of that page takes it whole, with no error to blame on the server.
    const fresh = await openEngine(thread)
    const got = await fresh.engine.ingest(writer.logKey!.id, page.map((r) => ({ record: r.blocks.record.bytes, event: r.blocks.event.bytes, header: r.blocks.header.bytes, body: r.blocks.body.bytes })))
    expect(got.rejected).toEqual([])
    expect(fresh.engine.state).toEqual(items(6))
  })

  it('a lowered head: the records above it are adopted, never overwritten, and the next command continues the log', async () => {
    const { thread, writer, storage } = await twenty()
    const logId = writer.logKey!.id
    const { tn, ln } = where(writer, logId)
    const h18 = (await writer.store.records(thread.threadId, logId, { from: 18, to: 18 }))[0]!
    await storage.batch([{ type: 'put', key: keys.head(tn, ln), value: dagCbor.encode({ id: h18.id, seq: 18 }) }])
    const again = await openWriter(thread, { storage, logKey: writer.logKey! })
    expect(again.engine.state).toEqual(items(20))
    expect(again.engine.heads().get(logId)?.seq).toBe(20)
    const before = await storage.get(keys.record(tn, ln, 19))
    await write(again, 'item21')
    expect(await storage.get(keys.record(tn, ln, 19))).toEqual(before)
    expect(again.engine.heads().get(logId)?.seq).toBe(21)
  })

  it('one changed byte of the stored read key is reported, and nothing is folded or written with it', async () => {
    const { thread, writer, storage } = await twenty()
    const bytes = await storage.get(keys.thread(thread.threadId.toString()))
    const entry = dagCbor.decode(bytes!) as { n: string; key: Uint8Array; check: Uint8Array }
    const key = Uint8Array.from(entry.key)
    key[40] = key[40]! ^ 1 // a byte of the read key (service ‖ read)
    await storage.batch([{ type: 'put', key: keys.thread(thread.threadId.toString()), value: dagCbor.encode({ ...entry, key }) }])
    const again = await openWriter(thread, { storage, logKey: writer.logKey! })
    expect(again.engine.damage.map((e) => e.name)).toEqual(['CorruptStoreError'])
    expect(again.engine.writeBlocked?.name).toBe('CorruptStoreError')
    expect(() => again.engine.command({ type: 'test/added', payload: 'x' })).toThrow(expect.objectContaining({ name: 'CorruptStoreError' }))
  })

  it('a damaged snapshot is reported and the state is folded from the events instead', async () => {
    const thread = newThread()
    const storage = memoryStorage()
    const logKey = generateLogKey()
    const writer = await openEngine(thread, { storage, logKey, engine: { snapshotEvery: 5 } })
    await write(writer, ...items(12))
    await writer.engine.flush()
    const { tn } = where(writer, logKey.id)
    await flip(storage, keys.snapshot(tn, 'latest'), 20)
    const again = await openEngine(thread, { storage, logKey, engine: { snapshotEvery: 5 } })
    expect(again.engine.damage.map((e) => e.name)).toEqual(['CorruptStoreError'])
    expect(again.engine.state).toEqual(items(12))
  })

  it('this peer’s own log damaged in storage: commands are refused until peers give the log back, then it continues without a fork', async () => {
    const { thread, writer, storage, logId, peer } = await twenty()
    const { tn, ln } = where(writer, logId)
    await flip(storage, keys.record(tn, ln, 15), -4)
    const again = await openWriter(thread, { storage, logKey: writer.logKey! })
    expect(again.engine.state).toEqual(items(14))
    expect(again.engine.ownLogRecovery).toBe(20)
    expect(() => again.engine.command({ type: 'test/added', payload: 'x' })).toThrow(expect.objectContaining({ name: 'CorruptStoreError' }))
    const back = await again.engine.ingest(logId, await blocksOf(peer, logId))
    expect(back.rejected).toEqual([])
    expect(again.engine.ownLogRecovery).toBeUndefined()
    expect(again.engine.state).toEqual(items(20))
    const [next] = await write(again, 'item21')
    // The peer takes it: the log goes on from seq 20, no fork.
    const taken = await peer.engine.ingest(logId, [next!])
    expect(taken.rejected).toEqual([])
    expect(peer.engine.state).toEqual(items(21))
  })

  it('a damaged head entry is reported, not thrown: the thread still opens', async () => {
    const { thread, writer, storage, logId } = await twenty()
    const { tn, ln } = where(writer, logId)
    await storage.batch([{ type: 'put', key: keys.head(tn, ln), value: Uint8Array.of(0xff, 0x00) }])
    const again = await openWriter(thread, { storage, logKey: writer.logKey! })
    expect(again.engine.damage.map((e) => e.name)).toContain('CorruptStoreError')
    // The records are still there: adopted from seq 1 as orphans of a log without a head.
    expect(again.engine.state).toEqual(items(20))
  })
})
