/**
 * Remote events that the thread's rules refuse: a peer running laxer code (no schema, no unique
 * index) writes documents the schema refuses and a duplicate id. Every honest peer skips exactly
 * those events, reports each as a ReducerError (its cause the named error), ends in the same
 * state, and applies the rest of that peer's log: a refused event never blocks its log.
 */
import { afterEach, describe, expect, it } from 'vitest'
import { closeAll, exchange, laxPeople, makeDocPeers, people, type DocPeer, type Person } from './helpers.js'

let peers: DocPeer[] = []
afterEach(async () => {
  await closeAll(peers)
  peers = []
})

const refusals = (p: DocPeer) =>
  p.rejected
    .filter((e) => e.name === 'ReducerError')
    .map((e) => ({ log: e.logId, seq: e.seq, cause: (e as Error & { cause?: { name?: string } }).cause?.name }))
    .sort((a, b) => (a.seq ?? 0) - (b.seq ?? 0))

describe('remote events the rules refuse are skipped identically, and the log goes on', () => {
  it('schema-violating, duplicate and unique-breaking events from a lax peer', async () => {
    peers = await makeDocPeers(3, [people, people, laxPeople])
    const [a, b, rogue] = peers as [DocPeer, DocPeer, DocPeer]
    a.store.dispatch(people.actions.create({ _id: 'ada', name: 'Ada', age: 36, email: 'ada@x' }))
    // The rogue has not seen `ada`: its own `ada` sorts after A's (clock 3 against 1).
    rogue.store.dispatch(laxPeople.actions.create({ _id: 'neg', name: 'Neg', age: -5 }))
    rogue.store.dispatch(laxPeople.actions.create({ _id: 'noname', age: 3 } as unknown as Person))
    rogue.store.dispatch(laxPeople.actions.create({ _id: 'ada', name: 'Not Ada', age: 1 }))
    rogue.store.dispatch(laxPeople.actions.create({ _id: 'copy', name: 'Copy', age: 2, email: 'ada@x' }))
    rogue.store.dispatch(laxPeople.actions.create({ _id: 'ok', name: 'Fine', age: 40 }))
    rogue.store.dispatch(laxPeople.actions.save({ _id: 'ok', patch: { age: 41 } }))
    await exchange(peers)
    await Promise.all(peers.map((p) => p.peer.idle()))
    for (const p of [a, b]) {
      const s = p.store.getState()
      expect(people.selectors.selectAll(s).map((d) => [d._id, d.name, d.age])).toEqual([['ada', 'Ada', 36], ['ok', 'Fine', 41]])
      expect(people.selectors.selectFind(s, { filter: { age: { $gt: 30 } } }).map((d) => d._id)).toEqual(['ada', 'ok'])
      expect(refusals(p)).toEqual([
        { log: rogue.id, seq: 1, cause: 'SchemaViolationError' },
        { log: rogue.id, seq: 2, cause: 'SchemaViolationError' },
        { log: rogue.id, seq: 3, cause: 'DuplicateDocumentError' },
        { log: rogue.id, seq: 4, cause: 'UniqueIndexError' }
      ])
      expect(a.peer.selectors.selectThreadStatus(s, a.threadId)).toBeDefined()
    }
    expect(b.store.getState().people).toEqual(a.store.getState().people)
    const status = b.peer.selectors.selectThreadStatus(b.store.getState(), b.threadId)
    expect(status?.rejected).toBeGreaterThanOrEqual(4)
    expect(status?.lastError?.name).toBe('ReducerError')
    // The rogue's own view keeps what its code allowed: the thread's rules are the honest peers'.
    expect(laxPeople.selectors.selectHas(rogue.store.getState(), 'neg')).toBe(true)
  })

  it('two peers create one id concurrently: both keep the one that sorts first, and skip the other alike', async () => {
    peers = await makeDocPeers(2)
    const [a, b] = peers as [DocPeer, DocPeer]
    a.store.dispatch(people.actions.create({ _id: 'dup', name: 'From A', age: 1 }))
    b.store.dispatch(people.actions.create({ _id: 'dup', name: 'From B', age: 2 }))
    await exchange(peers)
    a.store.dispatch(people.actions.create({ _id: 'after', name: 'After', age: 3 }))
    b.store.dispatch(people.actions.create({ _id: 'after-b', name: 'After B', age: 4 }))
    await exchange(peers)
    const first = a.id < b.id ? 'From A' : 'From B'
    for (const p of [a, b]) {
      expect(people.selectors.selectById(p.store.getState(), 'dup')?.name).toBe(first)
      expect(people.selectors.selectCount(p.store.getState())).toBe(3)
      expect(refusals(p).map((r) => r.cause)).toEqual(['DuplicateDocumentError'])
    }
    expect(b.store.getState().people).toEqual(a.store.getState().people)
  })

  it('one peer saves a document while another deletes it: delete wins on both, with no error either side', async () => {
    peers = await makeDocPeers(2)
    const [a, b] = peers as [DocPeer, DocPeer]
    a.store.dispatch(people.actions.create({ _id: 'doc', name: 'Doc', age: 1 }))
    await exchange(peers)
    a.store.dispatch(people.save({ _id: 'doc', name: 'Doc', age: 2 }))
    b.store.dispatch(people.actions.delete('doc'))
    await exchange(peers)
    for (const p of [a, b]) {
      expect(people.selectors.selectHas(p.store.getState(), 'doc')).toBe(false)
      expect(people.selectors.selectCount(p.store.getState())).toBe(0)
      expect(refusals(p)).toEqual([])
    }
    expect(b.store.getState().people).toEqual(a.store.getState().people)
  })
})
