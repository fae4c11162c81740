/**
 * The exact copies an engine stored lately: a byte-for-byte duplicate costs two hashes, a
 * re-sealed or altered copy is not taken for one; two generations bound the memory.
 */
import { describe, expect, it } from 'vitest'
import { blockOf, boxOf, encryptBlock, openBox } from '../../../src/core/block.js'
import { getCrypto } from '../../../src/core/crypto/index.js'
import { createThreadKey, generateLogKey } from '../../../src/core/keys.js'
import { recordBlocks, type LogRecord, type RecordBlocks } from '../../../src/core/record.js'
import { ThreadId } from '../../../src/core/threadId.js'
import { SEEN_GENERATION, SeenRecords } from '../../../src/engine/seenRecords.js'
import { makeRecords } from '../store/storeHelpers.js'

const thread = ThreadId.create()
const threadKey = createThreadKey()
const logKey = generateLogKey()
const rs = makeRecords(thread, logKey, threadKey, 3)

/** A stand-in record: only its blocks matter to SeenRecords (cheap enough for 30,000). */
function fake(n: number): LogRecord {
  const bytes = new Uint8Array(8)
  new DataView(bytes.buffer).setFloat64(0, n)
  const r = rs[0]!.blocks
  return { blocks: { record: blockOf(bytes), event: r.event, header: r.header, body: r.body } } as unknown as LogRecord
}

describe('SeenRecords', () => {
  it('holds two generations of 16,384 entries', () => {
    expect(SEEN_GENERATION).toBe(16_384)
  })

  it('finds the exact blocks of a record it was told about, and returns the record block digest', () => {
    const seen = new SeenRecords()
    seen.add(rs[0]!)
    const hit = seen.check(recordBlocks(rs[0]!))
    expect(hit.duplicate).toBe(true)
    expect(hit.recordDigest).toEqual(rs[0]!.cid.multihash.digest)
  })

  it('does not know a record it was not told about, and still returns its digest for verification to reuse', () => {
    const seen = new SeenRecords()
    seen.add(rs[0]!)
    const miss = seen.check(recordBlocks(rs[1]!))
    expect(miss.duplicate).toBe(false)
    expect(miss.recordDigest).toEqual(rs[1]!.cid.multihash.digest)
    expect(miss.recordDigest).toEqual(getCrypto().sha256(rs[1]!.blocks.record.bytes))
  })

  it('does not take a re-sealed copy for a duplicate (another record block: found by identity later)', () => {
    const seen = new SeenRecords()
    seen.add(rs[0]!)
    const plain = openBox(threadKey.service, boxOf(rs[0]!.blocks.record.bytes, {}))!
    const copy: RecordBlocks = { ...recordBlocks(rs[0]!), record: encryptBlock(threadKey.service, plain).bytes }
    const r = seen.check(copy)
    expect(r.duplicate).toBe(false)
    expect(r.recordDigest).toEqual(getCrypto().sha256(copy.record))
  })

  it.each(['event', 'header', 'body'] as const)('does not take a copy whose %s block differs for a duplicate', (which) => {
    const seen = new SeenRecords()
    seen.add(rs[0]!)
    const altered = Uint8Array.from(rs[0]!.blocks[which].bytes)
    altered[altered.length - 1] = (altered[altered.length - 1] as number) ^ 1
    expect(seen.check({ ...recordBlocks(rs[0]!), [which]: altered }).duplicate).toBe(false)
    // Another record's block in its place is not the same record either.
    expect(seen.check({ ...recordBlocks(rs[0]!), [which]: rs[1]!.blocks[which].bytes }).duplicate).toBe(false)
  })

  it('answers anything that is not four byte arrays with "not a duplicate", without a digest', () => {
    const seen = new SeenRecords()
    seen.add(rs[0]!)
    const good = recordBlocks(rs[0]!)
    for (const bad of [undefined, null, 'blocks', 42, {}, { ...good, body: 'x' }, { ...good, record: [1, 2] }, { record: good.record }]) {
      expect(seen.check(bad as unknown as RecordBlocks)).toEqual({ duplicate: false })
    }
  })

  it('is bounded: an entry survives one generation change and is dropped at the second', () => {
    const seen = new SeenRecords()
    const first = fake(0)
    seen.add(first)
    for (let i = 1; i < SEEN_GENERATION; i++) seen.add(fake(i))
    // The first generation is full; the next add starts a new one, keeping this one as the previous.
    seen.add(fake(SEEN_GENERATION))
    expect(seen.check(recordBlocks(first)).duplicate).toBe(true)
    for (let i = SEEN_GENERATION + 1; i < 2 * SEEN_GENERATION; i++) seen.add(fake(i))
    expect(seen.check(recordBlocks(first)).duplicate).toBe(true)
    expect(seen.check(recordBlocks(fake(SEEN_GENERATION - 1))).duplicate).toBe(true)
    // The second generation is full: the next add drops the first whole.
    seen.add(fake(2 * SEEN_GENERATION))
    expect(seen.check(recordBlocks(first)).duplicate).toBe(false)
    expect(seen.check(recordBlocks(fake(SEEN_GENERATION - 1))).duplicate).toBe(false)
    for (const i of [SEEN_GENERATION, SEEN_GENERATION + 1, 2 * SEEN_GENERATION - 1, 2 * SEEN_GENERATION]) {
      expect(seen.check(recordBlocks(fake(i))).duplicate).toBe(true)
    }
  })
})
