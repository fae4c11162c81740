/**
 * Issue 10 through the Redux API and a network: an owner founds an access-controlled thread,
 * invites a writer and a reader by name, revokes the writer (its later records are cut, the read
 * key rotates to the readers left, and it is no longer served), and a reader added after the
 * rotation reads everything. What the revoked writer writes after is cut on every peer. Each peer's store shows its roles and the ACL.
 */
import { configureStore, type Middleware, type UnknownAction } from '@reduxjs/toolkit'
import { describe, expect, it } from 'vitest'
import { createMemoryHub } from '../../adapters/network/memory.js'
import { createPeer, Variant, type Peer } from '../../src/index.js'
import { createInvite, engineOf } from '../../src/advanced.js'
import { todos, type Todo } from '../../examples/todo/todoSlice.js'

function member(hub: ReturnType<typeof createMemoryHub>) {
  const peer = createPeer({ network: hub.network(), syncIntervalMs: 0 })
  // Every action type the store sees, with the todo text where there is one.
  const seen: string[] = []
  const record: Middleware = () => (next) => (action) => {
    const a = action as UnknownAction
    const text = (a.payload as { text?: unknown } | undefined)?.text
    seen.push(typeof text === 'string' ? `${a.type}:${text}` : a.type)
    return next(action)
  }
  const store = configureStore({
    reducer: { [peer.reducerPath]: peer.reducer, todos: todos.reducer },
    middleware: (gDM) => gDM().concat(peer.middleware, record)
  })
  const texts = (): string[] => store.getState().todos.map((t: Todo) => t.text)
  return { peer, store, texts, seen }
}

async function settle(hub: ReturnType<typeof createMemoryHub>, peers: Peer[]): Promise<void> {
  for (let i = 0; i < 30; i++) {
    await hub.idle()
    await Promise.all(peers.map((p) => p.idle()))
    if (hub.quiet) return
  }
}

describe('access control through the store and the network (issue 10)', () => {
  it('grants by invite, revokes a writer (cut, key rotated, no longer served), and a later reader reads all', async () => {
    const hub = createMemoryHub({ seed: 10 })
    const alice = member(hub)
    const bob = member(hub)
    const carol = member(hub)
    const dave = member(hub)
    const ids = await Promise.all([alice, bob, carol, dave].map(async (m) => (await m.store.dispatch(m.peer.thunks.start()).unwrap()).peerId))
    const [aliceId, bobId, carolId, daveId] = ids as [string, string, string, string]
    const all = [alice, bob, carol, dave].map((m) => m.peer)
    const sync = async (): Promise<void> => {
      for (const m of [alice, bob, carol, dave]) await m.store.dispatch(m.peer.thunks.syncNow()).unwrap()
      await settle(hub, all)
    }

    const { threadId } = await alice.store.dispatch(alice.peer.thunks.createThread({ slices: [todos], variant: Variant.AccessControlled })).unwrap()
    await alice.peer.idle()
    expect(alice.peer.selectors.selectAccess(alice.store.getState(), threadId)).toMatchObject({ owner: aliceId, roles: ['write', 'delete'], epoch: 0 })
    // An ACL thread invites a named peer, and adds it to the ACL first.
    await expect(alice.store.dispatch(alice.peer.thunks.invite({ threadId })).unwrap()).rejects.toMatchObject({ name: 'MisuseError' })
    const forBob = await alice.store.dispatch(alice.peer.thunks.invite({ threadId, role: 'write', to: bobId })).unwrap()
    const forCarol = await alice.store.dispatch(alice.peer.thunks.invite({ threadId, role: 'read', to: carolId })).unwrap()
    await alice.store.dispatch(todos.actions.added('from alice')).unwrap()
    await bob.store.dispatch(bob.peer.thunks.joinThread({ invite: forBob, slices: [todos], waitForSyncMs: 5000 })).unwrap()
    await carol.store.dispatch(carol.peer.thunks.joinThread({ invite: forCarol, slices: [todos], waitForSyncMs: 5000 })).unwrap()
    await bob.store.dispatch(todos.actions.added('from bob')).unwrap()
    await sync()
    for (const m of [alice, bob, carol]) expect(m.texts()).toEqual(['from alice', 'from bob'])
    expect(carol.peer.selectors.selectAccess(carol.store.getState(), threadId)?.roles).toEqual(['read'])
    // A reader's command is refused on its own peer before it is signed.
    expect(() => carol.store.dispatch(todos.actions.added('from carol'))).toThrow(expect.objectContaining({ name: 'AccessDeniedError' }))

    // Bob loses write (and with it read): a rotation seals a new read key to Alice and Carol.
    await alice.store.dispatch(alice.peer.thunks.changeAcl({ threadId, change: { kind: 'revoke', peer: bobId, roles: ['write'] } })).unwrap()
    await alice.store.dispatch(todos.actions.added('after revoke')).unwrap()
    await sync()
    expect(alice.texts()).toEqual(['from alice', 'from bob', 'after revoke'])
    expect(carol.texts()).toEqual(['from alice', 'from bob', 'after revoke'])
    expect(carol.peer.selectors.selectAccess(carol.store.getState(), threadId)?.epoch).toBe(1)
    // Bob holds no key for what was written since, and no peer serves him any more.
    expect(bob.texts()).toEqual(['from alice', 'from bob'])
    await Promise.all(all.map((p) => p.idle()))
    const headOf = (m: typeof alice): number | undefined => m.peer.selectors.selectThreadStatus(m.store.getState(), threadId)?.logs.find((l) => l.logId === aliceId)?.seq
    expect(headOf(carol)).toBe(headOf(alice))
    // The revocation and what followed never reached him: he holds Alice's log as it was.
    expect(headOf(bob)).toBeLessThan(headOf(alice) as number)
    // Not having heard of it, he writes on: every other peer cuts what he writes after the
    // last record of his Alice had applied when she revoked him.
    await bob.store.dispatch(todos.actions.added('from bob, revoked')).unwrap()
    await sync()
    for (const m of [alice, carol]) expect(m.texts()).toEqual(['from alice', 'from bob', 'after revoke'])
    // Cut events and ACL events never reach a store as actions: listeners see what the app applied.
    for (const m of [alice, carol]) {
      expect(m.seen.filter((t) => t.startsWith(`${todos.actions.added.type}:`))).toEqual(['from alice', 'from bob', 'after revoke'].map((x) => `${todos.actions.added.type}:${x}`))
      expect(m.seen.filter((t) => t.startsWith('redux-threads/acl/'))).toEqual([])
    }

    // Dave, invited after the rotation, gets the new key with his invite and reads everything.
    const forDave = await alice.store.dispatch(alice.peer.thunks.invite({ threadId, role: 'read', to: daveId })).unwrap()
    await dave.store.dispatch(dave.peer.thunks.joinThread({ invite: forDave, slices: [todos], waitForSyncMs: 5000 })).unwrap()
    await sync()
    expect(dave.texts()).toEqual(['from alice', 'from bob', 'after revoke'])
    expect(dave.peer.selectors.selectAccess(dave.store.getState(), threadId)?.acl.peers[bobId]).toEqual(['no-access'])
    await Promise.all(all.map((p) => p.close()))
  })

  it('a peer holding both keys but no role is refused service: it gets nothing, and writes nothing anyone keeps', async () => {
    const hub = createMemoryHub({ seed: 11 })
    const alice = member(hub)
    const bob = member(hub)
    const eve = member(hub)
    const aliceId = (await alice.store.dispatch(alice.peer.thunks.start()).unwrap()).peerId
    const bobId = (await bob.store.dispatch(bob.peer.thunks.start()).unwrap()).peerId
    await eve.store.dispatch(eve.peer.thunks.start()).unwrap()
    const all = [alice, bob, eve].map((m) => m.peer)
    const { threadId } = await alice.store.dispatch(alice.peer.thunks.createThread({ slices: [todos], variant: Variant.AccessControlled })).unwrap()
    await alice.store.dispatch(todos.actions.added('members only')).unwrap()
    const invite = await alice.store.dispatch(alice.peer.thunks.invite({ threadId, role: 'write', to: bobId })).unwrap()
    await bob.store.dispatch(bob.peer.thunks.joinThread({ invite, slices: [todos], waitForSyncMs: 5000 })).unwrap()
    // Eve got the keys and Alice's address out of band (a leaked device): the ACL never named her.
    const engine = engineOf(alice.peer.thread(threadId)!)
    const leaked = createInvite({ threadId: engine.thread.id, key: engine.thread.key, role: 'write', addrs: [`/memory/${aliceId}/p2p/${aliceId}`], from: aliceId })
    await eve.store.dispatch(eve.peer.thunks.joinThread({ invite: leaked, slices: [todos], waitForSyncMs: 0 })).unwrap()
    for (const m of [alice, bob, eve]) await m.store.dispatch(m.peer.thunks.syncNow()).unwrap()
    await settle(hub, all)
    expect(bob.texts()).toEqual(['members only'])
    expect(eve.texts()).toEqual([])
    // Nor what is written while she is connected (an ACL thread does not gossip: the topic would reach her).
    await alice.store.dispatch(todos.actions.added('still members only')).unwrap()
    await settle(hub, all)
    expect(bob.texts()).toEqual(['members only', 'still members only'])
    expect(eve.texts()).toEqual([])
    await eve.peer.idle()
    expect(eve.peer.selectors.selectThreadStatus(eve.store.getState(), threadId)?.logs.filter((l) => l.seq > 0)).toEqual([])
    // Her own commands are refused before they are signed: her peer knows of no owner's ACL.
    expect(() => eve.store.dispatch(todos.actions.added('from eve'))).toThrow(expect.objectContaining({ name: 'AccessDeniedError' }))
    await Promise.all(all.map((p) => p.close()))
  })
})
