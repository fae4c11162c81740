/**
 * Transactions (go-threads db's ReadTxn/WriteTxn tests): a read transaction reads one state and
 * refuses writes by name; a write transaction's writes see each other, are stored all or nothing,
 * and apply as one unit on another peer, even when its records arrive one by one.
 */
import { afterEach, describe, expect, it } from 'vitest'
import { closeAll, makeDocPeers, people, type DocPeer, type Person } from './helpers.js'

let peers: DocPeer[] = []
afterEach(async () => {
  await closeAll(peers)
  peers = []
})

describe('transactions', () => {
  it('a read transaction reads one state and refuses writes with ReadOnlyTransactionError', async () => {
    peers = await makeDocPeers(1)
    const [p] = peers as [DocPeer]
    p.store.dispatch(people.actions.create({ _id: 'a', name: 'Ada', age: 36 }))
    const read = p.store.dispatch(
      people.readTransaction((tx) => ({ has: tx.has('a'), missing: tx.has('b'), doc: tx.findById('a'), count: tx.count(), adults: tx.find({ filter: { age: { $gte: 18 } } }).map((d) => d._id) }))
    )
    expect(read).toEqual({ has: true, missing: false, doc: { _id: 'a', name: 'Ada', age: 36 }, count: 1, adults: ['a'] })
    const writes: Array<(tx: object) => unknown> = [
      (tx) => (tx as { create(d: object): unknown }).create({ name: 'Eve', age: 1 }),
      (tx) => (tx as { save(d: object): unknown }).save({ _id: 'a', name: 'Ada', age: 37 }),
      (tx) => (tx as { delete(id: string): unknown }).delete('a')
    ]
    for (const w of writes) expect(() => p.store.dispatch(people.readTransaction(w))).toThrow(expect.objectContaining({ name: 'ReadOnlyTransactionError' }))
    expect(people.selectors.selectAll(p.store.getState())).toEqual([{ _id: 'a', name: 'Ada', age: 36 }])
  })

  it('a write transaction sees its own writes and is applied whole on another peer', async () => {
    peers = await makeDocPeers(2)
    const [a, b] = peers as [DocPeer, DocPeer]
    a.store.dispatch(people.actions.create({ _id: 'acct', name: 'Account', age: 10 }))
    const result = await a.store.dispatch(
      people.writeTransaction({ peer: a.peer, threadId: a.threadId }, (tx) => {
        const id = tx.create({ name: 'Ada', age: 36 })
        const ada = tx.findById(id) as Person
        tx.save({ ...ada, age: 37 })
        tx.delete('acct')
        return { id, count: tx.count(), ages: tx.find({ sort: { age: 1 } }).map((d) => d.age) }
      })
    )
    expect(result.count).toBe(1)
    expect(result.ages).toEqual([37])
    // B receives A's records one at a time: nothing of the transaction applies until its commit is there.
    const logs = await a.thread.recordsSince(new Map([[a.id, 0]]))
    const blocks = logs.find((l) => l.logId === a.id)?.blocks ?? []
    expect(blocks.length).toBe(5) // create, then the transaction's 3 commands and its commit record
    const counts: number[] = []
    for (const block of blocks) {
      await b.thread.ingest(a.id, [block])
      counts.push(people.selectors.selectCount(b.store.getState()))
    }
    expect(counts).toEqual([1, 1, 1, 1, 1])
    expect(people.selectors.selectAll(b.store.getState()).map((d) => [d._id, d.age])).toEqual([[result.id, 37]])
    expect(b.store.getState().people).toEqual(a.store.getState().people)
  })

  it('a write transaction whose run throws, or whose write is refused, stores nothing and restores the collection', async () => {
    peers = await makeDocPeers(1)
    const [p] = peers as [DocPeer]
    p.store.dispatch(people.actions.create({ _id: 'a', name: 'Ada', age: 36 }))
    const before = p.store.getState().people
    const refused = p.store.dispatch(
      people.writeTransaction({ peer: p.peer, threadId: p.threadId }, (tx) => {
        tx.create({ _id: 'b', name: 'Bob', age: 1 })
        tx.create({ _id: 'a', name: 'Duplicate', age: 1 })
      })
    )
    await expect(refused).rejects.toMatchObject({ name: 'DuplicateDocumentError' })
    const thrown = p.store.dispatch(
      people.writeTransaction({ peer: p.peer, threadId: p.threadId }, (tx) => {
        tx.delete('a')
        throw new Error('changed my mind')
      })
    )
    await expect(thrown).rejects.toThrow('changed my mind')
    expect(p.store.getState().people).toEqual(before)
    await p.peer.idle()
    expect(p.thread.heads().get(p.id)?.seq).toBe(1)
  })
})
