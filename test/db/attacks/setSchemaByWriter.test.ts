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
 * Fixed by `schemaAuthority` (default: nobody; the helpers' `people` names the thread's creator).
 * A refused command throws at its author's `dispatch` (as every refusal does), so the honest
 * writer's dispatch is expected to throw; a writer whose code allows it is skipped by the others.
 */
import { afterEach, describe, expect, it } from 'vitest'
import { createCollection } from '../../../src/db/index.js'
import { closeAll, exchange, makeDocPeers, people, personSchema, type DocPeer, type Person } from '../docs/helpers.js'

let peers: DocPeer[] = []
afterEach(async () => {
  await closeAll(peers)
  peers = []
})

/** `people` as a peer running altered code that lets anyone change the schema would have it. */
const rogue = createCollection<Person>({ name: 'people', schema: personSchema, indexes: ['age', 'address.city', { path: 'email', unique: true }], schemaAuthority: 'anyone' })

describe('setSchema by an ordinary writer', () => {
  it('does not lock every other peer out of the collection', async () => {
    peers = await makeDocPeers(2)
    const [owner, writer] = peers as [DocPeer, DocPeer]
    // An honest writer's command is refused at its own dispatch (nothing stored or sent).
    expect(() => writer.store.dispatch(people.actions.setSchema({ not: {} }))).toThrow(expect.objectContaining({ name: 'SchemaAuthorityError' }))
    await exchange(peers)
    await Promise.all(peers.map((p) => p.peer.idle()))
    expect(people.selectors.selectSchema(owner.store.getState()).version).toBe(1)
    expect(() => owner.store.dispatch(people.actions.create({ _id: 'ada', name: 'Ada', age: 36 }))).not.toThrow()
  })

  it('a writer whose code lets anyone set the schema: its event is skipped by the others', async () => {
    peers = await makeDocPeers(2, [people, rogue as never])
    const [owner, writer] = peers as [DocPeer, DocPeer]
    writer.store.dispatch(rogue.actions.setSchema({ not: {} }))
    await exchange(peers)
    await Promise.all(peers.map((p) => p.peer.idle()))
    expect(people.selectors.selectSchema(owner.store.getState()).version).toBe(1)
    expect(owner.rejected.map((e) => (e as Error & { cause?: { name?: string } }).cause?.name)).toContain('SchemaAuthorityError')
    expect(() => owner.store.dispatch(people.actions.create({ _id: 'ada', name: 'Ada', age: 36 }))).not.toThrow()
  })

  it('the owner (an author `schemaAuthority` allows) changes it for every peer', async () => {
    peers = await makeDocPeers(2)
    const [owner, writer] = peers as [DocPeer, DocPeer]
    owner.store.dispatch(people.actions.setSchema({ ...personSchema, title: 'v2' }))
    await exchange(peers)
    await Promise.all(peers.map((p) => p.peer.idle()))
    expect(people.selectors.selectSchema(writer.store.getState()).version).toBe(2)
  })
})
