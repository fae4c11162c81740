/**
 * Issue 10, "revoking follow rotates the service key the same way", over a network of Redux
 * peers: when the owner revokes a follower, a new service key is sealed to every remaining member
 * with at least follow (in the rotate record's event node, under the old service key, where
 * followers can open it). The revoked follower, keeping its old keys and storage, cannot open
 * the outer layer of anything written after, cannot prove the thread's key (refused by name), and
 * gets nothing new; the remaining followers take the new key and keep storing and serving every
 * log, still reading nothing; readers and writers converge across the rotation.
 */
import { configureStore } from '@reduxjs/toolkit'
import { describe, expect, it } from 'vitest'
import { createMemoryHub } from '../../adapters/network/memory.js'
import { createPeer, Variant, type Peer } from '../../src/index.js'
import { engineOf } from '../../src/advanced.js'
import { recordBlocks, verifyRecord } from '../../src/core/record.js'
import { ThreadId } from '../../src/core/threadId.js'
import type { ThreadsError } from '../../src/core/errors.js'
import { todos, type Todo } from '../../examples/todo/todoSlice.js'

type Hub = ReturnType<typeof createMemoryHub>

function member(hub: Hub) {
  const peer = createPeer({ network: hub.network(), syncIntervalMs: 0 })
  const store = configureStore({ reducer: { [peer.reducerPath]: peer.reducer, todos: todos.reducer }, middleware: (gDM) => gDM().concat(peer.middleware) })
  return { peer, store, texts: (): string[] => store.getState().todos.map((t: Todo) => t.text) }
}

async function settle(hub: Hub, peers: Peer[]): Promise<void> {
  for (let i = 0; i < 40; i++) {
    await hub.idle()
    await Promise.all(peers.map((p) => p.idle()))
    if (hub.quiet) return
  }
}

describe('service key rotation when a follower is revoked (issue 10)', () => {
  it('the revoked follower is locked out of everything after; the remaining members carry on', async () => {
    const hub = createMemoryHub({ seed: 2010 })
    const [alice, bob, carol, fred, gina, mal] = [member(hub), member(hub), member(hub), member(hub), member(hub), member(hub)] as const
    const everyone = [alice, bob, carol, fred, gina, mal]
    const ids = await Promise.all(everyone.map(async (m) => (await m.store.dispatch(m.peer.thunks.start()).unwrap()).peerId))
    const [aliceId, bobId, carolId, fredId, ginaId, malId] = ids as [string, string, string, string, string, string]
    const all = everyone.map((m) => m.peer)
    const sync = async (who = everyone): Promise<void> => {
      for (const m of who) await m.store.dispatch(m.peer.thunks.syncNow()).unwrap()
      await settle(hub, all)
    }

    const { threadId } = await alice.store.dispatch(alice.peer.thunks.createThread({ slices: [todos], variant: Variant.AccessControlled })).unwrap()
    await alice.store.dispatch(todos.actions.added('before')).unwrap()
    const invite = (role: 'write' | 'read' | 'follow', to: string) => alice.store.dispatch(alice.peer.thunks.invite({ threadId, role, to })).unwrap()
    const forBob = await invite('write', bobId)
    const forCarol = await invite('read', carolId)
    const forFred = await invite('follow', fredId)
    const forGina = await invite('follow', ginaId)
    const forMal = await invite('follow', malId)
    await bob.store.dispatch(bob.peer.thunks.joinThread({ invite: forBob, slices: [todos], waitForSyncMs: 5000 })).unwrap()
    await carol.store.dispatch(carol.peer.thunks.joinThread({ invite: forCarol, slices: [todos], waitForSyncMs: 5000 })).unwrap()
    for (const [m, inv] of [[fred, forFred], [gina, forGina], [mal, forMal]] as const) await m.store.dispatch(m.peer.thunks.joinThread({ invite: inv, waitForSyncMs: 5000 })).unwrap()
    await bob.store.dispatch(todos.actions.added('bob before')).unwrap()
    await sync()
    const eng = (m: (typeof everyone)[number]) => engineOf(m.peer.thread(threadId)!)
    const head = (m: (typeof everyone)[number], log: string): number => eng(m).heads().get(log)?.seq ?? 0
    for (const m of [fred, gina, mal]) expect([head(m, aliceId), head(m, bobId)]).toEqual([head(alice, aliceId), head(bob, bobId)])
    const malAlice = head(mal, aliceId)
    const malBob = head(mal, bobId)

    // Alice revokes Mal's follow: one rotate event carries a new service key for everyone else.
    await alice.store.dispatch(alice.peer.thunks.changeAcl({ threadId, change: { kind: 'revoke', peer: malId, roles: ['follow'] } })).unwrap()
    expect(eng(alice).serviceKeys().newest().epoch).toBe(1)
    await sync()
    await alice.store.dispatch(todos.actions.added('after')).unwrap()
    await bob.store.dispatch(todos.actions.added('bob after')).unwrap()
    const refusedAtFred: ThreadsError[] = []
    eng(fred).events.on('rejected', (e) => refusedAtFred.push(e))
    await sync()

    // Every remaining member took the new key; Mal did not.
    for (const m of [alice, bob, carol, fred, gina]) expect(eng(m).serviceKeys().newest().epoch).toBe(1)
    expect(eng(mal).serviceKeys().newest().epoch).toBe(0)
    // Readers and writers converge across the rotation; followers store and serve every log.
    // (Alice's and Bob's last writes are concurrent: the order ranks them, the same on every peer.)
    for (const m of [alice, bob, carol]) expect([...m.texts()].sort()).toEqual(['after', 'before', 'bob after', 'bob before'])
    expect(bob.texts()).toEqual(alice.texts())
    expect(carol.texts()).toEqual(alice.texts())
    for (const m of [fred, gina]) {
      expect([head(m, aliceId), head(m, bobId)]).toEqual([head(alice, aliceId), head(bob, bobId)])
      expect(m.texts()).toEqual([])
    }
    // Mal gets nothing written since the rotation (at most the rotation record itself, sealed under the old key).
    expect(head(mal, bobId)).toBe(malBob)
    expect(head(mal, aliceId)).toBeLessThanOrEqual(malAlice + 1)
    // Connections opened before the rotation serve Mal nothing more; on a new one, Mal proves its
    // old key and Fred (a follower, which cannot read the ACL) refuses it by name.
    hub.partition([malId], ids.filter((id) => id !== malId))
    hub.heal()
    await sync([mal])
    await mal.store.dispatch(mal.peer.thunks.syncNow()).unwrap()
    await settle(hub, all)
    expect(refusedAtFred.some((e) => e.name === 'UnauthorizedError')).toBe(true)
    expect(head(mal, bobId)).toBe(malBob)

    // Holding its old keys, Mal cannot open the outer layer of anything sealed after the rotation.
    const malKeys = eng(mal).serviceKeys()
    const tid = ThreadId.parse(threadId)
    for (const log of [aliceId, bobId]) {
      const later = (await eng(fred).records(log, 1, 100)).filter((r) => (r.serviceEpoch ?? 0) > 0)
      expect(later.length).toBeGreaterThan(0)
      for (const r of later) expect(() => verifyRecord({ thread: tid, logId: log, serviceKey: malKeys }, recordBlocks(r))).toThrow(expect.objectContaining({ name: 'UnknownServiceKeyError' }))
    }

    await Promise.all(all.map((p) => p.close()))
  })
})
