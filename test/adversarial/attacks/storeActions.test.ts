/**
 * Attack: events the ACL ignored must never reach the store as actions (the engine's `applied`
 * events are what the middleware dispatches). The common path filters them (#skipped); the paths
 * that fold the thread again from storage must too.
 */
import { describe, expect, it } from 'vitest'
import type { ThreadEvent } from '../../../src/engine/threadEvent.js'
import { ACL, aclWorld, headOf } from './fixture.js'

describe('what reaches the store', () => {
  it('after compaction, a batch that sorts before the base (refold from storage) does not hand ACL events or refused events to the store', async () => {
    const w = await aclWorld(3)
    const [owner, reader] = w.keys
    w.cmd(0, `${ACL}grant`, { peer: reader!.id, roles: ['read'] })
    for (let i = 0; i < 10; i++) w.cmd(0, 'test/added', `o${i}`)
    const victim = w.peers[2]!
    await w.deliver(victim)
    expect(victim.engine.compact()).toBeGreaterThan(0)
    const seen: ThreadEvent[] = []
    victim.engine.events.on('applied', ({ events }) => seen.push(...events))
    // A reader (no write) signs an app event and an ACL grant with low clocks: they sort before
    // the compacted base, so the victim folds the thread again from storage.
    const a = w.forge(reader!, undefined, { type: 'test/added', payload: 'by a reader' }, 1)
    const b = w.forge(reader!, a.head, { type: `${ACL}grant`, payload: { peer: reader!.id, roles: ['write'] } }, 2)
    await victim.engine.ingest(reader!.id, [a.sent.blocks, b.sent.blocks])
    expect(victim.engine.state).not.toContain('by a reader')
    expect(seen.map((e) => e.command.type)).toEqual([])
    expect(owner).toBeDefined()
  })

  it('a refused or ACL event in an ordinary batch never reaches the store', async () => {
    const w = await aclWorld(3)
    const reader = w.keys[1]!
    w.cmd(0, `${ACL}grant`, { peer: reader.id, roles: ['read'] })
    const victim = w.peers[2]!
    const seen: ThreadEvent[] = []
    victim.engine.events.on('applied', ({ events }) => seen.push(...events))
    await w.deliver(victim)
    const a = w.forge(reader, headOf(w.peers[1]!, reader.id), { type: 'test/added', payload: 'by a reader' }, 100)
    await victim.engine.ingest(reader.id, [a.sent.blocks])
    w.cmd(0, 'test/added', 'o')
    await w.deliver(victim, [w.sent.at(-1)!])
    expect(seen.map((e) => e.command.payload)).toEqual(['o'])
  })
})
