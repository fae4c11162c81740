/**
 * Second red-team round on service key rotation: attacks on the fixes of the first round.
 * Tests named "FINDING:" assert the weakness as it stands; "holds:" assert a defence.
 */
import { describe, expect, it } from 'vitest'
import * as dagCbor from '@ipld/dag-cbor'
import { planRotation } from '../../../src/acl/rotation.js'
import type { AclState } from '../../../src/acl/aclProjection.js'
import { generateLogKey, type LogKey } from '../../../src/core/keys.js'
import { createRecord, recordBlocks, type RecordBlocks } from '../../../src/core/record.js'
import { encodeCommand } from '../../../src/core/command.js'
import { serviceKeyId } from '../../../src/core/serviceKey.js'
import { createServiceRotation } from '../../../src/core/serviceRotation.js'
import { getCrypto } from '../../../src/core/crypto/index.js'
import type { ThreadsError } from '../../../src/core/errors.js'
import { exportThreadCarBytes } from '../../../src/store/car.js'
import { RecordsHandler, type RecordsHost } from '../../../src/net/records.js'
import { pullKey, PeerSession } from '../../../src/net/session.js'
import type { SyncTarget } from '../../../src/net/syncTarget.js'
import { MAX_UNKNOWN_KEY_MESSAGES_PER_MINUTE } from '../../../src/net/limits.js'
import type { TestEngine } from '../../support/engines.js'
import { ACL, aclWorld, headOf, type World } from './fixture.js'

async function world(engine: Record<string, unknown> = {}): Promise<{ w: World; follower: TestEngine; fid: LogKey; mal: TestEngine; mid: LogKey; mid2: LogKey }> {
  const w = await aclWorld(3, engine)
  const fid = generateLogKey()
  const mid = generateLogKey()
  const mid2 = generateLogKey()
  w.cmd(0, `${ACL}grant`, { peer: w.keys[1]!.id, roles: ['write'] })
  w.cmd(0, `${ACL}grant`, { peer: w.keys[2]!.id, roles: ['read'] })
  w.cmd(0, `${ACL}grant`, { peer: fid.id, roles: ['follow'] })
  w.cmd(0, `${ACL}grant`, { peer: mid.id, roles: ['follow'] })
  w.cmd(0, `${ACL}grant`, { peer: mid2.id, roles: ['follow'] })
  const follower = await w.open({ key: { service: w.thread.key.service }, engine: { identity: fid } })
  const mal = await w.open({ key: { service: w.thread.key.service }, engine: { identity: mid } })
  return { w, follower, fid, mal, mid, mid2 }
}

function rejections(t: TestEngine): ThreadsError[] {
  const out: ThreadsError[] = []
  t.engine.events.on('rejected', (e) => out.push(e))
  return out
}

/** The owner rotates as #rotateNow does: key kept first, then the rotate record (pushed to w.sent). */
async function rotate(w: World): Promise<{ key: Uint8Array; seq: number; epoch: number }> {
  const owner = w.peers[0]!.engine
  const ok = owner.serviceKeys()
  const plan = planRotation(owner.system as AclState, ok.newest().key, (e) => ok.byEpoch(e))!
  await owner.addServiceKey(plan.service!.epoch, plan.service!.key)
  const { record } = owner.command({ type: `${ACL}rotate`, payload: plan.payload }, undefined, { service: plan.service!.box })
  w.sent.push({ logId: w.keys[0]!.id, blocks: recordBlocks(record) })
  return { key: plan.service!.key, seq: record.seq, epoch: plan.service!.epoch }
}

function handlerFor(target: TestEngine): { handler: RecordsHandler; strikes: ThreadsError[]; targetOf: SyncTarget } {
  const strikes: ThreadsError[] = []
  const handler = new RecordsHandler({
    pulls: { answered: () => undefined, pump: () => undefined } as unknown as RecordsHost['pulls'],
    session: () => undefined,
    provedSessions: () => [],
    want: () => undefined,
    strike: (_peer, e) => strikes.push(e),
    ownLogMaybeRecovered: () => undefined,
    announce: () => undefined
  } as RecordsHost)
  const targetOf = {
    id: 'thread',
    logKey: undefined,
    ownLogRecovery: undefined,
    ingest: (log: string, blocks: readonly RecordBlocks[]) => target.engine.ingest(log, blocks),
    heads: () => target.engine.heads(),
    gaps: () => [],
    idAt: async () => undefined
  } as unknown as SyncTarget
  return { handler, strikes, targetOf }
}

function junk(n: number): RecordBlocks[] {
  const out: RecordBlocks[] = []
  for (let i = 0; i < n; i++) {
    const box = dagCbor.encode(getCrypto().randomBytes(200))
    const record = new Uint8Array(10 + box.length)
    record[0] = 0x82
    record[1] = 0x48
    record.set(getCrypto().randomBytes(8), 2)
    record.set(box, 10)
    out.push({ record, event: new Uint8Array(0), header: new Uint8Array(0), body: new Uint8Array(0) })
  }
  return out
}

describe('service key rotation: red team round 2', () => {
  it('known gap (hostile owner, documented): a rotate event whose service.id is not the boxed key splits readers (seal/prove epoch 0) from followers (seal/prove epoch 1, accept only it)', async () => {
    const { w, follower, fid, mid } = await world()
    w.cmd(0, `${ACL}revoke`, { peer: mid.id, roles: ['follow'], lastSeq: 0 })
    const owner = w.peers[0]!.engine
    const plan = planRotation(owner.system as AclState, owner.serviceKeys().newest().key)!
    const payload = { rotate: { ...plan.payload.rotate, service: { ...plan.payload.rotate.service!, id: getCrypto().randomBytes(8) } } }
    await owner.addServiceKey(plan.service!.epoch, plan.service!.key)
    const { record } = owner.command({ type: `${ACL}rotate`, payload }, undefined, { service: plan.service!.box })
    w.sent.push({ logId: w.keys[0]!.id, blocks: recordBlocks(record) })
    await w.deliver(1)
    await w.deliver(follower)
    // Everyone holds the boxed key...
    expect(w.peers[1]!.engine.serviceKeys().byEpoch(1)).toEqual(plan.service!.key)
    expect(follower.engine.serviceKeys().byEpoch(1)).toEqual(plan.service!.key)
    expect(fid.id.length).toBeGreaterThan(0)
    // ...but readers (owner included) never admit it: they seal and prove under epoch 0, the key the revoked follower holds.
    expect(owner.serviceKeys().newest().epoch).toBe(0)
    expect(w.peers[1]!.engine.serviceKeys().newest().epoch).toBe(0)
    const { record: afterRevoke } = w.peers[1]!.engine.command({ type: 'test/added', payload: 'after the revocation' })
    expect(afterRevoke.serviceEpoch ?? 0).toBe(0)
    // The follower seals/proves under epoch 1 and accepts only that: the reader's proof is refused.
    expect(follower.engine.serviceKeys().newest().epoch).toBe(1)
    expect(follower.engine.authKeys().accept).toEqual([plan.service!.key])
    expect(follower.engine.authKeys().accept).not.toContainEqual(w.peers[1]!.engine.authKeys().send)
  })

  it('fixed: 34 rotations in one batch (one pull page) open in one round: the engine ingests again while it takes keys, and the honest peer answering is never struck', async () => {
    const { w, follower } = await world()
    const n = MAX_UNKNOWN_KEY_MESSAGES_PER_MINUTE + 2
    const gone = Array.from({ length: n }, () => generateLogKey())
    for (const g of gone) w.cmd(0, `${ACL}grant`, { peer: g.id, roles: ['follow'] })
    await w.deliver(follower)
    const base = w.sent.length
    for (const g of gone) {
      w.cmd(0, `${ACL}revoke`, { peer: g.id, roles: ['follow'], lastSeq: 0 })
      await rotate(w)
    }
    expect(w.peers[0]!.engine.serviceKeys().newest().epoch).toBe(n)
    const page = w.sent.slice(base).map((s) => s.blocks)
    // One page holding every rotation, as an honest peer answers a pull (repeated as the puller re-asks).
    const { handler, strikes, targetOf } = handlerFor(follower)
    const session = new PeerSession('honest-owner')
    const errs = rejections(follower)
    let rounds = 0
    while (follower.engine.serviceKeys().newest().epoch < n && rounds < 3 * n) {
      rounds++
      const from = headOf(follower, w.keys[0]!.id)?.seq ?? 0
      const rest = page.filter((_, i) => w.sent[base + i]!.blocks && i >= 0).slice(Math.max(0, from - (w.sent.slice(0, base).filter((s) => s.logId === w.keys[0]!.id).length)))
      await handler.onRecords(session, targetOf, { t: 'records', thread: targetOf.id, log: w.keys[0]!.id, records: rest, more: false, push: false } as never)
    }
    expect(follower.engine.serviceKeys().newest().epoch).toBe(n)
    // Refusals inside the batch were taken back as the keys came: one round, no strike.
    expect(errs.length).toBeGreaterThan(0)
    expect(rounds).toBe(1)
    expect(strikes).toEqual([])
    expect(headOf(follower, w.keys[0]!.id)?.seq).toBe(w.sent.filter((x) => x.logId === w.keys[0]!.id).length)
  })

  it('holds: a reader with snapshots every event, restored from storage across two rotations, keeps epoch/log/seq/id and seals under epoch 2', async () => {
    const { w, mid, mid2 } = await world({ snapshotEvery: 1 })
    w.cmd(0, `${ACL}revoke`, { peer: mid.id, roles: ['follow'], lastSeq: 0 })
    await rotate(w)
    w.cmd(0, `${ACL}revoke`, { peer: mid2.id, roles: ['follow'], lastSeq: 0 })
    const r2 = await rotate(w)
    await w.deliver(2)
    const reader = w.peers[2]!
    await reader.engine.flush?.()
    const before = (reader.engine.system as AclState).rotations.service
    expect(before.map((r) => [r.epoch, r.log, r.seq])).toEqual([[1, w.keys[0]!.id, expect.any(Number)], [2, w.keys[0]!.id, r2.seq]])
    const again = await w.open({ storage: reader.storage, logKey: w.keys[2]!, engine: { snapshotEvery: 1 } })
    const after = (again.engine.system as AclState).rotations.service
    expect(after.map((r) => [r.epoch, r.log, r.seq, Array.from(r.id ?? [])])).toEqual(before.map((r) => [r.epoch, r.log, r.seq, Array.from(r.id ?? [])]))
    expect(after[1]!.id).toBeInstanceOf(Uint8Array)
    expect(again.engine.serviceKeys().newest().epoch).toBe(2)
  })

  it('holds: owner crash (rotate record durable, key not kept) with a snapshot after the rotate fold: restored from the snapshot it still recovers the key', async () => {
    const { w, mid } = await world({ snapshotEvery: 1 })
    w.cmd(0, `${ACL}revoke`, { peer: mid.id, roles: ['follow'], lastSeq: 0 })
    const owner = w.peers[0]!
    const plan = planRotation(owner.engine.system as AclState, owner.engine.serviceKeys().newest().key)!
    const { record, durable } = owner.engine.command({ type: `${ACL}rotate`, payload: plan.payload }, undefined, { service: plan.service!.box })
    await durable
    w.cmd(0, 'test/added', 'one more, so a snapshot covers the rotate')
    await owner.engine.flush?.()
    expect(record.seq).toBeGreaterThan(0)
    const again = await w.open({ storage: owner.storage, logKey: w.keys[0]!, engine: { snapshotEvery: 1 } })
    expect((again.engine.system as AclState).rotations.service.map((r) => r.epoch)).toEqual([1])
    expect(again.engine.serviceKeys().newest().key).toEqual(plan.service!.key)
  })

  it('holds: the keyring index after a planted key is replaced by the admitted one: byId finds the new, not the planted; a keyring made before a key is added sees it', async () => {
    const { w, mid } = await world()
    const t = w.peers[2]!
    const planted = getCrypto().randomBytes(32)
    await t.store.logstore.addServiceKey(w.thread.threadId, 1, planted)
    const early = t.engine.serviceKeys()
    expect(early.byId(serviceKeyId(planted))?.epoch).toBe(1) // indexed now
    w.cmd(0, `${ACL}revoke`, { peer: mid.id, roles: ['follow'], lastSeq: 0 })
    const r1 = await rotate(w)
    await w.deliver(t)
    expect(t.engine.serviceKeys().byEpoch(1)).toEqual(r1.key)
    // The keyring object made earlier and the one made now both index the replacement.
    for (const ring of [early, t.engine.serviceKeys()]) {
      expect(ring.byId(serviceKeyId(r1.key))?.key).toEqual(r1.key)
      expect(ring.byId(serviceKeyId(planted))).toBeUndefined()
    }
  })

  it('known gap (documented): the unknown-key budget is per PeerSession, and a session is new per connection: a peer that reconnects gets a fresh budget (32 x 1000 junk records per connection, never struck)', async () => {
    const { w, follower } = await world()
    await w.deliver(follower)
    const { handler, strikes, targetOf } = handlerFor(follower)
    const writer = w.keys[1]!.id
    for (let conn = 0; conn < 4; conn++) {
      const session = new PeerSession('sender') // as Peers.open does after close()
      for (let i = 0; i < MAX_UNKNOWN_KEY_MESSAGES_PER_MINUTE; i++) await handler.onRecords(session, targetOf, { t: 'records', thread: targetOf.id, log: writer, records: junk(50), more: false, push: true } as never)
    }
    expect(strikes).toEqual([])
  })

  it('a peer that advertised nothing this member lacks is charged for records under keys the member does not hold (33 such messages in a minute: one strike)', async () => {
    const { w, follower, mid } = await world()
    await w.deliver(follower)
    w.cmd(0, `${ACL}revoke`, { peer: mid.id, roles: ['follow'], lastSeq: 0 })
    await rotate(w)
    await w.deliver(1) // the writer has the rotation; the follower does not yet
    expect(w.peers[1]!.engine.serviceKeys().newest().epoch).toBe(1)
    const { handler, strikes, targetOf } = handlerFor(follower)
    const session = new PeerSession('honest-writer')
    const errs = rejections(follower)
    for (let i = 0; i < MAX_UNKNOWN_KEY_MESSAGES_PER_MINUTE + 1; i++) {
      const { record } = w.peers[1]!.engine.command({ type: 'test/added', payload: `w${i}` })
      expect(record.serviceEpoch).toBe(1)
      await handler.onRecords(session, targetOf, { t: 'records', thread: targetOf.id, log: w.keys[1]!.id, records: [recordBlocks(record)], more: false, push: true } as never)
    }
    expect(errs.every((e) => e.name === 'UnknownServiceKeyError')).toBe(true)
    expect(strikes.map((e) => e.name)).toEqual(['RateLimitedError'])
  })

  it('fixed: a writer that advertised the owner\'s log beyond this member (it holds the rotation) is not charged for pushes under the new key; the member pulls the owner\'s log from it instead', async () => {
    const { w, follower, mid } = await world()
    await w.deliver(follower)
    w.cmd(0, `${ACL}revoke`, { peer: mid.id, roles: ['follow'], lastSeq: 0 })
    await rotate(w)
    await w.deliver(1)
    const { strikes, targetOf } = handlerFor(follower)
    const wanted: Array<{ log: string; from: number }> = []
    const handler = new RecordsHandler({
      pulls: { answered: () => undefined, pump: () => undefined } as unknown as RecordsHost['pulls'],
      session: () => undefined,
      provedSessions: () => [],
      // As the pull scheduler does: the pull goes on the session's want-list.
      want: (s, t, log, from) => {
        wanted.push({ log, from })
        s.wants.set(pullKey(t.id, log), { threadId: t.id, log, from, limit: 1000, attempt: 1 })
      },
      strike: (_peer, e) => strikes.push(e),
      ownLogMaybeRecovered: () => undefined,
      announce: () => undefined
    } as RecordsHost)
    const session = new PeerSession('honest-writer')
    // The writer's heads, as the sync service keeps them from its last heads message.
    const ownerLog = w.keys[0]!.id
    const ownerHead = w.peers[1]!.engine.heads().get(ownerLog)?.seq ?? 0
    session.link(targetOf.id).advertised.set(ownerLog, ownerHead)
    const have = follower.engine.heads().get(ownerLog)?.seq ?? 0
    expect(ownerHead).toBeGreaterThan(have)
    for (let i = 0; i < MAX_UNKNOWN_KEY_MESSAGES_PER_MINUTE * 2; i++) {
      const { record } = w.peers[1]!.engine.command({ type: 'test/added', payload: `w${i}` })
      await handler.onRecords(session, targetOf, { t: 'records', thread: targetOf.id, log: w.keys[1]!.id, records: [recordBlocks(record)], more: false, push: true } as never)
      // The pull is answered (the owner's records, the rotation among them) before the next push.
      if (session.wants.delete(pullKey(targetOf.id, ownerLog))) await w.deliver(follower)
    }
    expect(strikes).toEqual([])
    expect(wanted.some((p) => p.log === ownerLog && p.from === have + 1)).toBe(true)
    expect(follower.engine.serviceKeys().newest().epoch).toBe(1)
  })

  it('a peer that advertises a head it never delivers is excused once, then charged while its pull waits: junk under unknown keys still earns a strike', async () => {
    const { w, follower } = await world()
    await w.deliver(follower)
    const { strikes, targetOf } = handlerFor(follower)
    const handler = new RecordsHandler({
      pulls: { answered: () => undefined, pump: () => undefined } as unknown as RecordsHost['pulls'],
      session: () => undefined,
      provedSessions: () => [],
      want: (s, t, log, from) => void s.wants.set(pullKey(t.id, log), { threadId: t.id, log, from, limit: 1000, attempt: 1 }),
      strike: (_peer, e) => strikes.push(e),
      ownLogMaybeRecovered: () => undefined,
      announce: () => undefined
    } as RecordsHost)
    const session = new PeerSession('liar')
    session.link(targetOf.id).advertised.set(w.keys[0]!.id, 1_000_000)
    for (let i = 0; i < MAX_UNKNOWN_KEY_MESSAGES_PER_MINUTE + 2; i++) {
      await handler.onRecords(session, targetOf, { t: 'records', thread: targetOf.id, log: w.keys[1]!.id, records: junk(10), more: false, push: true } as never)
    }
    expect(strikes.map((e) => e.name)).toEqual(['RateLimitedError'])
  })

  it('holds: a CAR with a forged service rotation on a writer\'s log (valid salt, sealed under the current key) gives an importing follower no key', async () => {
    const { w, fid } = await world()
    await w.deliver(1)
    const attacker = w.keys[1]!
    const { key, box } = createServiceRotation({ members: [fid.id, attacker.id], epoch: 1, salt: w.salt, sealingKey: w.thread.key.service })
    const { record: forged } = w.peers[1]!.engine.command({ type: 'test/added', payload: 'carries a rotation' }, undefined, { service: box })
    w.sent.push({ logId: attacker.id, blocks: recordBlocks(forged) })
    // A record sealed under the forged key, in the writer's log (hand-built).
    const next = createRecord({ logKey: attacker, threadKey: { service: key, read: w.thread.key.read }, serviceEpoch: 1, thread: w.thread.threadId, body: encodeCommand({ type: 'test/added', payload: 'under forged key' }), clock: 10_000, time: 0, prev: { id: forged.id, seq: forged.seq } } as never)
    await w.peers[1]!.store.logstore // no-op; the CAR is exported from the writer's storage
    await w.peers[1]!.engine.flush?.()
    const car = await exportThreadCarBytes(w.peers[1]!.store, w.thread.threadId)
    const fresh = await w.open({ key: { service: w.thread.key.service }, engine: { identity: fid } })
    const errs = rejections(fresh)
    await fresh.engine.importCar(car)
    expect(fresh.engine.serviceKeys().all().length).toBe(1)
    expect(errs.map((e) => e.name)).toContain('AccessDeniedError')
    // Live ingest of the forged rotation + a record under its key: refused too.
    const errs2 = rejections(w.peers[2]!)
    await w.deliver(2)
    await w.peers[2]!.engine.ingest(attacker.id, [recordBlocks(next)])
    expect(w.peers[2]!.engine.serviceKeys().all().length).toBe(1)
    expect(errs2.map((e) => e.name)).toContain('UnknownServiceKeyError')
  })
})
