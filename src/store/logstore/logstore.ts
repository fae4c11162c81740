import * as dagCbor from '@ipld/dag-cbor'
import type { CID } from 'multiformats/cid'
import { equals } from 'uint8arrays/equals'
import { CorruptStoreError, InvalidKeyError, NotFoundError } from '../../core/errors.js'
import { logKeyFromSeed, threadKeyFromBytes, threadKeyToBytes, type LogKey, type ThreadKey } from '../../core/keys.js'
import type { LogHead } from '../../core/record.js'
import { getCrypto } from '../../core/crypto/index.js'
import { isRecordId } from '../../core/recordId.js'
import { decodeStoredRecord } from '../../core/storedRecord.js'
import { ThreadId } from '../../core/threadId.js'
import { invalidateServiceKeyIndex } from '../../core/serviceKey.js'
import { MAX_SERVICE_EPOCHS } from '../../core/serviceRotation.js'
import type { StorageAdapter, StorageOp } from '../storageAdapter.js'
import { internKey, keys } from '../storageKeys.js'
import { AddrBook } from './addrBook.js'
import { MetadataBook } from './metadataBook.js'

/** A thread this peer holds. */
export interface ThreadInfo {
  readonly id: ThreadId
  /** Service key always; read key unless this peer only follows the thread. */
  readonly key: ThreadKey
  /** Interned number used in storage keys. */
  readonly n: string
  /**
   * Damage found in the thread's stored keys, log entries or heads when the store was opened.
   * A thread with damaged keys is not folded and takes no commands; its engine reports this on
   * `status$`.
   */
  readonly damage?: readonly CorruptStoreError[]
  /** True when the damage is in the thread key itself: nothing can be read or written with it. */
  readonly keyDamaged?: boolean
  /**
   * Read keys of later epochs (rotations), by epoch; epoch 0 is `key.read`. The same map for the
   * thread's whole life in this store, so an engine holding the thread sees keys added later.
   */
  readonly readKeys: Map<number, Uint8Array>
  /**
   * Service keys of later epochs (rotations after a member lost `follow`), by epoch; epoch 0 is
   * `key.service`. Every key ever received is kept: records sealed before a rotation still open.
   */
  readonly serviceKeys: Map<number, Uint8Array>
}

/** Bytes of the check value stored beside a thread key. */
const KEY_CHECK_BYTES = 8
const KEY_CHECK_INFO = new TextEncoder().encode('redux-threads/key-check/v1')

/**
 * A short check value of a thread key, stored beside it: a damaged key is found when the store
 * opens (one changed byte of the read key would otherwise fold an empty state, silently).
 */
function keyCheck(key: Uint8Array): Uint8Array {
  const bytes = new Uint8Array(KEY_CHECK_INFO.length + key.length)
  bytes.set(KEY_CHECK_INFO)
  bytes.set(key, KEY_CHECK_INFO.length)
  return getCrypto().sha256(bytes).subarray(0, KEY_CHECK_BYTES)
}

/** Keys by epoch, each stored behind its check value. */
function withChecks(keysByEpoch: ReadonlyMap<number, Uint8Array>): Record<string, Uint8Array> {
  const out: Record<string, Uint8Array> = {}
  for (const [e, k] of keysByEpoch) {
    const sealed = new Uint8Array(KEY_CHECK_BYTES + k.length)
    sealed.set(keyCheck(k))
    sealed.set(k, KEY_CHECK_BYTES)
    out[String(e)] = sealed
  }
  return out
}

/** Stored keys by epoch whose check values hold; damage reported for the others. */
function checkedKeys(stored: unknown, what: string, ctx: { threadId: string }, damage: CorruptStoreError[]): Map<number, Uint8Array> {
  const out = new Map<number, Uint8Array>()
  if (typeof stored !== 'object' || stored === null) return out
  for (const [e, sealed] of Object.entries(stored)) {
    const key = sealed instanceof Uint8Array && sealed.length === KEY_CHECK_BYTES + 32 ? sealed.subarray(KEY_CHECK_BYTES) : undefined
    if (key === undefined || !equals(sealed.subarray(0, KEY_CHECK_BYTES), keyCheck(key))) damage.push(new CorruptStoreError(`the stored ${what} key of epoch ${e} is damaged`, ctx))
    else out.set(Number(e), key)
  }
  return out
}

/** A log of a thread. */
export interface LogInfo {
  readonly id: string
  readonly n: string
  /** This peer's own log: it holds the private key and is the only writer. */
  readonly key?: LogKey
}

interface Counters {
  t: number
  l: number
}

/**
 * The logstore of paper Example 2: a key book (thread keys, own log keys), an address book with
 * TTLs, a head book and metadata, over one storage adapter. Thread, log and head entries are
 * small, so they are loaded once at open and served from memory.
 *
 * @example
 * ```ts
 * import { Logstore, ThreadId, createThreadKey } from 'redux-p2p-threads/advanced'
 * import { memoryStorage } from 'redux-p2p-threads/memory'
 * const logstore = await Logstore.open(memoryStorage())
 * const thread = await logstore.addThread(ThreadId.create(), createThreadKey())
 * ```
 */
export class Logstore {
  readonly storage: StorageAdapter
  readonly addrs: AddrBook
  readonly metadata: MetadataBook
  readonly #threads = new Map<string, ThreadInfo>()
  readonly #logs = new Map<string, Map<string, LogInfo>>()
  readonly #heads = new Map<string, Map<string, LogHead>>()
  #counters: Counters = { t: 0, l: 0 }
  readonly #damaged: CorruptStoreError[] = []

  private constructor(storage: StorageAdapter, now: () => number) {
    this.storage = storage
    this.addrs = new AddrBook(storage, now)
    this.metadata = new MetadataBook(storage)
  }

  /** Open a logstore over `storage`, loading threads, logs and heads. */
  static async open(storage: StorageAdapter, options: { now?: () => number } = {}): Promise<Logstore> {
    const store = new Logstore(storage, options.now ?? Date.now)
    await store.#load()
    return store
  }

  async #load(): Promise<void> {
    const counters = await this.storage.get(keys.counters())
    if (counters !== undefined) {
      try {
        this.#counters = dagCbor.decode(counters) as Counters
      } catch {
        // Recomputed below from the numbers in use.
      }
    }
    // Counters are written whole by each add; should batches land out of order, never hand out
    // a number already in use.
    const above = (n: string, c: number): number => Math.max(c, parseInt(n, 36) + 1)
    for await (const { key, value } of this.storage.range(keys.threads())) {
      let id: ThreadId
      let entry: { n: string; key: Uint8Array; check?: Uint8Array; epochs?: Record<string, Uint8Array>; services?: Record<string, Uint8Array> }
      try {
        id = ThreadId.parse(key[1] as string)
        entry = dagCbor.decode(value) as typeof entry
        if (typeof entry.n !== 'string' || !(entry.key instanceof Uint8Array)) throw new Error('not a thread entry')
      } catch (cause) {
        // Nothing of this thread can be read: skip it rather than refuse to open every other one.
        this.#damaged.push(new CorruptStoreError(`a stored thread entry cannot be read (${String(key[1]).slice(0, 80)})`, {}, { cause }))
        continue
      }
      const damage: CorruptStoreError[] = []
      let keyDamaged = false
      const ctx = { threadId: id.toString() }
      let threadKey: ThreadKey
      try {
        threadKey = threadKeyFromBytes(entry.key)
      } catch (cause) {
        damage.push(new CorruptStoreError('the stored thread key cannot be read', ctx, { cause }))
        threadKey = { service: new Uint8Array(32) }
        keyDamaged = true
      }
      if (entry.check !== undefined && !equals(entry.check, keyCheck(entry.key))) {
        damage.push(new CorruptStoreError('the stored thread key does not match its check value (damaged in storage)', ctx))
        keyDamaged = true
      }
      this.#counters.t = above(entry.n, this.#counters.t)
      const logs = new Map<string, LogInfo>()
      const byN = new Map<string, string>()
      for await (const log of this.storage.range(keys.logs(entry.n))) {
        const logId = log.key[2] as string
        let l: { n: string; seed?: Uint8Array }
        try {
          l = dagCbor.decode(log.value) as typeof l
          if (typeof l.n !== 'string') throw new Error('not a log entry')
        } catch (cause) {
          damage.push(new CorruptStoreError('a stored log entry cannot be read', { ...ctx, logId }, { cause }))
          continue
        }
        this.#counters.l = above(l.n, this.#counters.l)
        let info: LogInfo = { id: logId, n: l.n }
        if (l.seed !== undefined) {
          const own = l.seed instanceof Uint8Array && l.seed.length === 32 ? logKeyFromSeed(l.seed) : undefined
          // The log ID is the public key: a seed that does not derive it is damaged.
          if (own === undefined || own.id !== logId) damage.push(new CorruptStoreError('the stored log key does not derive its log ID (damaged in storage)', { ...ctx, logId }))
          else info = { id: logId, n: l.n, key: own }
        }
        logs.set(logId, info)
        byN.set(l.n, logId)
      }
      const heads = new Map<string, LogHead>()
      for await (const h of this.storage.range(keys.heads(entry.n))) {
        const logId = byN.get(h.key[2] as string)
        const head = decodeHead(h.value)
        if (logId === undefined || head === undefined) {
          damage.push(new CorruptStoreError('a stored head cannot be read or names no log', { ...ctx, ...(logId === undefined ? {} : { logId }) }))
          continue
        }
        heads.set(logId, head)
      }
      const readKeys = checkedKeys(entry.epochs, 'read', ctx, damage)
      const serviceKeys = checkedKeys(entry.services, 'service', ctx, damage)
      this.#threads.set(id.toString(), { id, key: threadKey, n: entry.n, readKeys, serviceKeys, ...(damage.length === 0 ? {} : { damage }), ...(keyDamaged ? { keyDamaged } : {}) })
      this.#logs.set(id.toString(), logs)
      this.#heads.set(id.toString(), heads)
    }
  }

  /** Entries that could not be read at all (not even their thread), found when the store opened. */
  get damaged(): readonly CorruptStoreError[] {
    return this.#damaged
  }

  /**
   * This peer's identity (its log key in every thread): the one this storage holds, or a new one
   * stored now. A stored seed that does not make a log key is reported as damage, never replaced.
   *
   * @throws {@link CorruptStoreError} when the stored seed is damaged.
   */
  async identity(create: () => LogKey): Promise<{ key: LogKey; created: boolean }> {
    const seed = await this.storage.get(keys.identity())
    if (seed !== undefined) {
      try {
        return { key: logKeyFromSeed(seed), created: false }
      } catch (cause) {
        throw new CorruptStoreError('the stored identity seed is damaged: this storage cannot speak for its peer', {}, { cause })
      }
    }
    const key = create()
    await this.storage.batch([{ type: 'put', key: keys.identity(), value: key.seed }])
    return { key, created: true }
  }

  /** Add a thread, or add keys to one already held (a follower that is given the read key). */
  async addThread(id: ThreadId, key: ThreadKey): Promise<ThreadInfo> {
    const existing = this.#threads.get(id.toString())
    if (existing !== undefined && !equals(existing.key.service, key.service)) {
      throw new InvalidKeyError('the key given does not have the service key of the thread held: refusing to replace it', { threadId: id.toString() })
    }
    const merged: ThreadKey = existing?.key.read !== undefined ? existing.key : key.read !== undefined ? key : (existing?.key ?? key)
    const n = existing?.n ?? internKey(this.#counters.t++)
    const readKeys = existing?.readKeys ?? new Map<number, Uint8Array>()
    const serviceKeys = existing?.serviceKeys ?? new Map<number, Uint8Array>()
    const info: ThreadInfo = existing === undefined ? { id, key: merged, n, readKeys, serviceKeys } : Object.assign(existing, { key: merged })
    const ops: StorageOp[] = [this.#threadEntry(id, merged, n, readKeys, serviceKeys)]
    if (existing === undefined) ops.push({ type: 'put', key: keys.counters(), value: dagCbor.encode(this.#counters) })
    await this.storage.batch(ops)
    this.#threads.set(id.toString(), info)
    if (!this.#logs.has(id.toString())) this.#logs.set(id.toString(), new Map())
    if (!this.#heads.has(id.toString())) this.#heads.set(id.toString(), new Map())
    return info
  }

  /** The storage op that writes a thread's entry: keys with their check values. */
  #threadEntry(id: ThreadId, key: ThreadKey, n: string, readKeys: ReadonlyMap<number, Uint8Array>, serviceKeys: ReadonlyMap<number, Uint8Array>): StorageOp {
    const keyBytes = threadKeyToBytes(key)
    const value = {
      n,
      key: keyBytes,
      check: keyCheck(keyBytes),
      ...(readKeys.size === 0 ? {} : { epochs: withChecks(readKeys) }),
      ...(serviceKeys.size === 0 ? {} : { services: withChecks(serviceKeys) })
    }
    return { type: 'put', key: keys.thread(id.toString()), value: dagCbor.encode(value) }
  }

  /**
   * Keep the read key of a later epoch (a rotation sealed it to this peer), durably. The thread's
   * `readKeys` map gains it at once. A key already held for the epoch stays, unless `replace`
   * (the order accepted another rotation to that epoch than the one the key came from).
   */
  async addReadKey(id: ThreadId | string, epoch: number, key: Uint8Array, options: { replace?: boolean } = {}): Promise<void> {
    const info = this.getThread(id)
    if (info.readKeys.has(epoch) && options.replace !== true) return
    const next = new Map(info.readKeys)
    next.set(epoch, Uint8Array.from(key))
    await this.storage.batch([this.#threadEntry(info.id, info.key, info.n, next, info.serviceKeys)])
    info.readKeys.set(epoch, Uint8Array.from(key))
  }

  /**
   * Keep the service key of a later epoch (a service rotation sealed it to this peer, or an
   * invite carried it), durably. The thread's `serviceKeys` map gains it at once; a key already
   * held for the epoch stays (only the owner rotates, so an epoch has one key), unless `replace`
   * (the ACL admitted another key for the epoch than one an invite carried). Epochs past
   * `MAX_SERVICE_EPOCHS` are refused (`false`), as every peer refuses their rotations.
   *
   * @returns whether the key was added.
   */
  async addServiceKey(id: ThreadId | string, epoch: number, key: Uint8Array, options: { replace?: boolean } = {}): Promise<boolean> {
    const info = this.getThread(id)
    if (!Number.isSafeInteger(epoch) || epoch < 1 || epoch > MAX_SERVICE_EPOCHS || key.length !== 32) return false
    const held = info.serviceKeys.get(epoch)
    if (held !== undefined && (options.replace !== true || held.every((b, i) => b === key[i]))) return false
    const next = new Map(info.serviceKeys)
    next.set(epoch, Uint8Array.from(key))
    await this.storage.batch([this.#threadEntry(info.id, info.key, info.n, info.readKeys, next)])
    info.serviceKeys.set(epoch, Uint8Array.from(key))
    if (held !== undefined) invalidateServiceKeyIndex(info.serviceKeys)
    return true
  }

  thread(id: ThreadId | string): ThreadInfo | undefined {
    return this.#threads.get(id.toString())
  }

  /** The thread, or {@link NotFoundError}. */
  getThread(id: ThreadId | string): ThreadInfo {
    const info = this.#threads.get(id.toString())
    if (info === undefined) throw new NotFoundError('this peer does not hold the thread', { threadId: id.toString() })
    return info
  }

  threads(): ThreadInfo[] {
    return [...this.#threads.values()]
  }

  /** Register a log of a thread (with `key` for this peer's own log). Idempotent. */
  async addLog(threadId: ThreadId | string, logId: string, key?: LogKey): Promise<LogInfo> {
    const thread = this.getThread(threadId)
    const logs = this.#logs.get(thread.id.toString()) as Map<string, LogInfo>
    const existing = logs.get(logId)
    if (existing !== undefined && (key === undefined || existing.key !== undefined)) return existing
    const n = existing?.n ?? internKey(this.#counters.l++)
    const info: LogInfo = key === undefined ? { id: logId, n } : { id: logId, n, key }
    const ops: StorageOp[] = [
      { type: 'put', key: keys.log(thread.n, logId), value: dagCbor.encode(key === undefined ? { n } : { n, seed: key.seed }) }
    ]
    if (existing === undefined) ops.push({ type: 'put', key: keys.counters(), value: dagCbor.encode(this.#counters) })
    await this.storage.batch(ops)
    logs.set(logId, info)
    return info
  }

  log(threadId: ThreadId | string, logId: string): LogInfo | undefined {
    return this.#logs.get(threadId.toString())?.get(logId)
  }

  logs(threadId: ThreadId | string): LogInfo[] {
    return [...(this.#logs.get(threadId.toString())?.values() ?? [])]
  }

  /** This peer's own log in a thread, if it has one. */
  ownLog(threadId: ThreadId | string): (LogInfo & { key: LogKey }) | undefined {
    for (const log of this.logs(threadId)) if (log.key !== undefined) return log as LogInfo & { key: LogKey }
    return undefined
  }

  /** The head of a log as this peer has it (including appends not yet durable). */
  head(threadId: ThreadId | string, logId: string): LogHead | undefined {
    return this.#heads.get(threadId.toString())?.get(logId)
  }

  /** Every log head of a thread. */
  heads(threadId: ThreadId | string): Map<string, LogHead> {
    return new Map(this.#heads.get(threadId.toString()) ?? [])
  }

  /**
   * Move a head in memory and return the storage op that makes it durable. The event store puts
   * that op last in its batch: the head is the commit point of an append.
   */
  advanceHead(thread: ThreadInfo, log: LogInfo, head: LogHead): StorageOp {
    this.#heads.get(thread.id.toString())?.set(log.id, head)
    return { type: 'put', key: keys.head(thread.n, log.n), value: encodeHead(head) }
  }

  /** Put a memory head back to what storage holds (a batch that would have moved it failed). */
  restoreHead(thread: ThreadInfo, log: LogInfo, head: LogHead | undefined): void {
    const heads = this.#heads.get(thread.id.toString())
    if (head === undefined) heads?.delete(log.id)
    else heads?.set(log.id, head)
  }

  /**
   * Set a head in memory and return the op that stores it (or deletes it, for `undefined`):
   * repair and adoption of orphans, outside appends.
   */
  setHead(thread: ThreadInfo, log: LogInfo, head: LogHead | undefined): StorageOp {
    const heads = this.#heads.get(thread.id.toString())
    if (head === undefined) {
      heads?.delete(log.id)
      return { type: 'del', key: keys.head(thread.n, log.n) }
    }
    heads?.set(log.id, head)
    return { type: 'put', key: keys.head(thread.n, log.n), value: encodeHead(head) }
  }

  /** Forget a thread entirely: keys, logs, heads, addresses, metadata, snapshots, records and their CID index. */
  async deleteThread(threadId: ThreadId | string): Promise<void> {
    const thread = this.getThread(threadId)
    const ops: StorageOp[] = [{ type: 'del', key: keys.thread(thread.id.toString()) }]
    for (const prefix of [keys.logs(thread.n), keys.heads(thread.n), ['a', thread.n], ['d', thread.n], ['r', thread.n], ['s', thread.n]]) {
      for await (const { key } of this.storage.range(prefix)) ops.push({ type: 'del', key })
    }
    // The identity index of its records, where an entry still names this thread.
    for await (const { value } of this.storage.range(['r', thread.n])) {
      let digest: Uint8Array
      try {
        digest = decodeStoredRecord(value, { threadId: thread.id.toString() }).idDigest
      } catch {
        continue // a damaged record must not stop the thread from being deleted
      }
      const key = keys.id(digest)
      const at = await this.storage.get(key)
      if (at !== undefined && indexedThread(at) === thread.n) ops.push({ type: 'del', key })
    }
    await this.storage.batch(ops)
    this.#threads.delete(thread.id.toString())
    this.#logs.delete(thread.id.toString())
    this.#heads.delete(thread.id.toString())
  }
}

/** The thread number of a CID index entry (`[t, l, seq]`), or `undefined` if it is damaged. */
function indexedThread(bytes: Uint8Array): unknown {
  try {
    return (dagCbor.decode(bytes) as unknown[])[0]
  } catch {
    return undefined
  }
}

function encodeHead(head: LogHead): Uint8Array {
  return dagCbor.encode({ id: head.id, seq: head.seq })
}

/** A stored head, or `undefined` when it is damaged (or of the first format, which linked record CIDs). */
function decodeHead(bytes: Uint8Array): LogHead | undefined {
  try {
    const v = dagCbor.decode(bytes) as { id?: unknown; seq?: unknown }
    if (!isRecordId(v.id) || typeof v.seq !== 'number' || !Number.isSafeInteger(v.seq) || v.seq < 1) return undefined
    return { id: v.id as CID, seq: v.seq }
  } catch {
    return undefined
  }
}
