/**
 * CAR (Content Addressable aRchive) backup and restore of a thread.
 *
 * A thread's CAR holds, for every log with a head, the four blocks of every record (record,
 * event, header, body), oldest first, and one dag-cbor "thread manifest" block, its only root,
 * that names each log's head by identity:
 *
 * ```
 * { v: 2, thread: <thread id string>, logs: [{ id: <log id>, head: <head identity>, seq: <head seq> }] }
 * ```
 *
 * Log IDs are sorted, so the same thread always exports to the same bytes. Nothing in a CAR is
 * trusted: an import opens every record block with the service key, links records by their
 * signed identities (never by how a record block was sealed: a re-sealed copy is the same
 * record), checks every CID against its bytes and one signature of the log key per log
 * (DESIGN.md section 3).
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
  DecryptionError,
  InvalidKeyError,
  MalformedRecordError,
  NotFoundError,
  ThreadsError,
  UnknownServiceKeyError,
  UnsupportedFormatError,
  type ErrorContext
} from '../core/errors.js'
import type { ThreadKey } from '../core/keys.js'
import { serviceKeyring, type ServiceKeyring } from '../core/serviceKey.js'
import {
  MAX_NODE_BYTES,
  equivocationBetween,
  openRecordNode,
  verifyChain,
  verifyRecord,
  type LogHead,
  type LogRecord,
  type RecordBlocks
} from '../core/record.js'
import { isRecordId, recordIdOf } from '../core/recordId.js'
import { ThreadId } from '../core/threadId.js'
import type { EventStore } from './eventStore.js'

/** Records read from the store per `records()` call while exporting. */
export const EXPORT_PAGE_SIZE = 1000
/** Records appended per `append()` call while importing. */
export const IMPORT_CHUNK_SIZE = 1000

/** The manifest version written and read. */
export const CAR_MANIFEST_VERSION = 2

/** One log of a thread manifest. */
export interface ThreadManifestLog {
  readonly id: string
  /** Identity of the log's head record. */
  readonly head: CID
  /** `seq` of the head record. */
  readonly seq: number
}

/** The root of a thread CAR. */
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
  const manifest = {
    v: CAR_MANIFEST_VERSION,
    thread: thread.id.toString(),
    logs: heads.map(([id, head]) => ({ id, head: head.id, seq: head.seq }))
  }
  const manifestBlock = encodeBlock(manifest)
  const { CarWriter } = await loadCar()
  const { writer, out } = CarWriter.create([manifestBlock.cid])

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

/** Blocks of a CAR by CID, in the order they came. */
class BlockMap {
  readonly #blocks = new Map<string, Uint8Array>()

  set(cid: CID, bytes: Uint8Array): void {
    this.#blocks.set(cidKey(cid), bytes)
  }

  values(): IterableIterator<Uint8Array> {
    return this.#blocks.values()
  }

  get(cid: CID): Uint8Array | undefined {
    return this.#blocks.get(cidKey(cid))
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
  if (root === undefined || roots.length !== 1 || !isRecordLink(root)) throw new MalformedRecordError('the CAR has no thread manifest root (not a thread CAR)')
  const bytes = blocks.need(root, {}, 'thread manifest')
  checkCid(root, bytes, {}, 'thread manifest')
  let value: unknown
  try {
    value = dagCbor.decode(bytes)
  } catch (cause) {
    throw new MalformedRecordError('the thread manifest is not dag-cbor (not a thread CAR)', { cid: root.toString() }, { cause })
  }
  const bad = (why: string): never => {
    throw new MalformedRecordError(`the root is not a thread manifest: ${why}`, { cid: root.toString() })
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return bad('not a map')
  const { v, thread, logs } = value as { v?: unknown; thread?: unknown; logs?: unknown }
  if (v !== CAR_MANIFEST_VERSION) throw new UnsupportedFormatError(`thread CAR of manifest version ${String(v)}; this version reads ${CAR_MANIFEST_VERSION}`)
  if (typeof thread !== 'string') return bad('`thread` is not a string')
  if (!Array.isArray(logs)) return bad('`logs` is not a list')
  const seen = new Set<string>()
  const out: ThreadManifestLog[] = []
  for (const entry of logs as unknown[]) {
    if (typeof entry !== 'object' || entry === null) return bad('a log entry is not a map')
    const { id, head, seq } = entry as { id?: unknown; head?: unknown; seq?: unknown }
    if (typeof id !== 'string' || id.length === 0 || id.length > 128) return bad('a log `id` is not a log ID string')
    if (!isRecordId(head)) return bad('a log `head` is not a record identity')
    if (typeof seq !== 'number' || !Number.isSafeInteger(seq) || seq < 1) return bad('a log `seq` is not a positive integer')
    if (seen.has(id)) return bad(`log ${id} is listed twice`)
    seen.add(id)
    out.push({ id, head, seq })
  }
  return { thread, logs: out }
}

/** A record block of the CAR, opened: its node, and its bytes. */
interface CarRecord {
  readonly bytes: Uint8Array
  readonly seq: number
  readonly prev: CID | undefined
  readonly event: CID
}

/**
 * A thread CAR, read and indexed: every record block that opens with the service key, by
 * identity. Nothing is verified beyond that until a log's run is taken ({@link ParsedCar.run}).
 */
export interface ParsedCar {
  readonly threadId: ThreadId
  readonly manifest: ThreadManifest
  /**
   * The record blocks of a log from `from` to its head in the manifest, oldest first, linked by
   * identity from the head back.
   *
   * @throws {@link MalformedRecordError} when a record, or a block it links, is missing.
   */
  run(log: ThreadManifestLog, from: number): RecordBlocks[]
  /**
   * The record blocks indexed so far whose event node carries a service rotation (the owner's
   * rotate records), unverified: the importer verifies them and takes the keys sealed to it
   * first, then calls {@link reindex}, so a CAR spanning a rotation imports for its members.
   */
  rotations(): RecordBlocks[]
  /** Try the blocks that did not open again, with the keyring as it is now. @returns how many opened. */
  reindex(): number
}

/**
 * Read a thread CAR and index its records by identity, with the service key.
 *
 * @remarks
 * A CAR's order is not trusted, and a record does not name its log: every byte-string block of
 * node size is tried with the service key (record blocks open, header and body boxes do not),
 * and each opened record is indexed by its identity, which the walk from each log's head
 * follows. An AES-GCM open that fails costs about as much as one that succeeds; imports are rare.
 */
export async function parseThreadCar(input: Uint8Array | AsyncIterable<Uint8Array>, serviceKey: Uint8Array | ServiceKeyring | ((threadId: ThreadId) => Uint8Array | ServiceKeyring)): Promise<ParsedCar> {
  const { roots, blocks } = await readCar(input)
  const manifest = decodeManifest(roots, blocks)
  const threadId = ThreadId.parse(manifest.thread)
  const key = typeof serviceKey === 'function' ? serviceKey(threadId) : serviceKey
  // A record block is a byte string (the first service key) or [key ID, box] (a rotated one).
  const byId = new Map<string, CarRecord>()
  // Blocks under a key not held (yet): a rotation the CAR itself carries may yield it.
  let unopened: Uint8Array[] = []
  const index = (candidates: Iterable<Uint8Array>): number => {
    let opened = 0
    const missed: Uint8Array[] = []
    for (const bytes of candidates) {
      if (bytes.length > MAX_NODE_BYTES || bytes[0] === undefined || (bytes[0] >> 5 !== 2 && bytes[0] !== 0x82)) continue
      let node: ReturnType<typeof openRecordNode>
      try {
        node = openRecordNode(key, bytes, {})
      } catch (e) {
        // Not a record block of this thread (a header or body box, or foreign), or one under a
        // rotated key not held yet (kept to try again).
        if (e instanceof UnknownServiceKeyError) missed.push(bytes)
        continue
      }
      const id = recordIdOf({ thread: threadId.bytes, seq: node.seq, event: node.block, prev: node.prev })
      byId.set(cidKey(id), { bytes, seq: node.seq, prev: node.prev, event: node.block })
      opened++
    }
    unopened = missed
    return opened
  }
  index(blocks.values())
  const tid = threadId.toString()
  if (byId.size === 0 && manifest.logs.length > 0) {
    throw new DecryptionError("no record block of the CAR opens with the thread service key (a wrong thread key, or another thread's CAR)", { threadId: tid })
  }
  return {
    threadId,
    manifest,
    run(log, from) {
      const ctx: ErrorContext = { threadId: tid, logId: log.id }
      const out: RecordBlocks[] = []
      let id: CID | undefined = log.head
      for (let seq = log.seq; seq >= Math.max(1, from); seq--) {
        const r: CarRecord | undefined = id === undefined ? undefined : byId.get(cidKey(id))
        if (r === undefined || r.seq !== seq) throw new MalformedRecordError(`the CAR lacks the record at seq ${seq}`, { ...ctx, seq, ...(id === undefined ? {} : { cid: id.toString() }) })
        const sctx = { ...ctx, seq }
        const event = blocks.need(r.event, sctx, 'event')
        checkCid(r.event, event, sctx, 'event')
        const links = decodeEventNode(event, sctx)
        out.push({ record: r.bytes, event, header: blocks.need(links.header, sctx, 'header'), body: blocks.need(links.body, sctx, 'body') })
        id = r.prev
      }
      return out.reverse()
    },
    rotations() {
      const out: RecordBlocks[] = []
      for (const r of byId.values()) {
        const event = blocks.get(r.event)
        if (event === undefined) continue
        try {
          const links = decodeEventNode(event, {})
          const header = blocks.get(links.header)
          const body = blocks.get(links.body)
          if (links.service !== undefined && header !== undefined && body !== undefined) out.push({ record: r.bytes, event, header, body })
        } catch {
          continue
        }
      }
      return out
    },
    reindex: () => index(unopened)
  }
}

/**
 * Import a thread CAR made by {@link exportThreadCar} straight into an event store (offline
 * tools; a peer imports through its thread's ingest path instead, so an open thread applies
 * what it imports).
 *
 * Every log is walked from its head back by identity to the store's own head, and the new run
 * is verified (CIDs, node shapes, chain, one signature per log) before anything is written: a
 * CAR with one bad block or a forged log is refused as a whole, with the typed error of its
 * first fault, and the store is left as it was. Records the store already has are skipped (a
 * re-sealed copy of one is the same record), so importing the same CAR twice is harmless.
 *
 * @throws {@link MalformedRecordError} for a CAR that is not a thread CAR or lacks a block,
 * {@link CidMismatchError}, {@link BadSignatureError}, {@link BrokenChainError},
 * {@link DecryptionError} (wrong thread key), {@link EquivocationError} (the CAR and the store
 * hold two different signed records with the same `seq` of a log), {@link NotFoundError} (the
 * store does not hold the thread and no `threadKey` was given).
 *
 * @example
 * ```ts
 * import { readFile } from 'node:fs/promises'
 * const { threadId, records } = await importThreadCar(store, await readFile('thread.car'), { threadKey })
 * ```
 */
export async function importThreadCar(store: EventStore, bytes: Uint8Array | AsyncIterable<Uint8Array>, options: ImportOptions = {}): Promise<ImportResult> {
  const chunkSize = Math.max(1, Math.floor(options.chunkSize ?? IMPORT_CHUNK_SIZE))
  let held: ReturnType<EventStore['logstore']['thread']>
  const car = await parseThreadCar(bytes, (threadId) => {
    held = store.logstore.thread(threadId)
    const tid = threadId.toString()
    if (held === undefined && options.threadKey === undefined) {
      throw new NotFoundError('the store does not hold the thread of this CAR; pass its threadKey', { threadId: tid })
    }
    if (held !== undefined && options.threadKey !== undefined && !equals(held.key.service, options.threadKey.service)) {
      throw new InvalidKeyError('the thread key given is not the key of the thread held', { threadId: tid })
    }
    return held === undefined ? (options.threadKey as ThreadKey).service : serviceKeyring(held.key.service, held.serviceKeys)
  })
  const { threadId, manifest } = car
  const tid = threadId.toString()
  const serviceKey = held === undefined ? (options.threadKey as ThreadKey).service : serviceKeyring(held.key.service, held.serviceKeys)

  // Verify everything before writing anything.
  const plans: Array<{ logId: string; total: number; isNew: boolean; records: LogRecord[] }> = []
  for (const log of manifest.logs) {
    const at = { thread: threadId, logId: log.id, serviceKey }
    const local: LogHead | undefined = held === undefined ? undefined : store.logstore.head(threadId, log.id)
    const isNew = held === undefined || store.logstore.log(threadId, log.id) === undefined
    const localSeq = local?.seq ?? 0
    const compareAt = Math.min(localSeq, log.seq)
    const run = car.run(log, Math.max(1, compareAt))
    if (compareAt >= 1) {
      // The CAR's record at a seq the store has: the same identity, or a fork by the writer.
      const theirs = verifyRecord(at, run[0] as RecordBlocks, { skipSignature: true })
      const ours = compareAt === localSeq ? local : { id: (await store.idAt(threadId, log.id, compareAt)) as CID, seq: compareAt }
      if (ours?.id === undefined) throw new NotFoundError(`the store lacks seq ${compareAt} below its head`, { threadId: tid, logId: log.id })
      const fork = equivocationBetween({ ...ours, logId: log.id }, theirs, tid)
      if (fork !== undefined) {
        // Only a record signed by the log key proves an equivocation; anything else is a forgery.
        verifyRecord(at, run[0] as RecordBlocks)
        throw fork
      }
    }
    const fresh = compareAt >= 1 ? run.slice(1) : run
    const records = fresh.length === 0 ? [] : verifyChain(at, fresh, local === undefined ? {} : { after: local })
    plans.push({ logId: log.id, total: log.seq, isNew, records })
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
