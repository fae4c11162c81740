/**
 * "Service only to the entitled", at a follower: it holds the service key only, so it cannot open
 * the ACL's events, and serves every peer that proves the key (the "or a proven key"). A
 * peer holding leaked keys, or a revoked member, can ask a follower instead of a member. These
 * tests pin that documented gap (docs/ARCHITECTURE.md, Known gaps) so a fix shows up here; a
 * member's peer refuses both.
 */
import { configureStore } from '@reduxjs/toolkit'
import { describe, expect, it } from 'vitest'
import { createMemoryHub } from '../../../adapters/network/memory.js'
import { createInvite, engineOf } from '../../../src/advanced.js'
import { createPeer, Variant, type Peer } from '../../../src/index.js'
import { generateLogKey } from '../../../src/core/keys.js'
import { todos, type Todo } from '../../../examples/todo/todoSlice.js'
import { ACL, aclWorld } from './fixture.js'

describe('a follower serves holders of the service key (documented gap)', () => {
  it('a follower that holds the owner\'s log cannot fold the ACL, so it entitles any key holder; the owner entitles neither', async () => {
    const w = await aclWorld(2)
    const member = w.keys[1]!
    w.cmd(0, `${ACL}grant`, { peer: member.id, roles: ['read'] })
    w.cmd(0, 'test/added', 'secret')
    w.cmd(0, `${ACL}revoke`, { peer: member.id, roles: ['read'] })
    const follower = await w.open({ key: { service: w.thread.key.service } })
    await w.deliver(follower)
    expect(follower.engine.heads().get(w.keys[0]!.id)?.seq).toBe(w.sent.length)
    expect(follower.engine.entitled(generateLogKey().id)).toBe(true)
    expect(follower.engine.entitled(member.id)).toBe(true)
    // The owner's own engine refuses both.
    expect(w.peers[0]!.engine.entitled(member.id)).toBe(false)
    expect(w.peers[0]!.engine.entitled(generateLogKey().id)).toBe(false)
  })

  it('over the network, a peer holding leaked keys but no role gets the records from a follower (and nothing from a member)', async () => {
    const hub = createMemoryHub({ seed: 77 })
    const mk = () => {
      const peer = createPeer({ network: hub.network(), syncIntervalMs: 0 })
      const store = configureStore({ reducer: { [peer.reducerPath]: peer.reducer, todos: todos.reducer }, middleware: (gDM) => gDM().concat(peer.middleware) })
      return { peer, store, texts: (): string[] => store.getState().todos.map((t: Todo) => t.text) }
    }
    const alice = mk()
    const fred = mk()
    const eve = mk()
    const aliceId = (await alice.store.dispatch(alice.peer.thunks.start()).unwrap()).peerId
    const fredId = (await fred.store.dispatch(fred.peer.thunks.start()).unwrap()).peerId
    await eve.store.dispatch(eve.peer.thunks.start()).unwrap()
    const all: Peer[] = [alice.peer, fred.peer, eve.peer]
    const settle = async (): Promise<void> => {
      for (let i = 0; i < 30; i++) {
        await hub.idle()
        await Promise.all(all.map((p) => p.idle()))
        if (hub.quiet) return
      }
    }
    const { threadId } = await alice.store.dispatch(alice.peer.thunks.createThread({ slices: [todos], variant: Variant.AccessControlled })).unwrap()
    await alice.store.dispatch(todos.actions.added('members only')).unwrap()
    // Fred pins the thread: a follower (service key only), named in the ACL.
    const forFred = await alice.store.dispatch(alice.peer.thunks.invite({ threadId, role: 'follow', to: fredId })).unwrap()
    await fred.store.dispatch(fred.peer.thunks.joinThread({ invite: forFred, waitForSyncMs: 5000 })).unwrap()
    await settle()
    expect(fred.peer.selectors.selectThreadStatus(fred.store.getState(), threadId)?.logs.find((l) => l.logId === aliceId)?.seq).toBeGreaterThan(0)
    // Eve got both keys out of band (a leaked device) and Fred's address only.
    const engine = engineOf(alice.peer.thread(threadId)!)
    const leaked = createInvite({ threadId: engine.thread.id, key: engine.thread.key, role: 'write', addrs: [`/memory/${fredId}/p2p/${fredId}`], from: fredId })
    await eve.store.dispatch(eve.peer.thunks.joinThread({ invite: leaked, slices: [todos], waitForSyncMs: 0 })).unwrap()
    for (const m of [fred, eve]) await m.store.dispatch(m.peer.thunks.syncNow()).unwrap()
    await settle()
    expect(eve.texts()).toEqual(['members only'])
    await Promise.all(all.map((p) => p.close()))
  })
})
