/**
 * FINDING (high, a policy gap): any writer of a thread may put any schema in force for every peer.
 * `setSchema` (src/db/docs/collectionState.ts:111) checks only that ajv compiles it; the slice has
 * no notion of who may change the schema (the ACL's roles are per thread, not per command), and
 * DATABASE.md does not say who may. One collaborator's `{ not: {} }` makes every peer refuse every
 * later create and save of everyone, for good (until someone sets another); a costly schema
 * (schemaCost.test.ts) or an `$async` one (schemaAsync.test.ts) blocks or crashes every peer.
 * Safe behaviour asserted: a schema change by a writer that is not the thread's creator (owner)
 * is skipped by the other peers; suggested fix: a `canSetSchema(event)` option defaulting to the
 * thread's owner/creator, or schema changes only in code (version bump), never from the thread.
 */
import { afterEach, describe, expect, it } from 'vitest'
import { closeAll, exchange, makeDocPeers, people, type DocPeer } from '../docs/helpers.js'

let peers: DocPeer[] = []
afterEach(async () => {
  await closeAll(peers)
  peers = []
})

describe('setSchema by an ordinary writer', () => {
  it('does not lock every other peer out of the collection', async () => {
    peers = await makeDocPeers(2)
    const [owner, writer] = peers as [DocPeer, DocPeer]
    writer.store.dispatch(people.actions.setSchema({ not: {} }))
    await exchange(peers)
    await Promise.all(peers.map((p) => p.peer.idle()))
    expect(people.selectors.selectSchema(owner.store.getState()).version).toBe(1)
    expect(() => owner.store.dispatch(people.actions.create({ _id: 'ada', name: 'Ada', age: 36 }))).not.toThrow()
  })
})
