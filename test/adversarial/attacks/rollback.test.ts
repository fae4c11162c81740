/**
 * Attacks through the paths that take events out of the timeline without an insert: an aborted
 * transaction (dropNewest) and a fork proof (remove). The ACL's deletes and cuts they made must go
 * with them, or the peer folds differently from every other peer (and from itself reopened).
 */
import { describe, expect, it } from 'vitest'
import type { AclState } from '../../../src/acl/aclProjection.js'
import { ACL, aclWorld, headOf } from './fixture.js'

describe('events taken out again', () => {
  it('a delete inside an aborted transaction leaves its target in the state', async () => {
    const w = await aclWorld(1)
    const x = w.cmd(0, 'test/added', 'x')
    const o = w.peers[0]!.engine
    expect(() =>
      o.transaction(() => {
        o.command({ type: `${ACL}delete`, payload: { event: x.id, log: x.logId, seq: x.seq } })
        throw new Error('abort')
      })
    ).toThrow('abort')
    expect((o.system as AclState).deleted).toEqual({})
    // A later event refolds nothing special: x must still be there.
    w.cmd(0, 'test/added', 'y')
    expect(o.state).toEqual(['x', 'y'])
  })

  it('a revocation inside an aborted transaction leaves no cut behind (the writer\'s records still apply here)', async () => {
    const w = await aclWorld(2)
    const bob = w.keys[1]!
    w.cmd(0, `${ACL}grant`, { peer: bob.id, roles: ['write'] })
    await w.deliver(1)
    w.cmd(1, 'test/added', 'b1')
    await w.deliver(0)
    const o = w.peers[0]!.engine
    expect(() =>
      o.transaction(() => {
        o.command({ type: `${ACL}revoke`, payload: { peer: bob.id, roles: ['write'], lastSeq: 0 } })
        throw new Error('abort')
      })
    ).toThrow('abort')
    expect((o.system as AclState).cuts).toEqual({})
    const b2 = w.cmd(1, 'test/added', 'b2')
    await o.ingest(b2.logId, [b2.blocks])
    expect(o.state).toEqual(['b1', 'b2'])
  })

  it('a delete by an admin whose log is then found forked at that seq stops deleting (as on a peer that learns the fork first)', async () => {
    const w = await aclWorld(4)
    const mallory = w.keys[1]!
    w.cmd(0, `${ACL}grant`, { peer: mallory.id, roles: ['write', 'delete'] })
    const x = w.cmd(0, 'test/added', 'x')
    await w.deliver(1)
    const head = headOf(w.peers[1]!, mallory.id)
    // Two records for Mallory's seq 1: a delete of x, and something else.
    const del = w.forge(mallory, head, { type: `${ACL}delete`, payload: { event: x.id, log: x.logId, seq: x.seq } }, 50)
    const other = w.forge(mallory, head, { type: 'test/added', payload: 'other' }, 50)
    // Peer 2 applies the delete, then learns of the fork.
    await w.deliver(2, [...w.sent, del.sent, other.sent])
    expect(w.peers[2]!.engine.forks().map((f) => f.seq)).toEqual([1])
    // Peer 3 sees the other branch, then the delete: the same fork.
    await w.deliver(3, [...w.sent, other.sent, del.sent])
    expect(w.peers[3]!.engine.forks().map((f) => f.seq)).toEqual([1])
    expect(w.peers[3]!.engine.state).toEqual(['x'])
    expect(w.peers[2]!.engine.state).toEqual(w.peers[3]!.engine.state)
    // Nor does the next event mend it.
    const later = w.cmd(0, 'test/added', 'later')
    for (const p of [2, 3]) await w.peers[p]!.engine.ingest(later.logId, [later.blocks])
    expect(w.peers[2]!.engine.state).toEqual(['x', 'later'])
  })

  it('a revocation by an admin whose log is then found forked at that seq lifts its cut at once (not only at the next insert)', async () => {
    const w = await aclWorld(4)
    const [, mallory, bob] = w.keys
    w.cmd(0, `${ACL}grant`, { peer: mallory!.id, roles: ['write'], scope: 'admin' })
    w.cmd(0, `${ACL}grant`, { peer: bob!.id, roles: ['write'] })
    await w.deliver(1)
    await w.deliver(2)
    w.cmd(2, 'test/added', 'b1')
    const head = headOf(w.peers[1]!, mallory!.id)
    const revoke = w.forge(mallory!, head, { type: `${ACL}revoke`, payload: { peer: bob!.id, roles: ['write'], lastSeq: 0 } }, 50)
    const other = w.forge(mallory!, head, { type: `${ACL}default`, payload: { roles: ['no-access'], scope: { entity: 'e' } } }, 50)
    await w.deliver(3, [...w.sent, revoke.sent, other.sent])
    expect(w.peers[3]!.engine.forks().map((f) => f.seq)).toEqual([1])
    expect((w.peers[3]!.engine.system as AclState).cuts).toEqual({})
    expect(w.peers[3]!.engine.state).toEqual(['b1'])
    // And still after the next event.
    const later = w.cmd(0, 'test/added', 'later')
    await w.peers[3]!.engine.ingest(later.logId, [later.blocks])
    expect([...w.peers[3]!.engine.state].sort()).toEqual(['b1', 'later'])
  })
})
