/**
 * Issue 8 §14 and issue 7 §1: a CAR file goes through the same ingest path as the network. An
 * open thread sees what it imports (state, listeners, transactions whole), and a CAR whose head
 * record was re-sealed by a follower imports as the same records, after which the writer's next
 * records still link.
 */
import { describe, expect, it } from 'vitest'
import { exportThreadCarBytes } from '../../src/store/car.js'
import { newThread, openEngine, openWriter, reseal, write } from '../support/engines.js'
import { CarReader, CarWriter } from '@ipld/car'
import type { CID } from 'multiformats/cid'
import { concat } from 'uint8arrays/concat'
import { blockOf } from '../../src/core/block.js'

/** The same CAR with one block's bytes replaced (under a new CID where its links need it). */
async function withBlock(car: Uint8Array, replace: (cid: CID, bytes: Uint8Array) => { cid: CID; bytes: Uint8Array } | undefined): Promise<Uint8Array> {
  const reader = await CarReader.fromBytes(car)
  const roots = await reader.getRoots()
  const blocks: Array<{ cid: CID; bytes: Uint8Array }> = []
  for await (const b of reader.blocks()) blocks.push(replace(b.cid, b.bytes) ?? b)
  const { writer, out } = CarWriter.create(roots)
  const chunks: Uint8Array[] = []
  const collecting = (async () => {
    for await (const c of out) chunks.push(c)
  })()
  for (const b of blocks) await writer.put(b)
  await writer.close()
  await collecting
  return concat(chunks)
}

describe('CAR import through the ingest path (issue 8 §14)', () => {
  it('an open thread applies what it imports and tells its listeners', async () => {
    const thread = newThread()
    const writer = await openWriter(thread)
    await write(writer, 'a', 'b', 'c')
    writer.engine.transaction(() => {
      writer.engine.command({ type: 'test/added', payload: 'debit' })
      writer.engine.command({ type: 'test/added', payload: 'credit' })
    })
    await writer.engine.flush()
    const car = await exportThreadCarBytes(writer.store, thread.threadId)
    const reader = await openEngine(thread)
    const heard: string[] = []
    reader.engine.events.on('applied', ({ events }) => heard.push(...events.map((e) => String(e.command.payload))))
    const phases: string[] = []
    reader.engine.events.on('progress', (p) => phases.push(p.phase))
    const result = await reader.engine.importCar(car)
    expect(result).toMatchObject({ logs: 1, stored: 6, rejected: [] })
    expect(reader.engine.state).toEqual(['a', 'b', 'c', 'debit', 'credit'])
    expect(heard).toEqual(['a', 'b', 'c', 'debit', 'credit'])
    expect(phases).toContain('import')
    // Twice is harmless.
    expect((await reader.engine.importCar(car)).stored).toBe(0)
  })

  it('a CAR whose head record was re-sealed imports as the same records, and the writer’s next records still link', async () => {
    const thread = newThread()
    const writer = await openWriter(thread)
    const blocks = await write(writer, 'a', 'b', 'c', 'd')
    const car = await exportThreadCarBytes(writer.store, thread.threadId)
    const head = blocks[3]!
    const resealed = reseal(head, thread.key.service).record
    const headCid = blockOf(head.record).cid
    const tampered = await withBlock(car, (cid) => (cid.equals(headCid) ? blockOf(resealed) : undefined))
    expect(tampered).not.toEqual(car)
    expect(await (await CarReader.fromBytes(tampered)).has(headCid)).toBe(false)
    const peer = await openEngine(thread)
    const imported = await peer.engine.importCar(tampered)
    expect(imported.rejected).toEqual([])
    expect(peer.engine.state).toEqual(['a', 'b', 'c', 'd'])
    const later = await write(writer, 'e', 'f')
    const taken = await peer.engine.ingest(writer.logKey!.id, later)
    expect(taken.rejected).toEqual([])
    expect(peer.engine.state).toEqual(['a', 'b', 'c', 'd', 'e', 'f'])
  })
})

