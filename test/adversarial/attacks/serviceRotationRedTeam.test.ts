/**
 * Red-team attacks on service key rotation (issue 10). Tests marked "FAILS:" in their name
 * demonstrate a weakness (their assertions state the bad outcome as it happens today); the others
 * pin a defence that held.
 */
import { describe, expect, it } from 'vitest'
import * as dagCbor from '@ipld/dag-cbor'
import { planRotation } from '../../../src/acl/rotation.js'
import type { AclState } from '../../../src/acl/aclProjection.js'
import { createInvite, openInvite } from '../../../src/acl/invite.js'
import { generateLogKey, type LogKey } from '../../../src/core/keys.js'
import { createRecord, recordBlocks } from '../../../src/core/record.js'
import { encodeCommand } from '../../../src/core/command.js'
import { serviceKeyId } from '../../../src/core/serviceKey.js'
import { createServiceRotation } from '../../../src/core/serviceRotation.js'
import { getCrypto } from '../../../src/core/crypto/index.js'
import type { ThreadsError } from '../../../src/core/errors.js'
import { exportThreadCarBytes } from '../../../src/store/car.js'
import type { TestEngine } from '../../support/engines.js'
import { ACL, aclWorld, headOf, type World } from './fixture.js'

async function world(): Promise<{ w: World; follower: TestEngine; fid: LogKey; mal: TestEngine; mid: LogKey }> {
  const w = await aclWorld(3)
  const fid = generateLogKey()
  const mid = generateLogKey()
  w.cmd(0, `${ACL}grant`, { peer: w.keys[1]!.id, roles: ['write'] })
  w.cmd(0, `${ACL}grant`, { peer: w.keys[2]!.id, roles: ['read'] })
  w.cmd(0, `${ACL}grant`, { peer: fid.id, roles: ['follow'] })
  w.cmd(0, `${ACL}grant`, { peer: mid.id, roles: ['follow'] })
  const follower = await w.open({ key: { service: w.thread.key.service }, engine: { identity: fid } })
  const mal = await w.open({ key: { service: w.thread.key.service }, engine: { identity: mid } })
  return { w, follower, fid, mal, mid }
}

function rejections(t: TestEngine): ThreadsError[] {
  const out: ThreadsError[] = []
  t.engine.events.on('rejected', (e) => out.push(e))
  return out
}

describe('service key rotation: red team', () => {
  it('FAILS: owner crash after the rotate record is durable but before its key is kept: the owner keeps sealing under the retired key (open to the revoked follower) and refuses everything sealed under the new one', async () => {
    const { w, follower, mal, mid } = await world()
    w.cmd(0, `${ACL}revoke`, { peer: mid.id, roles: ['follow'], lastSeq: 0 })
    const owner = w.peers[0]!
    const plan = planRotation(owner.engine.system as AclState, owner.engine.serviceKeys().newest().key)!
    // #rotateIfNeeded (src/redux/threads.ts:138-142): command first, then addServiceKey. The process dies in between.
    const { record, durable } = owner.engine.command({ type: `${ACL}rotate`, payload: plan.payload }, undefined, { service: plan.service!.box })
    await durable
    w.sent.push({ logId: w.keys[0]!.id, blocks: recordBlocks(record) })
    await owner.engine.flush?.()
    // Restart from the same storage.
    const again = await w.open({ storage: owner.storage, logKey: w.keys[0]! })
    // The folded ACL already names the rotation, so nothing tells the owner to rotate again...
    expect((again.engine.system as AclState).rotations.service.map((r) => r.epoch)).toEqual([1])
    expect(planRotation(again.engine.system as AclState, again.engine.serviceKeys().newest().key)).toBeUndefined()
    // ...and the owner never absorbs its own log's rotation: it stays on epoch 0.
    expect(again.engine.serviceKeys().newest().epoch).toBe(0)
    const { record: after } = again.engine.command({ type: 'test/added', payload: 'secret-ish, after the revocation' })
    expect(after.serviceEpoch ?? 0).toBe(0)
    // The revoked follower verifies and stores (and can serve) what the owner writes after its revocation.
    await w.deliver(mal)
    await mal.engine.ingest(w.keys[0]!.id, [recordBlocks(after)])
    expect(headOf(mal, w.keys[0]!.id)?.seq).toBe(after.seq)
    // Meanwhile the follower took the new key; a writer seals under it; the owner refuses that for good.
    await w.deliver(follower)
    await w.deliver(1)
    expect(w.peers[1]!.engine.serviceKeys().newest().epoch).toBe(1)
    const { record: fromWriter } = w.peers[1]!.engine.command({ type: 'test/added', payload: 'from writer' })
    expect(fromWriter.serviceEpoch).toBe(1)
    const errs = rejections(again)
    await again.engine.ingest(w.keys[1]!.id, [recordBlocks(fromWriter)])
    expect(errs.map((e) => e.name)).toContain('UnknownServiceKeyError')
  })

  it('FAILS: owner crash after the new key is kept but before the rotate record is: the retry re-plans the same epoch with another key, addServiceKey keeps the first; owner and members never share a key again', async () => {
    const { w, follower, mid } = await world()
    w.cmd(0, `${ACL}revoke`, { peer: mid.id, roles: ['follow'], lastSeq: 0 })
    const owner = w.peers[0]!
    const first = planRotation(owner.engine.system as AclState, owner.engine.serviceKeys().newest().key)!
    // Key kept, record lost (storage write of the record failed or the process died first).
    await owner.engine.addServiceKey(first.service!.epoch, first.service!.key)
    // Restart: the ACL still has a stale holder, the owner rotates again.
    const again = await w.open({ storage: owner.storage, logKey: w.keys[0]! })
    const second = planRotation(again.engine.system as AclState, again.engine.serviceKeys().newest().key)!
    expect(second.service!.epoch).toBe(first.service!.epoch) // same epoch, new key
    const { record } = again.engine.command({ type: `${ACL}rotate`, payload: second.payload }, undefined, { service: second.service!.box })
    w.sent.push({ logId: w.keys[0]!.id, blocks: recordBlocks(record) })
    await again.engine.addServiceKey(second.service!.epoch, second.service!.key)
    // The owner kept the lost key; note the rotation record itself was sealed under it, so nobody can open it.
    expect(again.engine.serviceKeys().newest().id).toEqual(serviceKeyId(first.service!.key))
    const errs = rejections(follower)
    await w.deliver(follower)
    expect(errs.map((e) => e.name)).toContain('UnknownServiceKeyError')
    expect(follower.engine.serviceKeys().newest().epoch).toBe(0)
    expect(headOf(follower, w.keys[0]!.id)?.seq).toBe(w.sent.length - 1) // the owner's log is stuck for everyone
  })

  it('FAILS: an invite may carry any service key for any epoch; the invitee seals under it for good and later real rotations never become its newest', async () => {
    const { w } = await world()
    const inviter = w.keys[1]! // a writer (or admin) that is not the owner
    const invitee = generateLogKey()
    w.cmd(0, `${ACL}grant`, { peer: invitee.id, roles: ['write'] })
    const bogus = getCrypto().randomBytes(32)
    const text = createInvite({ threadId: w.thread.threadId, key: w.thread.key, role: 'write', addrs: [], from: inviter.id, to: invitee.id, services: [[0xffffffff, bogus]] })
    const invite = openInvite(text, invitee)
    expect(invite.services).toEqual([[0xffffffff, bogus]])
    // As join() does (src/redux/threads.ts:186).
    const t = await w.open({ logKey: invitee })
    for (const [epoch, key] of invite.services) await t.store.logstore.addServiceKey(w.thread.threadId, epoch, key)
    await w.deliver(t)
    // The owner really rotates later (epoch 1) and seals it to the invitee.
    const mid = generateLogKey()
    w.cmd(0, `${ACL}grant`, { peer: mid.id, roles: ['follow'] })
    w.cmd(0, `${ACL}revoke`, { peer: mid.id, roles: ['follow'], lastSeq: 0 })
    const owner = w.peers[0]!.engine
    const plan = planRotation(owner.system as AclState, owner.serviceKeys().newest().key)!
    expect(plan.payload.rotate.service!.peers).toContain(invitee.id)
    const { record } = owner.command({ type: `${ACL}rotate`, payload: plan.payload }, undefined, { service: plan.service!.box })
    w.sent.push({ logId: w.keys[0]!.id, blocks: recordBlocks(record) })
    await w.deliver(t)
    expect(t.engine.serviceKeys().byEpoch(1)).toBeDefined()
    // Newest is still the inviter's key: every record the invitee writes is unreadable to everyone else.
    expect(t.engine.serviceKeys().newest().epoch).toBe(0xffffffff)
    const { record: mine } = t.engine.command({ type: 'test/added', payload: 'x' })
    const errs = rejections(w.peers[2]!)
    await w.deliver(2)
    await w.peers[2]!.engine.ingest(invitee.id, [recordBlocks(mine)])
    expect(errs.map((e) => e.name)).toContain('UnknownServiceKeyError')
  })

  it('FAILS: a CAR across a rotation cannot be imported by a member the rotation seals to, while it lacks the key (the CAR is parsed with the keys held before)', async () => {
    const { w, mid, fid } = await world()
    w.cmd(0, `${ACL}revoke`, { peer: mid.id, roles: ['follow'], lastSeq: 0 })
    const owner = w.peers[0]!.engine
    const plan = planRotation(owner.system as AclState, owner.serviceKeys().newest().key)!
    expect(plan.payload.rotate.service!.peers).toContain(fid.id)
    const { record } = owner.command({ type: `${ACL}rotate`, payload: plan.payload }, undefined, { service: plan.service!.box })
    w.sent.push({ logId: w.keys[0]!.id, blocks: recordBlocks(record) })
    await owner.addServiceKey(plan.service!.epoch, plan.service!.key)
    w.cmd(0, 'test/added', 'after')
    await owner.flush?.()
    const car = await exportThreadCarBytes(w.peers[0]!.store, w.thread.threadId)
    const fresh = await w.open({ key: { service: w.thread.key.service }, engine: { identity: fid } })
    await expect(fresh.engine.importCar(car)).rejects.toThrow(/lacks the record/)
    // Nothing at all was imported (not even the owner's records before the rotation).
    expect(headOf(fresh, w.keys[0]!.id)).toBeUndefined()
  })

  it('FAILS: the array form [ID of the first key, box] is accepted for an epoch-0 record: two record block encodings (CIDs) of one record', async () => {
    const { w, follower } = await world()
    await w.deliver(1)
    const s = w.cmd(1, 'test/added', 'plain')
    const plain = s.blocks.record
    expect(plain[0]! >> 5).toBe(2)
    const id = serviceKeyId(w.thread.key.service)
    const alt = new Uint8Array(2 + 8 + plain.length)
    alt[0] = 0x82
    alt[1] = 0x48
    alt.set(id, 2)
    alt.set(plain, 10)
    await w.deliver(follower, w.sent.slice(0, -1))
    const errs = rejections(follower)
    await follower.engine.ingest(s.logId, [{ ...s.blocks, record: alt }])
    expect(errs).toEqual([])
    expect(headOf(follower, s.logId)?.seq).toBe(1)
    // It stores and serves the plain form: the CID the sender used does not resolve on the follower.
    const served = await follower.engine.records(s.logId, 1, 1)
    expect(served[0]!.serviceEpoch ?? 0).toBe(0)
  })

  it('holds: a replayed old rotation, a rotation naming an epoch already held, and one under a retired key change nothing', async () => {
    const { w, follower, fid, mid } = await world()
    w.cmd(0, `${ACL}revoke`, { peer: mid.id, roles: ['follow'], lastSeq: 0 })
    const owner = w.peers[0]!.engine
    const plan = planRotation(owner.system as AclState, owner.serviceKeys().newest().key)!
    const { record } = owner.command({ type: `${ACL}rotate`, payload: plan.payload }, undefined, { service: plan.service!.box })
    w.sent.push({ logId: w.keys[0]!.id, blocks: recordBlocks(record) })
    await owner.addServiceKey(plan.service!.epoch, plan.service!.key)
    await w.deliver(follower)
    await w.deliver(follower) // duplicates
    expect(follower.engine.serviceKeys().all().length).toBe(2)
    // A writer re-wraps the owner's rotation box into its own record: wrong log, ignored.
    const k = createServiceRotation({ members: [fid.id], epoch: 2, salt: w.salt, sealingKey: w.thread.key.service })
    expect(k.box.length).toBeGreaterThan(0)
    expect(follower.engine.serviceKeys().newest().key).toEqual(plan.service!.key)
  })

  it('FAILS (hostile owner, bound): retired service keys are unbounded; each addServiceKey rewrites the whole key map (quadratic), and every record lookup sorts every key', async () => {
    const { w, follower } = await world()
    const store = follower.store.logstore
    const N = 3000
    const t0 = performance.now()
    for (let e = 1; e <= N; e++) await store.addServiceKey(w.thread.threadId, e, getCrypto().randomBytes(32))
    const addMs = performance.now() - t0
    expect(follower.engine.serviceKeys().all().length).toBe(N + 1)
    // One byId miss walks a freshly sorted copy of every key.
    const ring = follower.engine.serviceKeys()
    const t1 = performance.now()
    for (let i = 0; i < 200; i++) ring.byId(new Uint8Array(8))
    const lookupMs = (performance.now() - t1) / 200
    console.log(`add ${N} keys: ${addMs.toFixed(0)} ms; one unknown-ID lookup with ${N} keys: ${lookupMs.toFixed(2)} ms`)
    // The persisted thread entry grows without bound.
    const entry = dagCbor.encode(Object.fromEntries([...store.thread(w.thread.threadId)!.serviceKeys].map(([e, k]) => [String(e), k])))
    expect(entry.length).toBeGreaterThan(N * 32)
  })

  it('FAILS: unsigned garbage in the [key ID, box] form is reported as UnknownServiceKeyError, which net/records.ts never strikes: a member floods without penalty', async () => {
    const { w, follower } = await world()
    await w.deliver(follower)
    const errs = rejections(follower)
    const writer = w.keys[1]!.id
    const junk = []
    for (let i = 0; i < 1000; i++) {
      const box = dagCbor.encode(getCrypto().randomBytes(200))
      const record = new Uint8Array(10 + box.length)
      record[0] = 0x82
      record[1] = 0x48
      record.set(getCrypto().randomBytes(8), 2)
      record.set(box, 10)
      junk.push({ record, event: new Uint8Array(0), header: new Uint8Array(0), body: new Uint8Array(0) })
    }
    await follower.engine.ingest(writer, junk)
    expect(errs.length).toBe(1000)
    // Every one is classed "not the sender's doing" (src/net/records.ts:41), so no strike, no ban.
    expect(new Set(errs.map((e) => e.name))).toEqual(new Set(['UnknownServiceKeyError']))
    expect(follower.engine.held).toBe(0)
  })

  it('FAILS (hostile owner): a rotation to an epoch the ACL refuses (not the next, here above 2^32) is still taken into every keyring, becomes the key writers seal under, and makes every member\'s invite() throw', async () => {
    const { w, follower, fid } = await world()
    await w.deliver(1)
    await w.deliver(2)
    const owner = w.peers[0]!.engine
    const members = [w.keys[0]!.id, w.keys[1]!.id, w.keys[2]!.id, fid.id]
    const epoch = 2 ** 40
    const { key, box } = createServiceRotation({ members, epoch, salt: w.salt, sealingKey: w.thread.key.service })
    // The owner's peer refuses this locally; a hostile owner signs it by hand on its own log.
    const head = headOf(w.peers[0]!, w.keys[0]!.id)!
    const record = createRecord({ logKey: w.keys[0]!, threadKey: w.thread.key, thread: w.thread.threadId, body: encodeCommand({ type: `${ACL}rotate`, payload: { rotate: { service: { epoch, peers: members } } } }), clock: 1000, time: 0, service: box, prev: head })
    w.sent.push({ logId: w.keys[0]!.id, blocks: recordBlocks(record) })
    expect(owner).toBeDefined()
    expect(key.length).toBe(32)
    for (const t of [w.peers[1]!, w.peers[2]!, follower]) await w.deliver(t, w.sent.slice(-1))
    // The reader's ACL refuses the rotate event (not the next epoch), yet its keyring took the key.
    expect((w.peers[2]!.engine.system as AclState).rotations.service).toEqual([])
    expect(w.peers[2]!.engine.serviceKeys().newest().epoch).toBe(epoch)
    expect(w.peers[1]!.engine.command({ type: 'test/added', payload: 'x' }).record.serviceEpoch).toBe(epoch)
    // Invites of this thread can no longer be made by anyone (epochs must be <= 0xffffffff).
    const services = [...w.peers[1]!.store.logstore.thread(w.thread.threadId)!.serviceKeys].sort((a, b) => a[0] - b[0])
    expect(() => createInvite({ threadId: w.thread.threadId, key: w.thread.key, role: 'read', addrs: [], from: w.keys[1]!.id, to: generateLogKey().id, services })).toThrow()
  })
})
