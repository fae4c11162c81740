/**
 * Issue 7 §1: re-sealed and replayed records. A follower holds the service key, so it can open a
 * writer's record block and seal it again with a new nonce, or with another thread's service
 * key. Under record format 2 a record is what its writer signed (its identity), never how it was
 * sealed: a re-sealed copy is the same record, and a record of one thread does not verify in
 * another.
 */
import { describe, expect, it } from 'vitest'
import { generateLogKey } from '../../src/core/keys.js'
import { blocksOf, newThread, openEngine, openWriter, reseal, write } from '../support/engines.js'

describe('a re-sealed record (issue 7 §1)', () => {
  it('received before the writer’s next records does not freeze the log: all 8 records apply, nobody is blamed', async () => {
    const thread = newThread()
    const writer = await openWriter(thread)
    const blocks = await write(writer, 'a1', 'a2', 'a3', 'a4', 'a5', 'a6', 'a7', 'a8')
    const victim = await openEngine(thread)
    const logId = writer.logKey!.id
    // The follower's copy of the newest record (seq 4 at the time) arrives first…
    const copy = reseal(blocks[3]!, thread.key.service)
    expect(copy.record).not.toEqual(blocks[3]!.record)
    const first = await victim.engine.ingest(logId, [...blocks.slice(0, 3), copy])
    expect(first.rejected).toEqual([])
    expect(first.stored).toBe(4)
    // …then the writer's own records, which link the identity of seq 4, not its record block.
    const rest = await victim.engine.ingest(logId, blocks.slice(4))
    expect(rest.rejected).toEqual([])
    expect(victim.engine.state).toEqual(['a1', 'a2', 'a3', 'a4', 'a5', 'a6', 'a7', 'a8'])
    expect(victim.engine.heads().get(logId)).toEqual(writer.engine.heads().get(logId))
  })

  it('arriving after the original is a duplicate, not an equivocation', async () => {
    const thread = newThread()
    const writer = await openWriter(thread)
    const blocks = await write(writer, 'x', 'y')
    const peer = await openEngine(thread)
    const logId = writer.logKey!.id
    await peer.engine.ingest(logId, blocks)
    const again = await peer.engine.ingest(logId, blocks.map((b) => reseal(b, thread.key.service)))
    expect(again.rejected).toEqual([])
    expect(again.forks).toEqual([])
    expect(again.stored).toBe(0)
    expect(peer.engine.forks()).toEqual([])
    expect(peer.engine.state).toEqual(['x', 'y'])
  })

  it('sealed with a second thread’s service key cannot plant the writer’s seq 1 in a thread it never wrote to', async () => {
    const t1 = newThread()
    const t2 = newThread()
    const logKey = generateLogKey()
    const inT1 = await openWriter(t1, { logKey })
    const [stolen] = await write(inT1, 'meant for t1')
    // A follower of both threads re-seals it for t2 and pushes it there.
    const victim = await openEngine(t2)
    const planted = await victim.engine.ingest(logKey.id, [reseal(stolen!, t1.key.service, t2.key.service)])
    expect(planted.rejected.map((e) => e.name)).toEqual(['BadSignatureError'])
    expect(planted.stored).toBe(0)
    expect(victim.store.logstore.log(t2.threadId, logKey.id)).toBeUndefined()
    // The writer's real records in t2 are then taken, from seq 1.
    const inT2 = await openWriter(t2, { logKey })
    const real = await write(inT2, 'b1', 'b2')
    const taken = await victim.engine.ingest(logKey.id, real)
    expect(taken.rejected).toEqual([])
    expect(victim.engine.state).toEqual(['b1', 'b2'])
  })

  it('a re-sealed head in the middle of a pulled page still links: the chain is by identity', async () => {
    const thread = newThread()
    const writer = await openWriter(thread)
    const logId = writer.logKey!.id
    await write(writer, ...Array.from({ length: 20 }, (_, i) => `e${i + 1}`))
    const all = await blocksOf(writer, logId)
    const page = all.map((b, i) => (i % 3 === 0 ? reseal(b, thread.key.service) : b))
    const peer = await openEngine(thread)
    const result = await peer.engine.ingest(logId, page)
    expect(result.rejected).toEqual([])
    expect(peer.engine.state).toHaveLength(20)
  })
})
