/**
 * A deterministic fuzzer for the protocol core's parsers and verifiers.
 *
 * Every input is derived from one seed: random bytes, mutated valid blocks (bit flips, truncation,
 * extension, splices of other records' blocks, swapped blocks, huge claimed CBOR lengths), and
 * records built by a key holder with arbitrary dag-cbor values in their nodes. Each input goes to
 * the function that must judge it, and the harness fails (throws {@link FuzzFailure}) when:
 * - anything throws an error that is not one of ours (a ThreadsError subclass), or
 * - an input that is not an honest value is accepted (a mutated record, a forged chain, a changed
 *   sealed box or stored form), or an honest one is refused.
 *
 * Format 2: records are named and linked by identity (the hash of their signed statement), so a
 * record re-sealed with a new nonce is the same record and must be accepted as that record, never
 * as another one. Every decoder of outside bytes has a target: record and event nodes (format 2,
 * and format 1, which is refused as such), fork proofs, stored records, body padding. The CAR
 * parser, which is async, has its own harness in `carFuzz.ts`.
 *
 * The crypto provider's randomBytes is replaced by the seeded generator for the run, so records,
 * keys and nonces are the same for the same seed.
 */
import * as dagCbor from '@ipld/dag-cbor'
import { CID } from 'multiformats/cid'
import { base16 } from 'multiformats/bases/base16'
import { base32 } from 'multiformats/bases/base32'
import { base58btc } from 'multiformats/bases/base58'
import { base64 } from 'multiformats/bases/base64'
import { decodeCommand, encodeCommand } from '../../src/core/command.js'
import { getCrypto, setCrypto, type CryptoProvider } from '../../src/core/crypto/index.js'
import { ThreadsError } from '../../src/core/errors.js'
import {
  checkForkProof,
  decodeForkProof,
  encodeForkProof,
  forkProofOf,
  forkProofToValue,
  signedStatementOf,
  type ForkProof,
  type SignedStatement
} from '../../src/core/forkProof.js'
import { logKeyFromSeed, openSealed, parseThreadKey, sealTo, threadKeyToString, type LogKey } from '../../src/core/keys.js'
import { pad, unpad } from '../../src/core/padding.js'
import { createRecord, openEvent, recordBlocks, verifyChain, verifyRecord, type LogHead, type LogRecord, type RecordBlocks, type RecordContext } from '../../src/core/record.js'
import { decodeEventNode, decodeRecordNode, encodeEventNode, encodeRecordNode } from '../../src/core/nodeCodec.js'
import { recordIdOfDigest } from '../../src/core/recordId.js'
import { checkStored, decodeStoredRecord, encodeStoredRecord, rebuildRecord } from '../../src/core/storedRecord.js'
import { ThreadId, Variant } from '../../src/core/threadId.js'
import { serviceKeyring, type ServiceKeyring } from '../../src/core/serviceKey.js'
import { createServiceRotation } from '../../src/core/serviceRotation.js'
import { blocksEqual, bytesEqual, craftRecord, formatOneNode, headOf, KNOWN_ERROR_NAMES, makeChain, nodeValue, reseal } from '../unit/core/fixtures.js'

export interface FuzzOptions {
  readonly iterations: number
  readonly seed: number
  /** The crypto provider to fuzz under (default: the current one). */
  readonly crypto?: CryptoProvider
}

export interface FuzzSummary {
  readonly iterations: number
  /** Inputs the core accepted (honest values, and random inputs that happen to be valid). */
  readonly accepted: number
  /** Inputs the core refused, by error class name. */
  readonly rejectedByName: Record<string, number>
  /** Accepted and rejected inputs per function under test. */
  readonly byTarget: Record<string, { accepted: number; rejected: number }>
}

/** What went wrong, with everything needed to reproduce it. */
export class FuzzFailure extends Error {
  constructor(
    readonly seed: number,
    readonly iteration: number,
    readonly target: string,
    detail: string,
    options?: { cause?: unknown }
  ) {
    super(`fuzz failure (seed ${seed}, iteration ${iteration}, ${target}): ${detail}`, options)
    this.name = 'FuzzFailure'
  }
}

/** mulberry32: small, fast, and good enough to pick fuzz inputs. */
export class Rng {
  #state: number
  constructor(seed: number) {
    this.#state = seed >>> 0
  }
  u32(): number {
    this.#state = (this.#state + 0x6d2b79f5) >>> 0
    let t = this.#state
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return (t ^ (t >>> 14)) >>> 0
  }
  /** An integer in [0, n). */
  int(n: number): number {
    return n <= 0 ? 0 : Math.floor((this.u32() / 0x1_0000_0000) * n)
  }
  chance(p: number): boolean {
    return this.u32() / 0x1_0000_0000 < p
  }
  pick<T>(items: readonly T[]): T {
    return items[this.int(items.length)] as T
  }
  bytes(n: number): Uint8Array {
    const out = new Uint8Array(n)
    for (let i = 0; i < n; i += 4) {
      const v = this.u32()
      out[i] = v & 0xff
      if (i + 1 < n) out[i + 1] = (v >>> 8) & 0xff
      if (i + 2 < n) out[i + 2] = (v >>> 16) & 0xff
      if (i + 3 < n) out[i + 3] = v >>> 24
    }
    return out
  }
  /** A length that is usually small and sometimes not. */
  size(): number {
    const r = this.int(100)
    if (r < 70) return this.int(64)
    if (r < 95) return this.int(600)
    return this.int(5000)
  }
}

// ---------------------------------------------------------------------------------------------
// Input generators

/** A CBOR head claiming a huge length for a major type (bytes, text, array, map, tag). */
export function hugeHead(rng: Rng): Uint8Array {
  const major = rng.pick([2, 3, 4, 5, 6])
  if (rng.chance(0.5)) return Uint8Array.from([(major << 5) | 26, 0xff, 0xff, 0xff, rng.int(256)])
  return Uint8Array.from([(major << 5) | 27, 0x00, 0x00, 0x7f, 0xff, 0xff, 0xff, 0xff, rng.int(256)])
}

export function randomString(rng: Rng, maxLength = 12): string {
  const alphabet = rng.pick(['abcdefghijklmnopqrstuvwxyz234567', 'ABCxyz0189+/=_-', '\u00e9\u4e2d\ud83d\ude00 \n"\\', 'blockseqprevsigheaderbodykeyclocktime'])
  let s = ''
  const n = rng.int(maxLength + 1)
  for (let i = 0; i < n; i++) s += alphabet[rng.int(alphabet.length)] ?? ''
  return s
}

export interface Pools {
  readonly cids: readonly CID[]
}

/** An arbitrary value dag-cbor can encode. */
export function randomValue(rng: Rng, pools: Pools, depth = 0): unknown {
  const leaf = depth >= 3
  switch (rng.int(leaf ? 10 : 13)) {
    case 0:
      return null
    case 1:
      return rng.chance(0.5)
    case 2:
      return rng.pick([0, 1, -1, 2, 23, 24, 255, 256, 65535, 2 ** 32, Number.MAX_SAFE_INTEGER, -Number.MAX_SAFE_INTEGER, rng.int(1000) - 500])
    case 3:
      return rng.pick([0.5, -1.25, 1e300, -1e-300, Math.PI, 2 ** 53 + 2])
    case 4:
      return rng.pick([2n ** 60n, -(2n ** 60n), 2n ** 64n - 1n, -(2n ** 64n)])
    case 5:
      return randomString(rng)
    case 6:
      return rng.bytes(rng.pick([0, 1, 12, 31, 32, 33, 63, 64, 65, rng.int(100)]))
    case 7:
      return rng.pick(pools.cids)
    case 8:
      return CID.createV1(rng.pick([0x55, 0x70, 0x71]), rng.pick(pools.cids).multihash)
    case 9:
      return CID.createV0(rng.pick(pools.cids).multihash as Parameters<typeof CID.createV0>[0])
    case 10:
      return Array.from({ length: rng.int(5) }, () => randomValue(rng, pools, depth + 1))
    case 11: {
      const out: Record<string, unknown> = {}
      const n = rng.int(5)
      for (let i = 0; i < n; i++) out[rng.chance(0.5) ? rng.pick(['v', 'block', 'sig', 'prev', 'seq', 'header', 'body', 'key', 'clock', 'time', 'type', 'payload', 'log', 'a', 'b', 'event', 'thread', 'logs', 'id', 'head']) : randomString(rng)] = randomValue(rng, pools, depth + 1)
      return out
    }
    default:
      return { type: rng.chance(0.7) ? randomString(rng) : randomValue(rng, pools, depth + 1), payload: randomValue(rng, pools, depth + 1) }
  }
}

/** A mutated copy of `bytes` (may rarely be equal to it: callers compare). */
export function mutate(rng: Rng, bytes: Uint8Array, others: readonly Uint8Array[]): Uint8Array {
  switch (rng.int(9)) {
    case 0: {
      const out = Uint8Array.from(bytes)
      if (out.length === 0) return Uint8Array.of(rng.int(256))
      const flips = 1 + rng.int(3)
      for (let i = 0; i < flips; i++) {
        const at = rng.int(out.length)
        out[at] = (out[at] as number) ^ (1 << rng.int(8))
      }
      return out
    }
    case 1: {
      const out = Uint8Array.from(bytes)
      if (out.length === 0) return Uint8Array.of(0)
      const at = rng.int(out.length)
      out[at] = (out[at] as number) ^ (1 + rng.int(255))
      return out
    }
    case 2:
      return bytes.slice(0, rng.int(bytes.length))
    case 3:
      return Uint8Array.from([...bytes, ...rng.bytes(1 + rng.int(16))])
    case 4: {
      // Splice a range of another block in.
      const other = rng.pick(others)
      const at = rng.int(bytes.length + 1)
      const from = rng.int(other.length + 1)
      const len = rng.int(Math.min(64, other.length - from) + 1)
      const end = Math.min(bytes.length, at + rng.int(64))
      return Uint8Array.from([...bytes.subarray(0, at), ...other.subarray(from, from + len), ...bytes.subarray(end)])
    }
    case 5: {
      const at = rng.int(bytes.length + 1)
      return Uint8Array.from([...bytes.subarray(0, at), rng.int(256), ...bytes.subarray(at)])
    }
    case 6: {
      const at = rng.int(bytes.length)
      return Uint8Array.from([...bytes.subarray(0, at), ...bytes.subarray(at + 1 + rng.int(8))])
    }
    case 7:
      return Uint8Array.from([...hugeHead(rng), ...bytes.subarray(rng.int(4))])
    default:
      return rng.pick(others)
  }
}

export function randomBytesInput(rng: Rng): Uint8Array {
  if (rng.chance(0.2)) return Uint8Array.from([...hugeHead(rng), ...rng.bytes(rng.int(20))])
  const bytes = rng.bytes(rng.size())
  // Often make it look like a CBOR byte string, so it gets past the first check.
  if (rng.chance(0.3) && bytes.length > 2) {
    bytes[0] = 0x58
    bytes[1] = bytes.length - 2
  }
  return bytes
}

// ---------------------------------------------------------------------------------------------
// The fuzzer

interface World {
  readonly thread: ThreadId
  /** Another thread, under the same keys: its records must not verify in `thread`. */
  readonly otherThread: ThreadId
  readonly logA: LogKey
  readonly logB: LogKey
  readonly service: Uint8Array
  readonly read: Uint8Array
  readonly chainA: readonly LogRecord[]
  readonly chainB: readonly LogRecord[]
  /**
   * A third log across a service key rotation: its first record carries a service rotation in its
   * event node (sealed under the first service key), the rest are sealed under the rotated key.
   */
  readonly logC: LogKey
  readonly chainC: readonly LogRecord[]
  /** The rotated service key (epoch 1), and a keyring of both. */
  readonly service1: Uint8Array
  readonly serviceKeys: ServiceKeyring
  /** Log A's writer forked its log: another seq 3 and the seq 4 after it, and another seq 1. */
  readonly branchA: readonly LogRecord[]
  readonly otherFirstA: LogRecord
  /** Every statement log A's writer signed, honest or forked. */
  readonly signedA: readonly SignedStatement[]
  /** Honest fork proofs of log A, encoded, and the seq each proves. */
  readonly proofs: readonly { bytes: Uint8Array; proof: ForkProof; seq: number }[]
  readonly valid: readonly { blocks: RecordBlocks; record: LogRecord }[]
  readonly allBlocks: readonly Uint8Array[]
  readonly stored: readonly Uint8Array[]
  /** Chain C stored (layout 3: a service epoch, and the rotation the first record carries). */
  readonly storedC: readonly Uint8Array[]
  readonly commands: readonly Uint8Array[]
  readonly threadIds: readonly ThreadId[]
  readonly threadKeys: readonly string[]
  readonly sealed: Uint8Array
  readonly sealedPlain: Uint8Array
  readonly pools: Pools
}

function buildWorld(rng: Rng): World {
  const logA = logKeyFromSeed(rng.bytes(32))
  const logB = logKeyFromSeed(rng.bytes(32))
  const threadKey = { service: rng.bytes(32), read: rng.bytes(32) }
  const thread = ThreadId.create()
  const otherThread = ThreadId.create()
  const chainA = makeChain(logA, threadKey, thread, 5)
  const chainB = makeChain(logB, threadKey, thread, 3)
  const branchA = makeChain(logA, threadKey, thread, 2, headOf(chainA[1] as LogRecord), 'branch')
  const otherFirstA = makeChain(logA, threadKey, thread, 1, undefined, 'other first')[0] as LogRecord
  const logC = logKeyFromSeed(rng.bytes(32))
  const service1 = rng.bytes(32)
  const serviceKeys = serviceKeyring(threadKey.service, new Map([[1, service1]]))
  const chainC: LogRecord[] = []
  for (let i = 0; i < 3; i++) {
    const prev = chainC.at(-1)
    chainC.push(
      createRecord({
        logKey: logC,
        threadKey: { service: i === 0 ? threadKey.service : service1, read: threadKey.read },
        serviceEpoch: i === 0 ? 0 : 1,
        ...(i === 0 ? { service: createServiceRotation({ members: [logA.id, logB.id], epoch: 1, salt: rng.bytes(16), sealingKey: threadKey.service }).box } : {}),
        thread,
        body: encodeCommand({ type: 'rotated', payload: i }),
        clock: i + 1,
        time: 0,
        ...(prev === undefined ? {} : { prev: headOf(prev) })
      })
    )
  }
  const valid = [...chainA, ...chainB, ...chainC].map((record) => ({ record, blocks: recordBlocks(record) }))
  const allBlocks = valid.flatMap((v) => [v.blocks.record, v.blocks.event, v.blocks.header, v.blocks.body])
  const commands = [
    encodeCommand({ type: 'todos/added', payload: { id: 1, text: 'milk' } }),
    encodeCommand({ type: 'x' }),
    encodeCommand({ type: 'todos/meta', payload: [1, 'two', null, { three: 3 }], meta: { n: 1.5 }, error: true })
  ]
  const threadIds = [ThreadId.create(Variant.Raw), ThreadId.create(Variant.AccessControlled, 16), ThreadId.create(Variant.Raw, 64), ThreadId.parse('bafkxd5bjgi6k4zivuoyxo4ua4mzyy')]
  const sealedPlain = rng.bytes(64)
  const st = signedStatementOf
  const a = (i: number): SignedStatement => st(chainA[i] as LogRecord)
  const b = (i: number): SignedStatement => st(branchA[i] as LogRecord)
  const proofList: { proof: ForkProof; seq: number }[] = [
    { proof: forkProofOf(logA.id, a(2), b(0)), seq: 3 },
    { proof: { logId: logA.id, a: a(2), b: b(1) }, seq: 3 },
    { proof: forkProofOf(logA.id, a(0), st(otherFirstA)), seq: 1 }
  ]
  return {
    thread,
    otherThread,
    logA,
    logB,
    service: threadKey.service,
    read: threadKey.read,
    chainA,
    chainB,
    logC,
    chainC,
    service1,
    serviceKeys,
    branchA,
    otherFirstA,
    signedA: [...chainA, ...branchA, otherFirstA].map(st),
    proofs: proofList.map((p) => ({ ...p, bytes: encodeForkProof(p.proof) })),
    valid,
    allBlocks,
    stored: chainA.map((r) => encodeStoredRecord(r)),
    storedC: chainC.map((r) => encodeStoredRecord(r)),
    commands,
    threadIds,
    threadKeys: [threadKeyToString(threadKey), threadKeyToString({ service: threadKey.service })],
    sealed: sealTo(logA.publicKey, sealedPlain),
    sealedPlain,
    pools: {
      cids: valid.flatMap((v) => [v.record.id, v.record.cid, v.record.blocks.header.cid, v.record.blocks.body.cid, v.record.eventCid])
    }
  }
}

type Verdict = 'reject' | 'accept' | ((result: unknown) => string | undefined)

interface Case {
  readonly target: string
  readonly run: () => unknown
  /** 'reject': must throw a typed error; 'accept': must return; a function: returns ⇒ check it. */
  readonly verdict: Verdict
  /** An honest input: a refusal fails the run (implied by verdict 'accept'). */
  readonly mustAccept?: boolean
  /** When given, the only error names a refusal may carry (a decoder's documented errors). */
  readonly errors?: readonly string[]
  /** What the input was, for failure messages. */
  readonly note?: string
}

function ctxOf(w: World, logId: string, serviceKey: Uint8Array | ServiceKeyring = w.serviceKeys, thread: ThreadId = w.thread): RecordContext {
  return { thread, logId, serviceKey }
}

function validIndex(world: World, blocks: RecordBlocks): number {
  return world.valid.findIndex((v) => blocksEqual(v.blocks, blocks))
}

function sameCid(a: CID | undefined, b: CID | undefined): boolean {
  return a === undefined ? b === undefined : b !== undefined && a.equals(b)
}

function sameStatement(a: SignedStatement, b: SignedStatement): boolean {
  return a.seq === b.seq && a.event.equals(b.event) && sameCid(a.prev, b.prev) && bytesEqual(a.sig, b.sig)
}

/** Would an honest verifier accept `blocks` of `logId` after `after`? */
function honestlyValid(world: World, logId: string, blocks: RecordBlocks, after: LogHead | undefined): boolean {
  const i = validIndex(world, blocks)
  if (i < 0) return false
  const r = (world.valid[i] as { record: LogRecord }).record
  if (r.logId !== logId) return false
  if (after === undefined) return true
  return r.seq === after.seq + 1 && r.prev !== undefined && r.prev.equals(after.id)
}

/** An accepted record must be exactly `expected` (same identity, fields and blocks but the record block). */
function sameRecordAs(expected: LogRecord): (result: unknown) => string | undefined {
  return (result) => {
    const r = result as LogRecord
    const want = expected.id.toString()
    if (r.id.toString() !== want) return `accepted as another record: ${r.id.toString()} instead of ${want}`
    if (r.seq !== expected.seq || !sameCid(r.prev, expected.prev) || !r.eventCid.equals(expected.eventCid) || !bytesEqual(r.sig, expected.sig)) return 'accepted with other fields'
    for (const k of ['event', 'header', 'body'] as const) if (!bytesEqual(r.blocks[k].bytes, expected.blocks[k].bytes)) return `accepted with another ${k} block`
    return undefined
  }
}

/** ISO 7816-4 padding judged by hand: the plaintext, 0x80, zeros. */
function unpaddedByHand(bytes: Uint8Array): Uint8Array | undefined {
  let i = bytes.length - 1
  while (i >= 0 && bytes[i] === 0) i--
  return i >= 0 && bytes[i] === 0x80 ? bytes.subarray(0, i) : undefined
}

const CASES: readonly [weight: number, make: (rng: Rng, w: World) => Case][] = [
  // verifyRecord on random blocks.
  [
    6,
    (rng, w) => {
      const blocks: RecordBlocks = { record: randomBytesInput(rng), event: randomBytesInput(rng), header: randomBytesInput(rng), body: randomBytesInput(rng) }
      return { target: 'verifyRecord/random', run: () => verifyRecord(ctxOf(w, w.logA.id), blocks), verdict: 'reject' }
    }
  ],
  // verifyRecord on a valid record with one or more blocks mutated, spliced or swapped.
  [
    20,
    (rng, w) => {
      const i = rng.int(w.chainA.length)
      const base = recordBlocks(w.chainA[i] as LogRecord)
      const names = ['record', 'event', 'header', 'body'] as const
      let blocks: RecordBlocks
      if (rng.chance(0.15)) {
        const order = [...names].sort(() => rng.int(3) - 1)
        blocks = { record: base[order[0] as 'record'], event: base[order[1] as 'event'], header: base[order[2] as 'header'], body: base[order[3] as 'body'] }
      } else {
        const copy: Record<(typeof names)[number], Uint8Array> = { ...base }
        const n = 1 + (rng.chance(0.2) ? rng.int(3) : 0)
        for (let k = 0; k < n; k++) {
          const name = rng.pick(names)
          copy[name] = mutate(rng, copy[name], w.allBlocks)
        }
        blocks = copy
      }
      const prevRecord = w.chainA[i - 1]
      const after = rng.chance(0.5) ? undefined : prevRecord !== undefined && rng.chance(0.8) ? headOf(prevRecord) : headOf(rng.pick(w.chainA))
      const logId = rng.chance(0.9) ? w.logA.id : w.logB.id
      const ok = honestlyValid(w, logId, blocks, after)
      return {
        target: 'verifyRecord/mutated',
        run: () => verifyRecord(ctxOf(w, logId), blocks, after === undefined ? {} : { after }),
        verdict: ok ? 'accept' : 'reject'
      }
    }
  ],
  // A valid record re-sealed by a key holder: the same record (same identity) under this key, nothing under another.
  [
    5,
    (rng, w) => {
      const v = rng.pick(w.valid)
      const other = rng.chance(0.2)
      const into = other ? rng.bytes(32) : w.service
      // Re-sealed by a holder of the key it was sealed under, into the plain form of the first key.
      const blocks = reseal((v.record.serviceEpoch ?? 0) === 0 ? w.service : w.service1, v.blocks, into)
      const chain = v.record.logId === w.logA.id ? w.chainA : v.record.logId === w.logB.id ? w.chainB : w.chainC
      const prev = v.record.seq === 1 ? undefined : chain[v.record.seq - 2]
      const after = prev !== undefined && rng.chance(0.5) ? headOf(prev) : undefined
      return {
        target: 'verifyRecord/resealed',
        run: () => verifyRecord(ctxOf(w, v.record.logId), blocks, after === undefined ? {} : { after }),
        verdict: other ? 'reject' : sameRecordAs(v.record),
        mustAccept: !other
      }
    }
  ],
  // verifyRecord with the wrong log, the wrong key, the wrong thread, or non-byte fields.
  [
    5,
    (rng, w) => {
      const v = rng.pick(w.valid)
      const kind = rng.int(4)
      if (kind === 0) {
        const logId = v.record.logId === w.logA.id ? w.logB.id : w.logA.id
        return { target: 'verifyRecord/wrongLog', run: () => verifyRecord(ctxOf(w, logId), v.blocks), verdict: 'reject' }
      }
      if (kind === 1) {
        const key = rng.pick([w.read, rng.bytes(32), rng.bytes(16), new Uint8Array(0)])
        return { target: 'verifyRecord/wrongKey', run: () => verifyRecord(ctxOf(w, v.record.logId, key), v.blocks), verdict: 'reject' }
      }
      if (kind === 2) {
        const thread = rng.pick([w.otherThread, ...w.threadIds])
        return {
          target: 'verifyRecord/wrongThread',
          run: () => verifyRecord(ctxOf(w, v.record.logId, w.serviceKeys, thread), v.blocks),
          verdict: 'reject',
          errors: ['BadSignatureError']
        }
      }
      const name = rng.pick(['record', 'event', 'header', 'body'] as const)
      const value = rng.pick<unknown>([42, 'text', null, undefined, [1, 2], { length: 2 }, true])
      const blocks = { ...v.blocks, [name]: value } as unknown as RecordBlocks
      return { target: 'verifyRecord/wrongTypes', run: () => verifyRecord(ctxOf(w, v.record.logId), blocks), verdict: 'reject' }
    }
  ],
  // A key holder's record node with arbitrary field values, validly signed where it keeps the statement.
  [
    12,
    (rng, w) => {
      const head = rng.chance(0.3) ? undefined : headOf(rng.pick(w.chainA))
      let honest: { v: number; block: CID; sig: Uint8Array; prev: CID | undefined; seq: number } | undefined
      const pick = (h: unknown): unknown => (rng.chance(0.6) ? h : randomValue(rng, w.pools))
      const kind = rng.int(10)
      const crafted = craftRecord(w.logA, { service: w.service, read: w.read }, w.thread, {
        ...(head === undefined ? {} : { prev: head }),
        ...(kind === 0
          ? // Format 1, honestly formed: refused as such.
            { recordPlain: (h) => ((honest = h), formatOneNode(rng.chance(0.5) ? h : { ...h, prev: h.prev === undefined ? undefined : rng.pick(w.pools.cids) })) }
          : kind === 1
            ? { recordPlain: (h) => ((honest = h), mutate(rng, encodeRecordNode(h.block, h.sig, h.prev, h.seq), w.allBlocks)) }
            : {
                recordNode: (h) => {
                  honest = h
                  if (rng.chance(0.1)) return randomValue(rng, w.pools)
                  const node: Record<string, unknown> = {}
                  if (rng.chance(0.9)) node.v = rng.chance(0.8) ? h.v : rng.pick([0, 1, 3, 255, '2', 2.5, -2, null])
                  if (rng.chance(0.95)) node.block = pick(h.block)
                  if (rng.chance(0.95)) node.sig = pick(h.sig)
                  if (h.prev !== undefined ? rng.chance(0.95) : rng.chance(0.1)) node.prev = pick(h.prev ?? rng.pick(w.pools.cids))
                  if (rng.chance(0.95)) node.seq = rng.chance(0.7) ? h.seq : rng.chance(0.5) ? h.seq + rng.int(5) - 2 : randomValue(rng, w.pools)
                  if (rng.chance(0.05)) node[randomString(rng) || 'x'] = randomValue(rng, w.pools)
                  return node
                }
              })
      })
      const after = head !== undefined && rng.chance(0.5) ? head : undefined
      return {
        target: 'verifyRecord/craftedRecordNode',
        run: () => verifyRecord(ctxOf(w, w.logA.id), crafted.blocks, after === undefined ? {} : { after }),
        ...(kind === 0 ? { errors: ['UnsupportedFormatError'] } : {}),
        // Accepted ⇒ the record is exactly the signed statement: its identity, seq, event, prev and signature.
        verdict: (result) => {
          const r = result as LogRecord
          const h = honest
          if (h === undefined) return 'no honest node'
          if (!r.id.equals(crafted.id)) return 'accepted a record node whose statement is not the signed one'
          if (!r.eventCid.equals(h.block)) return 'accepted a record node whose block is not the signed one'
          if (!bytesEqual(r.sig, h.sig)) return 'accepted a record node with another signature'
          if (!sameCid(r.prev, h.prev)) return 'accepted a record node with another prev'
          if (r.seq !== h.seq) return `accepted seq ${r.seq}, signed ${h.seq}`
          if (after !== undefined && r.seq !== after.seq + 1) return `accepted seq ${r.seq} after head seq ${after.seq}`
          return undefined
        }
      }
    }
  ],
  // A writer's event node with arbitrary values (signed, so only the shape checks stand guard).
  [
    8,
    (rng, w) => {
      let expected: Uint8Array | undefined
      const crafted = craftRecord(w.logA, { service: w.service, read: w.read }, w.thread, {
        eventBytes: (links) => {
          expected = dagCbor.encode(links)
          const r = rng.int(10)
          if (r < 4) return dagCbor.encode(randomValue(rng, w.pools))
          if (r < 7) {
            const node: Record<string, unknown> = {}
            if (rng.chance(0.9)) node.header = rng.chance(0.5) ? links.header : randomValue(rng, w.pools)
            if (rng.chance(0.9)) node.body = rng.chance(0.5) ? links.body : randomValue(rng, w.pools)
            if (rng.chance(0.1)) node[randomString(rng) || 'y'] = null
            return dagCbor.encode(node)
          }
          if (r < 9) return mutate(rng, dagCbor.encode(links), w.allBlocks)
          return randomBytesInput(rng)
        }
      })
      return {
        target: 'verifyRecord/craftedEvent',
        run: () => verifyRecord(ctxOf(w, w.logA.id), crafted.blocks),
        verdict: () => (expected !== undefined && bytesEqual(crafted.blocks.event, expected) ? undefined : 'accepted an event node that is not { header, body } of its blocks')
      }
    }
  ],
  // A reader's header with arbitrary values: verifyRecord cannot see it, openEvent must judge it.
  [
    8,
    (rng, w) => {
      const contentKey = rng.bytes(32)
      const honest = { key: contentKey, clock: rng.int(1000), time: rng.int(2 ** 31), txn: 1 + rng.int(100) }
      const r = rng.int(10)
      let header: unknown
      if (r < 3) header = randomValue(rng, w.pools)
      else if (r < 9) {
        const node: Record<string, unknown> = {}
        for (const k of ['key', 'clock', 'time'] as const) if (rng.chance(0.9)) node[k] = rng.chance(0.6) ? honest[k] : randomValue(rng, w.pools)
        if (rng.chance(0.3)) node.txn = rng.chance(0.5) ? honest.txn : randomValue(rng, w.pools)
        header = node
      } else header = rng.chance(0.5) ? honest : { key: honest.key, clock: honest.clock, time: honest.time }
      const crafted = craftRecord(w.logA, { service: w.service, read: w.read }, w.thread, { contentKey, header, ...(rng.chance(0.1) ? { bodyKey: rng.bytes(32) } : {}) })
      return {
        target: 'openEvent/craftedHeader',
        run: () => openEvent(w.read, verifyRecord(ctxOf(w, w.logA.id), crafted.blocks)),
        verdict: (result) => {
          const { header: h } = result as { header: { key: Uint8Array; clock: number; time: number; txn?: number } }
          if (!(h.key instanceof Uint8Array) || h.key.length !== 32) return 'opened a header without a 32-byte key'
          if (!Number.isSafeInteger(h.clock) || h.clock < 0 || !Number.isSafeInteger(h.time)) return 'opened a header with a bad clock or time'
          if (h.txn !== undefined && (!Number.isSafeInteger(h.txn) || h.txn < 1)) return 'opened a header with a bad txn'
          return undefined
        }
      }
    }
  ],
  // A writer's body with arbitrary padding: openEvent must unpad exactly, or refuse.
  [
    4,
    (rng, w) => {
      const plain = rng.pick(w.commands)
      const r = rng.int(4)
      const padded = r === 0 ? pad(plain) : r === 1 ? mutate(rng, pad(plain), [pad(plain)]) : r === 2 ? rng.bytes(rng.size()) : Uint8Array.from([...plain, ...(rng.chance(0.5) ? [0x80] : []), ...new Uint8Array(rng.int(100))])
      const crafted = craftRecord(w.logA, { service: w.service, read: w.read }, w.thread, { bodyPadded: padded })
      const expected = unpaddedByHand(padded)
      return {
        target: 'openEvent/craftedBody',
        run: () => openEvent(w.read, verifyRecord(ctxOf(w, w.logA.id), crafted.blocks)).body,
        verdict: expected === undefined ? 'reject' : (body) => (bytesEqual(body as Uint8Array, expected) ? undefined : 'unpadded to other bytes'),
        mustAccept: expected !== undefined,
        errors: ['MalformedRecordError']
      }
    }
  ],
  // openEvent on a verified record whose header or body bytes were changed afterwards.
  [
    5,
    (rng, w) => {
      const v = rng.pick(w.valid)
      const which = rng.pick(['header', 'body'] as const)
      const bytes = mutate(rng, v.blocks[which], w.allBlocks)
      const changed = !bytesEqual(bytes, v.blocks[which])
      const record = { ...v.record, blocks: { ...v.record.blocks, [which]: { cid: v.record.blocks[which].cid, bytes } } }
      const key = rng.chance(0.9) ? w.read : rng.pick<Uint8Array | undefined>([undefined, w.service, rng.bytes(32)])
      const ok = !changed && key === w.read
      return { target: 'openEvent/mutated', run: () => openEvent(key, record), verdict: ok ? 'accept' : 'reject' }
    }
  ],
  // verifyChain on runs with a mutated, missing, repeated, swapped, re-sealed, forked or foreign record.
  [
    8,
    (rng, w) => {
      const start = rng.int(w.chainA.length)
      const end = start + 1 + rng.int(w.chainA.length - start)
      /** Each entry, and the record of log A it honestly is (undefined: not one). */
      const run: { blocks: RecordBlocks; record: LogRecord | undefined }[] = []
      for (let i = start; i < end; i++) run.push({ blocks: recordBlocks(w.chainA[i] as LogRecord), record: w.chainA[i] })
      const kind = rng.int(8)
      const at = rng.int(run.length)
      const entry = run[at] as (typeof run)[number]
      if (kind === 0) {
        const name = rng.pick(['record', 'event', 'header', 'body'] as const)
        const bytes = mutate(rng, entry.blocks[name], w.allBlocks)
        const blocks = { ...entry.blocks, [name]: bytes }
        run[at] = { blocks, record: blocksEqual(blocks, entry.blocks) ? entry.record : undefined }
      } else if (kind === 1 && run.length > 2) run.splice(1 + rng.int(run.length - 2), 1)
      else if (kind === 2) run.splice(at, 0, entry)
      else if (kind === 3 && run.length > 1) {
        const other = rng.int(run.length)
        run[at] = run[other] as (typeof run)[number]
        run[other] = entry
      } else if (kind === 4) run[at] = { blocks: recordBlocks(rng.pick(w.chainB)), record: undefined }
      else if (kind === 5) run[at] = { blocks: reseal(w.service, entry.blocks), record: entry.record } // the same record
      else if (kind === 6) {
        // A record of the writer's other branch in the place of the honest one: validly signed by log A.
        const fork = rng.pick([...w.branchA, w.otherFirstA])
        run[at] = { blocks: recordBlocks(fork), record: fork }
      }
      const after = rng.chance(0.5) ? undefined : start > 0 && rng.chance(0.8) ? headOf(w.chainA[start - 1] as LogRecord) : headOf(rng.pick(w.chainA))
      // Honest iff every entry is a record of log A and each links the one before (the first, `after`).
      let head: LogHead | undefined = after
      let ok = true
      for (const [k, e] of run.entries()) {
        const r = e.record
        const links = r !== undefined && (head === undefined ? k === 0 : r.seq === head.seq + 1 && r.prev !== undefined && r.prev.equals(head.id))
        if (!links) {
          ok = false
          break
        }
        head = headOf(r)
      }
      const blocks = run.map((e) => e.blocks)
      const expectedIds = run.map((e) => e.record?.id)
      return {
        target: 'verifyChain',
        run: () => verifyChain(ctxOf(w, w.logA.id), blocks, after === undefined ? {} : { after }),
        verdict: ok
          ? (result) => {
              const out = result as LogRecord[]
              return out.length === expectedIds.length && out.every((r, k) => sameCid(r.id, expectedIds[k])) ? undefined : 'accepted a run as other records'
            }
          : 'reject',
        mustAccept: ok,
        note: `${ok ? 'honest, ' : ''}kind ${kind}, run of ${run.length} from seq ${start + 1}, after seq ${after?.seq ?? 'none'}`
      }
    }
  ],
  // The compact stored form: mutated, foreign, or at the wrong position.
  [
    8,
    (rng, w) => {
      // Log A (layout 2) or log C (layout 3: service epochs and a rotation).
      const c = rng.chance(0.3)
      const chainOf = c ? w.chainC : w.chainA
      const storedOf = c ? w.storedC : w.stored
      const i = rng.int(chainOf.length)
      const original = storedOf[i] as Uint8Array
      const kind = rng.int(10)
      const bytes = kind < 7 ? mutate(rng, original, [...w.stored, ...w.storedC, ...w.allBlocks]) : kind < 8 ? randomBytesInput(rng) : original
      const j = kind === 9 ? rng.int(chainOf.length) : i
      const at = chainOf[j] as LogRecord
      const expected = chainOf[i] as LogRecord
      const unchanged = bytesEqual(bytes, original) && i === j
      const where = { thread: w.thread, logId: c ? w.logC.id : w.logA.id, seq: at.seq, prev: at.prev }
      if (rng.chance(0.4)) {
        return {
          target: 'checkStored',
          run: () => checkStored(decodeStoredRecord(bytes, { seq: at.seq }), where),
          errors: ['CorruptStoreError', 'UnsupportedFormatError'],
          verdict: unchanged
            ? 'accept'
            : (result) => {
                const { id } = result as { id: CID }
                // Only the nonce and signature are outside the identity: anything else changed is refused.
                return i === j && id.equals(expected.id) ? undefined : 'checked a stored record as another record'
              }
        }
      }
      return {
        target: 'storedRecord',
        run: () => rebuildRecord(decodeStoredRecord(bytes, { seq: at.seq }), { ...where, serviceKey: w.serviceKeys }),
        errors: ['CorruptStoreError', 'UnsupportedFormatError'],
        mustAccept: unchanged,
        verdict: unchanged
          ? (r) => (bytesEqual((r as LogRecord).blocks.record.bytes, expected.blocks.record.bytes) ? undefined : 'rebuilt another record block')
          : (result) => {
              const r = result as LogRecord
              if (i !== j || !r.id.equals(expected.id)) return 'rebuilt a stored record as another record'
              for (const k of ['event', 'header', 'body'] as const) if (!bytesEqual(r.blocks[k].bytes, expected.blocks[k].bytes)) return `rebuilt another ${k} block`
              return undefined
            }
      }
    }
  ],
  // The hand-written node codec: whatever it accepts must be dag-cbor's canonical encoding; format 1 is refused as such.
  [
    6,
    (rng, w) => {
      const r = w.valid[rng.int(w.valid.length)] as { record: LogRecord }
      const kind = rng.int(3)
      const seq = rng.pick([1, 23, 24, 255, 256, 65536, 2 ** 32, rng.int(2 ** 31)])
      const prev = seq === 1 ? undefined : rng.chance(0.5) ? (r.record.prev ?? r.record.id) : recordIdOfDigest(rng.bytes(32))
      let honest: Uint8Array
      if (kind === 0) honest = encodeEventNode(r.record.blocks.header.cid, r.record.blocks.body.cid, rng.chance(0.3) ? rng.pick([1, 24, 300]) : r.record.epoch, r.record.service)
      else if (kind === 1) honest = encodeRecordNode(r.record.eventCid, r.record.sig, prev, seq)
      else honest = formatOneNode({ block: r.record.eventCid, sig: r.record.sig, prev: seq === 1 ? undefined : rng.chance(0.5) ? r.record.cid : prev, seq })
      const k = rng.int(10)
      const bytes =
        k < 6
          ? mutate(rng, honest, w.allBlocks)
          : k < 7
            ? dagCbor.encode(rng.chance(0.5) ? randomValue(rng, w.pools) : nodeValue({ v: rng.pick([1, 2, 3]), block: r.record.eventCid, sig: r.record.sig, prev: rng.chance(0.5) ? undefined : rng.pick(w.pools.cids), seq }))
            : k < 8
              ? randomBytesInput(rng)
              : honest
      const event = kind === 0
      const formatOne = kind === 2
      return {
        target: event ? 'decodeEventNode' : formatOne ? 'decodeRecordNode/format1' : 'decodeRecordNode',
        run: () => (event ? decodeEventNode(bytes, {}) : decodeRecordNode(bytes, {})),
        errors: event ? ['MalformedRecordError'] : formatOne && bytesEqual(bytes, honest) ? ['UnsupportedFormatError'] : ['MalformedRecordError', 'UnsupportedFormatError'],
        mustAccept: !formatOne && bytesEqual(bytes, honest),
        verdict:
          formatOne && bytesEqual(bytes, honest)
            ? 'reject'
            : (node) => {
                // An event node's epoch 0 is written by leaving it out.
                // An event node's epoch 0 is written by leaving it out, and so is an absent service rotation.
                const eventValue = (n: { header: CID; body: CID; epoch: number; service?: Uint8Array }): object => ({
                  header: n.header,
                  body: n.body,
                  ...(n.epoch === 0 ? {} : { epoch: n.epoch }),
                  ...(n.service === undefined ? {} : { service: n.service })
                })
                const again = event ? dagCbor.encode(eventValue(node as { header: CID; body: CID; epoch: number; service?: Uint8Array })) : dagCbor.encode(nodeValue({ v: 2, ...(node as { block: CID; sig: Uint8Array; prev: CID | undefined; seq: number }) }))
                return bytesEqual(again, bytes) ? undefined : 'accepted bytes that are not the canonical dag-cbor of what they decode to'
              }
      }
    }
  ],
  // Fork proofs from the network: decode (shape) and check (signatures, disagreement).
  [
    8,
    (rng, w) => {
      const honest = rng.pick(w.proofs)
      const r = rng.int(12)
      let bytes: Uint8Array
      if (r < 2) bytes = honest.bytes
      else if (r < 6) bytes = mutate(rng, honest.bytes, w.proofs.map((p) => p.bytes))
      else if (r < 7) bytes = randomBytesInput(rng)
      else if (r < 8) bytes = dagCbor.encode(randomValue(rng, w.pools))
      else if (r < 9) bytes = rng.chance(0.5) ? new Uint8Array(1025 + rng.int(3000)) : Uint8Array.from([...hugeHead(rng), ...rng.bytes(rng.int(1100))])
      else {
        // Statements recombined: any two the writer signed (a fork, or not), or one with a field changed.
        const s1 = rng.pick(w.signedA)
        let s2 = rng.pick(w.signedA)
        if (rng.chance(0.3)) {
          const field = rng.pick(['seq', 'event', 'prev', 'sig'] as const)
          s2 = { ...s2, [field]: field === 'seq' ? s2.seq + rng.int(3) - 1 : field === 'sig' ? rng.bytes(64) : rng.pick(w.pools.cids) } as SignedStatement
        }
        const value = forkProofToValue({ logId: rng.chance(0.9) ? w.logA.id : w.logB.id, a: s1, b: s2 })
        bytes = dagCbor.encode(value)
      }
      const thread = rng.chance(0.9) ? w.thread : w.otherThread
      const honestBytes = bytesEqual(bytes, honest.bytes)
      if (rng.chance(0.3)) {
        return {
          target: 'decodeForkProof',
          run: () => decodeForkProof(bytes),
          errors: ['TooLargeError', 'MalformedRecordError'],
          verdict: honestBytes
            ? 'accept'
            : (p) => {
                const proof = p as ForkProof
                for (const s of [proof.a, proof.b]) {
                  if (!Number.isSafeInteger(s.seq) || s.seq < 1 || s.sig.length !== 64 || (s.seq === 1) !== (s.prev === undefined)) return 'decoded a statement of the wrong shape'
                }
                return bytes.length <= 1024 ? undefined : 'decoded an oversize proof'
              }
        }
      }
      return {
        target: 'checkForkProof',
        run: () => checkForkProof(thread, decodeForkProof(bytes)),
        mustAccept: honestBytes && thread === w.thread,
        verdict:
          honestBytes && thread === w.thread
            ? (seq) => (seq === honest.seq ? undefined : `an honest proof of seq ${honest.seq} checked as seq ${String(seq)}`)
            : (seq) => {
                if (thread !== w.thread) return 'accepted a proof in another thread'
                // Accepted ⇒ both statements were signed by log A's writer, and they disagree at `seq`.
                const proof = decodeForkProof(bytes)
                if (proof.logId !== w.logA.id) return 'accepted a proof for a log whose writer did not fork'
                if (!w.signedA.some((s) => sameStatement(s, proof.a)) || !w.signedA.some((s) => sameStatement(s, proof.b))) return 'accepted a statement the writer did not sign'
                if (sameStatement(proof.a, proof.b)) return 'accepted one statement twice as a fork'
                return seq === proof.a.seq ? undefined : 'checked the wrong seq'
              }
      }
    }
  ],
  // Body padding from a decrypted body: only the ISO 7816-4 form unpads.
  [
    4,
    (rng, w) => {
      const plain = rng.chance(0.5) ? rng.pick(w.commands) : rng.bytes(rng.size())
      const r = rng.int(4)
      const honest = pad(plain)
      const bytes = r === 0 ? honest : r === 1 ? mutate(rng, honest, [honest]) : r === 2 ? rng.bytes(rng.size()) : Uint8Array.from([...rng.bytes(rng.int(40)), ...(rng.chance(0.7) ? [0x80] : [rng.int(256)]), ...new Uint8Array(rng.int(70))])
      const expected = unpaddedByHand(bytes)
      return {
        target: 'unpad',
        run: () => unpad(bytes),
        errors: ['MalformedRecordError'],
        mustAccept: expected !== undefined,
        verdict:
          expected === undefined
            ? 'reject'
            : (out) => {
                if (!bytesEqual(out as Uint8Array, expected)) return 'unpadded to other bytes'
                if (r === 0 && !bytesEqual(out as Uint8Array, plain)) return 'did not round trip pad'
                return undefined
              }
      }
    }
  ],
  // decodeCommand: anything goes, but an accepted body is a command.
  [
    6,
    (rng, w) => {
      const r = rng.int(4)
      const bytes = r === 0 ? randomBytesInput(rng) : r === 1 ? mutate(rng, rng.pick(w.commands), w.commands) : r === 2 ? dagCbor.encode(randomValue(rng, w.pools)) : rng.pick(w.commands)
      return {
        target: 'decodeCommand',
        run: () => decodeCommand(bytes),
        verdict: (c) => (typeof c === 'object' && c !== null && typeof (c as { type?: unknown }).type === 'string' ? undefined : 'decoded a command without a string type')
      }
    }
  ],
  // Thread IDs from strings and bytes.
  [
    5,
    (rng, w) => {
      const id = rng.pick(w.threadIds)
      const r = rng.int(6)
      const check = (result: unknown): string | undefined => {
        const t = result as ThreadId
        if (t.version !== 1) return `accepted version ${t.version}`
        if (t.variant !== Variant.Raw && t.variant !== Variant.AccessControlled) return `accepted variant ${t.variant}`
        if (t.random.length < 16 || t.random.length > 64) return `accepted ${t.random.length} random bytes`
        if (!ThreadId.parse(t.toString()).equals(t)) return 'accepted an ID that does not round trip'
        return undefined
      }
      if (r < 3) {
        const bytes = r === 0 ? rng.bytes(rng.int(80)) : mutate(rng, id.bytes, w.threadIds.map((t) => t.bytes))
        return { target: 'ThreadId.fromBytes', run: () => ThreadId.fromBytes(bytes), verdict: check }
      }
      let text: string
      if (r === 3) text = randomString(rng, 80)
      else if (r === 4) {
        const s = id.toString()
        const at = rng.int(s.length)
        text = s.slice(0, at) + randomString(rng, 3) + s.slice(at + rng.int(3))
      } else text = rng.pick([base58btc, base64, base16, base32]).encode(rng.chance(0.5) ? rng.bytes(rng.int(70)) : mutate(rng, id.bytes, [id.bytes]))
      return { target: 'ThreadId.parse', run: () => ThreadId.parse(text), verdict: check }
    }
  ],
  // Thread keys from strings.
  [
    4,
    (rng, w) => {
      const r = rng.int(3)
      const valid = rng.pick(w.threadKeys)
      const text =
        r === 0
          ? randomString(rng, 120)
          : r === 1
            ? valid.slice(0, rng.int(valid.length)) + randomString(rng, 4) + valid.slice(rng.int(valid.length))
            : rng.pick([base32, base58btc, base64]).encode(rng.bytes(rng.pick([0, 31, 32, 33, 63, 64, 65, rng.int(100)])))
      return {
        target: 'parseThreadKey',
        run: () => parseThreadKey(text),
        verdict: (k) => {
          const key = k as { service: Uint8Array; read?: Uint8Array }
          if (key.service.length !== 32 || (key.read !== undefined && key.read.length !== 32)) return 'accepted a key of the wrong size'
          return undefined
        }
      }
    }
  ],
  // Sealed key boxes: changed, foreign or random (X25519 in pure JS: the dearest case, so a low weight).
  [
    2,
    (rng, w) => {
      const r = rng.int(4)
      const box = r === 0 ? rng.bytes(rng.int(150)) : r === 1 ? Uint8Array.from([1, ...rng.bytes(32 + 12 + 16 + rng.int(80))]) : r === 2 ? mutate(rng, w.sealed, [w.sealed]) : w.sealed
      const recipient = rng.chance(0.9) ? w.logA : w.logB
      const ok = bytesEqual(box, w.sealed) && recipient === w.logA
      return {
        target: 'openSealed',
        run: () => openSealed(recipient, box),
        verdict: ok ? (plain) => (bytesEqual(plain as Uint8Array, w.sealedPlain) ? undefined : 'opened to other bytes') : 'reject'
      }
    }
  ]
]

const TOTAL_WEIGHT = CASES.reduce((n, [weight]) => n + weight, 0)

function pickCase(rng: Rng): (rng: Rng, w: World) => Case {
  let r = rng.int(TOTAL_WEIGHT)
  for (const [weight, make] of CASES) {
    if (r < weight) return make
    r -= weight
  }
  return (CASES[0] as [number, (rng: Rng, w: World) => Case])[1]
}

function describeError(e: unknown): string {
  return e instanceof Error ? `${e.name}: ${e.message}` : String(e)
}

/**
 * Run `iterations` fuzz cases from `seed`. Throws {@link FuzzFailure} on the first failure.
 *
 * @example
 * ```ts
 * const summary = fuzzRecords({ iterations: 10_000, seed: 1 })
 * summary.rejectedByName // { CidMismatchError: 2301, DecryptionError: 1550, … }
 * ```
 */
export function fuzzRecords(options: FuzzOptions): FuzzSummary {
  const { iterations, seed } = options
  const rng = new Rng(seed)
  const previous = getCrypto()
  const base = options.crypto ?? previous
  setCrypto({ ...base, randomBytes: (n) => rng.bytes(n) })
  const rejectedByName: Record<string, number> = {}
  const byTarget: Record<string, { accepted: number; rejected: number }> = {}
  let accepted = 0
  try {
    const world = buildWorld(rng)
    for (let i = 0; i < iterations; i++) {
      let c: Case
      try {
        c = pickCase(rng)(rng, world)
      } catch (cause) {
        throw new FuzzFailure(seed, i, 'setup', `building the input threw ${describeError(cause)}`, { cause })
      }
      let result: unknown
      let thrown: unknown
      let returned = false
      try {
        result = c.run()
        returned = true
      } catch (e) {
        thrown = e
      }
      if (returned) {
        if (c.verdict === 'reject') throw new FuzzFailure(seed, i, c.target, `accepted an input that must be refused${c.note === undefined ? '' : ` (${c.note})`}`)
        if (typeof c.verdict === 'function') {
          const problem = c.verdict(result)
          if (problem !== undefined) throw new FuzzFailure(seed, i, c.target, problem)
        }
        accepted++
        ;(byTarget[c.target] ??= { accepted: 0, rejected: 0 }).accepted++
        continue
      }
      if (!(thrown instanceof ThreadsError)) throw new FuzzFailure(seed, i, c.target, `threw a non-ThreadsError: ${describeError(thrown)}`, { cause: thrown })
      if (!KNOWN_ERROR_NAMES.has(thrown.name)) throw new FuzzFailure(seed, i, c.target, `threw an unknown error name ${thrown.name}`, { cause: thrown })
      if (c.errors !== undefined && !c.errors.includes(thrown.name)) {
        throw new FuzzFailure(seed, i, c.target, `threw ${describeError(thrown)}; this input may only be refused with ${c.errors.join(' or ')}`, { cause: thrown })
      }
      if (c.verdict === 'accept' || c.mustAccept === true) throw new FuzzFailure(seed, i, c.target, `refused an honest input: ${describeError(thrown)}${c.note === undefined ? '' : ` (${c.note})`}`, { cause: thrown })
      rejectedByName[thrown.name] = (rejectedByName[thrown.name] ?? 0) + 1
      ;(byTarget[c.target] ??= { accepted: 0, rejected: 0 }).rejected++
    }
  } finally {
    setCrypto(previous)
  }
  return { iterations, accepted, rejectedByName, byTarget }
}
