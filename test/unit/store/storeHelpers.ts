/**
 * Helpers for the store unit tests: record chains, an instrumented storage wrapper (counts and
 * records batches, fails on demand, damages values), and temp directories for LevelDB.
 */
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { encodeCommand, type Command } from '../../../src/core/command.js'
import type { LogKey, ThreadKey } from '../../../src/core/keys.js'
import { createRecord, type LogHead, type LogRecord } from '../../../src/core/record.js'
import type { ThreadId } from '../../../src/core/threadId.js'
import type { RangeOptions, StorageAdapter, StorageEntry, StorageKey, StorageOp } from '../../../src/store/storageAdapter.js'

export const HOUR = 60 * 60 * 1000
export const MINUTE = 60 * 1000

/** `count` records of one log of `thread` continuing `prev`, each with a distinct small command. */
export function makeRecords(thread: ThreadId, logKey: LogKey, threadKey: ThreadKey, count: number, prev?: LogHead, command?: (seq: number) => Command): LogRecord[] {
  const out: LogRecord[] = []
  let head = prev
  for (let i = 0; i < count; i++) {
    const seq = (head?.seq ?? 0) + 1
    const r = createRecord({
      logKey,
      threadKey,
      thread,
      body: encodeCommand(command === undefined ? { type: 'todos/added', payload: { seq, text: `item ${seq}` } } : command(seq)),
      clock: seq,
      time: 1_700_000_000_000 + seq,
      ...(head === undefined ? {} : { prev: head })
    })
    out.push(r)
    head = headOf(r)
  }
  return out
}

/** The head a record makes of its log: its identity and seq. */
export function headOf(r: LogRecord): LogHead {
  return { id: r.id, seq: r.seq }
}

/** A storage adapter that records every batch it is given and can be told to fail. */
export interface InstrumentedStorage extends StorageAdapter {
  /** Every batch passed to `batch` (including failed ones), ops copied. */
  readonly batches: StorageOp[][]
  /** Make the batch with this 1-based index (counting every call) throw. */
  failOnBatch: number | undefined
  /** While set, every batch waits for it before it is applied (or fails). */
  hold: Promise<void> | undefined
  /** Resolves once `batch` has been called `count` times. */
  called(count: number): Promise<void>
  /** The wrapped adapter. */
  readonly inner: StorageAdapter
}

export function instrument(inner: StorageAdapter): InstrumentedStorage {
  const batches: StorageOp[][] = []
  const waiting: Array<{ count: number; resolve: () => void }> = []
  const wrapper: InstrumentedStorage = {
    batches,
    failOnBatch: undefined,
    hold: undefined,
    called(count: number): Promise<void> {
      if (batches.length >= count) return Promise.resolve()
      return new Promise((resolve) => waiting.push({ count, resolve }))
    },
    inner,
    get atomic() {
      return inner.atomic
    },
    get: (key: StorageKey) => inner.get(key),
    async batch(ops: readonly StorageOp[]): Promise<void> {
      batches.push([...ops])
      const n = batches.length
      for (const w of waiting.filter((x) => x.count <= n)) {
        waiting.splice(waiting.indexOf(w), 1)
        w.resolve()
      }
      if (wrapper.hold !== undefined) await wrapper.hold
      if (wrapper.failOnBatch === n) throw new Error(`injected failure of batch ${n}`)
      await inner.batch(ops)
    },
    range: (prefix: StorageKey, options?: RangeOptions): AsyncIterable<StorageEntry> => inner.range(prefix, options),
    close: () => inner.close()
  }
  return wrapper
}

/** A promise and the function that resolves it. */
export function deferred(): { promise: Promise<void>; resolve: () => void } {
  let resolve!: () => void
  const promise = new Promise<void>((r) => {
    resolve = r
  })
  return { promise, resolve }
}

/** Let every pending microtask (and the ones they queue) run, without timers. */
export async function settle(rounds = 20): Promise<void> {
  for (let i = 0; i < rounds; i++) await Promise.resolve()
}

/** Every entry of a storage adapter whose key starts with `prefix`. */
export async function entries(storage: StorageAdapter, prefix: StorageKey): Promise<StorageEntry[]> {
  const out: StorageEntry[] = []
  for await (const e of storage.range(prefix)) out.push(e)
  return out
}

/** A fresh temp directory, and a function that removes every directory made so far. */
export function tempDirs(): { make: () => Promise<string>; cleanup: () => Promise<void> } {
  const made: string[] = []
  return {
    async make() {
      const dir = await mkdtemp(join(tmpdir(), 'redux-threads-store-'))
      made.push(dir)
      return dir
    },
    async cleanup() {
      for (const dir of made.splice(0)) await rm(dir, { recursive: true, force: true })
    }
  }
}

/** The error `fn` throws or rejects with (append throws at once for some errors, rejects for others). */
export async function caught(fn: () => unknown): Promise<unknown> {
  try {
    await fn()
  } catch (e) {
    return e
  }
  throw new Error('expected an error, but the call succeeded')
}
