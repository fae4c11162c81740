/**
 * Issue 8 §11: a committed transaction is applied whole on every peer, however it travels: cut
 * across pull pages, pushed one record at a time, in any order, or read back after a restart
 * in the middle of it. Its commit record follows its commands in the writer's log; until it is
 * there, none of the transaction's events applies.
 */
import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { memoryStorage } from '../../adapters/storage/memory.js'
import { generateLogKey } from '../../src/core/keys.js'
import { MAX_TXN_RECORDS, TXN_COMMIT } from '../../src/engine/transactions.js'
import { blocksOf, newThread, openEngine, openWriter } from '../support/engines.js'
import { rng, shuffle } from '../unit/redux/fixtures.js'

/** A bank: a debit and a credit that must never be seen apart. */
async function transfer(): Promise<{ thread: ReturnType<typeof newThread>; logId: string; blocks: Awaited<ReturnType<typeof blocksOf>> }> {
  const thread = newThread()
  const writer = await openWriter(thread)
  writer.engine.command({ type: 'test/added', payload: 'open' })
  const { durable } = writer.engine.transaction(() => {
    for (const p of ['debit A', 'x1', 'x2', 'x3', 'credit B']) writer.engine.command({ type: 'test/added', payload: p })
  })
  await durable
  writer.engine.command({ type: 'test/added', payload: 'after' })
  await writer.engine.flush()
  expect(writer.engine.state).toEqual(['open', 'debit A', 'x1', 'x2', 'x3', 'credit B', 'after'])
  return { thread, logId: writer.logKey!.id, blocks: await blocksOf(writer, writer.logKey!.id) }
}

describe('transactions applied whole (issue 8 §11)', () => {
  it('a pull page that ends inside the transaction shows none of it, the next page all of it', async () => {
    const { thread, logId, blocks } = await transfer()
    // open, 5 commands, commit, after: 8 records; the first page ends after "x1".
    expect(blocks).toHaveLength(8)
    const peer = await openEngine(thread)
    await peer.engine.ingest(logId, blocks.slice(0, 3))
    expect(peer.engine.state).toEqual(['open'])
    await peer.engine.ingest(logId, blocks.slice(3, 6))
    expect(peer.engine.state).toEqual(['open'])
    await peer.engine.ingest(logId, blocks.slice(6))
    expect(peer.engine.state).toEqual(['open', 'debit A', 'x1', 'x2', 'x3', 'credit B', 'after'])
  })

  it('holds in every delivery order and chunking (property)', async () => {
    const { thread, logId, blocks } = await transfer()
    await fc.assert(
      fc.asyncProperty(fc.nat(), async (seed) => {
        const random = rng(seed)
        const peer = await openEngine(thread)
        const mixed = shuffle([...blocks, ...blocks.filter(() => random() < 0.3)], random)
        for (let i = 0; i < mixed.length; ) {
          const n = 1 + Math.floor(random() * 3)
          await peer.engine.ingest(logId, mixed.slice(i, i + n))
          i += n
          const s = peer.engine.state
          // Never the debit without the credit.
          expect(s.includes('debit A')).toBe(s.includes('credit B'))
        }
        expect(peer.engine.state).toEqual(['open', 'debit A', 'x1', 'x2', 'x3', 'credit B', 'after'])
      }),
      { numRuns: 30, seed: 11 }
    )
  })

  it('a restart in the middle of a received transaction keeps it waiting, then applies it whole', async () => {
    const { thread, logId, blocks } = await transfer()
    const storage = memoryStorage()
    const reader = generateLogKey()
    const peer = await openEngine(thread, { storage, logKey: reader, engine: { snapshotEvery: 1 } })
    await peer.engine.ingest(logId, blocks.slice(0, 4))
    await peer.engine.flush()
    expect(peer.engine.state).toEqual(['open'])
    const again = await openEngine(thread, { storage, engine: { snapshotEvery: 1 } })
    expect(again.engine.state).toEqual(['open'])
    await again.engine.ingest(logId, blocks.slice(4))
    expect(again.engine.state).toEqual(['open', 'debit A', 'x1', 'x2', 'x3', 'credit B', 'after'])
  })

  it('the commit record changes no state and reaches no listener as an action', async () => {
    const { thread, logId, blocks } = await transfer()
    const peer = await openEngine(thread)
    const types: string[] = []
    peer.engine.events.on('applied', ({ events }) => types.push(...events.map((e) => e.command.type)))
    await peer.engine.ingest(logId, blocks)
    expect(types).not.toContain(TXN_COMMIT)
    expect(types).toHaveLength(7)
  })

  it('an aborted transaction leaves nothing, and one too large is refused when made', async () => {
    const thread = newThread()
    const writer = await openWriter(thread)
    expect(() =>
      writer.engine.transaction(() => {
        writer.engine.command({ type: 'test/added', payload: 'half' })
        throw new Error('abort')
      })
    ).toThrow('abort')
    expect(writer.engine.state).toEqual([])
    expect(() =>
      writer.engine.transaction(() => {
        for (let i = 0; i < MAX_TXN_RECORDS; i++) writer.engine.command({ type: 'test/added', payload: String(i) })
      })
    ).toThrow(expect.objectContaining({ name: 'TooLargeError' }))
    expect(writer.engine.state).toEqual([])
    await writer.engine.flush()
    expect(await blocksOf(writer, writer.logKey!.id)).toEqual([])
  })
})
