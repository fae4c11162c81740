/**
 * A deterministic fuzzer for the thread CAR reader (`parseThreadCar`, `importThreadCar`), the one
 * decoder of outside bytes that is async. The same rules as `recordFuzz.ts`: only our typed
 * errors may escape, and an input that is not an honest CAR (or an honest CAR whose record
 * blocks were re-sealed, which holds the same records) must not be accepted as anything else.
 *
 * Inputs: the honest export of a thread (two logs), the same CAR with record blocks re-sealed,
 * streamed in random chunks, mutated (flips, truncation, splices, huge lengths), random bytes,
 * and CARs written by hand with crafted manifests (other versions, unknown logs, heads named by
 * record block CID as format 1 did, wrong seqs, missing or extra roots) and a random choice of
 * the real blocks. Imports go into a fresh store (with the full key, a follower's key, a wrong
 * key or none), into a store holding part of the thread, or into one holding the other branch of
 * a log its writer forked.
 */
import { CarWriter } from '@ipld/car'
import * as dagCbor from '@ipld/dag-cbor'
import type { CID } from 'multiformats/cid'
import { memoryStorage } from '../../adapters/storage/memory.js'
import { blockOf, encodeBlock, type Block } from '../../src/core/block.js'
import { getCrypto, setCrypto } from '../../src/core/crypto/index.js'
import { ThreadsError } from '../../src/core/errors.js'
import { followKey, logKeyFromSeed, type LogKey, type ThreadKey } from '../../src/core/keys.js'
import { recordBlocks, verifyChain, type LogHead, type LogRecord } from '../../src/core/record.js'
import { ThreadId } from '../../src/core/threadId.js'
import { exportThreadCarBytes, importThreadCar, parseThreadCar } from '../../src/store/car.js'
import { EventStore } from '../../src/store/eventStore.js'
import { headOf, KNOWN_ERROR_NAMES, makeChain, reseal } from '../unit/core/fixtures.js'
import { FuzzFailure, mutate, randomBytesInput, randomString, randomValue, Rng, type FuzzOptions, type FuzzSummary, type Pools } from './recordFuzz.js'

interface CarWorld {
  readonly thread: ThreadId
  readonly threadKey: Required<ThreadKey>
  readonly logs: readonly { key: LogKey; records: readonly LogRecord[] }[]
  /** Log 0's writer forked it: another seq 3 and seq 4 after its seq 2. */
  readonly fork: readonly LogRecord[]
  /** The honest export. */
  readonly car: Uint8Array
  /** The same thread with every record block re-sealed (a new nonce): the same records. */
  readonly resealed: Uint8Array
  /** Every block of the honest export but the manifest, and the re-sealed record blocks. */
  readonly blocks: readonly Block[]
  readonly manifest: Block
  /** What an honest import yields: per log, its head seq and every identity. */
  readonly expected: ReadonlyMap<string, readonly string[]>
  readonly pools: Pools
}

/** A CAR of `blocks` with `roots`, written by @ipld/car. */
export async function carOf(roots: readonly CID[], blocks: readonly Block[]): Promise<Uint8Array> {
  const { writer, out } = CarWriter.create([...roots])
  const feeding = (async () => {
    for (const b of blocks) await writer.put(b)
    await writer.close()
  })()
  const chunks: Uint8Array[] = []
  for await (const c of out) chunks.push(c)
  await feeding
  const total = chunks.reduce((n, c) => n + c.length, 0)
  const bytes = new Uint8Array(total)
  let at = 0
  for (const c of chunks) {
    bytes.set(c, at)
    at += c.length
  }
  return bytes
}

async function storeWith(thread: ThreadId, threadKey: ThreadKey, logs: readonly { key: LogKey; records: readonly LogRecord[] }[]): Promise<EventStore> {
  const store = await EventStore.open(memoryStorage())
  await store.logstore.addThread(thread, threadKey)
  for (const log of logs) {
    await store.logstore.addLog(thread, log.key.id)
    if (log.records.length > 0) await store.append(thread, [...log.records])
  }
  return store
}

async function buildWorld(rng: Rng): Promise<CarWorld> {
  const threadKey = { service: rng.bytes(32), read: rng.bytes(32) }
  const thread = ThreadId.create()
  const keys = [logKeyFromSeed(rng.bytes(32)), logKeyFromSeed(rng.bytes(32))]
  const logs = [
    { key: keys[0] as LogKey, records: makeChain(keys[0] as LogKey, threadKey, thread, 4) },
    { key: keys[1] as LogKey, records: makeChain(keys[1] as LogKey, threadKey, thread, 2) }
  ]
  const fork = makeChain(keys[0] as LogKey, threadKey, thread, 2, headOf(logs[0]?.records[1] as LogRecord), 'fork')
  const store = await storeWith(thread, threadKey, logs)
  const car = await exportThreadCarBytes(store, thread)
  await store.close()
  const heads = [...logs].sort((a, b) => (a.key.id < b.key.id ? -1 : 1)).map((l) => ({ id: l.key.id, head: (l.records.at(-1) as LogRecord).id, seq: l.records.length }))
  const manifest = encodeBlock({ v: 2, thread: thread.toString(), logs: heads })
  const plain: Block[] = []
  const resealedBlocks: Block[] = []
  for (const log of logs) {
    for (const r of log.records) {
      plain.push(r.blocks.record, r.blocks.event, r.blocks.header, r.blocks.body)
      resealedBlocks.push(blockOf(reseal(threadKey.service, recordBlocks(r)).record), r.blocks.event, r.blocks.header, r.blocks.body)
    }
  }
  const resealed = await carOf([manifest.cid], [manifest, ...resealedBlocks])
  const expected = new Map(logs.map((l) => [l.key.id, l.records.map((r) => r.id.toString())]))
  return {
    thread,
    threadKey,
    logs,
    fork,
    car,
    resealed,
    blocks: [...plain, ...resealedBlocks.filter((_, i) => i % 4 === 0)],
    manifest,
    expected,
    pools: { cids: logs.flatMap((l) => l.records.flatMap((r) => [r.id, r.cid, r.eventCid])) }
  }
}

/** What a CAR holds, verified: the thread, and per log its manifest head and the identities of its records. */
interface Read {
  readonly thread: string
  readonly logs: ReadonlyMap<string, { readonly seq: number; readonly head: string; readonly start: number; readonly ids: readonly string[] }>
}

async function readAll(input: Uint8Array | AsyncIterable<Uint8Array>, serviceKey: Uint8Array, from: (seq: number) => number, w: CarWorld): Promise<Read> {
  const car = await parseThreadCar(input, serviceKey)
  const logs = new Map<string, { seq: number; head: string; start: number; ids: string[] }>()
  for (const log of car.manifest.logs) {
    const start = Math.min(from(log.seq), log.seq)
    // From `start`, after the honest head before it (what an import from a store at start - 1 does).
    const before = w.logs.find((l) => l.key.id === log.id)?.records[start - 2]
    const records = verifyChain({ thread: car.threadId, logId: log.id, serviceKey }, car.run(log, start), before === undefined ? {} : { after: headOf(before) })
    logs.set(log.id, { seq: log.seq, head: log.head.toString(), start, ids: records.map((r) => r.id.toString()) })
  }
  return { thread: car.threadId.toString(), logs }
}

/**
 * Accepted ⇒ only honest records: each log read is the honest run from its `start` to a head that
 * is the honest record at its seq. With `whole`, the manifest is the honest one: every log, whole.
 */
function honestRead(w: CarWorld, whole: boolean): (r: Read) => string | undefined {
  return (r) => {
    if (r.thread !== w.thread.toString()) return `read thread ${r.thread}`
    if (whole && r.logs.size !== w.expected.size) return `read ${r.logs.size} logs of ${w.expected.size}`
    for (const [logId, log] of r.logs) {
      const honest = w.expected.get(logId)
      if (honest === undefined) return `read an unknown log ${logId}`
      if (log.seq > honest.length) return `read seq ${log.seq} of a log of ${honest.length}`
      if (log.head !== honest[log.seq - 1]) return 'read a head that is not the honest record at its seq'
      if (log.ids.length !== log.seq - log.start + 1) return `read ${log.ids.length} records from seq ${log.start} to ${log.seq}`
      const run = honest.slice(log.start - 1, log.seq)
      if (log.ids.some((id, k) => id !== run[k])) return 'read records that are not the honest run'
      if (whole && log.seq !== honest.length) return 'read a part of a log as the whole'
    }
    return undefined
  }
}

/** Split bytes into random chunks, as a stream would deliver them. */
async function* chunked(rng: Rng, bytes: Uint8Array): AsyncGenerator<Uint8Array> {
  let at = 0
  while (at < bytes.length) {
    const n = 1 + rng.int(Math.min(bytes.length - at, rng.chance(0.5) ? 64 : 4096))
    yield bytes.subarray(at, at + n)
    at += n
  }
}

interface CarCase {
  readonly target: string
  readonly run: () => Promise<unknown>
  readonly verdict: 'reject' | ((result: unknown) => string | undefined)
  readonly mustAccept?: boolean
  readonly errors?: readonly string[]
  readonly note?: string
}

function craftedManifest(rng: Rng, w: CarWorld): unknown {
  const honest = dagCbor.decode<{ v: number; thread: string; logs: { id: string; head: CID; seq: number }[] }>(w.manifest.bytes)
  const r = rng.int(12)
  if (r === 0) return randomValue(rng, w.pools)
  const logs = honest.logs.map((l) => ({ ...l }))
  const m: Record<string, unknown> = { ...honest, logs }
  const log = rng.pick(logs)
  const other = rng.pick(w.logs)
  switch (r) {
    case 1:
      m.v = rng.pick([1, 3, '2', null, 2.5])
      break
    case 2:
      m.thread = rng.chance(0.5) ? ThreadId.create().toString() : randomString(rng, 60)
      break
    case 3:
      // A shorter log: a prefix, honestly named.
      log.seq = 1 + rng.int(log.seq)
      log.head = identityAt(w, log.id, log.seq) ?? log.head
      break
    case 4:
      log.seq = log.seq + rng.pick([-1, 1, 2])
      break
    case 5:
      // The head named by its record block's CID, as format 1 did.
      log.head = (w.logs.find((l) => l.key.id === log.id)?.records.at(-1) as LogRecord).cid
      break
    case 6:
      log.head = (other.records.at(-1) as LogRecord).id
      break
    case 7:
      logs.push({ ...log })
      break
    case 8:
      logs.push({ id: logKeyFromSeed(rng.bytes(32)).id, head: log.head, seq: log.seq })
      break
    case 9:
      log.id = other.key.id
      break
    case 10:
      m.logs = rng.chance(0.5) ? [] : randomValue(rng, w.pools)
      break
    default:
      m[randomString(rng) || 'x'] = randomValue(rng, w.pools)
  }
  return m
}

function identityAt(w: CarWorld, logId: string, seq: number): CID | undefined {
  return w.logs.find((l) => l.key.id === logId)?.records[seq - 1]?.id
}

const CASES: readonly [weight: number, make: (rng: Rng, w: CarWorld) => Promise<CarCase>][] = [
  // The honest CAR, or its re-sealed twin, whole or streamed: the same thread, every record.
  [
    2,
    async (rng, w) => {
      const bytes = rng.chance(0.5) ? w.car : w.resealed
      const input = rng.chance(0.5) ? bytes : chunked(rng, bytes)
      return { target: 'parseThreadCar/honest', run: () => readAll(input, w.threadKey.service, () => 1, w), verdict: (r) => honestRead(w, true)(r as Read), mustAccept: true }
    }
  ],
  // A mutated CAR: refused, or read as exactly the honest thread.
  [
    12,
    async (rng, w) => {
      let bytes = rng.chance(0.8) ? w.car : w.resealed
      const n = 1 + (rng.chance(0.2) ? rng.int(4) : 0)
      for (let k = 0; k < n; k++) bytes = mutate(rng, bytes, [w.car, w.resealed, ...w.blocks.map((b) => b.bytes)])
      const input = rng.chance(0.7) ? bytes : chunked(rng, bytes)
      const from = rng.chance(0.7) ? 1 : 2 + rng.int(3)
      return {
        target: 'parseThreadCar/mutated',
        run: () => readAll(input, w.threadKey.service, () => from, w),
        verdict: (r) => honestRead(w, true)(r as Read)
      }
    }
  ],
  // Random bytes, sometimes after a real CAR header.
  [
    2,
    async (rng, w) => {
      const header = w.car.subarray(0, 1 + (w.car[0] as number))
      const bytes = rng.chance(0.5) ? randomBytesInput(rng) : Uint8Array.from([...header, ...randomBytesInput(rng)])
      return { target: 'parseThreadCar/random', run: () => readAll(bytes, w.threadKey.service, () => 1, w), verdict: 'reject' }
    }
  ],
  // A CAR written by hand: a crafted manifest, crafted roots, and a random choice of the real blocks.
  [
    8,
    async (rng, w) => {
      const manifest = rng.chance(0.85) ? encodeBlock(craftedManifest(rng, w)) : w.manifest
      const blocks = w.blocks.filter(() => rng.chance(0.93))
      if (rng.chance(0.2)) blocks.reverse()
      if (rng.chance(0.1)) blocks.push(...blocks.slice(0, rng.int(blocks.length)))
      const r = rng.int(10)
      const roots = r === 0 ? [] : r === 1 ? [manifest.cid, manifest.cid] : r === 2 ? [rng.pick(w.blocks).cid] : r === 3 ? [rng.pick(w.pools.cids)] : [manifest.cid]
      const all = rng.chance(0.95) ? [manifest, ...blocks] : blocks
      const bytes = await carOf(roots, all)
      return {
        target: 'parseThreadCar/crafted',
        run: () => readAll(bytes, w.threadKey.service, () => 1, w),
        verdict: (result) => honestRead(w, false)(result as Read)
      }
    }
  ],
  // Imports into stores: fresh (full key, follower key, wrong key, none), holding a prefix, or holding a fork.
  [
    5,
    async (rng, w) => {
      const k = rng.int(12)
      const honestBytes = rng.chance(0.5) ? w.car : w.resealed
      const bytes = k < 7 ? honestBytes : mutate(rng, honestBytes, [w.car, w.resealed])
      const honest = k < 7
      const mode = rng.pick(['fresh', 'fresh', 'follow', 'wrongKey', 'noKey', 'prefix', 'prefix', 'forked'] as const)
      const key = mode === 'follow' ? followKey(w.threadKey) : mode === 'wrongKey' ? { service: rng.bytes(32), read: rng.bytes(32) } : w.threadKey
      const prefixOf = (l: CarWorld['logs'][number]): CarWorld['logs'][number] => ({ key: l.key, records: l.records.slice(0, rng.int(l.records.length + 1)) })
      const held =
        mode === 'prefix'
          ? w.logs.map(prefixOf)
          : mode === 'forked'
            ? [{ key: (w.logs[0] as CarWorld['logs'][number]).key, records: [...(w.logs[0]?.records.slice(0, 2) ?? []), ...w.fork.slice(0, 1 + rng.int(2))] }]
            : undefined
      const errors = mode === 'forked' && honest ? ['EquivocationError'] : mode === 'noKey' && honest ? ['NotFoundError'] : undefined
      return {
        target: `importThreadCar/${mode}`,
        run: async () => {
          const store = held === undefined ? await EventStore.open(memoryStorage()) : await storeWith(w.thread, w.threadKey, held)
          try {
            const result = await importThreadCar(store, rng.chance(0.3) ? chunked(rng, bytes) : bytes, mode === 'noKey' ? {} : { threadKey: key })
            const heads = new Map<string, LogHead>(store.logstore.heads(w.thread))
            const ids = new Map<string, string[]>()
            for (const [logId] of heads) ids.set(logId, (await store.records(w.thread, logId)).map((r) => r.id.toString()))
            return { result, ids }
          } finally {
            await store.close()
          }
        },
        ...(errors === undefined ? {} : { errors }),
        mustAccept: honest && (mode === 'fresh' || mode === 'follow' || mode === 'prefix'),
        verdict: (out) => {
          const { result, ids } = out as { result: { threadId: ThreadId; records: number }; ids: Map<string, string[]> }
          if (mode === 'wrongKey' || mode === 'noKey') return `imported with ${mode}`
          if (!result.threadId.equals(w.thread)) return 'imported another thread'
          // The store holds the honest logs, whole: nothing else, nothing less.
          for (const [logId, honestIds] of w.expected) {
            const got = ids.get(logId)
            if (got === undefined || got.length !== honestIds.length || got.some((id, i) => id !== honestIds[i])) return `log ${logId} is not the honest log after the import`
          }
          if (ids.size !== w.expected.size) return 'imported an unknown log'
          return undefined
        },
        note: `${mode}, ${honest ? 'honest' : 'mutated'} bytes`
      }
    }
  ]
]

const TOTAL_WEIGHT = CASES.reduce((n, [weight]) => n + weight, 0)

function pickCase(rng: Rng): (rng: Rng, w: CarWorld) => Promise<CarCase> {
  let r = rng.int(TOTAL_WEIGHT)
  for (const [weight, make] of CASES) {
    if (r < weight) return make
    r -= weight
  }
  return (CASES[0] as (typeof CASES)[number])[1]
}

function describeError(e: unknown): string {
  return e instanceof Error ? `${e.name}: ${e.message}` : String(e)
}

/**
 * Run `iterations` CAR fuzz cases from `seed`. Throws {@link FuzzFailure} on the first failure.
 *
 * @example
 * ```ts
 * const summary = await fuzzCar({ iterations: 300, seed: 1 })
 * ```
 */
export async function fuzzCar(options: FuzzOptions): Promise<FuzzSummary> {
  const { iterations, seed } = options
  const rng = new Rng(seed)
  const previous = getCrypto()
  const base = options.crypto ?? previous
  setCrypto({ ...base, randomBytes: (n) => rng.bytes(n) })
  const rejectedByName: Record<string, number> = {}
  const byTarget: Record<string, { accepted: number; rejected: number }> = {}
  let accepted = 0
  try {
    const world = await buildWorld(rng)
    for (let i = 0; i < iterations; i++) {
      let c: CarCase
      try {
        c = await pickCase(rng)(rng, world)
      } catch (cause) {
        throw new FuzzFailure(seed, i, 'car/setup', `building the input threw ${describeError(cause)}`, { cause })
      }
      let result: unknown
      let thrown: unknown
      let returned = false
      try {
        result = await c.run()
        returned = true
      } catch (e) {
        thrown = e
      }
      const note = c.note === undefined ? '' : ` (${c.note})`
      if (returned) {
        if (c.verdict === 'reject') throw new FuzzFailure(seed, i, c.target, `accepted an input that must be refused${note}`)
        const problem = c.verdict(result)
        if (problem !== undefined) throw new FuzzFailure(seed, i, c.target, `${problem}${note}`)
        accepted++
        ;(byTarget[c.target] ??= { accepted: 0, rejected: 0 }).accepted++
        continue
      }
      if (!(thrown instanceof ThreadsError)) throw new FuzzFailure(seed, i, c.target, `threw a non-ThreadsError: ${describeError(thrown)}${note}`, { cause: thrown })
      if (!KNOWN_ERROR_NAMES.has(thrown.name)) throw new FuzzFailure(seed, i, c.target, `threw an unknown error name ${thrown.name}`, { cause: thrown })
      if (c.errors !== undefined && !c.errors.includes(thrown.name)) throw new FuzzFailure(seed, i, c.target, `threw ${describeError(thrown)}; expected ${c.errors.join(' or ')}${note}`, { cause: thrown })
      if (c.mustAccept === true) throw new FuzzFailure(seed, i, c.target, `refused an honest input: ${describeError(thrown)}${note}`, { cause: thrown })
      rejectedByName[thrown.name] = (rejectedByName[thrown.name] ?? 0) + 1
      ;(byTarget[c.target] ??= { accepted: 0, rejected: 0 }).rejected++
    }
  } finally {
    setCrypto(previous)
  }
  return { iterations, accepted, rejectedByName, byTarget }
}
