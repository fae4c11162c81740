/**
 * Issue 10, key rotation: revoking `read` rotates the read key. The revocation event seals the new
 * key to each remaining reader; records after it are sealed under the new epoch; a revoked reader,
 * holding its own old keys and storage, cannot open any of them, while a follower still stores and
 * serves every log and reads nothing.
 */
import { describe, expect, it } from 'vitest'
import { aclProjection, createAclThreadId, type AclState } from '../../src/acl/aclProjection.js'
import { createRotation } from '../../src/acl/rotation.js'
import { openEventBoxes, recordBlocks, type RecordBlocks } from '../../src/core/record.js'
import { createThreadKey, generateLogKey } from '../../src/core/keys.js'
import { boxOf } from '../../src/core/block.js'
import { openEngine, type TestEngine } from '../support/engines.js'

describe('read key rotation (issue 10)', () => {
  it('a revoked reader cannot decrypt anything after its revocation; remaining readers read on; a follower serves and reads nothing', async () => {
    const owner = generateLogKey()
    const alice = generateLogKey()
    const bob = generateLogKey()
    const { threadId, salt } = createAclThreadId(owner.id)
    const thread = { threadId, key: createThreadKey() }
    const o = await openEngine(thread, { logKey: owner, engine: { system: aclProjection() } })
    const a = await openEngine(thread, { engine: { system: aclProjection(), identity: alice } })
    const b = await openEngine(thread, { engine: { system: aclProjection(), identity: bob } })
    const f = await openEngine(thread, { key: { service: thread.key.service }, engine: { system: aclProjection() } })
    const sent: RecordBlocks[] = []
    const cmd = (type: string, payload: unknown): void => {
      sent.push(recordBlocks(o.engine.command({ type, payload }).record))
    }
    const deliver = async (t: TestEngine): Promise<void> => {
      for (const blocks of sent) await t.engine.ingest(owner.id, [blocks])
    }
    cmd('redux-threads/acl/init', { salt })
    cmd('redux-threads/acl/grant', { peer: alice.id, roles: ['read'] })
    cmd('redux-threads/acl/grant', { peer: bob.id, roles: ['read'] })
    cmd('test/added', 'before')
    // Revoke Bob's read: a new read key, sealed to the owner and Alice only.
    const { key, rotate } = createRotation([owner.id, alice.id], 1)
    cmd('redux-threads/acl/revoke', { peer: bob.id, roles: ['read'], lastSeq: 0, rotate: { read: rotate } })
    // The revoker takes the key at once: what it writes next is sealed under epoch 1.
    await o.store.logstore.addReadKey(threadId, 1, key)
    cmd('test/added', 'after')
    expect(o.engine.state).toEqual(['before', 'after'])
    const last = sent.at(-1) as RecordBlocks
    for (const t of [a, b, f]) await deliver(t)
    expect(a.engine.state).toEqual(['before', 'after'])
    expect((a.engine.system as AclState).rotations.read).toHaveLength(1)
    // Bob folded the revocation but got no key: nothing after it opens for him.
    expect(b.engine.state).toEqual(['before'])
    const lastRecord = (await b.store.records(threadId, owner.id)).at(-1)!
    expect(lastRecord.epoch).toBe(1)
    const headerBox = boxOf(last.header, {})
    const bodyBox = boxOf(last.body, {})
    const bobKeys = [thread.key.read, ...b.store.logstore.getThread(threadId).readKeys.values()]
    for (const k of bobKeys) expect(() => openEventBoxes(k, headerBox, bodyBox, {})).toThrow(expect.objectContaining({ name: 'DecryptionError' }))
    // The follower stored and can serve every record, and folds nothing.
    expect(f.engine.heads().get(owner.id)?.seq).toBe(sent.length)
    expect(await f.engine.records(owner.id, 1, 100)).toHaveLength(sent.length)
    expect(f.engine.state).toEqual([])
    // A restart keeps Alice's key and Bob's blindness.
    const a2 = await openEngine(thread, { storage: a.storage, engine: { system: aclProjection(), identity: alice } })
    expect(a2.engine.state).toEqual(['before', 'after'])
    const b2 = await openEngine(thread, { storage: b.storage, engine: { system: aclProjection(), identity: bob } })
    expect(b2.engine.state).toEqual(['before'])
  })

  it('records sealed under a key a reader does not hold yet wait, and apply once the rotation reaches it, in any order', async () => {
    const owner = generateLogKey()
    const alice = generateLogKey()
    const { threadId, salt } = createAclThreadId(owner.id)
    const thread = { threadId, key: createThreadKey() }
    const o = await openEngine(thread, { logKey: owner, engine: { system: aclProjection() } })
    const a = await openEngine(thread, { engine: { system: aclProjection(), identity: alice } })
    const sent: RecordBlocks[] = []
    const cmd = (type: string, payload: unknown): void => {
      sent.push(recordBlocks(o.engine.command({ type, payload }).record))
    }
    cmd('redux-threads/acl/init', { salt })
    cmd('redux-threads/acl/grant', { peer: alice.id, roles: ['read'] })
    const { key, rotate } = createRotation([owner.id, alice.id], 1)
    cmd('redux-threads/acl/grant', { peer: generateLogKey().id, roles: ['read'], rotate: { read: rotate } })
    await o.store.logstore.addReadKey(threadId, 1, key)
    cmd('test/added', 'x1')
    cmd('test/added', 'x2')
    // The last two arrive first (held beyond a gap); when the rest comes, they need a key the
    // rotation before them gives: they wait for it in order, then apply.
    await a.engine.ingest(owner.id, sent.slice(3))
    expect(a.engine.state).toEqual([])
    await a.engine.ingest(owner.id, sent.slice(0, 3))
    expect(a.engine.state).toEqual(['x1', 'x2'])
    expect(a.store.logstore.getThread(threadId).readKeys.get(1)).toEqual(key)
  })
})
