import { describe, it, expect, afterEach } from 'vitest'
import * as dagCbor from '@ipld/dag-cbor'
import { CID } from 'multiformats/cid'
import * as Digest from 'multiformats/hashes/digest'
import { concat } from 'uint8arrays/concat'
import { blockOf, boxOf, cidOfDigest, encodeBlock, encryptBlock } from '../../../src/core/block.js'
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
  TooLargeError,
  UnsupportedFormatError
} from '../../../src/core/errors.js'
import { createThreadKey, decrypt, followKey, generateLogKey } from '../../../src/core/keys.js'
import {
  createRecord,
  equivocationBetween,
  linksHead,
  MAX_BODY_BYTES,
  MAX_EVENT_BYTES,
  MAX_NODE_BYTES,
  openEvent,
  recordBlocks,
  signatureHolds,
  verifyChain,
  verifyRecord,
  type LogHead,
  type LogRecord,
  type RecordBlocks,
  type RecordContext
} from '../../../src/core/record.js'
import { isRecordId, RAW, RECORD_FORMAT, recordIdOf, recordIdOfDigest, sameId, statementBytes, verifyStatement } from '../../../src/core/recordId.js'
import { ThreadId, Variant } from '../../../src/core/threadId.js'
import {
  catchTyped,
  craftRecord,
  flip,
  formatOneNode,
  fromHex,
  headOf,
  hex,
  identityOf,
  makeChain,
  nodeValue,
  recordNodeOf,
  recordPlainOf,
  reseal,
  sealRecordNode,
  statementOf,
  typedErrorName,
  type HonestNode
} from './fixtures.js'

const logKey = generateLogKey()
const threadKey = createThreadKey()
const thread = ThreadId.create()
const at: RecordContext = { thread, logId: logKey.id, serviceKey: threadKey.service }
const chain = makeChain(logKey, threadKey, thread, 6)
const first = chain[0] as LogRecord
const blocksOf = (i: number): RecordBlocks => recordBlocks(chain[i] as LogRecord)
const recordAt = (i: number): LogRecord => chain[i] as LogRecord
const ctxFor = (logId: string, serviceKey: Uint8Array = threadKey.service, t: ThreadId = thread): RecordContext => ({ thread: t, logId, serviceKey })

/** The decrypted record node of a record block. */
function nodeOf(bytes: Uint8Array): Record<string, unknown> {
  return recordNodeOf(threadKey.service, bytes)
}

describe('createRecord / verifyRecord', () => {
  it('round trips a first record', () => {
    const r = verifyRecord(at, blocksOf(0))
    expect(r.id.equals(first.id)).toBe(true)
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

  it('names every block with a CIDv1 dag-cbor sha2-256 of its bytes; `cid` is the record block', () => {
    for (const k of ['record', 'event', 'header', 'body'] as const) {
      const b = first.blocks[k]
      expect(b.cid.version).toBe(1)
      expect(b.cid.code).toBe(0x71)
      expect(b.cid.multihash.code).toBe(0x12)
      expect(hex(b.cid.multihash.digest)).toBe(hex(getCrypto().sha256(b.bytes)))
    }
    expect(first.cid.equals(first.blocks.record.cid)).toBe(true)
  })

  it('names the record by its identity: CIDv1 raw sha2-256 of its statement, not of any block', () => {
    for (const r of chain) {
      expect(r.id.version).toBe(1)
      expect(r.id.code).toBe(0x55)
      expect(r.id.multihash.code).toBe(0x12)
      expect(r.id.toString().startsWith('bafkrei')).toBe(true)
      const statement = statementOf(thread, r.seq, r.eventCid, r.prev)
      expect(hex(r.id.multihash.digest)).toBe(hex(getCrypto().sha256(statement)))
      expect(r.id.equals(identityOf(statement))).toBe(true)
      for (const k of ['record', 'event', 'header', 'body'] as const) expect(hex(r.id.multihash.digest)).not.toBe(hex(r.blocks[k].cid.multihash.digest))
    }
  })

  it('keeps record, header and body encrypted (CBOR byte strings) and the event as plaintext links', () => {
    for (const k of ['record', 'header', 'body'] as const) expect(dagCbor.decode(first.blocks[k].bytes)).toBeInstanceOf(Uint8Array)
    const event = dagCbor.decode<{ header: unknown; body: unknown }>(first.blocks.event.bytes)
    expect(Object.keys(event).sort()).toEqual(['body', 'header'])
    expect(CID.asCID(event.header)?.equals(first.blocks.header.cid)).toBe(true)
    expect(CID.asCID(event.body)?.equals(first.blocks.body.cid)).toBe(true)
    expect(first.eventCid.equals(first.blocks.event.cid)).toBe(true)
  })

  it('writes the record node { v: 2, seq, sig, prev?, block } as canonical dag-cbor, prev = the previous identity', () => {
    const node = nodeOf(first.blocks.record.bytes)
    expect(Object.keys(node).sort()).toEqual(['block', 'seq', 'sig', 'v'])
    expect(node.v).toBe(2)
    expect(RECORD_FORMAT).toBe(2)
    expect(node.seq).toBe(1)
    expect(CID.asCID(node.block)?.equals(first.eventCid)).toBe(true)
    expect(hex(node.sig as Uint8Array)).toBe(hex(first.sig))
    const second = recordAt(1)
    const next = nodeOf(second.blocks.record.bytes)
    expect(Object.keys(next).sort()).toEqual(['block', 'prev', 'seq', 'sig', 'v'])
    const prev = CID.asCID(next.prev)
    expect(prev?.equals(first.id)).toBe(true)
    expect(prev?.code).toBe(0x55) // an identity, not the dag-cbor CID of the first record block
    expect(prev?.equals(first.cid)).toBe(false)
    // Byte for byte what @ipld/dag-cbor writes: keys by length, then bytewise ("v", "seq", "sig", "prev", "block").
    for (const r of [first, second]) {
      const plain = recordPlainOf(threadKey.service, r.blocks.record.bytes)
      expect(hex(plain)).toBe(hex(dagCbor.encode(nodeValue({ v: 2, seq: r.seq, sig: r.sig, prev: r.prev, block: r.eventCid }))))
      expect(plain[0]).toBe(r.prev === undefined ? 0xa4 : 0xa5)
      expect(hex(plain.subarray(1, 4))).toBe('617602') // "v": 2
    }
  })

  it('signs the statement, and nothing of the format-1 signed bytes', () => {
    const vk = getCrypto().verifyingKey(logKey.publicKey)
    for (const r of chain) expect(vk.verify(statementOf(thread, r.seq, r.eventCid, r.prev), r.sig)).toBe(true)
    const second = recordAt(1)
    // Format 1 signed CID(event) ‖ CID(prev record block).
    expect(vk.verify(first.eventCid.bytes, first.sig)).toBe(false)
    expect(vk.verify(concat([second.eventCid.bytes, first.cid.bytes]), second.sig)).toBe(false)
    expect(vk.verify(concat([second.eventCid.bytes, first.id.bytes]), second.sig)).toBe(false)
    // Another seq, thread or prev is another statement.
    expect(vk.verify(statementOf(thread, 3, second.eventCid, second.prev), second.sig)).toBe(false)
    expect(vk.verify(statementOf(ThreadId.create(), 2, second.eventCid, second.prev), second.sig)).toBe(false)
    expect(vk.verify(statementOf(thread, 2, second.eventCid, recordAt(2).id), second.sig)).toBe(false)
  })

  it('uses a new content key and new nonces for every event', () => {
    const keys = chain.map((r) => hex(openEvent(threadKey.read, r).header.key))
    expect(new Set(keys).size).toBe(chain.length)
    const again = createRecord({ logKey, threadKey, thread, body: encodeCommand({ type: 'a' }), clock: 1, time: 1 })
    const twice = createRecord({ logKey, threadKey, thread, body: encodeCommand({ type: 'a' }), clock: 1, time: 1 })
    expect(hex(again.blocks.body.bytes)).not.toBe(hex(twice.blocks.body.bytes))
    expect(again.cid.equals(twice.cid)).toBe(false)
    expect(again.id.equals(twice.id)).toBe(false)
  })

  it('records the thread ID in the context of an error', () => {
    const e = catchTyped(() => verifyRecord(ctxFor(logKey.id, createThreadKey().service), blocksOf(0)), DecryptionError)
    expect(e.threadId).toBe(thread.toString())
    expect(e.logId).toBe(logKey.id)
    expect(e.cid).toBe(first.cid.toString())
    expect(e.message).toContain(`thread ${thread.toString()}`)
    expect(e.message).toContain(first.cid.toString())
  })
})

describe('statements and identities', () => {
  // Fixed inputs: a Raw thread ID with 32 random bytes of 0x11, seq 300, and two fixed digests.
  const fixedThread = ThreadId.fromBytes(fromHex('0155' + '11'.repeat(32)))
  const fixedEvent = cidOfDigest(new Uint8Array(32).fill(0x22))
  const fixedPrev = recordIdOfDigest(new Uint8Array(32).fill(0x33))
  const DOMAIN_HEX = '72656475782d746872656164732f7265636f72642f7632' // "redux-threads/record/v2"

  it('has the exact layout "redux-threads/record/v2" ‖ threadId ‖ uvarint(seq) ‖ CID(event) ‖ prevId (test vector)', () => {
    const bytes = statementBytes({ thread: fixedThread.bytes, seq: 300, event: fixedEvent, prev: fixedPrev })
    expect(hex(bytes)).toBe(
      DOMAIN_HEX +
        '0155' +
        '11'.repeat(32) + // thread ID
        'ac02' + // uvarint(300)
        '01711220' +
        '22'.repeat(32) + // CIDv1 dag-cbor sha2-256 of the event
        '01551220' +
        '33'.repeat(32) // the previous record's identity: CIDv1 raw sha2-256
    )
    expect(bytes.length).toBe(23 + 34 + 2 + 36 + 36)
    expect(hex(bytes)).toBe(hex(statementOf(fixedThread, 300, fixedEvent, fixedPrev)))
  })

  it('the identity of the test vector is a fixed CID', () => {
    const id = recordIdOf({ thread: fixedThread.bytes, seq: 300, event: fixedEvent, prev: fixedPrev })
    expect(hex(id.multihash.digest)).toBe('c9dddd1ec84de277f358bf27712a52c4ae2638b0fab28114d2adc5a30e801de7')
    expect(id.toString()).toBe('bafkreigj3xor5scn4j37gwf7e5ysuuwevytdrmh2wkarjuvnywrq5aa544')
    expect(isRecordId(id)).toBe(true)
  })

  it('a first record has no prev part (test vector)', () => {
    const bytes = statementBytes({ thread: fixedThread.bytes, seq: 1, event: fixedEvent, prev: undefined })
    expect(hex(bytes)).toBe(DOMAIN_HEX + '0155' + '11'.repeat(32) + '01' + '01711220' + '22'.repeat(32))
    expect(recordIdOf({ thread: fixedThread.bytes, seq: 1, event: fixedEvent, prev: undefined }).toString()).toBe(
      'bafkreienygtioy26upwjs6xuw7iahiruh7rbgoedi5r6fh5c2yy6youk2u'
    )
  })

  it.each([
    [1, '01'],
    [127, '7f'],
    [128, '8001'],
    [300, 'ac02'],
    [16384, '808001'],
    [2 ** 32, '8080808010'],
    [Number.MAX_SAFE_INTEGER, 'ffffffffffffff0f']
  ])('writes seq %d as the uvarint %s', (seq, varintHex) => {
    const bytes = statementBytes({ thread: fixedThread.bytes, seq, event: fixedEvent, prev: fixedPrev })
    const after = DOMAIN_HEX.length / 2 + fixedThread.bytes.length
    expect(hex(bytes.subarray(after, after + varintHex.length / 2))).toBe(varintHex)
    expect(bytes.length).toBe(after + varintHex.length / 2 + 72)
  })

  it('holds the whole thread ID, of any variant and length', () => {
    for (const t of [ThreadId.create(Variant.AccessControlled, 16), ThreadId.create(Variant.Raw, 64)]) {
      const bytes = statementBytes({ thread: t.bytes, seq: 1, event: fixedEvent, prev: undefined })
      expect(hex(bytes.subarray(23, 23 + t.bytes.length))).toBe(hex(t.bytes))
      expect(bytes.length).toBe(23 + t.bytes.length + 1 + 36)
    }
  })

  it('every field changes the identity', () => {
    const base = { thread: fixedThread.bytes, seq: 300, event: fixedEvent, prev: fixedPrev }
    const id = recordIdOf(base).toString()
    const variants = [
      { ...base, thread: ThreadId.fromBytes(fromHex('0155' + '11'.repeat(31) + '12')).bytes },
      { ...base, seq: 301 },
      { ...base, event: cidOfDigest(new Uint8Array(32).fill(0x23)) },
      { ...base, prev: recordIdOfDigest(new Uint8Array(32).fill(0x34)) },
      // The same digest under another codec is another link.
      { ...base, prev: cidOfDigest(new Uint8Array(32).fill(0x33)) }
    ]
    const ids = variants.map((v) => recordIdOf(v).toString())
    expect(new Set([id, ...ids]).size).toBe(variants.length + 1)
  })

  it('recordIdOf agrees with a hand-made CID of the statement, and with the records', () => {
    for (const r of chain) {
      const id = recordIdOf({ thread: thread.bytes, seq: r.seq, event: r.eventCid, prev: r.prev })
      expect(id.equals(r.id)).toBe(true)
      expect(id.equals(CID.createV1(RAW, Digest.create(0x12, getCrypto().sha256(statementOf(thread, r.seq, r.eventCid, r.prev)))))).toBe(true)
    }
  })

  it('isRecordId accepts only CIDv1 raw sha2-256 links of 32 bytes', () => {
    expect(isRecordId(first.id)).toBe(true)
    expect(isRecordId(CID.parse(first.id.toString()))).toBe(true)
    expect(isRecordId(first.cid)).toBe(false) // dag-cbor
    expect(isRecordId(first.eventCid)).toBe(false)
    expect(isRecordId(CID.createV1(0x55, Digest.create(0x13, new Uint8Array(64))))).toBe(false) // sha2-512
    expect(isRecordId(CID.createV1(0x55, Digest.create(0x12, new Uint8Array(20))))).toBe(false) // a short digest
    expect(isRecordId(CID.createV0(first.cid.multihash as Parameters<typeof CID.createV0>[0]))).toBe(false)
    for (const v of [undefined, null, 'bafkrei', first.id.bytes, 1, {}]) expect(isRecordId(v)).toBe(false)
  })

  it('sameId compares bytes', () => {
    expect(sameId(first.id, CID.parse(first.id.toString()))).toBe(true)
    expect(sameId(first.id, recordAt(1).id)).toBe(false)
    // The same digest under another codec is not the same identity.
    expect(sameId(first.id, cidOfDigest(first.id.multihash.digest))).toBe(false)
  })

  it('verifyStatement checks the log key over the statement', () => {
    const second = recordAt(1)
    const s = { thread: thread.bytes, seq: 2, event: second.eventCid, prev: second.prev }
    expect(verifyStatement(logKey.id, s, second.sig)).toBe(true)
    expect(verifyStatement(generateLogKey().id, s, second.sig)).toBe(false)
    expect(verifyStatement(logKey.id, { ...s, seq: 3 }, second.sig)).toBe(false)
    expect(verifyStatement(logKey.id, s, flip(second.sig, 5))).toBe(false)
    expect(verifyStatement(logKey.id, s, second.sig.subarray(0, 63))).toBe(false)
  })
})

describe('sealing does not make another record', () => {
  it('a record re-sealed under the service key with a new nonce verifies, with the same id and another cid', () => {
    for (let i = 0; i < chain.length; i++) {
      const copy = reseal(threadKey.service, blocksOf(i))
      expect(hex(copy.record)).not.toBe(hex(blocksOf(i).record))
      const after = i === 0 ? undefined : headOf(recordAt(i - 1))
      const r = verifyRecord(at, copy, after === undefined ? {} : { after })
      expect(r.id.equals(recordAt(i).id)).toBe(true)
      expect(r.cid.equals(recordAt(i).cid)).toBe(false)
      expect(r.cid.equals(blockOf(copy.record).cid)).toBe(true)
      expect(hex(r.sig)).toBe(hex(recordAt(i).sig))
      expect(r.eventCid.equals(recordAt(i).eventCid)).toBe(true)
      expect(equivocationBetween({ ...headOf(recordAt(i)), logId: logKey.id }, r)).toBeUndefined()
    }
  })

  it("the writer's next record still links a re-sealed copy of its head (the format-1 freeze)", () => {
    const copy = verifyRecord(at, reseal(threadKey.service, blocksOf(2)), { after: headOf(recordAt(1)) })
    const next = verifyRecord(at, blocksOf(3), { after: headOf(copy) })
    expect(next.prev?.equals(copy.id)).toBe(true)
    expect(linksHead(next, headOf(copy))).toBe(true)
  })

  it('a run of re-sealed copies verifies as a chain, to the same identities', () => {
    const run = chain.map((r, i) => (i % 2 === 0 ? reseal(threadKey.service, recordBlocks(r)) : recordBlocks(r)))
    const verified = verifyChain(at, run)
    expect(verified.map((r) => r.id.toString())).toEqual(chain.map((r) => r.id.toString()))
    expect(verified.filter((r, i) => !r.cid.equals(recordAt(i).cid)).length).toBe(3)
  })

  it("a record sealed under another thread's service key does not open here: DecryptionError", () => {
    const other = createThreadKey()
    const moved = reseal(threadKey.service, blocksOf(1), other.service)
    catchTyped(() => verifyRecord(at, moved), DecryptionError)
    // It opens there, but it was signed for this thread: BadSignatureError.
    catchTyped(() => verifyRecord(ctxFor(logKey.id, other.service, ThreadId.create()), moved), BadSignatureError)
  })

  it('a record of thread T1 does not verify in thread T2, even under the same keys: BadSignatureError', () => {
    const t2 = ThreadId.create()
    for (let i = 0; i < chain.length; i++) {
      const e = catchTyped(() => verifyRecord(ctxFor(logKey.id, threadKey.service, t2), blocksOf(i)), BadSignatureError)
      expect(e.threadId).toBe(t2.toString())
      expect(e.seq).toBe(i + 1)
    }
    // In a run, identities are recomputed in T2, so not even the hash links hold.
    catchTyped(() => verifyChain(ctxFor(logKey.id, threadKey.service, t2), chain.map(recordBlocks)), BrokenChainError)
    catchTyped(() => verifyChain(ctxFor(logKey.id, threadKey.service, t2), [blocksOf(0)]), BadSignatureError)
    catchTyped(() => verifyChain(ctxFor(logKey.id, threadKey.service, t2), chain.map(recordBlocks), { skipSignature: true }), BrokenChainError)
    // A thread ID that differs in its variant only.
    const sameRandom = ThreadId.fromBytes(Uint8Array.from([1, 0x70, ...thread.random]))
    catchTyped(() => verifyRecord(ctxFor(logKey.id, threadKey.service, sameRandom), blocksOf(0)), BadSignatureError)
    // And the identity differs with the thread, so the T2 reading of the chain does not link either.
    expect(signatureHolds(t2, first)).toBe(false)
    expect(signatureHolds(thread, first)).toBe(true)
  })
})

describe('openEvent', () => {
  it('returns the command and the header clock and time', () => {
    for (const r of chain) {
      const verified = verifyRecord(at, recordBlocks(r))
      const { header, body } = openEvent(threadKey.read, verified)
      expect(header.clock).toBe(r.seq * 10)
      expect(header.time).toBe(1_700_000_000_000 + r.seq)
      expect(header.key.length).toBe(32)
      expect(decodeCommand(body)).toEqual({ type: 'todos/added', payload: { id: r.seq, text: `item ${r.seq}` } })
    }
  })

  it('round trips meta and error fields of a command', () => {
    const command = { type: 'todos/failed', payload: { reason: 'x' }, meta: { requestId: 'r1', n: [1, 2] }, error: true }
    const r = createRecord({ logKey, threadKey, thread, body: encodeCommand(command), clock: 0, time: -5 })
    const { header, body } = openEvent(threadKey.read, verifyRecord(at, recordBlocks(r)))
    expect(decodeCommand(body)).toEqual(command)
    expect(header.clock).toBe(0)
    expect(header.time).toBe(-5)
  })

  it('fails with DecryptionError for a wrong read key', () => {
    catchTyped(() => openEvent(createThreadKey().read, first), DecryptionError)
  })

  it('carries a transaction mark in the header when there is one, and none otherwise', () => {
    expect(openEvent(threadKey.read, first).header.txn).toBeUndefined()
    expect('txn' in openEvent(threadKey.read, first).header).toBe(false)
    const marked = createRecord({ logKey, threadKey, thread, body: encodeCommand({ type: 'x' }), clock: 70, time: 0, prev: headOf(recordAt(5)), txn: 7 })
    const { header } = openEvent(threadKey.read, verifyRecord(at, recordBlocks(marked), { after: headOf(recordAt(5)) }))
    expect(header.txn).toBe(7)
    expect(header.clock).toBe(70)
  })

  it('encrypts the body padded to its bucket, and returns it unpadded', () => {
    for (const [n, bucket] of [
      [0, 64],
      [1, 64],
      [51, 64],
      [63, 64],
      [64, 128],
      [127, 128],
      [128, 256],
      [600, 1024],
      [4095, 4096],
      [4096, 4352],
      [5084, 5120]
    ] as const) {
      const body = new Uint8Array(n).fill(0x61)
      const r = createRecord({ logKey, threadKey, thread, body, clock: 1, time: 1 })
      const box = boxOf(r.blocks.body.bytes, {})
      expect([n, box.length]).toEqual([n, 12 + bucket + 16])
      const { header, body: opened } = openEvent(threadKey.read, r)
      expect(hex(opened)).toBe(hex(body))
      // The plaintext inside the box: the body, the 0x80 marker, then zeros.
      const padded = decrypt(header.key, box) as Uint8Array
      expect(padded.length).toBe(bucket)
      expect(padded[n]).toBe(0x80)
      expect(padded.subarray(n + 1).every((b) => b === 0)).toBe(true)
    }
  })

  it('commands of one bucket give body blocks of one size', () => {
    const sizes = new Set([1, 10, 40, 63].map((n) => createRecord({ logKey, threadKey, thread, body: new Uint8Array(n), clock: 1, time: 1 }).blocks.body.bytes.length))
    expect(sizes.size).toBe(1)
  })

  it('a body whose padding is damaged (by its writer) is refused: MalformedRecordError', () => {
    const plain = encodeCommand({ type: 'x' })
    const unpadded = craftRecord(logKey, threadKey, thread, { bodyPadded: plain })
    expect(verifyRecord(at, unpadded.blocks).seq).toBe(1) // a follower cannot tell
    catchTyped(() => openEvent(threadKey.read, verifyRecord(at, unpadded.blocks)), MalformedRecordError)
    const zeros = craftRecord(logKey, threadKey, thread, { bodyPadded: new Uint8Array(64) })
    catchTyped(() => openEvent(threadKey.read, verifyRecord(at, zeros.blocks)), MalformedRecordError)
    const empty = craftRecord(logKey, threadKey, thread, { bodyPadded: new Uint8Array(0) })
    catchTyped(() => openEvent(threadKey.read, verifyRecord(at, empty.blocks)), MalformedRecordError)
    const marker81 = new Uint8Array(64)
    marker81.set(plain)
    marker81[plain.length] = 0x81
    catchTyped(() => openEvent(threadKey.read, verifyRecord(at, craftRecord(logKey, threadKey, thread, { bodyPadded: marker81 }).blocks)), MalformedRecordError)
    // An unpadded body that happens to end in 0x80 opens to its bytes before the marker.
    const endsIn80 = craftRecord(logKey, threadKey, thread, { bodyPadded: Uint8Array.from([...plain, 0x80]) })
    expect(hex(openEvent(threadKey.read, verifyRecord(at, endsIn80.blocks)).body)).toBe(hex(plain))
  })
})

describe('chains', () => {
  const original = getCrypto()
  afterEach(() => setCrypto(original))

  it('count seq from 1 and link each record to the identity of the one before', () => {
    expect(chain.map((r) => r.seq)).toEqual([1, 2, 3, 4, 5, 6])
    expect(first.prev).toBeUndefined()
    for (let i = 1; i < chain.length; i++) {
      expect(recordAt(i).prev?.equals(recordAt(i - 1).id)).toBe(true)
      expect(recordAt(i).prev?.equals(recordAt(i - 1).cid)).toBe(false)
    }
  })

  it('verifyChain accepts the whole log from seq 1', () => {
    const verified = verifyChain(at, chain.map(recordBlocks))
    expect(verified.map((r) => r.id.toString())).toEqual(chain.map((r) => r.id.toString()))
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
    const run = makeChain(key, threadKey, thread, 8).map(recordBlocks)
    const ctx = ctxFor(key.id)
    expect(verifyChain(ctx, run)).toHaveLength(8)
    expect(verifications).toBe(1)
    for (const blocks of run) verifyRecord(ctx, blocks)
    expect(verifications).toBe(9)
    verifyChain(ctx, run, { skipSignature: true })
    expect(verifications).toBe(9)
  })

  it('verifyChain continues a known head with `after`', () => {
    const head = headOf(recordAt(2))
    const rest = verifyChain(at, chain.slice(3).map(recordBlocks), { after: head })
    expect(rest.map((r) => r.seq)).toEqual([4, 5, 6])
    const one = verifyRecord(at, blocksOf(3), { after: head })
    expect(one.prev?.equals(head.id)).toBe(true)
    expect(verifyChain(at, [], { after: head })).toEqual([])
  })

  it('createRecord continues a head given as prev', () => {
    const head = headOf(recordAt(5))
    const next = createRecord({ logKey, threadKey, thread, body: encodeCommand({ type: 'x' }), clock: 99, time: 0, prev: head })
    expect(next.seq).toBe(7)
    expect(next.prev?.equals(head.id)).toBe(true)
    expect(verifyRecord(at, recordBlocks(next), { after: head }).seq).toBe(7)
  })

  it('verifyRecord with a precomputed recordDigest gives the same record', () => {
    const b = blocksOf(2)
    const r = verifyRecord(at, b, { recordDigest: getCrypto().sha256(b.record), after: headOf(recordAt(1)) })
    expect(r.cid.equals(recordAt(2).cid)).toBe(true)
    expect(r.id.equals(recordAt(2).id)).toBe(true)
  })
})

describe('linksHead and signatureHolds', () => {
  it('linksHead: seq 1 without prev starts a log; later records continue their head by identity', () => {
    expect(linksHead(first, undefined)).toBe(true)
    expect(linksHead(recordAt(1), undefined)).toBe(false)
    expect(linksHead(first, headOf(first))).toBe(false)
    for (let i = 1; i < chain.length; i++) {
      expect(linksHead(recordAt(i), headOf(recordAt(i - 1)))).toBe(true)
      expect(linksHead(recordAt(i), { id: recordAt(i - 1).cid, seq: i })).toBe(false) // the record block's CID is not the head
      expect(linksHead(recordAt(i), { id: recordAt(i - 1).id, seq: i + 1 })).toBe(false)
    }
    expect(linksHead(recordAt(3), headOf(recordAt(1)))).toBe(false)
    expect(linksHead({ seq: 1, prev: first.id }, undefined)).toBe(false)
  })

  it('signatureHolds recomputes the statement from the fields', () => {
    for (const r of chain) expect(signatureHolds(thread, r)).toBe(true)
    const second = recordAt(1)
    expect(signatureHolds(thread, { ...second, seq: 3 })).toBe(false)
    expect(signatureHolds(thread, { ...second, prev: recordAt(2).id })).toBe(false)
    expect(signatureHolds(thread, { ...second, prev: undefined })).toBe(false)
    expect(signatureHolds(thread, { ...second, eventCid: first.eventCid })).toBe(false)
    expect(signatureHolds(thread, { ...second, sig: flip(second.sig, 63) })).toBe(false)
    expect(signatureHolds(thread, { ...second, logId: generateLogKey().id })).toBe(false)
    expect(signatureHolds(ThreadId.create(), second)).toBe(false)
  })
})

describe('rejections', () => {
  it('a record block that does not open with another service key: DecryptionError', () => {
    for (let i = 0; i < chain.length; i++) catchTyped(() => verifyRecord(ctxFor(logKey.id, createThreadKey().service), blocksOf(i)), DecryptionError)
    catchTyped(() => verifyRecord(ctxFor(logKey.id, threadKey.read), blocksOf(0)), DecryptionError)
  })

  it('a changed byte in the record block: DecryptionError (or MalformedRecordError in its CBOR head)', () => {
    const b = blocksOf(1)
    for (let i = 0; i < b.record.length; i++) {
      const name = typedErrorName(() => verifyRecord(at, { ...b, record: flip(b.record, i) }))
      expect(i < 2 ? ['MalformedRecordError', 'DecryptionError'] : ['DecryptionError']).toContain(name)
    }
  })

  it.each(['event', 'header', 'body'] as const)('a tampered %s block: CidMismatchError', (which) => {
    const b = blocksOf(2)
    const bytes = b[which]
    for (const i of [0, 1, 2, Math.floor(bytes.length / 2), bytes.length - 1]) {
      const e = catchTyped(() => verifyRecord(at, { ...b, [which]: flip(bytes, i, 0x40) }), CidMismatchError)
      expect(e.seq).toBe(3)
      expect(e.message).toContain(which)
    }
    // Truncated and extended too.
    catchTyped(() => verifyRecord(at, { ...b, [which]: bytes.subarray(0, bytes.length - 1) }), CidMismatchError)
    catchTyped(() => verifyRecord(at, { ...b, [which]: Uint8Array.from([...bytes, 0]) }), CidMismatchError)
  })

  it('blocks of another record spliced in: CidMismatchError', () => {
    const a = blocksOf(1)
    const b = blocksOf(2)
    for (const which of ['event', 'header', 'body'] as const) {
      catchTyped(() => verifyRecord(at, { ...a, [which]: b[which] }), CidMismatchError)
    }
    catchTyped(() => verifyRecord(at, { ...a, record: b.record }), CidMismatchError)
    catchTyped(() => verifyRecord(at, { ...a, header: a.body, body: a.header }), CidMismatchError)
  })

  it('a wrong-signer log ID: BadSignatureError', () => {
    const other = generateLogKey()
    for (let i = 0; i < chain.length; i++) {
      const e = catchTyped(() => verifyRecord(ctxFor(other.id), blocksOf(i)), BadSignatureError)
      expect(e.logId).toBe(other.id)
      expect(e.seq).toBe(i + 1)
    }
    catchTyped(() => verifyChain(ctxFor(other.id), chain.map(recordBlocks)), BadSignatureError)
    // And the other way round: log B's records claiming log A.
    const theirs = makeChain(other, threadKey, thread, 2)
    catchTyped(() => verifyRecord(at, recordBlocks(theirs[1] as LogRecord)), BadSignatureError)
  })

  it('block fields that are not bytes: MalformedRecordError, never a TypeError', () => {
    const b = blocksOf(1)
    for (const which of ['record', 'event', 'header', 'body'] as const) {
      for (const value of [42, 'text', null, undefined, [1, 2], { length: 3 }]) {
        const blocks = { ...b, [which]: value } as unknown as RecordBlocks
        expect([which, value, typedErrorName(() => verifyRecord(at, blocks))]).toEqual([which, value, 'MalformedRecordError'])
      }
    }
    for (const blocks of [null, 42, 'blocks', [b.record, b.event, b.header, b.body]]) {
      catchTyped(() => verifyRecord(at, blocks as unknown as RecordBlocks), MalformedRecordError)
    }
  })

  it('a log ID that is not an Ed25519 peer ID: a typed error', () => {
    expect(() => verifyRecord(ctxFor('not-a-peer-id'), blocksOf(0))).toThrow(ThreadsError)
  })

  it('wrong seq or wrong prev against `after`: BrokenChainError', () => {
    const r3 = blocksOf(3)
    const head = headOf(recordAt(2))
    catchTyped(() => verifyRecord(at, r3, { after: { id: head.id, seq: 5 } }), BrokenChainError)
    catchTyped(() => verifyRecord(at, r3, { after: { id: head.id, seq: 2 } }), BrokenChainError)
    const e = catchTyped(() => verifyRecord(at, r3, { after: { id: recordAt(1).id, seq: 3 } }), BrokenChainError)
    expect(e.message).toContain(recordAt(1).id.toString())
    // The head named by its record block's CID instead of its identity.
    catchTyped(() => verifyRecord(at, r3, { after: { id: recordAt(2).cid, seq: 3 } }), BrokenChainError)
    // A first record after a head, and the head itself again.
    catchTyped(() => verifyRecord(at, blocksOf(0), { after: headOf(first) }), BrokenChainError)
    catchTyped(() => verifyRecord(at, blocksOf(2), { after: head }), BrokenChainError)
  })

  it('in verifyChain: a tampered middle record, a gap, a swap, a repeat, a fork: typed errors', () => {
    const run = chain.map(recordBlocks)
    const tampered = run.map((b, i) => (i === 2 ? { ...b, body: flip(b.body, 20) } : b))
    catchTyped(() => verifyChain(at, tampered), CidMismatchError)
    const withGap = [...run.slice(0, 2), ...run.slice(3)]
    catchTyped(() => verifyChain(at, withGap), BrokenChainError)
    const swapped = [run[0], run[2], run[1], run[3]] as RecordBlocks[]
    catchTyped(() => verifyChain(at, swapped), BrokenChainError)
    const repeated = [run[0], run[1], run[1], run[2]] as RecordBlocks[]
    catchTyped(() => verifyChain(at, repeated), BrokenChainError)
    // A re-sealed copy repeated is a repeat too.
    const repeatedCopy = [run[0], run[1], reseal(threadKey.service, run[1] as RecordBlocks), run[2]] as RecordBlocks[]
    catchTyped(() => verifyChain(at, repeatedCopy), BrokenChainError)
    // A different, validly signed seq 3 from the same writer: the next record does not link it.
    const fork = makeChain(logKey, threadKey, thread, 1, headOf(recordAt(1)), 'fork')[0] as LogRecord
    const forked = [run[0], run[1], recordBlocks(fork), run[3]] as RecordBlocks[]
    catchTyped(() => verifyChain(at, forked), BrokenChainError)
    catchTyped(() => verifyChain(at, run.slice(2), { after: headOf(first) }), BrokenChainError)
  })

  it('in verifyChain: a middle record re-sealed with a forged signature keeps its identity; only the newest signature is checked', () => {
    const run = chain.slice(0, 3).map(recordBlocks)
    const node = nodeOf(recordAt(1).blocks.record.bytes)
    const forgedSig = new Uint8Array(64).fill(7)
    const forged = { ...(run[1] as RecordBlocks), record: sealRecordNode(threadKey.service, { ...node, sig: forgedSig }) }
    // The forged record alone: its signature is checked, and fails.
    catchTyped(() => verifyRecord(at, forged), BadSignatureError)
    catchTyped(() => verifyChain(at, [run[0] as RecordBlocks, forged]), BadSignatureError)
    // In the middle its signature is skipped. The signature is not part of the identity, so the
    // newest record's signed prev still links it: the run is the honest run, but the record
    // returned carries the unchecked signature (callers that keep it check it: signatureHolds).
    const out = verifyChain(at, [run[0] as RecordBlocks, forged, run[2] as RecordBlocks])
    expect(out.map((r) => r.id.toString())).toEqual(chain.slice(0, 3).map((r) => r.id.toString()))
    const middle = out[1] as LogRecord
    expect(hex(middle.sig)).toBe(hex(forgedSig))
    expect(signatureHolds(thread, middle)).toBe(false)
    expect(signatureHolds(thread, out[2] as LogRecord)).toBe(true)
  })

  it('in verifyChain: a middle record re-sealed with another event or seq is caught by the identity link', () => {
    const run = chain.slice(0, 3).map(recordBlocks)
    const node = nodeOf(recordAt(1).blocks.record.bytes)
    const otherEvent = { ...recordBlocks(recordAt(4)), record: sealRecordNode(threadKey.service, { ...node, block: recordAt(4).eventCid }) }
    catchTyped(() => verifyChain(at, [run[0] as RecordBlocks, otherEvent, run[2] as RecordBlocks]), BrokenChainError)
  })

  it('oversized blocks: TooLargeError', () => {
    const b = blocksOf(0)
    catchTyped(() => verifyRecord(at, { ...b, body: new Uint8Array(MAX_BODY_BYTES + 1) }), TooLargeError)
    catchTyped(() => verifyRecord(at, { ...b, header: new Uint8Array(MAX_NODE_BYTES + 1) }), TooLargeError)
    catchTyped(() => verifyRecord(at, { ...b, record: new Uint8Array(MAX_NODE_BYTES + 1) }), TooLargeError)
    // An event node may carry a service key rotation: its bound is MAX_EVENT_BYTES.
    const bigEvent = encryptBlock(threadKey.service, new Uint8Array(MAX_EVENT_BYTES))
    const crafted = craftRecord(logKey, threadKey, thread, { eventBytes: () => bigEvent.bytes })
    catchTyped(() => verifyRecord(at, crafted.blocks), TooLargeError)
  })

  it('createRecord refuses a command over the limit: TooLargeError', () => {
    catchTyped(() => createRecord({ logKey, threadKey, thread, body: new Uint8Array(MAX_COMMAND_BYTES + 1), clock: 1, time: 1 }), TooLargeError)
    catchTyped(() => createRecord({ logKey, threadKey, thread, body: new Uint8Array(MAX_BODY_BYTES), clock: 1, time: 1 }), TooLargeError)
  })

  it('a command at the limit, padded, still fits a body block', () => {
    const r = createRecord({ logKey, threadKey, thread, body: new Uint8Array(MAX_COMMAND_BYTES), clock: 1, time: 1 })
    expect(r.blocks.body.bytes.length).toBeLessThanOrEqual(MAX_BODY_BYTES)
    const verified = verifyRecord(at, recordBlocks(r))
    expect(verified.seq).toBe(1)
    expect(openEvent(threadKey.read, verified).body.length).toBe(MAX_COMMAND_BYTES)
  })
})

describe('rejections of records built by hand (a key holder, or the writer itself)', () => {
  const verify = (blocks: RecordBlocks, after?: LogHead): LogRecord => verifyRecord(at, blocks, after === undefined ? {} : { after })

  it('the helper builds a valid record when nothing is changed, with the identity computed by hand', () => {
    const c = craftRecord(logKey, threadKey, thread)
    const r = verify(c.blocks)
    expect(r.id.equals(c.id)).toBe(true)
    expect(decodeCommand(openEvent(threadKey.read, r).body)).toEqual({ type: 'test/crafted' })
    const next = craftRecord(logKey, threadKey, thread, { prev: headOf(r) })
    expect(verify(next.blocks, headOf(r)).id.equals(next.id)).toBe(true)
  })

  it('a record node of format 1 ({ seq, sig, prev?, block }, no v): UnsupportedFormatError', () => {
    // Signed as format 1 signed (CID(event) ‖ CID(prev)), and as format 2: refused either way, by its shape.
    const v1 = craftRecord(logKey, threadKey, thread, { recordPlain: (h) => formatOneNode(h), signed: () => first.eventCid.bytes })
    const e = catchTyped(() => verify(v1.blocks), UnsupportedFormatError)
    expect(e.message).toContain('format 1')
    expect(e.logId).toBe(logKey.id)
    const v1New = craftRecord(logKey, threadKey, thread, { recordPlain: (h) => formatOneNode(h) })
    catchTyped(() => verify(v1New.blocks), UnsupportedFormatError)
    // With a prev: format 1 linked the previous record block's dag-cbor CID.
    const withPrev = craftRecord(logKey, threadKey, thread, { prev: headOf(first), recordPlain: (h) => formatOneNode({ ...h, prev: first.cid }) })
    const bytes = recordPlainOf(threadKey.service, withPrev.blocks.record)
    expect(hex(bytes.subarray(0, 5))).toBe('a463736571') // map(4) "seq": the format-1 shape
    catchTyped(() => verify(withPrev.blocks), UnsupportedFormatError)
    catchTyped(() => verify(withPrev.blocks, headOf(first)), UnsupportedFormatError)
    const noPrevBytes = recordPlainOf(threadKey.service, v1.blocks.record)
    expect(hex(noPrevBytes.subarray(0, 5))).toBe('a363736571') // map(3) "seq"
  })

  it('a record node of another version: UnsupportedFormatError', () => {
    for (const v of [0, 1, 3, 23, 24, 255]) {
      const c = craftRecord(logKey, threadKey, thread, { recordNode: (h) => nodeValue({ ...h, v }) })
      const e = catchTyped(() => verify(c.blocks), UnsupportedFormatError)
      expect(e.message).toContain(`format ${v}`)
    }
  })

  it('a version that is not an integer: MalformedRecordError', () => {
    for (const v of ['2', 2.5, null, -2, new Uint8Array(1)]) {
      const c = craftRecord(logKey, threadKey, thread, { recordNode: (h) => ({ ...nodeValue(h), v }) })
      expect([v, typedErrorName(() => verify(c.blocks))]).toEqual([v, 'MalformedRecordError'])
    }
  })

  it('a signed event node with a non-minimal length header: MalformedRecordError', () => {
    const honest = craftRecord(logKey, threadKey, thread).event.bytes
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
      const c = craftRecord(logKey, threadKey, thread, { eventBytes: (links) => rewrite(dagCbor.encode(links)) })
      const e = catchTyped(() => verify(c.blocks), MalformedRecordError)
      expect(e.message).toContain('event node')
    }
  })

  it('a signed event node with its keys out of canonical order: MalformedRecordError', () => {
    const c = craftRecord(logKey, threadKey, thread, {
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
    catchTyped(() => verify(craftRecord(logKey, threadKey, thread, { headerBlock: longer }).blocks), MalformedRecordError)
    catchTyped(() => verify(craftRecord(logKey, threadKey, thread, { bodyBlock: longer }).blocks), MalformedRecordError)
  })

  it('a header or body block that is not a byte string: MalformedRecordError', () => {
    catchTyped(() => verify(craftRecord(logKey, threadKey, thread, { headerBlock: () => dagCbor.encode({ not: 'bytes' }) }).blocks), MalformedRecordError)
    catchTyped(() => verify(craftRecord(logKey, threadKey, thread, { bodyBlock: () => dagCbor.encode('text') }).blocks), MalformedRecordError)
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
    const rawCid = CID.createV1(0x55, first.blocks.event.cid.multihash)
    const sha512Cid = CID.createV1(0x71, Digest.create(0x13, new Uint8Array(64).fill(3)))
    const v = 2
    const shapes: [string, (h: HonestNode) => unknown][] = [
      ['an extra field', (h) => ({ v, block: h.block, sig: h.sig, seq: h.seq, extra: 1 })],
      ['no sig', (h) => ({ v, block: h.block, seq: h.seq })],
      ['no seq', (h) => ({ v, block: h.block, sig: h.sig })],
      ['no block', (h) => ({ v, sig: h.sig, seq: h.seq })],
      ['a 63-byte sig', (h) => ({ v, block: h.block, sig: h.sig.subarray(0, 63), seq: h.seq })],
      ['a 65-byte sig', (h) => ({ v, block: h.block, sig: Uint8Array.from([...h.sig, 0]), seq: h.seq })],
      ['a text sig', (h) => ({ v, block: h.block, sig: 'sig', seq: h.seq })],
      ['seq 0', (h) => ({ v, block: h.block, sig: h.sig, seq: 0 })],
      ['seq -1', (h) => ({ v, block: h.block, sig: h.sig, seq: -1 })],
      ['seq 1.5', (h) => ({ v, block: h.block, sig: h.sig, seq: 1.5 })],
      ['seq "1"', (h) => ({ v, block: h.block, sig: h.sig, seq: '1' })],
      ['seq 2^60 (a BigInt when decoded)', (h) => ({ v, block: h.block, sig: h.sig, seq: 2n ** 60n })],
      ['block as bytes', (h) => ({ v, block: h.block.bytes, sig: h.sig, seq: h.seq })],
      ['block with the raw codec', (h) => ({ v, block: rawCid, sig: h.sig, seq: h.seq })],
      ['block hashed with sha2-512', (h) => ({ v, block: sha512Cid, sig: h.sig, seq: h.seq })],
      ['block as a CIDv0', (h) => ({ v, block: CID.createV0(h.block.multihash as Parameters<typeof CID.createV0>[0]), sig: h.sig, seq: h.seq })],
      ['prev null', (h) => ({ v, block: h.block, sig: h.sig, prev: null, seq: 2 })],
      ['prev as text', (h) => ({ v, block: h.block, sig: h.sig, prev: 'bafy', seq: 2 })],
      ['prev as a dag-cbor CID (format 1 linked record blocks)', (h) => ({ v, block: h.block, sig: h.sig, prev: first.cid, seq: 2 })],
      ['prev as raw bytes', (h) => ({ v, block: h.block, sig: h.sig, prev: first.id.bytes, seq: 2 })],
      ['an array', (h) => [v, h.block, h.sig, h.seq]],
      ['a byte string', (h) => h.sig],
      ['null', () => null],
      ['a number', () => 1],
      ['an empty map', () => ({})]
    ]
    for (const [what, node] of shapes) {
      const c = craftRecord(logKey, threadKey, thread, { recordNode: node })
      expect([what, typedErrorName(() => verify(c.blocks))]).toEqual([what, 'MalformedRecordError'])
    }
  })

  it('a record node that is not canonical dag-cbor inside its encryption: MalformedRecordError', () => {
    const c = craftRecord(logKey, threadKey, thread)
    const canonical = recordPlainOf(threadKey.service, c.blocks.record)
    expect(canonical[0]).toBe(0xa4)
    const nonMinimal = Uint8Array.from([0xb8, 0x04, ...canonical.subarray(1)])
    catchTyped(() => verify({ ...c.blocks, record: encryptBlock(threadKey.service, nonMinimal).bytes }), MalformedRecordError)
    // "v": 2 written with a 1-byte integer head.
    const longV = Uint8Array.from([...canonical.subarray(0, 3), 0x18, 0x02, ...canonical.subarray(4)])
    catchTyped(() => verify({ ...c.blocks, record: encryptBlock(threadKey.service, longV).bytes }), MalformedRecordError)
    // Keys in insertion order instead of dag-cbor's (length first).
    const unsorted = Uint8Array.from([0xa4, ...dagCbor.encode({ block: c.event.cid }).subarray(1), ...canonical.subarray(1, canonical.length - 47)])
    catchTyped(() => verify({ ...c.blocks, record: encryptBlock(threadKey.service, unsorted).bytes }), MalformedRecordError)
    const notCbor = encryptBlock(threadKey.service, Uint8Array.of(0xff, 0x00)).bytes
    catchTyped(() => verify({ ...c.blocks, record: notCbor }), MalformedRecordError)
    const trailing = encryptBlock(threadKey.service, Uint8Array.from([...canonical, 0xf6])).bytes
    catchTyped(() => verify({ ...c.blocks, record: trailing }), MalformedRecordError)
  })

  it('seq and prev must agree: seq 1 has no prev, later records have one: BrokenChainError', () => {
    const c = craftRecord(logKey, threadKey, thread, { recordNode: (h) => nodeValue({ ...h, prev: first.id, seq: 1 }) })
    catchTyped(() => verify(c.blocks), BrokenChainError)
    const d = craftRecord(logKey, threadKey, thread, { recordNode: (h) => nodeValue({ ...h, prev: undefined, seq: 2 }) })
    catchTyped(() => verify(d.blocks), BrokenChainError)
  })

  it('a re-sealed record that claims another seq: BrokenChainError against the head, BadSignatureError alone', () => {
    const node = nodeOf(blocksOf(3).record)
    const forged = { ...blocksOf(3), record: sealRecordNode(threadKey.service, { ...node, seq: 9 }) }
    catchTyped(() => verify(forged, headOf(recordAt(2))), BrokenChainError)
    // The seq is signed now: without a head, the statement with seq 9 does not verify.
    catchTyped(() => verify(forged), BadSignatureError)
  })

  it('a re-sealed record that claims another prev: BadSignatureError (prev is signed)', () => {
    const node = nodeOf(blocksOf(3).record)
    const forged = { ...blocksOf(3), record: sealRecordNode(threadKey.service, { ...node, prev: recordAt(1).id }) }
    catchTyped(() => verify(forged), BadSignatureError)
    catchTyped(() => verify(forged, headOf(recordAt(1))), BrokenChainError)
  })

  it('a record signed over other bytes than its statement: BadSignatureError', () => {
    const signers: [string, (s: Uint8Array) => Uint8Array][] = [
      ['the statement without its domain', (s) => s.subarray(23)],
      ['another domain', (s) => concat([new TextEncoder().encode('redux-threads/record/v1'), s.subarray(23)])],
      ['the statement and a byte more', (s) => concat([s, Uint8Array.of(0)])]
    ]
    for (const [what, signed] of signers) {
      const c = craftRecord(logKey, threadKey, thread, { signed })
      expect([what, typedErrorName(() => verify(c.blocks))]).toEqual([what, 'BadSignatureError'])
    }
    const otherThread = craftRecord(logKey, threadKey, thread, { signThread: ThreadId.create() })
    catchTyped(() => verify(otherThread.blocks), BadSignatureError)
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
      const c = craftRecord(logKey, threadKey, thread, { eventBytes: (l) => dagCbor.encode(value(l)) })
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
      ['a number', 7],
      ['txn 0', { key, clock: 1, time: 1, txn: 0 }],
      ['txn -1', { key, clock: 1, time: 1, txn: -1 }],
      ['txn 1.5', { key, clock: 1, time: 1, txn: 1.5 }],
      ['txn "1"', { key, clock: 1, time: 1, txn: '1' }],
      ['txn null', { key, clock: 1, time: 1, txn: null }]
    ]
    for (const [what, header] of shapes) {
      const c = craftRecord(logKey, threadKey, thread, { contentKey: key, header })
      const r = verify(c.blocks) // the header is encrypted: only a reader can check it
      expect([what, typedErrorName(() => openEvent(threadKey.read, r))]).toEqual([what, 'MalformedRecordError'])
    }
    const notCbor = craftRecord(logKey, threadKey, thread, { headerPlain: Uint8Array.of(0xff) })
    catchTyped(() => openEvent(threadKey.read, verify(notCbor.blocks)), MalformedRecordError)
  })

  it('a body that does not open with the content key of its header: DecryptionError', () => {
    const c = craftRecord(logKey, threadKey, thread, { bodyKey: new Uint8Array(32).fill(9) })
    catchTyped(() => openEvent(threadKey.read, verify(c.blocks)), DecryptionError)
  })
})

describe('equivocationBetween', () => {
  const kept = { ...headOf(recordAt(1)), logId: logKey.id }

  it('a copy of the kept record, however sealed, is no equivocation: undefined', () => {
    expect(equivocationBetween(kept, verifyRecord(at, blocksOf(1)))).toBeUndefined()
    expect(equivocationBetween(kept, verifyRecord(at, reseal(threadKey.service, blocksOf(1))))).toBeUndefined()
    expect(equivocationBetween(kept, { id: CID.parse(recordAt(1).id.toString()) })).toBeUndefined()
  })

  it('a different record with the same seq is an equivocation naming both identities', () => {
    const other = makeChain(logKey, threadKey, thread, 1, headOf(first), 'other')[0] as LogRecord
    expect(other.seq).toBe(kept.seq)
    const e = equivocationBetween(kept, other, thread.toString())
    expect(e).toBeInstanceOf(EquivocationError)
    expect(e?.name).toBe('EquivocationError')
    expect(e?.message).toContain(kept.id.toString())
    expect(e?.message).toContain(other.id.toString())
    expect(e?.cid).toBe(other.id.toString())
    expect(e?.seq).toBe(2)
    expect(e?.logId).toBe(logKey.id)
    expect(e?.threadId).toBe(thread.toString())
    expect(equivocationBetween(kept, other)?.threadId).toBeUndefined()
  })

  it('compares identities only, never record block CIDs', () => {
    // Named by a record block CID, the kept record would look different from itself.
    expect(equivocationBetween({ id: recordAt(1).cid, seq: 2, logId: logKey.id }, recordAt(1))).toBeInstanceOf(EquivocationError)
  })
})

describe('followers (service key only)', () => {
  const follow = followKey(threadKey)
  const followAt = ctxFor(logKey.id, follow.service)

  it('verify records and whole runs', () => {
    expect(follow.read).toBeUndefined()
    const verified = verifyChain(followAt, chain.map(recordBlocks))
    expect(verified).toHaveLength(chain.length)
    expect(verifyRecord(followAt, blocksOf(4), { after: headOf(recordAt(3)) }).seq).toBe(5)
  })

  it('cannot open events: DecryptionError', () => {
    const r = verifyRecord(followAt, blocksOf(0))
    const e = catchTyped(() => openEvent(follow.read, r), DecryptionError)
    expect(e.message).toContain('no read key')
    // The service key is not the read key.
    catchTyped(() => openEvent(follow.service, r), DecryptionError)
  })

  it('cannot write: createRecord throws DecryptionError', () => {
    catchTyped(() => createRecord({ logKey, threadKey: follow, thread, body: encodeCommand({ type: 'x' }), clock: 1, time: 1 }), DecryptionError)
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
