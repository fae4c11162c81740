/**
 * A follower (paper section 3.1.2) over real libp2p and LevelDB: it joins with a `follow`
 * invite and no slices, stores every log of the thread, holds no read key, keeps no plaintext
 * on disk, and serves everything to a late joiner after every writer has gone.
 */
import { afterEach, describe, expect, it } from 'vitest'
import { levelStorage } from '../../../adapters/storage/level.js'
import { generateLogKey } from '../../../src/core/keys.js'
import {
  converged,
  describePeers,
  filesContaining,
  headsOf,
  livePeer,
  Resources,
  seqsOf,
  statusNow,
  statusWhere,
  tempDir,
  texts,
  todos,
  until,
  type NetThread
} from './helpers.js'

const resources = new Resources()
afterEach(async () => {
  await resources.closeAll()
})

/** Unlikely anywhere by chance, and without repeats a compressor could fold. */
const CANARY = 'canary:Qx7-zebra-plaintext-91fj2K'

describe('a follower over libp2p and LevelDB', () => {
  it('the file scan finds plaintext when it is there (control)', async () => {
    const dir = await tempDir(resources, 'control')
    const storage = levelStorage(dir)
    await storage.batch([{ type: 'put', key: ['x'], value: new TextEncoder().encode(`todo ${CANARY} end`) }])
    await storage.close()
    const scan = await filesContaining(dir, CANARY)
    expect(scan.hits.length).toBeGreaterThan(0)
  })

  it('stores every log without the read key, keeps no plaintext on disk, and serves a late joiner after the writers left', async () => {
    const a = await livePeer(resources, 'A')
    const b = await livePeer(resources, 'B')
    const fDir = await tempDir(resources, 'F')
    const f = await livePeer(resources, 'F', { dir: fDir })
    const tA = await a.createThread({ slices: [todos] })
    // Made now, while A is up: its addresses will be dead by the time it is used.
    const lateIdentity = generateLogKey()
    const lateInvite = await tA.invite({ role: 'write', to: lateIdentity.id })
    const tB = await b.joinThread(await tA.invite({ role: 'write', to: b.id }), { slices: [todos] })
    const tF = await f.joinThread(await tA.invite({ role: 'follow' }))

    expect(tF.role).toBe('follow')
    expect(tF.key.read).toBeUndefined()
    expect(tF.key.service).toEqual(tA.key.service)
    await statusWhere(tF, (s) => s.peers.length === 2, 'the follower is authenticated with both writers')

    a.store.dispatch(todos.actions.added('from A'))
    b.store.dispatch(todos.actions.added(CANARY))
    for (let i = 0; i < 10; i++) {
      a.store.dispatch(todos.actions.added(`A${i}`))
      b.store.dispatch(todos.actions.added(`B${i}`))
    }
    b.store.dispatch(todos.actions.toggled(b.store.getState().todos.find((t) => t.text === CANARY)?.id ?? ''))
    const writers = [
      { p: a, t: tA },
      { p: b, t: tB }
    ]
    await until([tA.status$, tB.status$, a.store, b.store], () => converged([a, b], 22), 'both writers hold the same 22 todos', {
      describe: () => describePeers(writers)
    })
    // The follower has every record of every log: its heads are the writers'.
    await until(tF.status$, () => JSON.stringify(headsOf(tF)) === JSON.stringify(headsOf(tA)), "the follower's heads match the writers'", {
      describe: () => `F ${JSON.stringify(seqsOf(tF))} A ${JSON.stringify(seqsOf(tA))}`
    })
    expect(seqsOf(tF)).toEqual({ [a.id]: 11, [b.id]: 12 })
    expect(headsOf(tB)).toEqual(headsOf(tA))
    const fStatus = await statusNow(f, tF)
    // It projects nothing (no read key, no slices) and refuses nothing: it cannot open the events.
    expect(fStatus.events).toBe(0)
    expect(fStatus.rejected).toBe(0)
    expect(f.store.getState().todos).toEqual([])
    expect(tF.key.read).toBeUndefined()
    // The canary is in a writer's Redux state…
    expect(texts(a)).toContain(CANARY)
    expect(b.store.getState().todos.find((t) => t.text === CANARY)?.done).toBe(true)
    const lastState = a.store.getState().todos

    // …and nowhere in the follower's files.
    await f.peer.idle()
    await f.close()
    const scan = await filesContaining(fDir, CANARY)
    expect(scan.files).toBeGreaterThan(0)
    expect(scan.bytes).toBeGreaterThan(0)
    expect(scan.hits).toEqual([])
    // Nor any other todo text long enough not to occur in ciphertext by chance, nor a command type.
    for (const text of ['from A', todos.actions.added.type]) expect((await filesContaining(fDir, text)).hits).toEqual([])

    // The follower comes back from its data directory (as the CLI does), without any invite.
    const f2 = await livePeer(resources, 'F2', { dir: fDir })
    expect(f2.id).toBe(f.id)
    expect(await f2.peer.storedThreads()).toEqual([tA.id.toString()])
    const tF2: NetThread = await f2.openThread(tA.id, { slices: [] })
    expect(tF2.role).toBe('follow')
    expect(tF2.key.read).toBeUndefined()
    expect(headsOf(tF2)).toEqual(headsOf(tA))
    // It rejoins the writers from its address book (so they may push to it, were there more).
    await statusWhere(tF2, (s) => s.peers.length === 2, 'the restarted follower is back with both writers')

    // Every writer leaves.
    await a.close()
    await b.close()
    await statusWhere(tF2, (s) => s.peers.length === 0, 'the follower saw both writers go')

    // A late joiner, with A's invite made earlier (A's addresses in it are dead), reaches the
    // follower by its address and takes everything from it.
    const late = await livePeer(resources, 'L', { identity: lateIdentity })
    // The invite's addresses are dead: join returns at once (it would wait to catch up).
    const tL = await late.joinThread(lateInvite, { slices: [todos], waitForSyncMs: 0 })
    expect(tL.peers()).toEqual([])
    expect(late.store.getState().todos).toEqual([])
    const followerAddr = f2.peer.addresses()[0]
    expect(followerAddr).toBeDefined()
    await late.connect(followerAddr as string)
    await until([tL.status$, late.store], () => JSON.stringify(late.store.getState().todos) === JSON.stringify(lastState), "the late joiner's state equals the writers' last state", {
      describe: () => `L has ${late.store.getState().todos.length} todos, heads ${JSON.stringify(seqsOf(tL))}, peers ${tL.peers().join(',')}`
    })
    expect(late.store.getState().todos).toEqual(lastState)
    expect(headsOf(tL)).toEqual(headsOf(tF2))
    expect(tL.peers()).toEqual([f2.id])

    // And it writes on: its record goes to the follower, which stores it unread.
    late.store.dispatch(todos.actions.added('written by the late joiner'))
    await until(tF2.status$, () => tF2.heads().get(late.id)?.seq === 1, 'the follower stored the late joiner\'s first record', {
      describe: () => JSON.stringify(seqsOf(tF2))
    })
  })
})
