/**
 * Attacks on logical deletes: a delete that the order admits on one peer and refuses on another
 * (its author's delete role revoked by an event that arrives late but sorts first), deletes of
 * ACL events, of events that do not exist, and deletes as a lever to make compacted peers fold
 * the whole thread again from storage.
 */
import { describe, expect, it } from 'vitest'
import type { AclState } from '../../../src/acl/aclProjection.js'
import { ACL, aclWorld, headOf } from './fixture.js'

describe('deletes', () => {
  it('a delete admitted first and refused after a late revocation that sorts before it: every peer (and a reopen) agrees the target stays', async () => {
    // 0 owner, 1 deleter, 2 sees the delete before the revocation, 3 the revocation first.
    const w = await aclWorld(4)
    const deleter = w.keys[1]!
    w.cmd(0, `${ACL}grant`, { peer: deleter.id, roles: ['delete'] })
    const x = w.cmd(0, 'test/added', 'x')
    await w.deliver(1)
    // The owner revokes the delete role; the deleter, not having seen it, deletes x with a clock
    // above the revocation's (its clock is its own claim): the delete sorts after the revocation
    // and is refused there, on every peer.
    const revoke = w.cmd(0, `${ACL}revoke`, { peer: deleter.id, roles: ['delete'] })
    const del = w.forge(deleter, headOf(w.peers[1]!, deleter.id), { type: `${ACL}delete`, payload: { event: x.id, log: x.logId, seq: x.seq } }, 1000)
    const base = w.sent.filter((s) => s !== revoke)
    // Peer 2: the delete first (admitted then), the revocation last.
    await w.deliver(2, [...base, del.sent, revoke])
    // Peer 3: the revocation first, then the delete (refused).
    await w.deliver(3, [...base, revoke, del.sent])
    expect((w.peers[2]!.engine.system as AclState).deleted).toEqual({})
    expect((w.peers[3]!.engine.system as AclState).deleted).toEqual({})
    expect(w.peers[3]!.engine.state).toEqual(['x'])
    expect(w.peers[2]!.engine.state).toEqual(w.peers[3]!.engine.state)
    // The same peer, opened again from its storage, folds what it held before.
    await w.peers[2]!.engine.flush()
    const again = await w.open({ storage: w.peers[2]!.storage })
    expect(again.engine.state).toEqual(w.peers[2]!.engine.state)
  })

  it('deleting an ACL event, the init, or a non-existent event changes no ACL and no app state, in any order', async () => {
    const w = await aclWorld(3)
    const grant = w.cmd(0, `${ACL}grant`, { peer: w.keys[1]!.id, roles: ['write'] })
    w.cmd(0, `${ACL}delete`, { event: grant.id, log: grant.logId, seq: grant.seq })
    w.cmd(0, `${ACL}delete`, { event: w.peers[0]!.engine.timeline.events[0]!.meta.id, log: w.peers[0]!.engine.timeline.events[0]!.meta.logId, seq: 1 })
    w.cmd(0, `${ACL}delete`, { event: 'bafy-not-an-event', log: w.keys[0]!.id, seq: 99 })
    w.cmd(0, `${ACL}delete`, { event: '__proto__', log: '__proto__', seq: 1 })
    // A delete that does not say where its event is: refused before it is signed.
    expect(() => w.cmd(0, `${ACL}delete`, { event: grant.id })).toThrow(expect.objectContaining({ name: 'AccessDeniedError' }))
    w.cmd(0, 'test/added', 'o1')
    await w.deliver(1)
    w.cmd(1, 'test/added', 'w1')
    await w.deliver(2, [...w.sent].reverse())
    for (const p of [0, 2]) await w.deliver(p)
    for (const p of w.peers) {
      expect((p.engine.system as AclState).thread.peers[w.keys[1]!.id]).toEqual(['write'])
      expect(p.engine.state).toEqual(['o1', 'w1'])
    }
  })

  it('a delete naming an event nobody has (and no place) does not make a compacted peer fold the whole thread from storage', async () => {
    const w = await aclWorld(3)
    const deleter = w.keys[1]!
    w.cmd(0, `${ACL}grant`, { peer: deleter.id, roles: ['delete'] })
    for (let i = 0; i < 20; i++) w.cmd(0, 'test/added', `o${i}`)
    await w.deliver(1)
    await w.deliver(2)
    const victim = w.peers[2]!
    expect(victim.engine.compact()).toBeGreaterThan(0)
    let loads = 0
    victim.engine.events.on('progress', (p) => {
      if (p.phase === 'load' || p.phase === 'replay') loads++
    })
    // A holder of only `delete` (not even read) sends deletes of made-up identities.
    let prev = headOf(w.peers[1]!, deleter.id)
    for (let i = 0; i < 5; i++) {
      const d = w.forge(deleter, prev, { type: `${ACL}delete`, payload: { event: `made-up-${i}` } }, 100 + i)
      prev = d.head
      await victim.engine.ingest(deleter.id, [d.sent.blocks])
    }
    expect(victim.engine.state).toHaveLength(20)
    // Each costs a fold of the whole thread from storage on every compacted peer.
    expect(loads).toBe(0)
  })
})
