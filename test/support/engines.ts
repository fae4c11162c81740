/**
 * Engine-level fixtures for adversarial and property tests: threads on real EventStores (memory
 * storage unless given), writers by log key, and the blocks of what each wrote.
 */
import { memoryStorage } from '../../adapters/storage/memory.js'
import { boxOf, encryptBlock, openBox } from '../../src/core/block.js'
import { createThreadKey, generateLogKey, type LogKey, type ThreadKey } from '../../src/core/keys.js'
import { recordBlocks, type RecordBlocks } from '../../src/core/record.js'
import { ThreadId } from '../../src/core/threadId.js'
import { ThreadEngine, type ThreadEngineOptions } from '../../src/engine/threadEngine.js'
import type { ThreadEvent } from '../../src/engine/threadEvent.js'
import { EventStore } from '../../src/store/eventStore.js'
import type { StorageAdapter } from '../../src/store/storageAdapter.js'

/** The projection every test engine folds: the payloads, in the total order (not commutative). */
export const listProjection = {
  initial: [] as readonly string[],
  fold: (s: readonly string[], e: ThreadEvent): readonly string[] => [...s, String(e.command.payload)]
}

export interface TestThread {
  readonly threadId: ThreadId
  readonly key: Required<ThreadKey>
}

export function newThread(): TestThread {
  return { threadId: ThreadId.create(), key: createThreadKey() }
}

export interface TestEngine {
  readonly engine: ThreadEngine<readonly string[]>
  readonly store: EventStore
  readonly storage: StorageAdapter
  readonly logKey: LogKey | undefined
}

/** Open an engine of `thread` on `storage`; with `logKey`, the peer writes its own log. */
export async function openEngine(
  thread: TestThread,
  options: { storage?: StorageAdapter; logKey?: LogKey; key?: ThreadKey; engine?: Partial<ThreadEngineOptions<readonly string[]>> } = {}
): Promise<TestEngine> {
  const storage = options.storage ?? memoryStorage()
  const store = await EventStore.open(storage)
  if (store.logstore.thread(thread.threadId) === undefined) await store.logstore.addThread(thread.threadId, options.key ?? thread.key)
  if (options.logKey !== undefined) await store.logstore.addLog(thread.threadId, options.logKey.id, options.logKey)
  const engine = await ThreadEngine.open({ store, threadId: thread.threadId, projection: listProjection, snapshotEvery: 0, ...options.engine })
  return { engine, store, storage, logKey: options.logKey }
}

/** A writer engine with a fresh log key. */
export function openWriter(thread: TestThread, options: { storage?: StorageAdapter; logKey?: LogKey } = {}): Promise<TestEngine> {
  return openEngine(thread, { ...options, logKey: options.logKey ?? generateLogKey() })
}

/** Write `payloads` as commands; returns the blocks of the records written, in order. */
export async function write(t: TestEngine, ...payloads: string[]): Promise<RecordBlocks[]> {
  const out: RecordBlocks[] = []
  for (const p of payloads) {
    const { record, durable } = t.engine.command({ type: 'test/added', payload: p })
    out.push(recordBlocks(record))
    await durable
  }
  return out
}

/** Every record of a log as `t` has it, as blocks. */
export async function blocksOf(t: TestEngine, logId: string): Promise<RecordBlocks[]> {
  const head = t.engine.heads().get(logId)
  if (head === undefined) return []
  return (await t.store.records(t.engine.thread.id, logId, { from: 1 })).map(recordBlocks)
}

/**
 * The same record sealed again with the service key and a new nonce: what any follower can do.
 * Its record block (and CID) differ; its signed content does not.
 */
export function reseal(blocks: RecordBlocks, serviceKey: Uint8Array, to: Uint8Array = serviceKey): RecordBlocks {
  const plain = openBox(serviceKey, boxOf(blocks.record, {}))
  if (plain === undefined) throw new Error('the record block does not open with this service key')
  return { ...blocks, record: encryptBlock(to, plain).bytes }
}
