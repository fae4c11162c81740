/**
 * Attacks on read key rotation: two admins rotating at once (each keeps its own key for the same
 * epoch), a rotation carried by an event the order ignores, the revoker of `write` cutting a peer
 * that keeps `read` out of the new key, and rotation payloads a malicious admin fills.
 */
import { configureStore } from '@reduxjs/toolkit'
import { describe, expect, it } from 'vitest'
import { aclProjection, type AclState } from '../../../src/acl/aclProjection.js'
import { createRotation } from '../../../src/acl/rotation.js'
import { generateLogKey } from '../../../src/core/keys.js'
import { createPeer, Variant } from '../../../src/index.js'
import { engineOf } from '../../../src/advanced.js'
import { todos } from '../../../examples/todo/todoSlice.js'
import { ACL, aclWorld, headOf } from './fixture.js'

describe('read key rotation', () => {
  it('two admins that rotate the read key at once: only the owner\'s rotation counts, a key kept for the other is never used, and everyone reads both', async () => {
    // 0 owner, 1 admin (writes), 2 and 3 readers revoked by one admin each, 4 a reader that stays.
    const w = await aclWorld(5)
    const [owner, admin, r2, r3] = w.keys
    const stay = w.keys[4]!
    w.cmd(0, `${ACL}grant`, { peer: admin!.id, roles: ['write'] })
    w.cmd(0, `${ACL}grant`, { peer: admin!.id, roles: ['write'], scope: 'admin' })
    for (const r of [r2!, r3!, stay]) w.cmd(0, `${ACL}grant`, { peer: r.id, roles: ['read'] })
    await w.deliver(1)
    // Concurrently, as ThreadLifecycle.changeAcl does: epoch = newest + 1, the key kept at once.
    const ownerRot = createRotation([owner!.id, admin!.id, r3!.id, stay.id], 1)
    w.cmd(0, `${ACL}revoke`, { peer: r2!.id, roles: ['read'], lastSeq: 0, rotate: { read: ownerRot.rotate } })
    await w.peers[0]!.store.logstore.addReadKey(w.thread.threadId, 1, ownerRot.key)
    const adminRot = createRotation([owner!.id, admin!.id, r2!.id, stay.id], 1)
    w.cmd(1, `${ACL}revoke`, { peer: r3!.id, roles: ['read'], lastSeq: 0, rotate: { read: adminRot.rotate } })
    await w.peers[1]!.store.logstore.addReadKey(w.thread.threadId, 1, adminRot.key)
    w.cmd(0, 'test/added', 'by owner')
    w.cmd(1, 'test/added', 'by admin')
    await w.deliver(0, w.sent.filter((s) => s.logId === admin!.id))
    await w.deliver(1, w.sent.filter((s) => s.logId === owner!.id))
    const reader = await w.open({ engine: { identity: stay } })
    await w.deliver(reader)
    for (const p of [w.peers[0]!, w.peers[1]!, reader]) expect([...p.engine.state].sort()).toEqual(['by admin', 'by owner'])
  })

  it('a rotation carried by a revocation the order refuses changes nothing: its author seals under the accepted key and everyone reads it', async () => {
    // The admin's rights are revoked concurrently; its rotation (kept locally at once) never folds.
    const w = await aclWorld(3)
    const [owner, admin, reader] = w.keys
    w.cmd(0, `${ACL}grant`, { peer: admin!.id, roles: ['write'] })
    w.cmd(0, `${ACL}grant`, { peer: admin!.id, roles: ['write'], scope: 'admin' })
    w.cmd(0, `${ACL}grant`, { peer: reader!.id, roles: ['read'] })
    await w.deliver(1)
    // The admin, unaware, writes on (its clock moves past the owner's), then revokes the reader
    // with a rotation, keeping the key at once as ThreadLifecycle.changeAcl does.
    w.cmd(1, 'test/added', 'a1')
    w.cmd(1, 'test/added', 'a2')
    w.cmd(0, `${ACL}revoke`, { peer: admin!.id, roles: ['write'], scope: 'admin' })
    const rot = createRotation([owner!.id, admin!.id], 1)
    w.cmd(1, `${ACL}revoke`, { peer: reader!.id, roles: ['read'], lastSeq: 0, rotate: { read: rot.rotate } })
    await w.peers[1]!.store.logstore.addReadKey(w.thread.threadId, 1, rot.key)
    // Sorting after the owner's revocation, the admin's is refused on every peer; it writes on.
    w.cmd(1, 'test/added', 'after')
    await w.deliver(1, w.sent.filter((x) => x.logId === owner!.id))
    await w.deliver(0, w.sent.filter((x) => x.logId === admin!.id))
    await w.deliver(2)
    expect((w.peers[2]!.engine.system as AclState).rotations.read).toEqual([])
    expect((w.peers[1]!.engine.system as AclState).rotations.read).toEqual([])
    expect(w.peers[1]!.engine.state).toEqual(['a1', 'a2', 'after'])
    // The owner and the reader (never revoked: the revocation was refused) read it too.
    expect(w.peers[0]!.engine.state).toEqual(['a1', 'a2', 'after'])
    expect(w.peers[2]!.engine.state).toEqual(['a1', 'a2', 'after'])
  })

  it('a rotation with a garbage or oversized box, or sealed as a non-map, is not folded (no epoch, no key), and nothing is retried on later ingests', async () => {
    const w = await aclWorld(2)
    const reader = generateLogKey()
    w.cmd(0, `${ACL}grant`, { peer: reader.id, roles: ['read'] })
    const sealed: Record<string, Uint8Array> = { [reader.id]: new Uint8Array(200_000).fill(7) }
    for (let i = 0; i < 500; i++) sealed[generateLogKey().id] = new Uint8Array(93)
    w.cmd(0, `${ACL}grant`, { peer: w.keys[1]!.id, roles: ['read'], rotate: { read: { epoch: 1, sealed } } })
    w.cmd(0, `${ACL}grant`, { peer: w.keys[1]!.id, roles: ['read'], rotate: { read: { epoch: 2, sealed: 'nope' } } })
    w.cmd(0, `${ACL}grant`, { peer: w.keys[1]!.id, roles: ['read'], rotate: { read: { epoch: 3, sealed: null } } })
    w.cmd(0, `${ACL}grant`, { peer: w.keys[1]!.id, roles: ['read'], rotate: { read: { epoch: 4, sealed: { [reader.id]: 'str' } } } })
    w.cmd(0, `${ACL}grant`, { peer: w.keys[1]!.id, roles: ['read'], rotate: 'nope' })
    const r = await w.open({ engine: { identity: reader } })
    const rejected: string[] = []
    r.engine.events.on('rejected', (e) => rejected.push(`${e.name}: ${e.message}`))
    await w.deliver(r)
    // Each is malformed (a box over 256 bytes, a non-map, a non-box): no epoch starts.
    expect((r.engine.system as AclState).rotations.read.map((x) => x.epoch)).toEqual([])
    expect(r.store.logstore.getThread(w.thread.threadId).readKeys.size).toBe(0)
    // One report for the bad box, not one per record ingested after it.
    const more = w.forge(w.keys[0]!, headOf(w.peers[0]!, w.keys[0]!.id), { type: 'test/added', payload: 'x' }, 100)
    const before = rejected.length
    await r.engine.ingest(more.sent.logId, [more.sent.blocks])
    expect(rejected.slice(before)).toEqual([])
  })
})

describe('read key rotation through the store', () => {
  it('revoking only `write` from a peer granted read and write keeps it a reader, and seals it the new key', async () => {
    const alice = createPeer({ syncIntervalMs: 0 })
    const store = configureStore({ reducer: { [alice.reducerPath]: alice.reducer, todos: todos.reducer }, middleware: (gDM) => gDM().concat(alice.middleware) })
    await store.dispatch(alice.thunks.start()).unwrap()
    const { threadId } = await store.dispatch(alice.thunks.createThread({ slices: [todos], variant: Variant.AccessControlled })).unwrap()
    const bob = generateLogKey()
    await store.dispatch(alice.thunks.changeAcl({ threadId, change: { kind: 'grant', peer: bob.id, roles: ['read', 'write'] } })).unwrap()
    await store.dispatch(alice.thunks.changeAcl({ threadId, change: { kind: 'revoke', peer: bob.id, roles: ['write'] } })).unwrap()
    const engine = engineOf(alice.thread(threadId)!)
    const acl = engine.system as AclState
    // The ACL keeps him a reader...
    expect(acl.thread.peers[bob.id]).toEqual(['read'])
    // ...so a rotation, if there is one, must seal him the new key.
    const revoke = engine.timeline.events.filter((e) => e.command.type === `${ACL}revoke`).at(-1)!
    const epoch = acl.rotations.read.at(-1)?.epoch
    if (epoch !== undefined) expect(aclProjection().sealedKeyFor!(revoke, epoch, bob.id)).toBeInstanceOf(Uint8Array)
    await alice.close()
  })
})
