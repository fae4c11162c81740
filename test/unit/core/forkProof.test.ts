import { createHash } from 'node:crypto'
import { describe, it, expect } from 'vitest'
import fc from 'fast-check'
import * as dagCbor from '@ipld/dag-cbor'
import { CID } from 'multiformats/cid'
import { cidOfDigest } from '../../../src/core/block.js'
import { BadSignatureError, InvalidKeyError, MalformedRecordError, TooLargeError, ThreadsError } from '../../../src/core/errors.js'
import {
  checkForkProof,
  decodeForkProof,
  encodeForkProof,
  forkProofFromValue,
  forkProofOf,
  forkProofToValue,
  forkSeqOf,
  MAX_FORK_PROOF_BYTES,
  signedStatementOf,
  type ForkProof,
  type SignedStatement
} from '../../../src/core/forkProof.js'
import { createThreadKey, generateLogKey } from '../../../src/core/keys.js'
import { recordBlocks, verifyRecord, type LogRecord } from '../../../src/core/record.js'
import { recordIdOfDigest } from '../../../src/core/recordId.js'
import { ThreadId } from '../../../src/core/threadId.js'
import { bytesEqual, catchTyped, headOf, hex, makeChain, reseal, statementOf, typedErrorName } from './fixtures.js'

const SEED = 0xf04c
const logKey = generateLogKey()
const threadKey = createThreadKey()
const thread = ThreadId.create()
/** The honest log: seq 1..4. */
const main = makeChain(logKey, threadKey, thread, 4)
/** The writer's other branch from seq 3: a different seq 3 and the seq 4 after it. */
const branch = makeChain(logKey, threadKey, thread, 2, headOf(main[1] as LogRecord), 'branch')
/** A different first record. */
const otherFirst = makeChain(logKey, threadKey, thread, 1, undefined, 'other first')[0] as LogRecord
const at = (i: number): LogRecord => main[i] as LogRecord
const br = (i: number): LogRecord => branch[i] as LogRecord
const st = signedStatementOf

function sameStatement(a: SignedStatement, b: SignedStatement): boolean {
  return a.seq === b.seq && a.event.equals(b.event) && (a.prev === undefined ? b.prev === undefined : b.prev !== undefined && a.prev.equals(b.prev)) && bytesEqual(a.sig, b.sig)
}

function sameProof(a: ForkProof, b: ForkProof): boolean {
  return a.logId === b.logId && sameStatement(a.a, b.a) && sameStatement(a.b, b.b)
}

describe('fork proofs: what proves a fork', () => {
  it('two signed records at one seq with different identities: the seq', () => {
    expect(br(0).seq).toBe(3)
    expect(br(0).id.equals(at(2).id)).toBe(false)
    const proof = forkProofOf(logKey.id, st(at(2)), st(br(0)))
    expect(forkSeqOf(thread, proof)).toBe(3)
    expect(checkForkProof(thread, proof)).toBe(3)
    // Either order.
    expect(checkForkProof(thread, { logId: logKey.id, a: st(br(0)), b: st(at(2)) })).toBe(3)
  })

  it('two different first records: seq 1', () => {
    expect(checkForkProof(thread, forkProofOf(logKey.id, st(at(0)), st(otherFirst)))).toBe(1)
  })

  it('a record and a next record whose prev names another identity: the first seq', () => {
    // at(2) is the honest seq 3; br(1) is a seq 4 signed after the other seq 3.
    expect(br(1).seq).toBe(4)
    expect(br(1).prev?.equals(br(0).id)).toBe(true)
    const proof: ForkProof = { logId: logKey.id, a: st(at(2)), b: st(br(1)) }
    expect(forkSeqOf(thread, proof)).toBe(3)
    expect(checkForkProof(thread, proof)).toBe(3)
    // forkProofOf puts the lower seq first.
    const ordered = forkProofOf(logKey.id, st(br(1)), st(at(2)))
    expect(ordered.a.seq).toBe(3)
    expect(checkForkProof(thread, ordered)).toBe(3)
    // The next record after seq 1 of another first record.
    const afterOther = makeChain(logKey, threadKey, thread, 1, headOf(otherFirst), 'after other')[0] as LogRecord
    expect(checkForkProof(thread, forkProofOf(logKey.id, st(at(0)), st(afterOther)))).toBe(1)
  })

  it('a statement is all a proof needs: records of a log followers verify', () => {
    const v = verifyRecord({ thread, logId: logKey.id, serviceKey: threadKey.service }, recordBlocks(br(0)))
    expect(checkForkProof(thread, forkProofOf(logKey.id, st(at(2)), st(v)))).toBe(3)
  })
})

describe('fork proofs: what does not', () => {
  const notAFork = (proof: ForkProof): void => {
    expect(forkSeqOf(thread, proof)).toBeUndefined()
    catchTyped(() => checkForkProof(thread, proof), MalformedRecordError)
  }

  it('the same record twice, or a re-sealed copy of it (the format-1 attack): MalformedRecordError', () => {
    notAFork({ logId: logKey.id, a: st(at(2)), b: st(at(2)) })
    const copy = verifyRecord({ thread, logId: logKey.id, serviceKey: threadKey.service }, reseal(threadKey.service, recordBlocks(at(2))))
    expect(copy.cid.equals(at(2).cid)).toBe(false)
    notAFork(forkProofOf(logKey.id, st(at(2)), st(copy)))
    // One statement with another signature is still one identity.
    notAFork({ logId: logKey.id, a: st(at(2)), b: { ...st(at(2)), sig: new Uint8Array(64).fill(1) } })
  })

  it('consecutive records of one branch: MalformedRecordError', () => {
    for (let i = 0; i + 1 < main.length; i++) notAFork({ logId: logKey.id, a: st(at(i)), b: st(at(i + 1)) })
    notAFork({ logId: logKey.id, a: st(br(0)), b: st(br(1)) })
  })

  it('statements more than one seq apart, or in the wrong order: MalformedRecordError', () => {
    notAFork({ logId: logKey.id, a: st(at(0)), b: st(br(0)) })
    notAFork({ logId: logKey.id, a: st(at(1)), b: st(br(1)) })
    notAFork({ logId: logKey.id, a: st(br(1)), b: st(at(2)) })
  })

  it('an unsigned or forged statement: BadSignatureError', () => {
    const zeros = { ...st(br(0)), sig: new Uint8Array(64) }
    catchTyped(() => checkForkProof(thread, forkProofOf(logKey.id, st(at(2)), zeros)), BadSignatureError)
    catchTyped(() => checkForkProof(thread, forkProofOf(logKey.id, zeros, st(at(2)))), BadSignatureError)
    // Signed by another key: an outsider's records claiming this log.
    const mallory = generateLogKey()
    const forged = makeChain(mallory, threadKey, thread, 1, headOf(at(1)), 'forged')[0] as LogRecord
    const e = catchTyped(() => checkForkProof(thread, forkProofOf(logKey.id, st(at(2)), st(forged))), BadSignatureError)
    expect(e.logId).toBe(logKey.id)
    expect(e.threadId).toBe(thread.toString())
    // Made-up statements with a real signature of another statement.
    const made = { seq: 3, event: cidOfDigest(new Uint8Array(32).fill(5)), prev: at(1).id, sig: at(2).sig }
    catchTyped(() => checkForkProof(thread, forkProofOf(logKey.id, st(at(2)), made)), BadSignatureError)
    // The right proof for another log.
    catchTyped(() => checkForkProof(thread, { ...forkProofOf(logKey.id, st(at(2)), st(br(0))), logId: mallory.id }), BadSignatureError)
  })

  it('statements of another thread: BadSignatureError', () => {
    const t2 = ThreadId.create()
    const proof = forkProofOf(logKey.id, st(at(2)), st(br(0)))
    catchTyped(() => checkForkProof(t2, proof), BadSignatureError)
    // A real fork in T2 does not prove one in this thread.
    const t2main = makeChain(logKey, threadKey, t2, 1)[0] as LogRecord
    const t2other = makeChain(logKey, threadKey, t2, 1, undefined, 'other')[0] as LogRecord
    const t2proof = forkProofOf(logKey.id, st(t2main), st(t2other))
    expect(checkForkProof(t2, t2proof)).toBe(1)
    catchTyped(() => checkForkProof(thread, t2proof), BadSignatureError)
    // One statement of each thread.
    catchTyped(() => checkForkProof(thread, forkProofOf(logKey.id, st(at(0)), st(t2main))), BadSignatureError)
  })

  it('a log ID that is not an Ed25519 peer ID: InvalidKeyError', () => {
    const proof = forkProofOf(logKey.id, st(at(2)), st(br(0)))
    catchTyped(() => checkForkProof(thread, { ...proof, logId: 'not-a-log' }), InvalidKeyError)
    catchTyped(() => checkForkProof(thread, { ...proof, logId: '' }), InvalidKeyError)
    // An RSA-style or CIDv1 peer ID string that does not parse.
    catchTyped(() => checkForkProof(thread, { ...proof, logId: 'QmYyQSo1c1Ym7orWxLYvCrM2EmxFTANf8wXmmE7DWjhx5N' }), InvalidKeyError)
  })
})

describe('fork proofs on the wire', () => {
  const proof = forkProofOf(logKey.id, st(at(2)), st(br(0)))
  const next: ForkProof = { logId: logKey.id, a: st(at(2)), b: st(br(1)) }
  const first = forkProofOf(logKey.id, st(at(0)), st(otherFirst))

  it('encode → decode round trips every kind, and the decoded proof still checks', () => {
    for (const p of [proof, next, first]) {
      const bytes = encodeForkProof(p)
      expect(bytes.length).toBeLessThanOrEqual(MAX_FORK_PROOF_BYTES)
      const back = decodeForkProof(bytes)
      expect(sameProof(back, p)).toBe(true)
      expect(checkForkProof(thread, back)).toBe(checkForkProof(thread, p))
      expect(hex(encodeForkProof(back))).toBe(hex(bytes))
      // The value form, as a sync message embeds it.
      expect(sameProof(forkProofFromValue(forkProofToValue(p)), p)).toBe(true)
      expect(sameProof(forkProofFromValue(dagCbor.decode(dagCbor.encode(forkProofToValue(p)))), p)).toBe(true)
    }
  })

  it('is canonical dag-cbor { log, a, b }, each statement { seq, event, prev?, sig }', () => {
    const value = dagCbor.decode<Record<string, Record<string, unknown>>>(encodeForkProof(first))
    expect(Object.keys(value).sort()).toEqual(['a', 'b', 'log'])
    expect(value.log).toBe(logKey.id)
    expect(Object.keys(value.a as object).sort()).toEqual(['event', 'seq', 'sig'])
    const v2 = dagCbor.decode<Record<string, Record<string, unknown>>>(encodeForkProof(proof))
    expect(Object.keys(v2.b as object).sort()).toEqual(['event', 'prev', 'seq', 'sig'])
    expect(CID.asCID((v2.b as Record<string, unknown>).prev)?.equals(at(1).id)).toBe(true)
    expect(hex(encodeForkProof(proof))).toBe(hex(dagCbor.encode({ log: logKey.id, a: v2.a, b: v2.b })))
  })

  it('decodeForkProof refuses oversize input: TooLargeError', () => {
    catchTyped(() => decodeForkProof(new Uint8Array(MAX_FORK_PROOF_BYTES + 1)), TooLargeError)
    // A well-formed proof with a long log ID: still within the shape, but over the byte limit.
    const padded = dagCbor.encode({ ...forkProofToValue(proof), log: 'x'.repeat(MAX_FORK_PROOF_BYTES) })
    catchTyped(() => decodeForkProof(padded), TooLargeError)
  })

  it('decodeForkProof refuses input that is not a fork proof: MalformedRecordError only', () => {
    const value = forkProofToValue(proof) as { log: string; a: Record<string, unknown>; b: Record<string, unknown> }
    const a = value.a
    const withA = (s: unknown): Uint8Array => dagCbor.encode({ ...value, a: s })
    const { prev: _prev, ...aNoPrev } = a
    const cases: [string, Uint8Array][] = [
      ['empty', new Uint8Array(0)],
      ['not CBOR', Uint8Array.of(0xff, 0xff)],
      ['trailing bytes', Uint8Array.from([...encodeForkProof(proof), 0])],
      ['truncated', encodeForkProof(proof).subarray(0, 100)],
      ['a number', dagCbor.encode(1)],
      ['null', dagCbor.encode(null)],
      ['a list', dagCbor.encode([value.log, value.a, value.b])],
      ['no log', dagCbor.encode({ a: value.a, b: value.b })],
      ['log a number', dagCbor.encode({ ...value, log: 5 })],
      ['log over 100 characters', dagCbor.encode({ ...value, log: 'x'.repeat(101) })],
      ['no b', dagCbor.encode({ log: value.log, a: value.a })],
      ['a is a list', withA([a.seq, a.event, a.prev, a.sig])],
      ['a is null', withA(null)],
      ['seq 0', withA({ ...a, seq: 0 })],
      ['seq -1', withA({ ...a, seq: -1 })],
      ['seq 1.5', withA({ ...a, seq: 1.5 })],
      ['seq "3"', withA({ ...a, seq: '3' })],
      ['seq 2^60', withA({ ...a, seq: 2n ** 60n })],
      ['seq 1 with a prev', withA({ ...a, seq: 1 })],
      ['seq 3 without a prev', withA(aNoPrev)],
      ['event as a raw CID', withA({ ...a, event: at(1).id })],
      ['event as bytes', withA({ ...a, event: at(2).eventCid.bytes })],
      ['event hashed with identity', withA({ ...a, event: CID.createV1(0x71, { code: 0, size: 4, digest: Uint8Array.of(1, 2, 3, 4), bytes: Uint8Array.of(0, 4, 1, 2, 3, 4) }) })],
      ['prev as a dag-cbor CID (a record block)', withA({ ...a, prev: at(1).cid })],
      ['prev null', withA({ ...a, prev: null })],
      ['sig of 63 bytes', withA({ ...a, sig: (a.sig as Uint8Array).subarray(0, 63) })],
      ['sig as text', withA({ ...a, sig: 'sig' })],
      ['an extra field', withA({ ...a, x: 1 })]
    ]
    for (const [what, bytes] of cases) {
      expect(bytes.length).toBeLessThanOrEqual(MAX_FORK_PROOF_BYTES)
      expect([what, typedErrorName(() => decodeForkProof(bytes))]).toEqual([what, 'MalformedRecordError'])
    }
    for (const v of [undefined, null, 'bytes', [1, 2], { length: 3 }]) {
      expect(typedErrorName(() => decodeForkProof(v as unknown as Uint8Array))).toBe('MalformedRecordError')
    }
  })

  it('decodeForkProof reads a map with its keys out of canonical order as the same proof (nothing in it is hashed as a whole)', () => {
    const value = forkProofToValue(proof)
    const unsorted = Uint8Array.from([0xa3, ...dagCbor.encode({ log: value.log }).subarray(1), ...dagCbor.encode({ a: value.a }).subarray(1), ...dagCbor.encode({ b: value.b }).subarray(1)])
    expect(hex(unsorted)).not.toBe(hex(encodeForkProof(proof)))
    const back = decodeForkProof(unsorted)
    expect(sameProof(back, proof)).toBe(true)
    expect(checkForkProof(thread, back)).toBe(3)
  })

  it('forkProofFromValue refuses values that are not fork proofs: MalformedRecordError', () => {
    for (const v of [undefined, null, 1, 'proof', [], new Uint8Array(3), { log: logKey.id }, { log: logKey.id, a: 1, b: 2 }]) {
      catchTyped(() => forkProofFromValue(v), MalformedRecordError)
    }
  })

  it('decodeForkProof throws only TooLargeError or MalformedRecordError on arbitrary bytes', () => {
    fc.assert(
      fc.property(fc.oneof(fc.uint8Array({ maxLength: 1100 }), fc.jsonValue().map((v) => dagCbor.encode(Object.is(v, -0) ? 0 : v))), (bytes) => {
        try {
          decodeForkProof(bytes)
        } catch (e) {
          expect(e).toBeInstanceOf(ThreadsError)
          expect(['TooLargeError', 'MalformedRecordError']).toContain((e as ThreadsError).name)
        }
      }),
      { numRuns: 500, seed: SEED }
    )
  })

  it('a mutated proof is refused, or decodes to a proof whose statements were all signed by the writer', () => {
    const known = [...main, ...branch, otherFirst].map((r) => st(r))
    const proofs = [proof, next, first].map(encodeForkProof)
    fc.assert(
      fc.property(fc.nat({ max: 2 }), fc.nat(), fc.integer({ min: 1, max: 255 }), fc.boolean(), (k, pos, mask, truncate) => {
        const original = proofs[k] as Uint8Array
        const bytes = truncate ? original.subarray(0, pos % original.length) : Uint8Array.from(original)
        if (!truncate) bytes[pos % bytes.length] = (bytes[pos % bytes.length] as number) ^ mask
        let decoded: ForkProof
        try {
          decoded = decodeForkProof(bytes)
        } catch (e) {
          expect(['TooLargeError', 'MalformedRecordError']).toContain((e as ThreadsError).name)
          return
        }
        // Decoded (dag-cbor reads invalid UTF-8 as U+FFFD, so a decoded log ID may differ from
        // its bytes): checkForkProof throws only typed errors.
        let seq: number | undefined
        try {
          seq = checkForkProof(thread, decoded)
        } catch (e) {
          expect(e).toBeInstanceOf(ThreadsError)
          return
        }
        // Accepted: both statements are ones the writer signed, and they do disagree.
        expect(decoded.logId).toBe(logKey.id)
        expect(known.some((s) => sameStatement(s, decoded.a))).toBe(true)
        expect(known.some((s) => sameStatement(s, decoded.b))).toBe(true)
        expect(seq).toBe(decoded.a.seq)
        expect(hex(encodeForkProof(decoded))).toBe(hex(bytes))
      }),
      { numRuns: 2000, seed: SEED }
    )
  })

  it('two signed statements from arbitrary records of two branches prove exactly the forks they show', () => {
    const records = [...main, ...branch, otherFirst]
    fc.assert(
      fc.property(fc.constantFrom(...records), fc.constantFrom(...records), (x, y) => {
        const p = forkProofOf(logKey.id, st(x), st(y))
        const lo = p.a
        const hi = p.b
        const idLo = statementOf(thread, lo.seq, lo.event, lo.prev)
        const expected =
          lo.seq === hi.seq
            ? x.id.equals(y.id)
              ? undefined
              : lo.seq
            : hi.seq === lo.seq + 1 && hi.prev !== undefined && !hi.prev.equals(recordIdOfDigest(sha(idLo)))
              ? lo.seq
              : undefined
        if (expected === undefined) catchTyped(() => checkForkProof(thread, p), MalformedRecordError)
        else expect(checkForkProof(thread, p)).toBe(expected)
      }),
      { numRuns: 200, seed: SEED }
    )
  })
})

function sha(bytes: Uint8Array): Uint8Array {
  return new Uint8Array(createHash('sha256').update(bytes).digest())
}
