import { describe, it, expect, afterEach } from 'vitest'
import * as dagCbor from '@ipld/dag-cbor'
import { CID } from 'multiformats/cid'
import * as Digest from 'multiformats/hashes/digest'
import { concat } from 'uint8arrays/concat'
import { blockOf, boxOf, encodeBlock, encryptBlock } from '../../../src/core/block.js'
import { decodeCommand, encodeCommand, MAX_COMMAND_BYTES } from '../../../src/core/command.js'
import { getCrypto, setCrypto, type CryptoProvider } from '../../../src/core/crypto/index.js'
import {
  BadSignatureError,
  BrokenChainError,
  CidMismatchError,
  DecryptionError,
  EquivocationError,
  MalformedRecordError,
  ThreadsError,
  TooLargeError
} from '../../../src/core/errors.js'
import { createThreadKey, decrypt, followKey, generateLogKey } from '../../../src/core/keys.js'
import {
  checkDuplicate,
  createRecord,
  MAX_BODY_BYTES,
  MAX_NODE_BYTES,
  openEvent,
  recordBlocks,
  sameRecord,
  verifyChain,
  verifyRecord,
  type LogRecord,
  type RecordBlocks
} from '../../../src/core/record.js'
import { catchTyped, craftRecord, flip, hex, makeChain, sealRecordNode, typedErrorName } from './fixtures.js'

const logKey = generateLogKey()
const threadKey = createThreadKey()
const chain = makeChain(logKey, threadKey, 6)
const first = chain[0] as LogRecord
const blocksOf = (i: number): RecordBlocks => recordBlocks(chain[i] as LogRecord)
const headOf = (r: LogRecord): { cid: CID; seq: number } => ({ cid: r.cid, seq: r.seq })

/** The decrypted record node of a record block. */
function recordNodeOf(bytes: Uint8Array): Record<string, unknown> {
  const plain = decrypt(threadKey.service, boxOf(bytes, {}))
  if (plain === undefined) throw new Error('test setup: record does not open')
  return dagCbor.decode(plain)
}

describe('createRecord / verifyRecord', () => {
  it('round trips a first record', () => {
    const r = verifyRecord(logKey.id, threadKey.service, blocksOf(0))
    expect(r.cid.equals(first.cid)).toBe(true)
    expect(r.logId).toBe(logKey.id)
    expect(r.seq).toBe(1)
    expect(r.prev).toBeUndefined()
    expect(hex(r.sig)).toBe(hex(first.sig))
    expect(r.eventCid.equals(first.eventCid)).toBe(true)
    for (const k of ['record', 'event', 'header', 'body'] as const) {
      expect(r.blocks[k].cid.equals(first.blocks[k].cid)).toBe(true)
      expect(hex(r.blocks[k].bytes)).toBe(hex(first.blocks[k].bytes))
    }
  })

  it('names every block with a CIDv1 dag-cbor sha2-256 of its bytes', () => {
    for (const k of ['record', 'event', 'header', 'body'] as const) {
      const b = first.blocks[k]
      expect(b.cid.version).toBe(1)
      expect(b.cid.code).toBe(0x71)
      expect(b.cid.multihash.code).toBe(0x12)
      expect(hex(b.cid.multihash.digest)).toBe(hex(getCrypto().sha256(b.bytes)))
    }
  })

  it('keeps record, header and body encrypted (CBOR byte strings) and the event as plaintext links', () => {
    for (const k of ['record', 'header', 'body'] as const) expect(dagCbor.decode(first.blocks[k].bytes)).toBeInstanceOf(Uint8Array)
    const event = dagCbor.decode<{ header: unknown; body: unknown }>(first.blocks.event.bytes)
    expect(Object.keys(event).sort()).toEqual(['body', 'header'])
    expect(CID.asCID(event.header)?.equals(first.blocks.header.cid)).toBe(true)
    expect(CID.asCID(event.body)?.equals(first.blocks.body.cid)).toBe(true)
    expect(first.eventCid.equals(first.blocks.event.cid)).toBe(true)
    // The record node, under the service key: { block, sig, seq } for the first record.
    const node = recordNodeOf(first.blocks.record.bytes)
    expect(Object.keys(node).sort()).toEqual(['block', 'seq', 'sig'])
    expect(node.seq).toBe(1)
    const second = recordNodeOf((chain[1] as LogRecord).blocks.record.bytes)
    expect(Object.keys(second).sort()).toEqual(['block', 'prev', 'seq', 'sig'])
    expect(CID.asCID(second.prev)?.equals(first.cid)).toBe(true)
  })

  it('signs CID(event) for the first record and CID(event) ‖ CID(prev) after it', () => {
    const vk = getCrypto().verifyingKey(logKey.publicKey)
    expect(vk.verify(first.eventCid.bytes, first.sig)).toBe(true)
    const second = chain[1] as LogRecord
    expect(vk.verify(concat([second.eventCid.bytes, first.cid.bytes]), second.sig)).toBe(true)
    expect(vk.verify(second.eventCid.bytes, second.sig)).toBe(false)
  })

  it('uses a new content key and new nonces for every event', () => {
    const keys = chain.map((r) => hex(openEvent(threadKey.read, r).header.key))
    expect(new Set(keys).size).toBe(chain.length)
    const again = createRecord({ logKey, threadKey, body: encodeCommand({ type: 'a' }), clock: 1, time: 1 })
    const twice = createRecord({ logKey, threadKey, body: encodeCommand({ type: 'a' }), clock: 1, time: 1 })
    expect(hex(again.blocks.body.bytes)).not.toBe(hex(twice.blocks.body.bytes))
    expect(again.cid.equals(twice.cid)).toBe(false)
  })

  it('records the thread ID in the context of an error', () => {
    const e = catchTyped(() => verifyRecord(logKey.id, createThreadKey().service, blocksOf(0), { threadId: 'bafkthread' }), DecryptionError)
    expect(e.threadId).toBe('bafkthread')
    expect(e.logId).toBe(logKey.id)
    expect(e.cid).toBe(first.cid.toString())
    expect(e.message).toContain('thread bafkthread')
    expect(e.message).toContain(first.cid.toString())
  })
})

describe('openEvent', () => {
  it('returns the command and the header clock and time', () => {
    for (const r of chain) {
      const verified = verifyRecord(logKey.id, threadKey.service, recordBlocks(r))
      const { header, body } = openEvent(threadKey.read, verified)
      expect(header.clock).toBe(r.seq * 10)
      expect(header.time).toBe(1_700_000_000_000 + r.seq)
      expect(header.key.length).toBe(32)
      expect(decodeCommand(body)).toEqual({ type: 'todos/added', payload: { id: r.seq, text: `item ${r.seq}` } })
    }
  })

  it('round trips meta and error fields of a command', () => {
    const command = { type: 'todos/failed', payload: { reason: 'x' }, meta: { requestId: 'r1', n: [1, 2] }, error: true }
    const r = createRecord({ logKey, threadKey, body: encodeCommand(command), clock: 0, time: -5 })
    const { header, body } = openEvent(threadKey.read, verifyRecord(logKey.id, threadKey.service, recordBlocks(r)))
    expect(decodeCommand(body)).toEqual(command)
    expect(header.clock).toBe(0)
    expect(header.time).toBe(-5)
  })

  it('fails with DecryptionError for a wrong read key', () => {
    catchTyped(() => openEvent(createThreadKey().read, first), DecryptionError)
  })
})

describe('chains', () => {
  const original = getCrypto()
  afterEach(() => setCrypto(original))

  it('count seq from 1 and link each record to the one before', () => {
    expect(chain.map((r) => r.seq)).toEqual([1, 2, 3, 4, 5, 6])
    expect(first.prev).toBeUndefined()
    for (let i = 1; i < chain.length; i++) expect(chain[i]?.prev?.equals((chain[i - 1] as LogRecord).cid)).toBe(true)
  })

  it('verifyChain accepts the whole log from seq 1', () => {
    const verified = verifyChain(logKey.id, threadKey.service, chain.map(recordBlocks))
    expect(verified.map((r) => r.cid.toString())).toEqual(chain.map((r) => r.cid.toString()))
    expect(verified.map((r) => r.seq)).toEqual([1, 2, 3, 4, 5, 6])
  })

  it('verifyChain checks one signature for the whole run (and verifyRecord one each)', () => {
    let verifications = 0
    const counting: CryptoProvider = {
      ...original,
      verifyingKey(publicKey) {
        const inner = original.verifyingKey(publicKey)
        return {
          publicKey: inner.publicKey,
          verify: (m, s) => {
            verifications++
            return inner.verify(m, s)
          }
        }
      }
    }
    setCrypto(counting)
    // A fresh log, so the cached verifier is the counting one.
    const key = generateLogKey()
    const run = makeChain(key, threadKey, 8).map(recordBlocks)
    expect(verifyChain(key.id, threadKey.service, run)).toHaveLength(8)
    expect(verifications).toBe(1)
    for (const blocks of run) verifyRecord(key.id, threadKey.service, blocks)
    expect(verifications).toBe(9)
    verifyChain(key.id, threadKey.service, run, { skipSignature: true })
    expect(verifications).toBe(9)
  })

  it('verifyChain continues a known head with `after`', () => {
    const head = headOf(chain[2] as LogRecord)
    const rest = verifyChain(logKey.id, threadKey.service, chain.slice(3).map(recordBlocks), { after: head })
    expect(rest.map((r) => r.seq)).toEqual([4, 5, 6])
    const one = verifyRecord(logKey.id, threadKey.service, blocksOf(3), { after: head })
    expect(one.prev?.equals(head.cid)).toBe(true)
    expect(verifyChain(logKey.id, threadKey.service, [], { after: head })).toEqual([])
  })

  it('createRecord continues a head given as prev', () => {
    const head = headOf(chain[5] as LogRecord)
    const next = createRecord({ logKey, threadKey, body: encodeCommand({ type: 'x' }), clock: 99, time: 0, prev: head })
    expect(next.seq).toBe(7)
    expect(verifyRecord(logKey.id, threadKey.service, recordBlocks(next), { after: head }).seq).toBe(7)
  })
})

describe('rejections', () => {
  it('a record block that does not open with another service key: DecryptionError', () => {
    for (let i = 0; i < chain.length; i++) catchTyped(() => verifyRecord(logKey.id, createThreadKey().service, blocksOf(i)), DecryptionError)
    catchTyped(() => verifyRecord(logKey.id, threadKey.read, blocksOf(0)), DecryptionError)
  })

  it('a changed byte in the record block: DecryptionError (or MalformedRecordError in its CBOR head)', () => {
    const b = blocksOf(1)
    for (let i = 0; i < b.record.length; i++) {
      const name = typedErrorName(() => verifyRecord(logKey.id, threadKey.service, { ...b, record: flip(b.record, i) }))
      expect(i < 2 ? ['MalformedRecordError', 'DecryptionError'] : ['DecryptionError']).toContain(name)
    }
  })

  it.each(['event', 'header', 'body'] as const)('a tampered %s block: CidMismatchError', (which) => {
    const b = blocksOf(2)
    const bytes = b[which]
    for (const i of [0, 1, 2, Math.floor(bytes.length / 2), bytes.length - 1]) {
      const e = catchTyped(() => verifyRecord(logKey.id, threadKey.service, { ...b, [which]: flip(bytes, i, 0x40) }), CidMismatchError)
      expect(e.seq).toBe(3)
      expect(e.message).toContain(which)
    }
    // Truncated and extended too.
    catchTyped(() => verifyRecord(logKey.id, threadKey.service, { ...b, [which]: bytes.subarray(0, bytes.length - 1) }), CidMismatchError)
    catchTyped(() => verifyRecord(logKey.id, threadKey.service, { ...b, [which]: Uint8Array.from([...bytes, 0]) }), CidMismatchError)
  })

  it('blocks of another record spliced in: CidMismatchError', () => {
    const a = blocksOf(1)
    const b = blocksOf(2)
    for (const which of ['event', 'header', 'body'] as const) {
      catchTyped(() => verifyRecord(logKey.id, threadKey.service, { ...a, [which]: b[which] }), CidMismatchError)
    }
    catchTyped(() => verifyRecord(logKey.id, threadKey.service, { ...a, record: b.record }), CidMismatchError)
    catchTyped(() => verifyRecord(logKey.id, threadKey.service, { ...a, header: a.body, body: a.header }), CidMismatchError)
  })

  it('a wrong-signer log ID: BadSignatureError', () => {
    const other = generateLogKey()
    for (let i = 0; i < chain.length; i++) {
      const e = catchTyped(() => verifyRecord(other.id, threadKey.service, blocksOf(i)), BadSignatureError)
      expect(e.logId).toBe(other.id)
      expect(e.seq).toBe(i + 1)
    }
    catchTyped(() => verifyChain(other.id, threadKey.service, chain.map(recordBlocks)), BadSignatureError)
    // And the other way round: log B's records claiming log A.
    const theirs = makeChain(other, threadKey, 2)
    catchTyped(() => verifyRecord(logKey.id, threadKey.service, recordBlocks(theirs[1] as LogRecord)), BadSignatureError)
  })

  it('block fields that are not bytes: MalformedRecordError, never a TypeError', () => {
    const b = blocksOf(1)
    for (const which of ['record', 'event', 'header', 'body'] as const) {
      for (const value of [42, 'text', null, undefined, [1, 2], { length: 3 }]) {
        const blocks = { ...b, [which]: value } as unknown as RecordBlocks
        expect([which, value, typedErrorName(() => verifyRecord(logKey.id, threadKey.service, blocks))]).toEqual([which, value, 'MalformedRecordError'])
      }
    }
    for (const blocks of [null, 42, 'blocks', [b.record, b.event, b.header, b.body]]) {
      catchTyped(() => verifyRecord(logKey.id, threadKey.service, blocks as unknown as RecordBlocks), MalformedRecordError)
    }
  })

  it('a log ID that is not an Ed25519 peer ID: a typed error', () => {
    expect(() => verifyRecord('not-a-peer-id', threadKey.service, blocksOf(0))).toThrow(ThreadsError)
  })

  it('wrong seq or wrong prev against `after`: BrokenChainError', () => {
    const r3 = blocksOf(3)
    const head = headOf(chain[2] as LogRecord)
    catchTyped(() => verifyRecord(logKey.id, threadKey.service, r3, { after: { cid: head.cid, seq: 5 } }), BrokenChainError)
    catchTyped(() => verifyRecord(logKey.id, threadKey.service, r3, { after: { cid: head.cid, seq: 2 } }), BrokenChainError)
    const e = catchTyped(() => verifyRecord(logKey.id, threadKey.service, r3, { after: { cid: (chain[1] as LogRecord).cid, seq: 3 } }), BrokenChainError)
    expect(e.message).toContain((chain[1] as LogRecord).cid.toString())
    // A first record after a head, and the head itself again.
    catchTyped(() => verifyRecord(logKey.id, threadKey.service, blocksOf(0), { after: headOf(first) }), BrokenChainError)
    catchTyped(() => verifyRecord(logKey.id, threadKey.service, blocksOf(2), { after: head }), BrokenChainError)
  })

  it('in verifyChain: a tampered middle record, a gap, a swap, a repeat, a fork: typed errors', () => {
    const run = chain.map(recordBlocks)
    const tampered = run.map((b, i) => (i === 2 ? { ...b, body: flip(b.body, 20) } : b))
    catchTyped(() => verifyChain(logKey.id, threadKey.service, tampered), CidMismatchError)
    const withGap = [...run.slice(0, 2), ...run.slice(3)]
    catchTyped(() => verifyChain(logKey.id, threadKey.service, withGap), BrokenChainError)
    const swapped = [run[0], run[2], run[1], run[3]] as RecordBlocks[]
    catchTyped(() => verifyChain(logKey.id, threadKey.service, swapped), BrokenChainError)
    const repeated = [run[0], run[1], run[1], run[2]] as RecordBlocks[]
    catchTyped(() => verifyChain(logKey.id, threadKey.service, repeated), BrokenChainError)
    // A different, validly signed seq 3 from the same writer: the next record does not link it.
    const fork = makeChain(logKey, threadKey, 1, headOf(chain[1] as LogRecord))[0] as LogRecord
    const forked = [run[0], run[1], recordBlocks(fork), run[3]] as RecordBlocks[]
    catchTyped(() => verifyChain(logKey.id, threadKey.service, forked), BrokenChainError)
    catchTyped(() => verifyChain(logKey.id, threadKey.service, run.slice(2), { after: headOf(first) }), BrokenChainError)
  })

  it('in verifyChain: a middle record re-sealed with a forged signature is caught by the hash link', () => {
    const run = chain.slice(0, 3).map(recordBlocks)
    const node = recordNodeOf((chain[1] as LogRecord).blocks.record.bytes)
    const forged = { ...(run[1] as RecordBlocks), record: sealRecordNode(threadKey.service, { ...node, sig: new Uint8Array(64).fill(7) }) }
    // The forged record alone: its signature is checked, and fails.
    catchTyped(() => verifyRecord(logKey.id, threadKey.service, forged), BadSignatureError)
    catchTyped(() => verifyChain(logKey.id, threadKey.service, [run[0] as RecordBlocks, forged]), BadSignatureError)
    // In the middle its signature is skipped, but its CID changed, so the newest record's signed prev does not link it.
    catchTyped(() => verifyChain(logKey.id, threadKey.service, [run[0] as RecordBlocks, forged, run[2] as RecordBlocks]), BrokenChainError)
  })

  it('oversized blocks: TooLargeError', () => {
    const b = blocksOf(0)
    catchTyped(() => verifyRecord(logKey.id, threadKey.service, { ...b, body: new Uint8Array(MAX_BODY_BYTES + 1) }), TooLargeError)
    catchTyped(() => verifyRecord(logKey.id, threadKey.service, { ...b, header: new Uint8Array(MAX_NODE_BYTES + 1) }), TooLargeError)
    catchTyped(() => verifyRecord(logKey.id, threadKey.service, { ...b, record: new Uint8Array(MAX_NODE_BYTES + 1) }), TooLargeError)
    const bigEvent = encryptBlock(threadKey.service, new Uint8Array(MAX_NODE_BYTES))
    const crafted = craftRecord(logKey, threadKey, { eventBytes: () => bigEvent.bytes })
    catchTyped(() => verifyRecord(logKey.id, threadKey.service, crafted.blocks), TooLargeError)
  })

  it('createRecord refuses a body that would not fit: TooLargeError', () => {
    catchTyped(() => createRecord({ logKey, threadKey, body: new Uint8Array(MAX_BODY_BYTES), clock: 1, time: 1 }), TooLargeError)
  })

  it('a body that fits is accepted at the limit', () => {
    const r = createRecord({ logKey, threadKey, body: new Uint8Array(MAX_BODY_BYTES - 64), clock: 1, time: 1 })
    expect(r.blocks.body.bytes.length).toBeLessThanOrEqual(MAX_BODY_BYTES)
    expect(verifyRecord(logKey.id, threadKey.service, recordBlocks(r)).seq).toBe(1)
  })
})

describe('rejections of records built by hand (a key holder, or the writer itself)', () => {
  const verify = (blocks: RecordBlocks, after?: { cid: CID; seq: number }): LogRecord =>
    verifyRecord(logKey.id, threadKey.service, blocks, after === undefined ? {} : { after })

  it('the helper builds a valid record when nothing is changed', () => {
    const c = craftRecord(logKey, threadKey)
    const r = verify(c.blocks)
    expect(decodeCommand(openEvent(threadKey.read, r).body)).toEqual({ type: 'test/crafted' })
  })

  it('a signed event node with a non-minimal length header: MalformedRecordError', () => {
    const honest = craftRecord(logKey, threadKey).event.bytes
    expect(honest[0]).toBe(0xa2) // map(2)
    expect(hex(honest.subarray(1, 6))).toBe('64626f6479') // text(4) "body"
    const rewrites: ((b: Uint8Array) => Uint8Array)[] = [
      (b) => Uint8Array.from([0xa2, 0x78, 0x04, ...b.subarray(2)]), // text with a 1-byte length of 4
      (b) => Uint8Array.from([0xb8, 0x02, ...b.subarray(1)]), // map with a 1-byte length of 2
      (b) => {
        const at = b.indexOf(0x58) // bytes(37) → bytes with a 2-byte length
        return Uint8Array.from([...b.subarray(0, at), 0x59, 0x00, ...b.subarray(at + 1)])
      }
    ]
    for (const rewrite of rewrites) {
      const c = craftRecord(logKey, threadKey, { eventBytes: (links) => rewrite(dagCbor.encode(links)) })
      const e = catchTyped(() => verify(c.blocks), MalformedRecordError)
      expect(e.message).toContain('event node')
    }
  })

  it('a signed event node with its keys out of canonical order: MalformedRecordError', () => {
    const c = craftRecord(logKey, threadKey, {
      eventBytes: (links) => {
        const header = dagCbor.encode({ header: links.header }).subarray(1)
        const body = dagCbor.encode({ body: links.body }).subarray(1)
        return Uint8Array.from([0xa2, ...header, ...body])
      }
    })
    const e = catchTyped(() => verify(c.blocks), MalformedRecordError)
    expect(e.message).toContain('not canonical')
  })

  it('a header or body block whose byte string is not minimally encoded: MalformedRecordError', () => {
    const longer = (b: Uint8Array): Uint8Array => {
      // 0x58 n (bytes, 1-byte length) → 0x59 0x00 n (2-byte length)
      expect(b[0]).toBe(0x58)
      return Uint8Array.from([0x59, 0x00, ...b.subarray(1)])
    }
    catchTyped(() => verify(craftRecord(logKey, threadKey, { headerBlock: longer }).blocks), MalformedRecordError)
    catchTyped(() => verify(craftRecord(logKey, threadKey, { bodyBlock: longer }).blocks), MalformedRecordError)
  })

  it('a header or body block that is not a byte string: MalformedRecordError', () => {
    catchTyped(() => verify(craftRecord(logKey, threadKey, { headerBlock: () => dagCbor.encode({ not: 'bytes' }) }).blocks), MalformedRecordError)
    catchTyped(() => verify(craftRecord(logKey, threadKey, { bodyBlock: () => dagCbor.encode('text') }).blocks), MalformedRecordError)
  })

  it('a record block that is not a CBOR byte string, or is not canonical: MalformedRecordError', () => {
    const b = blocksOf(0)
    catchTyped(() => verify({ ...b, record: dagCbor.encode([1, 2, 3]) }), MalformedRecordError)
    catchTyped(() => verify({ ...b, record: Uint8Array.of(0xff) }), MalformedRecordError)
    catchTyped(() => verify({ ...b, record: new Uint8Array(0) }), MalformedRecordError)
    const record = b.record
    expect(record[0]).toBe(0x58)
    catchTyped(() => verify({ ...b, record: Uint8Array.from([0x59, 0x00, ...record.subarray(1)]) }), MalformedRecordError)
    // A box too short to hold a nonce and a tag.
    catchTyped(() => verify({ ...b, record: dagCbor.encode(new Uint8Array(27)) }), DecryptionError)
  })

  it('record nodes of the wrong shape: MalformedRecordError', () => {
    type Honest = { block: CID; sig: Uint8Array; prev: CID | undefined; seq: number }
    const rawCid = CID.createV1(0x55, first.blocks.event.cid.multihash)
    const sha512Cid = CID.createV1(0x71, Digest.create(0x13, new Uint8Array(64).fill(3)))
    const shapes: [string, (h: Honest) => unknown][] = [
      ['an extra field', (h) => ({ block: h.block, sig: h.sig, seq: h.seq, extra: 1 })],
      ['no sig', (h) => ({ block: h.block, seq: h.seq })],
      ['a 63-byte sig', (h) => ({ block: h.block, sig: h.sig.subarray(0, 63), seq: h.seq })],
      ['a text sig', (h) => ({ block: h.block, sig: 'sig', seq: h.seq })],
      ['seq 0', (h) => ({ block: h.block, sig: h.sig, seq: 0 })],
      ['seq -1', (h) => ({ block: h.block, sig: h.sig, seq: -1 })],
      ['seq 1.5', (h) => ({ block: h.block, sig: h.sig, seq: 1.5 })],
      ['seq "1"', (h) => ({ block: h.block, sig: h.sig, seq: '1' })],
      ['seq 2^60 (a BigInt when decoded)', (h) => ({ block: h.block, sig: h.sig, seq: 2n ** 60n })],
      ['block as bytes', (h) => ({ block: h.block.bytes, sig: h.sig, seq: h.seq })],
      ['block with the raw codec', (h) => ({ block: rawCid, sig: h.sig, seq: h.seq })],
      ['block hashed with sha2-512', (h) => ({ block: sha512Cid, sig: h.sig, seq: h.seq })],
      ['block as a CIDv0', (h) => ({ block: CID.createV0(h.block.multihash as Parameters<typeof CID.createV0>[0]), sig: h.sig, seq: h.seq })],
      ['prev null', (h) => ({ block: h.block, sig: h.sig, prev: null, seq: 2 })],
      ['prev as text', (h) => ({ block: h.block, sig: h.sig, prev: 'bafy', seq: 2 })],
      ['an array', (h) => [h.block, h.sig, h.seq]],
      ['a byte string', (h) => h.sig],
      ['null', () => null],
      ['a number', () => 1]
    ]
    for (const [what, node] of shapes) {
      const c = craftRecord(logKey, threadKey, { recordNode: node })
      expect([what, typedErrorName(() => verify(c.blocks))]).toEqual([what, 'MalformedRecordError'])
    }
  })

  it('a record node that is not canonical dag-cbor inside its encryption: MalformedRecordError', () => {
    const c = craftRecord(logKey, threadKey)
    const node = recordNodeOf(c.blocks.record)
    const canonical = dagCbor.encode(node)
    expect(canonical[0]).toBe(0xa3)
    const nonMinimal = Uint8Array.from([0xb8, 0x03, ...canonical.subarray(1)])
    const record = encryptBlock(threadKey.service, nonMinimal).bytes
    catchTyped(() => verify({ ...c.blocks, record }), MalformedRecordError)
    const notCbor = encryptBlock(threadKey.service, Uint8Array.of(0xff, 0x00)).bytes
    catchTyped(() => verify({ ...c.blocks, record: notCbor }), MalformedRecordError)
  })

  it('seq and prev must agree: seq 1 has no prev, later records have one: BrokenChainError', () => {
    const c = craftRecord(logKey, threadKey, { recordNode: (h) => ({ block: h.block, sig: h.sig, prev: first.cid, seq: 1 }) })
    catchTyped(() => verify(c.blocks), BrokenChainError)
    const d = craftRecord(logKey, threadKey, { recordNode: (h) => ({ block: h.block, sig: h.sig, seq: 2 }) })
    catchTyped(() => verify(d.blocks), BrokenChainError)
  })

  it('a re-sealed record that claims another seq is refused against the head: BrokenChainError', () => {
    const node = recordNodeOf(blocksOf(3).record)
    const forged = { ...blocksOf(3), record: sealRecordNode(threadKey.service, { ...node, seq: 9 }) }
    catchTyped(() => verify(forged, headOf(chain[2] as LogRecord)), BrokenChainError)
  })

  it('event nodes of the wrong shape: MalformedRecordError', () => {
    const shapes: [string, (l: { header: CID; body: CID }) => unknown][] = [
      ['an extra field', (l) => ({ ...l, x: 1 })],
      ['no body', (l) => ({ header: l.header })],
      ['header as bytes', (l) => ({ header: l.header.bytes, body: l.body })],
      ['body with the raw codec', (l) => ({ header: l.header, body: CID.createV1(0x55, l.body.multihash) })],
      ['an array', (l) => [l.header, l.body]],
      ['renamed fields', (l) => ({ head: l.header, body: l.body })]
    ]
    for (const [what, value] of shapes) {
      const c = craftRecord(logKey, threadKey, { eventBytes: (l) => dagCbor.encode(value(l)) })
      expect([what, typedErrorName(() => verify(c.blocks))]).toEqual([what, 'MalformedRecordError'])
    }
  })

  it('headers of the wrong shape are refused by openEvent: MalformedRecordError', () => {
    const key = new Uint8Array(32).fill(1)
    const shapes: [string, unknown][] = [
      ['a 31-byte key', { key: key.subarray(0, 31), clock: 1, time: 1 }],
      ['no key', { clock: 1, time: 1 }],
      ['clock -1', { key, clock: -1, time: 1 }],
      ['clock 1.5', { key, clock: 1.5, time: 1 }],
      ['clock "1"', { key, clock: '1', time: 1 }],
      ['clock 2^60', { key, clock: 2n ** 60n, time: 1 }],
      ['time 0.5', { key, clock: 1, time: 0.5 }],
      ['time null', { key, clock: 1, time: null }],
      ['an array', [key, 1, 1]],
      ['a number', 7]
    ]
    for (const [what, header] of shapes) {
      const c = craftRecord(logKey, threadKey, { contentKey: key, header })
      const r = verify(c.blocks) // the header is encrypted: only a reader can check it
      expect([what, typedErrorName(() => openEvent(threadKey.read, r))]).toEqual([what, 'MalformedRecordError'])
    }
    const notCbor = craftRecord(logKey, threadKey, { headerPlain: Uint8Array.of(0xff) })
    catchTyped(() => openEvent(threadKey.read, verify(notCbor.blocks)), MalformedRecordError)
  })

  it('a body that does not open with the content key of its header: DecryptionError', () => {
    const c = craftRecord(logKey, threadKey, { bodyKey: new Uint8Array(32).fill(9) })
    catchTyped(() => openEvent(threadKey.read, verify(c.blocks)), DecryptionError)
  })
})

describe('checkDuplicate', () => {
  it('a copy of the kept record is a duplicate: false', () => {
    const again = verifyRecord(logKey.id, threadKey.service, blocksOf(1))
    expect(checkDuplicate(chain[1] as LogRecord, again)).toBe(false)
    expect(sameRecord(chain[1] as LogRecord, again)).toBe(true)
  })

  it('a different record with the same seq is an equivocation naming both CIDs', () => {
    const kept = first
    const other = createRecord({ logKey, threadKey, body: encodeCommand({ type: 'todos/other' }), clock: 1, time: 1 })
    expect(other.seq).toBe(kept.seq)
    expect(sameRecord(kept, other)).toBe(false)
    const e = catchTyped(() => checkDuplicate(kept, other, 'bafkthread'), EquivocationError)
    expect(e.message).toContain(kept.cid.toString())
    expect(e.message).toContain(other.cid.toString())
    expect(e.cid).toBe(other.cid.toString())
    expect(e.seq).toBe(1)
    expect(e.logId).toBe(logKey.id)
    expect(e.threadId).toBe('bafkthread')
  })
})

describe('followers (service key only)', () => {
  const follow = followKey(threadKey)

  it('verify records and whole runs', () => {
    expect(follow.read).toBeUndefined()
    const verified = verifyChain(logKey.id, follow.service, chain.map(recordBlocks))
    expect(verified).toHaveLength(chain.length)
    expect(verifyRecord(logKey.id, follow.service, blocksOf(4), { after: headOf(chain[3] as LogRecord) }).seq).toBe(5)
  })

  it('cannot open events: DecryptionError', () => {
    const r = verifyRecord(logKey.id, follow.service, blocksOf(0))
    const e = catchTyped(() => openEvent(follow.read, r), DecryptionError)
    expect(e.message).toContain('no read key')
    // The service key is not the read key.
    catchTyped(() => openEvent(follow.service, r), DecryptionError)
  })

  it('cannot write: createRecord throws DecryptionError', () => {
    catchTyped(() => createRecord({ logKey, threadKey: follow, body: encodeCommand({ type: 'x' }), clock: 1, time: 1 }), DecryptionError)
  })
})

describe('encodeCommand / decodeCommand', () => {
  it('drops a top-level undefined payload, meta and error', () => {
    const bytes = encodeCommand({ type: 'todos/cleared', payload: undefined, meta: undefined, error: undefined })
    expect(hex(bytes)).toBe(hex(encodeCommand({ type: 'todos/cleared' })))
    const decoded = decodeCommand(bytes)
    expect(decoded).toEqual({ type: 'todos/cleared' })
    expect(Object.keys(decoded)).toEqual(['type'])
  })

  it('keeps null, false and zero payloads', () => {
    for (const payload of [null, false, 0, '', [], {}]) expect(decodeCommand(encodeCommand({ type: 't', payload }))).toEqual({ type: 't', payload })
  })

  it('encodes canonically: key order does not matter', () => {
    expect(hex(encodeCommand({ type: 't', payload: { a: 1, b: 2 } }))).toBe(hex(encodeCommand({ type: 't', payload: { b: 2, a: 1 } })))
  })

  it.each([
    ['a Date', new Date(0)],
    ['a function', () => 1],
    ['a nested undefined', { a: { b: undefined } }],
    ['undefined in an array', [1, undefined]],
    ['NaN', Number.NaN],
    ['Infinity', { n: Number.POSITIVE_INFINITY }],
    ['a Map', new Map([[1, 2]])],
    ['a Symbol', Symbol('s')]
  ])('refuses %s with a TypeError naming the action type', (_what, payload) => {
    let thrown: unknown
    try {
      encodeCommand({ type: 'todos/added', payload })
    } catch (e) {
      thrown = e
    }
    expect(thrown).toBeInstanceOf(TypeError)
    expect((thrown as Error).message).toContain('"todos/added"')
  })

  it('refuses a meta it cannot store too', () => {
    expect(() => encodeCommand({ type: 'todos/meta', meta: { at: new Date(0) } })).toThrow(/"todos\/meta"/)
  })

  it('refuses a command over the size limit: TooLargeError', () => {
    const e = catchTyped(() => encodeCommand({ type: 'todos/huge', payload: 'x'.repeat(MAX_COMMAND_BYTES) }), TooLargeError)
    expect(e.message).toContain('todos/huge')
  })

  it('decodeCommand refuses bodies that are not commands: MalformedRecordError', () => {
    for (const bytes of [Uint8Array.of(0xff), new Uint8Array(0), dagCbor.encode(1), dagCbor.encode(null), dagCbor.encode({ payload: 1 }), dagCbor.encode({ type: 5 })]) {
      catchTyped(() => decodeCommand(bytes), MalformedRecordError)
    }
  })

  // dag-cbor cannot hold -0 or a lone surrogate exactly; encodeCommand normalises them. The engine
  // therefore applies the decoded (canonical) command locally too, so the author and every other
  // peer fold the very same action (see threadEngine.test.ts, "applies the canonical command").
  it.each([
    ['-0 (decodes as 0)', -0, 0],
    ['a lone surrogate (decodes as U+FFFD)', '\uD800', '\uFFFD']
  ])('encodeCommand normalises %s, and decoding is stable', (_what, value, canonical) => {
    const bytes = encodeCommand({ type: 't', payload: { v: value } })
    const decoded = decodeCommand(bytes)
    expect(Object.is((decoded.payload as { v: unknown }).v, canonical)).toBe(true)
    expect(encodeCommand(decoded)).toEqual(bytes)
  })
})

describe('block helpers', () => {
  it('encodeBlock and blockOf agree', () => {
    const value = { a: 1 }
    expect(encodeBlock(value).cid.equals(blockOf(dagCbor.encode(value)).cid)).toBe(true)
  })
})
