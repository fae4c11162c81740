/**
 * Issue 10: roles enforced in the order, identically on every peer. A reader who builds records
 * by hand, a revoked writer who backdates its records below its revocation, someone claiming a
 * thread it does not own, a delete by a peer without the delete role: every peer ignores them
 * alike, and a local command the ACL does not allow is refused before it is signed.
 */
import { describe, expect, it } from 'vitest'
import { aclProjection, createAclThreadId, type AclState } from '../../src/acl/aclProjection.js'
import { createThreadKey, generateLogKey, type LogKey } from '../../src/core/keys.js'
import { recordBlocks, type RecordBlocks } from '../../src/core/record.js'
import { openEngine, type TestEngine } from '../support/engines.js'
import { forge, forgeChain } from '../support/forge.js'

async function aclThread(n: number) {
  const keys: LogKey[] = Array.from({ length: n }, () => generateLogKey())
  const owner = keys[0] as LogKey
  const { threadId, salt } = createAclThreadId(owner.id)
  const thread = { threadId, key: createThreadKey() }
  const peers: TestEngine[] = []
  for (const k of keys) peers.push(await openEngine(thread, { logKey: k, engine: { system: aclProjection() } }))
  const sent: Array<{ logId: string; blocks: RecordBlocks }> = []
  const cmd = (i: number, type: string, payload: unknown): RecordBlocks => {
    const { record } = (peers[i] as TestEngine).engine.command({ type, payload })
    const blocks = recordBlocks(record)
    sent.push({ logId: (keys[i] as LogKey).id, blocks })
    return blocks
  }
  const deliver = async (to: number, order: 'forward' | 'reverse' = 'forward'): Promise<void> => {
    const list = order === 'forward' ? sent : [...sent].reverse()
    for (const { logId, blocks } of list) await (peers[to] as TestEngine).engine.ingest(logId, [blocks])
  }
  cmd(0, 'redux-threads/acl/init', { salt })
  return { keys, thread, peers, cmd, deliver, sent }
}

describe('roles enforced in the order (issue 10)', () => {
  it('a reader’s hand-built records are ignored by every peer, and its own peer refuses its commands before signing', async () => {
    const { keys, peers, cmd, deliver, thread, sent } = await aclThread(3)
    cmd(0, 'redux-threads/acl/grant', { peer: keys[1]!.id, roles: ['read'] })
    cmd(0, 'test/added', 'by owner')
    await deliver(1)
    expect(() => peers[1]!.engine.command({ type: 'test/added', payload: 'by reader' })).toThrow(expect.objectContaining({ name: 'AccessDeniedError' }))
    // Built by hand with the reader's key and the thread keys: signed, and still ignored.
    const forged = forgeChain(keys[1]!, thread, undefined, ['r1', 'r2', 'r3'], 50)
    for (const f of forged) sent.push({ logId: keys[1]!.id, blocks: f.blocks })
    const denied: string[] = []
    peers[2]!.engine.events.on('rejected', (e) => denied.push(e.name))
    await deliver(2, 'reverse')
    await deliver(0)
    expect(peers[2]!.engine.state).toEqual(['by owner'])
    expect(peers[0]!.engine.state).toEqual(['by owner'])
    expect(denied.filter((n) => n === 'AccessDeniedError').length).toBeGreaterThanOrEqual(3)
  })

  it('a revoked writer that backdates its records below the revocation is cut off everywhere (strong remove)', async () => {
    const { keys, peers, cmd, deliver, thread, sent } = await aclThread(3)
    cmd(0, 'redux-threads/acl/grant', { peer: keys[1]!.id, roles: ['write'] })
    await deliver(1)
    const w1 = cmd(1, 'test/added', 'w1')
    const w2 = cmd(1, 'test/added', 'w2')
    expect(w1).toBeDefined()
    await deliver(0)
    // The owner's own events move its clock past the writer's: what the writer adds after w2 sorts
    // before the revocation, on every peer.
    for (const n of [1, 2, 3]) cmd(0, 'test/added', `o${n}`)
    // The owner revokes, naming the last seq of the writer's log it applied (2).
    cmd(0, 'redux-threads/acl/revoke', { peer: keys[1]!.id, roles: ['write'], lastSeq: peers[0]!.engine.heads().get(keys[1]!.id)!.seq })
    // The writer keeps writing with low clocks, so its records sort before the revocation.
    const head = { id: peers[1]!.engine.heads().get(keys[1]!.id)!.id, seq: 2 }
    const late1 = forge(keys[1]!, thread, head, 'backdated 1', 1)
    const late2 = forge(keys[1]!, thread, late1.head, 'backdated 2', 2)
    sent.push({ logId: keys[1]!.id, blocks: late1.blocks }, { logId: keys[1]!.id, blocks: late2.blocks })
    expect(w2).toBeDefined()
    for (const i of [0, 2]) {
      await deliver(i, i === 2 ? 'reverse' : 'forward')
      expect(peers[i]!.engine.state).toEqual(['w1', 'w2', 'o1', 'o2', 'o3'])
      expect((peers[i]!.engine.system as AclState).cuts[keys[1]!.id]).toEqual([{ from: 3, to: Number.MAX_SAFE_INTEGER }])
    }
    // They sort before the revocation: a peer that folded them first takes them out when it arrives.
    const order = peers[2]!.engine.timeline.events.map((e) => e.command.payload)
    expect(order.indexOf('backdated 1')).toBeLessThan(order.findIndex((p) => typeof p === 'object' && p !== null && 'lastSeq' in p))
  })

  it('a cut that reaches records already compacted into the base is applied by folding from storage', async () => {
    const { keys, peers, cmd, thread, sent } = await aclThread(3)
    cmd(0, 'redux-threads/acl/grant', { peer: keys[1]!.id, roles: ['write'] })
    const ingest = async (to: number, list: typeof sent): Promise<void> => {
      for (const { logId, blocks } of list) await peers[to]!.engine.ingest(logId, [blocks])
    }
    await ingest(1, sent)
    cmd(1, 'test/added', 'w1')
    await ingest(0, sent)
    for (const n of [1, 2, 3]) cmd(0, 'test/added', `o${n}`)
    const late = forge(keys[1]!, thread, { id: peers[1]!.engine.heads().get(keys[1]!.id)!.id, seq: 1 }, 'late', 1)
    const later = forge(keys[1]!, thread, late.head, 'later', 100)
    // Peer 2 holds the late records and compacts what it folded below every log's clock, the
    // first of them included, into its base.
    await ingest(2, [...sent, { logId: keys[1]!.id, blocks: late.blocks }, { logId: keys[1]!.id, blocks: later.blocks }])
    expect([...(peers[2]!.engine.state as string[])].sort()).toEqual(['late', 'later', 'o1', 'o2', 'o3', 'w1'])
    expect(peers[2]!.engine.compact()).toBeGreaterThan(0)
    expect(peers[2]!.engine.timeline.events.map((e) => e.command.payload)).not.toContain('late')
    // The owner had not seen it when it revoked: the cut reaches into peer 2's base.
    const revoke = cmd(0, 'redux-threads/acl/revoke', { peer: keys[1]!.id, roles: ['write'], lastSeq: 1 })
    await peers[2]!.engine.ingest(keys[0]!.id, [revoke])
    expect(peers[2]!.engine.state).toEqual(['w1', 'o1', 'o2', 'o3'])
  })

  it('only the owner the thread ID commits to can found the ACL; a second init changes nothing', async () => {
    const { keys, peers, deliver, thread, sent } = await aclThread(2)
    const mallory = generateLogKey()
    const fake = forge(mallory, thread, undefined, 'x', 0)
    // Not even a valid init (its payload is no salt), and from the wrong log: ignored either way.
    sent.push({ logId: mallory.id, blocks: fake.blocks })
    await deliver(1)
    expect((peers[1]!.engine.system as AclState).owner).toBe(keys[0]!.id)
    expect(() => peers[1]!.engine.command({ type: 'redux-threads/acl/init', payload: { salt: new Uint8Array(16) } })).toThrow(expect.objectContaining({ name: 'AccessDeniedError' }))
  })

  it('delete marks an earlier event deleted on every peer, in any order; a peer without the role cannot', async () => {
    const { keys, peers, cmd, deliver } = await aclThread(3)
    cmd(0, 'redux-threads/acl/grant', { peer: keys[1]!.id, roles: ['write'] })
    await deliver(1)
    cmd(1, 'test/added', 'keep')
    await deliver(0)
    const target = peers[0]!.engine.timeline.events.find((e) => e.command.payload === 'keep')!
    cmd(0, 'test/added', 'drop me')
    const drop = peers[0]!.engine.timeline.events.find((e) => e.command.payload === 'drop me')!
    cmd(0, 'redux-threads/acl/delete', { event: drop.meta.id, log: drop.meta.logId, seq: drop.meta.seq })
    expect(peers[0]!.engine.state).toEqual(['keep'])
    await deliver(1)
    expect(() => peers[1]!.engine.command({ type: 'redux-threads/acl/delete', payload: { event: target.meta.id, log: target.meta.logId, seq: target.meta.seq } })).toThrow(expect.objectContaining({ name: 'AccessDeniedError' }))
    await deliver(2, 'reverse')
    expect(peers[2]!.engine.state).toEqual(['keep'])
    expect(peers[1]!.engine.state).toEqual(['keep'])
  })

  it('entity ACLs: an event that targets an entity needs write on it too', async () => {
    const { keys, peers, cmd, deliver } = await aclThread(3)
    cmd(0, 'redux-threads/acl/grant', { peer: keys[1]!.id, roles: ['write'] })
    cmd(0, 'redux-threads/acl/default', { roles: ['no-access'], scope: { entity: 'doc-1' } })
    cmd(0, 'redux-threads/acl/grant', { peer: keys[0]!.id, roles: ['write'], scope: { entity: 'doc-1' } })
    await deliver(1)
    expect(() => peers[1]!.engine.command({ type: 'test/added', payload: 'into doc-1', meta: { entity: 'doc-1' } })).toThrow(expect.objectContaining({ name: 'AccessDeniedError' }))
    cmd(1, 'test/added', 'elsewhere')
    peers[0]!.engine.command({ type: 'test/added', payload: 'owner into doc-1', meta: { entity: 'doc-1' } })
    await deliver(2)
    expect(peers[2]!.engine.state).toEqual(expect.arrayContaining(['elsewhere']))
  })
})
