/**
 * Attacks on strong remove (ARCHITECTURE.md "Access control": records beyond a revocation's
 * lastSeq are cut on every peer wherever they sort): a revoked admin's backdated ACL events, a
 * revoked writer's backdated deletes, resuming with fromSeq, a transaction the cut splits, and an
 * admin revoked while it revokes others, with compaction and snapshots in between.
 */
import { describe, expect, it } from 'vitest'
import type { AclState } from '../../../src/acl/aclProjection.js'
import { generateLogKey } from '../../../src/core/keys.js'
import { recordBlocks } from '../../../src/core/record.js'
import { ACL, aclWorld, headOf, type Sent } from './fixture.js'

describe('strong remove', () => {
  it('a revoked writer-admin\'s ACL grant beyond lastSeq, backdated before the revocation, is cut like its app events (no sybil writer survives)', async () => {
    const w = await aclWorld(3)
    const mallory = w.keys[1]!
    w.cmd(0, `${ACL}grant`, { peer: mallory.id, roles: ['write'] })
    w.cmd(0, `${ACL}grant`, { peer: mallory.id, roles: ['write'], scope: 'admin' })
    await w.deliver(1)
    w.cmd(1, 'test/added', 'm1')
    await w.deliver(0)
    for (const n of [1, 2, 3]) w.cmd(0, 'test/added', `o${n}`)
    // The owner removes Mallory from both documents, naming seq 1 as the last it applied.
    w.cmd(0, `${ACL}revoke`, { peer: mallory.id, roles: ['write'], lastSeq: 1 })
    w.cmd(0, `${ACL}revoke`, { peer: mallory.id, roles: ['write'], scope: 'admin' })
    // Mallory's seq 2, with a low clock: it sorts before both revocations.
    const sybil = generateLogKey()
    const grant = w.forge(mallory, headOf(w.peers[1]!, mallory.id), { type: `${ACL}grant`, payload: { peer: sybil.id, roles: ['write'] } }, 1)
    const s1 = w.forge(sybil, undefined, { type: 'test/added', payload: 'by sybil' }, 10_000)
    await w.deliver(2, [...w.sent, grant.sent, s1.sent])
    const acl = w.peers[2]!.engine.system as AclState
    expect(acl.cuts[mallory.id]).toEqual([{ from: 2, to: Number.MAX_SAFE_INTEGER }])
    expect(w.peers[2]!.engine.state).toEqual(['m1', 'o1', 'o2', 'o3'])
    expect(acl.thread.peers[sybil.id]).toBeUndefined()
  })

  it('a revoked writer\'s delete beyond lastSeq, backdated before the revocation, is cut (the target stays)', async () => {
    const w = await aclWorld(3)
    const mallory = w.keys[1]!
    w.cmd(0, `${ACL}grant`, { peer: mallory.id, roles: ['write', 'delete'] })
    const target = w.cmd(0, 'test/added', 'keep me')
    await w.deliver(1)
    w.cmd(1, 'test/added', 'm1')
    await w.deliver(0)
    for (const n of [1, 2, 3]) w.cmd(0, 'test/added', `o${n}`)
    w.cmd(0, `${ACL}revoke`, { peer: mallory.id, roles: ['write'], lastSeq: 1 })
    const del = w.forge(mallory, headOf(w.peers[1]!, mallory.id), { type: `${ACL}delete`, payload: { event: target.id, log: target.logId, seq: target.seq } }, 1)
    await w.deliver(2, [...w.sent, del.sent])
    expect(w.peers[2]!.engine.state).toEqual(['keep me', 'm1', 'o1', 'o2', 'o3'])
  })

  it('a grant of write with fromSeq = the first cut seq (the writer wrote nothing since) lets the writer write again', async () => {
    const w = await aclWorld(3)
    const bob = w.keys[1]!
    w.cmd(0, `${ACL}grant`, { peer: bob.id, roles: ['write'] })
    await w.deliver(1)
    w.cmd(1, 'test/added', 'b1')
    w.cmd(1, 'test/added', 'b2')
    await w.deliver(0)
    w.cmd(0, `${ACL}revoke`, { peer: bob.id, roles: ['write'], lastSeq: 2 })
    // Bob's next record is seq 3: write again from there.
    w.cmd(0, `${ACL}grant`, { peer: bob.id, roles: ['write'], fromSeq: 3 })
    await w.deliver(1)
    expect(() => w.cmd(1, 'test/added', 'b3')).not.toThrow()
    await w.deliver(2)
    expect(w.peers[2]!.engine.state).toEqual(['b1', 'b2', 'b3'])
  })

  it('a grant of write with fromSeq past the cut start resumes there, on every peer in any order', async () => {
    const w = await aclWorld(3)
    const bob = w.keys[1]!
    w.cmd(0, `${ACL}grant`, { peer: bob.id, roles: ['write'] })
    await w.deliver(1)
    w.cmd(1, 'test/added', 'b1')
    await w.deliver(0)
    w.cmd(0, `${ACL}revoke`, { peer: bob.id, roles: ['write'], lastSeq: 1 })
    // Bob writes seq 2 unaware (cut), then is granted again from seq 3.
    w.cmd(1, 'test/added', 'b2 (cut)')
    await w.deliver(0)
    w.cmd(0, `${ACL}grant`, { peer: bob.id, roles: ['write'], fromSeq: 3 })
    await w.deliver(1)
    w.cmd(1, 'test/added', 'b3')
    await w.deliver(0)
    await w.deliver(2, [...w.sent].reverse())
    for (const p of w.peers) expect(p.engine.state).toEqual(['b1', 'b3'])
  })

  it('a revocation naming the last applied seq never splits a transaction: it applies whole or not at all', async () => {
    const w = await aclWorld(3)
    const bob = w.keys[1]!
    w.cmd(0, `${ACL}grant`, { peer: bob.id, roles: ['write'] })
    await w.deliver(1)
    const { durable } = w.peers[1]!.engine.transaction(() => {
      for (const p of ['t1', 't2', 't3']) w.peers[1]!.engine.command({ type: 'test/added', payload: p })
    })
    await durable
    const bobs: Sent[] = (await w.peers[1]!.store.records(w.thread.threadId, bob.id, { from: 1 })).map((r) => ({ logId: bob.id, blocks: recordBlocks(r) }))
    expect(bobs).toHaveLength(4)
    // The owner has stored t1 and t2 (a page of a pull), not yet applied (no commit): revoke.
    for (const s of bobs.slice(0, 2)) await w.peers[0]!.engine.ingest(s.logId, [s.blocks])
    // (The owner's clock moves past the transaction's, so the revocation sorts after all of it.)
    for (const n of [1, 2, 3, 4, 5]) w.cmd(0, 'test/added', `o${n}`)
    // lastSeq as changeAcl takes it: the last record applied (none: no commit yet), not stored.
    expect(w.peers[0]!.engine.appliedSeq(bob.id)).toBe(0)
    w.cmd(0, `${ACL}revoke`, { peer: bob.id, roles: ['write'], lastSeq: w.peers[0]!.engine.appliedSeq(bob.id) })
    await w.deliver(2, [...w.sent, ...bobs])
    const state = w.peers[2]!.engine.state.filter((p) => p.startsWith('t'))
    expect([[], ['t1', 't2', 't3']]).toContainEqual(state)
  })

  it('an admin revoked while it revokes a writer: every peer agrees, in any delivery order, with compaction and a reopen in between', async () => {
    const w = await aclWorld(5, { snapshotEvery: 3 })
    const [owner, admin, writer] = w.keys
    w.cmd(0, `${ACL}grant`, { peer: admin!.id, roles: ['write'] })
    w.cmd(0, `${ACL}grant`, { peer: admin!.id, roles: ['write'], scope: 'admin' })
    w.cmd(0, `${ACL}grant`, { peer: writer!.id, roles: ['write'] })
    await w.deliver(1)
    await w.deliver(2)
    w.cmd(2, 'test/added', 'w1')
    w.cmd(1, 'test/added', 'a1')
    // Concurrently: the owner revokes the admin; the admin (unaware) revokes the writer.
    const ownerRevoke = w.cmd(0, `${ACL}revoke`, { peer: admin!.id, roles: ['write'], scope: 'admin' })
    await w.deliver(1, w.sent.filter((s) => s.logId === writer!.id))
    const adminRevoke = w.forge(admin!, headOf(w.peers[1]!, admin!.id), { type: `${ACL}revoke`, payload: { peer: writer!.id, roles: ['write'], lastSeq: 0 } }, 10_000)
    w.sent.push(adminRevoke.sent)
    // The writer keeps writing.
    w.cmd(2, 'test/added', 'w2')
    expect(ownerRevoke).toBeDefined()
    const a = w.peers[3]!
    const b = w.peers[4]!
    await w.deliver(a, [...w.sent].reverse())
    // b compacts midway, and is reopened from storage before the rest arrives.
    const half = Math.floor(w.sent.length / 2)
    await w.deliver(b, w.sent.slice(0, half))
    b.engine.compact()
    await b.engine.snapshot()
    await b.engine.flush()
    const b2 = await w.open({ storage: b.storage, logKey: w.keys[4]! })
    await w.deliver(b2, w.sent.slice(half))
    expect(b2.engine.state).toEqual(a.engine.state)
    expect((b2.engine.system as AclState).cuts).toEqual((a.engine.system as AclState).cuts)
    expect((a.engine.system as AclState).admin.peers[admin!.id]).toEqual(['no-access'])
    expect(owner).toBeDefined()
  })
})
