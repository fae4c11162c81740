/**
 * CAR (Content Addressable aRchive) backup and restore of a thread.
 *
 * A thread's CAR holds, for every log with a head, the four blocks of every record (record,
 * event, header, body), oldest first, plus one dag-cbor "thread manifest" block that says which
 * log each head belongs to:
 *
 * ```
 * { thread: <thread id string>, logs: [{ id: <log id>, head: CID(head record), seq: <head seq> }] }
 * ```
 *
 * The manifest is the first root; the other roots are the head record CIDs, in the manifest's
 * order (log IDs sorted), so the same thread always exports to the same bytes. Nothing in a CAR
 * is trusted: an import checks every CID against its bytes, the shape of every node, the hash
 * links and `seq` of each log, and one signature of the log key per log (DESIGN.md section 3).
 *
 * @packageDocumentation
 */

import * as dagCbor from '@ipld/dag-cbor'
// @ipld/car is ESM-only: loaded on first use, so the CommonJS build can still require() us.
const loadCar = (): Promise<typeof import('@ipld/car')> => import('@ipld/car')
import type { CID } from 'multiformats/cid'
import { concat } from 'uint8arrays/concat'
import { equals } from 'uint8arrays/equals'
import { checkCid, encodeBlock, isRecordLink } from '../core/block.js'
import { decodeEventNode } from '../core/nodeCodec.js'
import {
  BrokenChainError,
  InvalidKeyError,
  MalformedRecordError,
  NotFoundError,
  ThreadsError,
  type ErrorContext
} from '../core/errors.js'
import type { ThreadKey } from '../core/keys.js'
import {
  checkDuplicate,
  openRecordNode,
  verifyChain,
  verifyRecord,
  type LogHead,
  type LogRecord,
  type RecordBlocks
} from '../core/record.js'
import { ThreadId } from '../core/threadId.js'
import type { EventStore } from './eventStore.js'

/** Records read from the store per `records()` call while exporting. */
export const EXPORT_PAGE_SIZE = 1000
/** Records appended per `append()` call while importing. */
export const IMPORT_CHUNK_SIZE = 1000

/** One log of a thread manifest. */
export interface ThreadManifestLog {
  readonly id: string
  /** CID of the log's head record. */
  readonly head: CID
  /** `seq` of the head record. */
  readonly seq: number
}

/** The first root of a thread CAR. */
export interface ThreadManifest {
  readonly thread: string
  readonly logs: readonly ThreadManifestLog[]
}

/** Progress of an import: `seq` of `total` records of `logId` are in the store. */
export interface ImportProgress {
  readonly logId: string
  readonly seq: number
  readonly total: number
}

export interface ExportOptions {
  /** Records read from the store at once (default {@link EXPORT_PAGE_SIZE}). */
  readonly pageSize?: number
}

export interface ImportOptions {
  /** The thread's keys, needed when the store does not hold the thread yet. The service key suffices. */
  readonly threadKey?: ThreadKey
  readonly onProgress?: (p: ImportProgress) => void
  /** Records appended at once (default {@link IMPORT_CHUNK_SIZE}). */
  readonly chunkSize?: number
}

export interface ImportResult {
  readonly threadId: ThreadId
  /** Logs in the CAR. */
  readonly logs: number
  /** Records the store did not have and now has. */
  readonly records: number
}

/**
 * Export a thread as a CAR file, streamed: the blocks of each log are read from the store a
 * page at a time, and the writer waits for the consumer (back-pressure), so a long log is
 * never in memory at once. The heads are taken when the export starts; later appends are not
 * included.
 *
 * @throws {@link NotFoundError} when the store does not hold the thread (at the first `next()`).
 *
 * @example
 * ```ts
 * import { createWriteStream } from 'node:fs'
 * import { Readable } from 'node:stream'
 * import { pipeline } from 'node:stream/promises'
 * await pipeline(Readable.from(exportThreadCar(store, threadId)), createWriteStream('thread.car'))
 * ```
 */
export async function* exportThreadCar(store: EventStore, threadId: ThreadId | string, options: ExportOptions = {}): AsyncGenerator<Uint8Array> {
  const pageSize = Math.max(1, Math.floor(options.pageSize ?? EXPORT_PAGE_SIZE))
  const thread = store.logstore.getThread(threadId)
  const heads = [...store.logstore.heads(thread.id)].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
  const manifest: ThreadManifest = {
    thread: thread.id.toString(),
    logs: heads.map(([id, head]) => ({ id, head: head.cid, seq: head.seq }))
  }
  const manifestBlock = encodeBlock(manifest)
  const { CarWriter } = await loadCar()
  const { writer, out } = CarWriter.create([manifestBlock.cid, ...heads.map(([, head]) => head.cid)])

  let failure: { error: unknown } | undefined
  const feed = async (): Promise<void> => {
    try {
      await writer.put(manifestBlock)
      for (const [logId, head] of heads) {
        for (let from = 1; from <= head.seq; from += pageSize) {
          const to = Math.min(head.seq, from + pageSize - 1)
          const page = await store.records(thread.id, logId, { from, to })
          if (page.length !== to - from + 1) {
            throw new NotFoundError(`records ${from}..${to} are no longer in the store`, { threadId: thread.id.toString(), logId })
          }
          for (const r of page) {
            await writer.put(r.blocks.record)
            await writer.put(r.blocks.event)
            await writer.put(r.blocks.header)
            await writer.put(r.blocks.body)
          }
        }
      }
    } catch (error) {
      failure = { error }
    } finally {
      await writer.close().catch(() => undefined)
    }
  }
  const feeding = feed()
  yield* out
  await feeding
  if (failure !== undefined) throw failure.error
}

/** {@link exportThreadCar} collected into one byte array. */
export async function exportThreadCarBytes(store: EventStore, threadId: ThreadId | string, options: ExportOptions = {}): Promise<Uint8Array> {
  const chunks: Uint8Array[] = []
  let length = 0
  for await (const chunk of exportThreadCar(store, threadId, options)) {
    chunks.push(chunk)
    length += chunk.length
  }
  return concat(chunks, length)
}

/** A map key for a CID: its bytes as a string (cheaper than a multibase string). */
function cidKey(cid: CID): string {
  return String.fromCharCode.apply(null, cid.bytes as unknown as number[])
}

/** Blocks of a CAR by CID. */
class BlockMap {
  readonly #blocks = new Map<string, Uint8Array>()

  set(cid: CID, bytes: Uint8Array): void {
    this.#blocks.set(cidKey(cid), bytes)
  }

  /** The bytes named by `cid` (unchecked: callers check them against it). */
  need(cid: CID, ctx: ErrorContext, what: string): Uint8Array {
    const bytes = this.#blocks.get(cidKey(cid))
    if (bytes === undefined) throw new MalformedRecordError(`the CAR lacks the ${what} block ${cid.toString()}`, ctx)
    return bytes
  }
}

async function readCar(input: Uint8Array | AsyncIterable<Uint8Array>): Promise<{ roots: CID[]; blocks: BlockMap }> {
  const blocks = new BlockMap()
  let roots: CID[]
  try {
    const { CarBlockIterator } = await loadCar()
    const iterator = input instanceof Uint8Array ? await CarBlockIterator.fromBytes(input) : await CarBlockIterator.fromIterable(input)
    roots = await iterator.getRoots()
    for await (const block of iterator) blocks.set(block.cid, block.bytes)
  } catch (cause) {
    if (cause instanceof ThreadsError) throw cause
    throw new MalformedRecordError('not a readable CAR file', {}, { cause })
  }
  return { roots, blocks }
}

function decodeManifest(roots: CID[], blocks: BlockMap): ThreadManifest {
  const root = roots[0]
  if (root === undefined || !isRecordLink(root)) throw new MalformedRecordError('the CAR has no thread manifest root (not a thread CAR)')
  const bytes = blocks.need(root, {}, 'thread manifest')
  checkCid(root, bytes, {}, 'thread manifest')
  let value: unknown
  try {
    value = dagCbor.decode(bytes)
  } catch (cause) {
    throw new MalformedRecordError('the thread manifest is not dag-cbor (not a thread CAR)', { cid: root.toString() }, { cause })
  }
  const bad = (why: string): never => {
    throw new MalformedRecordError(`the first root is not a thread manifest: ${why}`, { cid: root.toString() })
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return bad('not a map')
  const { thread, logs } = value as { thread?: unknown; logs?: unknown }
  if (typeof thread !== 'string') return bad('`thread` is not a string')
  if (!Array.isArray(logs)) return bad('`logs` is not a list')
  const seen = new Set<string>()
  const out: ThreadManifestLog[] = []
  for (const entry of logs as unknown[]) {
    if (typeof entry !== 'object' || entry === null) return bad('a log entry is not a map')
    const { id, head, seq } = entry as { id?: unknown; head?: unknown; seq?: unknown }
    if (typeof id !== 'string' || id.length === 0 || id.length > 128) return bad('a log `id` is not a log ID string')
    if (!isRecordLink(head)) return bad('a log `head` is not a dag-cbor sha2-256 CIDv1')
    if (typeof seq !== 'number' || !Number.isSafeInteger(seq) || seq < 1) return bad('a log `seq` is not a positive integer')
    if (seen.has(id)) return bad(`log ${id} is listed twice`)
    seen.add(id)
    out.push({ id, head, seq })
  }
  if (roots.length !== out.length + 1 || out.some((log, i) => !log.head.equals(roots[i + 1]))) {
    return bad('the CAR roots are not the manifest and its heads')
  }
  return { thread, logs: out }
}

/** The blocks of one record of the CAR, and the fields the walk needs. */
function recordAt(blocks: BlockMap, serviceKey: Uint8Array, cid: CID, ctx: ErrorContext): { blocks: RecordBlocks; seq: number; prev: CID | undefined } {
  const rctx: ErrorContext = { ...ctx, cid: cid.toString() }
  const record = blocks.need(cid, rctx, 'record')
  // Check the CID first, so a damaged record block is reported as such, not as a key problem.
  checkCid(cid, record, rctx, 'record')
  const node = openRecordNode(serviceKey, record, rctx)
  const sctx: ErrorContext = { ...rctx, seq: node.seq }
  const event = blocks.need(node.block, sctx, 'event')
  checkCid(node.block, event, sctx, 'event')
  const { header, body } = decodeEventNode(event, sctx)
  return {
    blocks: { record, event, header: blocks.need(header, sctx, 'header'), body: blocks.need(body, sctx, 'body') },
    seq: node.seq,
    prev: node.prev
  }
}

/** What one log of a CAR adds to the store, verified. */
interface LogPlan {
  readonly logId: string
  readonly total: number
  readonly isNew: boolean
  readonly records: LogRecord[]
}

/**
 * Walk one log of the CAR from its head back to what the store already has, and verify the
 * new run with one signature.
 */
async function planLog(
  store: EventStore,
  thread: { id: string; held: boolean },
  serviceKey: Uint8Array,
  blocks: BlockMap,
  log: ThreadManifestLog,
  localRecordAt: (seq: number) => Promise<LogRecord | undefined>
): Promise<LogPlan> {
  const ctx: ErrorContext = { threadId: thread.id, logId: log.id }
  const local: LogHead | undefined = thread.held ? store.logstore.head(thread.id, log.id) : undefined
  const isNew = !thread.held || store.logstore.log(thread.id, log.id) === undefined
  const localSeq = local?.seq ?? 0
  const head = recordAt(blocks, serviceKey, log.head, ctx)
  if (head.seq !== log.seq) throw new MalformedRecordError(`the manifest says the head has seq ${log.seq}, the record says ${head.seq}`, { ...ctx, cid: log.head.toString() })

  if (head.seq <= localSeq) {
    // Nothing new. The store's record at that seq must be this one, else the writer equivocated.
    const kept = await localRecordAt(head.seq)
    if (kept === undefined) throw new NotFoundError(`the store lacks seq ${head.seq} below its head`, ctx)
    if (!kept.cid.equals(log.head)) {
      // Only a record signed by the log key proves an equivocation; anything else is a forgery.
      verifyRecord(log.id, serviceKey, head.blocks, { threadId: thread.id })
      checkDuplicate(kept, { cid: log.head }, thread.id)
    }
    return { logId: log.id, total: log.seq, isNew, records: [] }
  }

  // Walk back from the head to the first record the store lacks.
  // Every block on the way is checked against the CID it was found by (recordAt).
  const run: RecordBlocks[] = [head.blocks]
  let at = head
  while (at.seq > localSeq + 1) {
    const prev = at.prev as CID // seq > 1, so openRecordNode guaranteed a prev
    const next = recordAt(blocks, serviceKey, prev, ctx)
    if (next.seq !== at.seq - 1) throw new BrokenChainError(`record links a prev with seq ${next.seq}, expected ${at.seq - 1}`, { ...ctx, cid: prev.toString() })
    run.push(next.blocks)
    at = next
  }
  run.reverse()
  const opts = { threadId: thread.id }
  if (local !== undefined && (at.prev === undefined || !at.prev.equals(local.cid))) {
    // The run forks from the store's log: authenticate it first, so that a forgery is reported
    // as one, then report the writer's equivocation.
    verifyChain(log.id, serviceKey, run, opts)
    checkDuplicate({ cid: local.cid, seq: local.seq, logId: log.id }, { cid: at.prev ?? log.head }, thread.id)
  }
  const records = verifyChain(log.id, serviceKey, run, local === undefined ? opts : { ...opts, after: local })
  return { logId: log.id, total: log.seq, isNew, records }
}

/**
 * Import a thread CAR made by {@link exportThreadCar} (or any CAR of the same layout).
 *
 * Every log is walked from its head back through `prev` links to the store's own head, and the
 * new run is verified (CIDs, node shapes, chain, one signature per log) before anything is
 * written: a CAR with one bad block or a forged log is refused as a whole, with the typed error
 * of its first fault, and the store is left as it was. Records the store already has are
 * skipped, so importing the same CAR twice is harmless. The CAR is held in memory while it is
 * imported.
 *
 * @throws {@link MalformedRecordError} for a CAR that is not a thread CAR or lacks a block,
 * {@link CidMismatchError}, {@link BadSignatureError}, {@link BrokenChainError},
 * {@link DecryptionError} (wrong thread key), {@link EquivocationError} (the CAR and the store
 * hold two different records with the same `seq` of a log), {@link NotFoundError} (the store
 * does not hold the thread and no `threadKey` was given).
 *
 * @example
 * ```ts
 * import { readFile } from 'node:fs/promises'
 * const { threadId, records } = await importThreadCar(store, await readFile('thread.car'), { threadKey })
 * ```
 */
export async function importThreadCar(store: EventStore, bytes: Uint8Array | AsyncIterable<Uint8Array>, options: ImportOptions = {}): Promise<ImportResult> {
  const chunkSize = Math.max(1, Math.floor(options.chunkSize ?? IMPORT_CHUNK_SIZE))
  const { roots, blocks } = await readCar(bytes)
  const manifest = decodeManifest(roots, blocks)
  const threadId = ThreadId.parse(manifest.thread)
  const tid = threadId.toString()
  const held = store.logstore.thread(threadId)
  if (held === undefined && options.threadKey === undefined) {
    throw new NotFoundError('the store does not hold the thread of this CAR; pass its threadKey', { threadId: tid })
  }
  if (held !== undefined && options.threadKey !== undefined && !equals(held.key.service, options.threadKey.service)) {
    throw new InvalidKeyError('the thread key given is not the key of the thread held', { threadId: tid })
  }
  const serviceKey = held?.key.service ?? (options.threadKey as ThreadKey).service

  // Verify everything before writing anything.
  const plans: LogPlan[] = []
  for (const log of manifest.logs) {
    plans.push(await planLog(store, { id: tid, held: held !== undefined }, serviceKey, blocks, log, (seq) => store.record(threadId, log.id, seq)))
  }

  if (held === undefined || (options.threadKey?.read !== undefined && held.key.read === undefined)) {
    await store.logstore.addThread(threadId, options.threadKey as ThreadKey)
  }
  let added = 0
  for (const plan of plans) {
    if (plan.isNew) await store.logstore.addLog(threadId, plan.logId)
    for (let i = 0; i < plan.records.length; i += chunkSize) {
      const chunk = plan.records.slice(i, i + chunkSize)
      await store.append(threadId, chunk)
      added += chunk.length
      options.onProgress?.({ logId: plan.logId, seq: (chunk[chunk.length - 1] as LogRecord).seq, total: plan.total })
    }
    if (plan.records.length === 0) options.onProgress?.({ logId: plan.logId, seq: plan.total, total: plan.total })
  }
  return { threadId, logs: manifest.logs.length, records: added }
}
