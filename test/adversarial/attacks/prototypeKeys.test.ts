/**
 * Attack: prototype keys as entity names and peer IDs. The ACL documents are plain objects looked
 * up by untrusted strings (`entities[meta.entity]`, `peers[payload.peer]`, `cuts[payload.peer]`):
 * `constructor`, `toString`, `__proto__` resolve to Object.prototype's members. Whatever a writer
 * or an admin signs, the fold must stay total (never throw), and every peer must keep folding.
 */
import { describe, expect, it } from 'vitest'
import type { AclState } from '../../../src/acl/aclProjection.js'
import { ACL, aclWorld, headOf } from './fixture.js'

const NAMES = ['constructor', 'toString', '__proto__', 'hasOwnProperty', 'valueOf']

/** A local command either goes through or is refused by the ACL, never with a TypeError. */
function runsOrRefused(fn: () => unknown): void {
  try {
    fn()
  } catch (e) {
    expect((e as Error).name).toBe('AccessDeniedError')
  }
}

describe('prototype keys in ACL lookups', () => {
  it.each(NAMES)('a local command whose meta.entity is %j is taken or refused by the ACL, not a TypeError', async (entity) => {
    const w = await aclWorld(2)
    w.cmd(0, `${ACL}grant`, { peer: w.keys[1]!.id, roles: ['write'] })
    await w.deliver(1)
    runsOrRefused(() => w.peers[1]!.engine.command({ type: 'test/added', payload: 'local', meta: { entity } }))
  })

  it.each(NAMES)('a writer\'s record whose meta.entity is %j does not break an honest peer (ingest, later events, reopen)', async (entity) => {
    const w = await aclWorld(3)
    const [, writer] = w.keys
    w.cmd(0, `${ACL}grant`, { peer: writer!.id, roles: ['write'] })
    w.cmd(0, 'test/added', 'before')
    await w.deliver(1)
    // A record signed by the writer, delivered to an honest peer.
    const poison = w.forge(writer!, headOf(w.peers[1]!, writer!.id), { type: 'test/added', payload: 'poison', meta: { entity } }, 100)
    await w.deliver(2)
    await expect(w.peers[2]!.engine.ingest(writer!.id, [poison.sent.blocks])).resolves.toBeDefined()
    // The thread still folds what comes after.
    const after = w.cmd(0, 'test/added', 'after')
    await w.peers[2]!.engine.ingest(after.logId, [after.blocks])
    expect(w.peers[2]!.engine.state).toEqual(expect.arrayContaining(['before', 'after']))
    // And the peer can open the thread again from its storage.
    await w.peers[2]!.engine.flush()
    const again = await w.open({ storage: w.peers[2]!.storage })
    expect(again.engine.state).toEqual(w.peers[2]!.engine.state)
  })

  it.each(NAMES)('grant/revoke naming peer %j (thread scope, with fromSeq) keeps the fold total on every peer', async (peer) => {
    const w = await aclWorld(2)
    const cmds = [
      { type: `${ACL}grant`, payload: { peer, roles: ['write'], fromSeq: 5 } },
      { type: `${ACL}revoke`, payload: { peer, roles: ['write'], lastSeq: 0 } },
      { type: `${ACL}grant`, payload: { peer, roles: ['read'], scope: { entity: peer } } },
      { type: `${ACL}revoke`, payload: { peer, roles: ['read'], scope: { entity: peer } } }
    ]
    // Signed by the owner outside its engine (its own peer would throw a TypeError: next test), as a peer receives them.
    let prev = headOf(w.peers[0]!, w.keys[0]!.id)
    const forged = []
    for (const [i, c] of cmds.entries()) {
      const f = w.forge(w.keys[0]!, prev, c, 1000 + i)
      forged.push(f.sent)
      prev = f.head
    }
    const fresh = w.peers[1]!
    await w.deliver(fresh, [w.sent[0]!])
    for (const s of forged) await expect(fresh.engine.ingest(s.logId, [s.blocks])).resolves.toBeDefined()
    const acl = fresh.engine.system as AclState
    expect(acl.owner).toBe(w.keys[0]!.id)
    // Later events still fold.
    const later = w.forge(w.keys[0]!, prev, { type: 'test/added', payload: 'later' }, 2000)
    await fresh.engine.ingest(later.sent.logId, [later.sent.blocks])
    expect(fresh.engine.state).toEqual(['later'])
  })

  it.each(NAMES)('the owner\'s own grant/revoke naming peer %j is taken or refused, not a TypeError', async (peer) => {
    const w = await aclWorld(1)
    runsOrRefused(() => w.peers[0]!.engine.command({ type: `${ACL}grant`, payload: { peer, roles: ['write'], fromSeq: 5 } }))
    runsOrRefused(() => w.peers[0]!.engine.command({ type: `${ACL}revoke`, payload: { peer, roles: ['write'], lastSeq: 0 } }))
  })

  it('a grant to peer "__proto__" survives a snapshot: a reopened peer holds the same ACL as one that folded it', async () => {
    const w = await aclWorld(2, { snapshotEvery: 2 })
    w.cmd(0, `${ACL}grant`, { peer: '__proto__', roles: ['write'] })
    w.cmd(0, `${ACL}grant`, { peer: w.keys[1]!.id, roles: ['read'] })
    w.cmd(0, 'test/added', 'x')
    await w.deliver(1)
    await w.peers[1]!.engine.snapshot()
    await w.peers[1]!.engine.flush()
    const again = await w.open({ storage: w.peers[1]!.storage, logKey: w.keys[1]! })
    const a = w.peers[1]!.engine.system as AclState
    const b = again.engine.system as AclState
    expect(Object.keys(b.thread.peers).sort()).toEqual(Object.keys(a.thread.peers).sort())
    expect(Object.getOwnPropertyDescriptor(b.thread.peers, '__proto__')?.value).toEqual(['write'])
    expect(again.engine.state).toEqual(['x'])
  })
})

describe('a poison record is not a permanent denial of service', () => {
  it('a writer\'s record with meta.entity "constructor" is an ordinary write (no such entity ACL): the peer takes later records and reopens from storage', async () => {
    const w = await aclWorld(3)
    const writer = w.keys[1]!
    w.cmd(0, `${ACL}grant`, { peer: writer.id, roles: ['write'] })
    w.cmd(0, 'test/added', 'before')
    await w.deliver(1)
    await w.deliver(2)
    const poison = w.forge(writer, headOf(w.peers[1]!, writer.id), { type: 'test/added', payload: 'poison', meta: { entity: 'constructor' } }, 100)
    // However the ingest ends, the record may already be in storage.
    await w.peers[2]!.engine.ingest(writer.id, [poison.sent.blocks]).catch(() => undefined)
    const after = w.cmd(0, 'test/added', 'after')
    await w.peers[2]!.engine.ingest(after.logId, [after.blocks]).catch(() => undefined)
    // Object's own `constructor` is no entity ACL: the thread-level write admits it.
    expect(w.peers[2]!.engine.state).toEqual(['before', 'after', 'poison'])
    await w.peers[2]!.engine.flush()
    await expect(w.open({ storage: w.peers[2]!.storage })).resolves.toBeDefined()
  })
})
