/**
 * Honest peers must never strike each other: a strike is a report of misbehaviour (on status$)
 * and three of them disconnect the peer. These cases run over a memory hub without faults, so
 * the transport keeps its contract (reliable, ordered per connection); any refusal between the
 * two honest peers below is a protocol race.
 */
import { afterEach, describe, expect, it } from 'vitest'
import { createMemoryHub, settle, type MemoryHub } from '../../../adapters/network/memory.js'
import type { ThreadsError } from '../../../src/core/errors.js'
import type { Peer } from '../../../src/redux/createPeer.js'
import { makePeer, todos, type NetPeer, type NetThread } from './helpers.js'

const open: Peer[] = []
afterEach(async () => {
  for (const p of open.splice(0)) await p.close()
})

interface Pair {
  readonly hub: MemoryHub
  readonly a: NetPeer
  readonly b: NetPeer
  readonly tA: NetThread
  readonly tB: NetThread
  readonly errors: Array<{ at: string; error: ThreadsError }>
}

async function pair(seed: number): Promise<Pair> {
  const hub = createMemoryHub({ seed })
  const a = await makePeer(hub)
  const b = await makePeer(hub)
  open.push(a.peer, b.peer)
  const tA = await a.createThread({ slices: [todos] })
  a.store.dispatch(todos.actions.added('one'))
  const tB = await b.joinThread(await tA.invite(), { slices: [todos] })
  await settle(hub, [a.peer, b.peer])
  const errors: Pair['errors'] = []
  tA.engine.events.on('rejected', (error) => errors.push({ at: 'A', error }))
  tB.engine.events.on('rejected', (error) => errors.push({ at: 'B', error }))
  return { hub, a, b, tA, tB, errors }
}

const described = (errors: Pair['errors']): string[] => errors.map(({ at, error }) => `${at}: ${error.name}: ${error.message.replace(/ \(thread .*\)$/, '')}`)

describe('handshakes between honest peers', () => {
  it('sync rounds on both sides that overlap one handshake: every proof is accepted', async () => {
    const { hub, a, b, tA, tB, errors } = await pair(41)
    hub.partition([a.id], [b.id])
    await settle(hub, [a.peer, b.peer])
    hub.heal()
    // Three rounds on each side before any answer arrives: each sends a challenge, and each
    // answers the other's challenges with a counter-challenge of its own.
    for (let i = 0; i < 3; i++) await Promise.all([a.syncNow(), b.syncNow()])
    await settle(hub, [a.peer, b.peer])
    expect(described(errors)).toEqual([])
    expect(tA.peers()).toEqual([b.id])
    expect(tB.peers()).toEqual([a.id])
    expect(a.peer.network?.connectedPeers()).toEqual([b.id])
    b.store.dispatch(todos.actions.added('two'))
    await settle(hub, [a.peer, b.peer])
    expect(a.store.getState().todos.map((t) => t.text)).toEqual(['one', 'two'])
  })

  it('a reconnect followed at once by a sync round: no heads or records refused as unauthenticated', async () => {
    const { hub, a, b, tA, tB, errors } = await pair(42)
    a.store.dispatch(todos.actions.added('while reconnecting'))
    hub.partition([a.id], [b.id])
    hub.heal()
    // B redials A before either has processed the disconnect of the old connection.
    await b.syncNow()
    await settle(hub, [a.peer, b.peer])
    expect(described(errors)).toEqual([])
    expect(tA.peers()).toEqual([b.id])
    expect(tB.peers()).toEqual([a.id])
    expect(b.store.getState().todos).toEqual(a.store.getState().todos)
  })
})
