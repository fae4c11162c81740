/**
 * Issue 7 §2: a writer that signs two different records for one seq. Every peer applies the rule
 * of DESIGN.md section 3 whatever order it learns things in: the log is frozen at its last record
 * before the fork (neither branch applies), the proof reaches every peer, and each reports it.
 */
import { describe, expect, it } from 'vitest'
import { generateLogKey } from '../../src/core/keys.js'
import type { ForkProof } from '../../src/core/forkProof.js'
import { memoryStorage } from '../../adapters/storage/memory.js'
import { newThread, openEngine, openWriter, write, type TestEngine } from '../support/engines.js'
import { forge, forgeChain } from '../support/forge.js'

/** W writes w1, then branch A (a2, a3) and branch B (b2). */
function forkedWriter() {
  const thread = newThread()
  const w = generateLogKey()
  const [w1] = forgeChain(w, thread, undefined, ['w1'])
  const [a2, a3] = forgeChain(w, thread, w1!.head, ['A', 'after A'], 2)
  const b2 = forge(w, thread, w1!.head, 'B', 2)
  return { thread, w, w1: w1!, a2: a2!, a3: a3!, b2 }
}

function forksOf(t: TestEngine): Array<{ logId: string; seq: number }> {
  return t.engine.forks().map((f) => ({ logId: f.logId, seq: f.seq }))
}

describe('equivocation (issue 7 §2)', () => {
  it('the peer that sees both versions freezes the log before the fork, reports it, and its proof convinces a peer that saw only the other', async () => {
    const { thread, w, w1, a2, a3, b2 } = forkedWriter()
    const x = await openEngine(thread)
    const y = await openEngine(thread)
    const errors: string[] = []
    x.engine.events.on('rejected', (e) => errors.push(e.name))
    const proofs: ForkProof[] = []
    x.engine.events.on('fork', (f) => proofs.push(f.proof))
    await x.engine.ingest(w.id, [w1.blocks, a2.blocks, a3.blocks])
    await y.engine.ingest(w.id, [w1.blocks, b2.blocks])
    expect(x.engine.state).toEqual(['w1', 'A', 'after A'])
    expect(y.engine.state).toEqual(['w1', 'B'])
    // X is pushed Y's version: a fork, not a forgery by whoever sent it.
    const found = await x.engine.ingest(w.id, [b2.blocks])
    expect(found.forks.map((f) => f.seq)).toEqual([2])
    expect(found.rejected.map((e) => e.name)).toEqual(['EquivocationError'])
    expect(x.engine.state).toEqual(['w1'])
    expect(forksOf(x)).toEqual([{ logId: w.id, seq: 2 }])
    expect(errors).toContain('EquivocationError')
    // The proof travels; Y, which never saw branch A, freezes the same way.
    expect(proofs).toHaveLength(1)
    const fork = await y.engine.addForkProof(proofs[0]!)
    expect(fork?.seq).toBe(2)
    expect(y.engine.state).toEqual(['w1'])
    // Later records of either branch change nothing anywhere.
    expect((await y.engine.ingest(w.id, [a2.blocks, a3.blocks])).added).toEqual([])
    expect(y.engine.state).toEqual(['w1'])
  })

  it('a next record whose prev names another identity is a proof too (the heads exchange finds forks this way)', async () => {
    const { thread, w, w1, a3, b2 } = forkedWriter()
    const y = await openEngine(thread)
    await y.engine.ingest(w.id, [w1.blocks, b2.blocks])
    // Y pulls seq 3 from a peer on branch A: it links A, not the B that Y holds at seq 2.
    const result = await y.engine.ingest(w.id, [a3.blocks])
    expect(result.forks.map((f) => f.seq)).toEqual([2])
    expect(y.engine.state).toEqual(['w1'])
  })

  it('refuses a proof that does not check out, and blames its sender (the error is not an equivocation)', async () => {
    const { thread, w, w1, a2, b2 } = forkedWriter()
    const x = await openEngine(thread)
    await x.engine.ingest(w.id, [w1.blocks, a2.blocks])
    const proofs: ForkProof[] = []
    x.engine.events.on('fork', (f) => proofs.push(f.proof))
    await x.engine.ingest(w.id, [b2.blocks])
    const good = proofs[0]!
    const other = newThread()
    const z = await openEngine(other)
    // The same proof in another thread: the statements bind their thread.
    await expect(z.engine.addForkProof(good)).rejects.toMatchObject({ name: 'BadSignatureError' })
    // A statement with a changed signature.
    const sig = Uint8Array.from(good.b.sig)
    sig[0] = sig[0]! ^ 1
    const bad = { ...good, b: { ...good.b, sig } }
    const y = await openEngine(thread)
    await expect(y.engine.addForkProof(bad)).rejects.toMatchObject({ name: 'BadSignatureError' })
    // Two statements that agree prove nothing.
    await expect(y.engine.addForkProof({ ...good, b: good.a })).rejects.toMatchObject({ name: 'MalformedRecordError' })
    expect(y.engine.forks()).toEqual([])
  })

  it('an unsigned second version is a forgery by its sender, not a fork by the writer', async () => {
    const { thread, w, w1, a2, b2 } = forkedWriter()
    const x = await openEngine(thread)
    await x.engine.ingest(w.id, [w1.blocks, a2.blocks])
    // Made by someone without W's key: W's record block with another event (CIDs stay valid).
    const mallory = generateLogKey()
    const fake = forge(mallory, thread, w1.head, 'B', 2)
    const result = await x.engine.ingest(w.id, [fake.blocks])
    expect(result.forks).toEqual([])
    expect(result.rejected.map((e) => e.name)).toEqual(['BadSignatureError'])
    expect(x.engine.state).toEqual(['w1', 'A'])
    expect(b2).toBeDefined()
  })

  it('the freeze survives a restart, with or without a snapshot', async () => {
    const { thread, w, w1, a2, a3, b2 } = forkedWriter()
    const storage = memoryStorage()
    const reader = generateLogKey()
    const x = await openEngine(thread, { storage, logKey: reader, engine: { snapshotEvery: 1 } })
    await write(x, 'mine')
    await x.engine.ingest(w.id, [w1.blocks, a2.blocks, a3.blocks])
    await x.engine.flush()
    await x.engine.ingest(w.id, [b2.blocks])
    await x.engine.flush()
    const state = x.engine.state
    expect(state).not.toContain('A')
    const again = await openEngine(thread, { storage, engine: { snapshotEvery: 1 } })
    expect(again.engine.state).toEqual(state)
    expect(forksOf(again)).toEqual([{ logId: w.id, seq: 2 }])
  })

  it('a writer shown proof of its own fork stops writing to that log', async () => {
    const thread = newThread()
    const w = generateLogKey()
    const writer = await openWriter(thread, { logKey: w })
    await write(writer, 'w1', 'A')
    const [w1] = await (async () => [writer.engine.heads().get(w.id)!])()
    expect(w1!.seq).toBe(2)
    // A copy of W's identity (restored from an old backup) signed another seq 2.
    const first = await writer.store.records(thread.threadId, w.id, { from: 1, to: 1 })
    const other = forge(w, thread, { id: first[0]!.id, seq: 1 }, 'B', 2)
    const peer = await openEngine(thread)
    await peer.engine.ingest(w.id, (await writer.store.records(thread.threadId, w.id)).map((r) => ({ record: r.blocks.record.bytes, event: r.blocks.event.bytes, header: r.blocks.header.bytes, body: r.blocks.body.bytes })))
    const proofs: ForkProof[] = []
    peer.engine.events.on('fork', (f) => proofs.push(f.proof))
    await peer.engine.ingest(w.id, [other.blocks])
    await writer.engine.addForkProof(proofs[0]!)
    expect(writer.engine.writeBlocked?.name).toBe('ForkedLogError')
    expect(() => writer.engine.command({ type: 'test/added', payload: 'more' })).toThrow(expect.objectContaining({ name: 'ForkedLogError' }))
    expect(writer.engine.state).toEqual(['w1'])
  })
})
