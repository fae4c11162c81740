/**
 * Attacks on what one input can cost (issue 7 section 3), over the in-memory hub. Each was
 * measured against version 1: 15 heads messages naming 10,000 made-up logs each made the victim
 * send 150,000 pulls; a 124-byte pull returned a page with no rate limit; one heads message listing
 * 4,096 addresses made the victim dial all of them, every round, for an hour. Now every one of
 * those is bounded per peer (and pulls per thread), in count and in bytes.
 */
import { base58btc } from 'multiformats/bases/base58'
import { afterEach, describe, expect, it } from 'vitest'
import { createMemoryHub, settle, type MemoryHub } from '../../adapters/network/memory.js'
import { encodeCommand } from '../../src/core/command.js'
import { getCrypto } from '../../src/core/crypto/index.js'
import { createThreadKey, generateLogKey } from '../../src/core/keys.js'
import { createRecord, recordBlocks, type LogRecord } from '../../src/core/record.js'
import { recordIdOfDigest } from '../../src/core/recordId.js'
import { ThreadId } from '../../src/core/threadId.js'
import {
  MAX_ADDR_PEERS,
  MAX_ADDRS_PER_PEER,
  MAX_DIALS_PER_ROUND,
  MAX_EMPTY_ANSWERS_PER_MINUTE,
  MAX_NEW_PEERS_PER_HEADS,
  MAX_PULLS_PER_PEER,
  MAX_QUEUED_PULLS_PER_PEER,
  MAX_TOO_LARGE_PER_MINUTE,
  STRIKES_TO_BAN
} from '../../src/net/limits.js'
import { MAX_LOGS, MAX_MESSAGE_BYTES, decodeMessage, encodeMessage, type HeadEntry, type SyncMessage } from '../../src/net/messages.js'
import type { NetworkFactory } from '../../src/net/networkAdapter.js'
import { makePeer, ofType, rawPeer, serviceNode, status, tapIncoming, todos, type NetPeer, type RawPeer, type NetThread } from '../unit/net/helpers.js'

const open: Array<{ close(): Promise<void> }> = []
afterEach(async () => {
  for (const p of open.splice(0)) await p.close().catch(() => undefined)
})

/** A peer whose adapter counts its dials (and the peers dialed). */
async function countingPeer(hub: MemoryHub): Promise<{ p: NetPeer; dials: string[] }> {
  const dials: string[] = []
  const factory: NetworkFactory = (components) => {
    const net = hub.network()(components)
    const dial = net.dial.bind(net)
    net.dial = (peerId, addrs, options) => {
      dials.push(peerId)
      return dial(peerId, addrs, options)
    }
    return net
  }
  const p = await makePeer(hub, { network: factory })
  open.push(p.peer)
  return { p, dials }
}

/** A raw peer that proved `thread` to `target` (a member with the key, and no scruples). */
async function member(hub: MemoryHub, target: string, thread: NetThread, settleWith: Array<{ idle(): Promise<void> }>): Promise<RawPeer> {
  const raw = await rawPeer(hub)
  open.push({ close: () => raw.net.stop() })
  await raw.net.dial(target)
  await settle(hub, settleWith)
  await raw.prove(target, thread)
  await settle(hub, settleWith)
  expect(thread.peers()).toContain(raw.net.peerId)
  return raw
}

/** A log ID of the right form (an Ed25519 peer ID) for 32 random bytes: quick to make, in bulk. */
function madeUpLogId(): string {
  const mh = new Uint8Array(38)
  mh.set([0x00, 0x24, 0x08, 0x01, 0x12, 0x20])
  mh.set(getCrypto().randomBytes(32), 6)
  return base58btc.baseEncode(mh)
}

/** `n` made-up heads: log IDs of the right form and record identities of logs that do not exist. */
function madeUpHeads(n: number): HeadEntry[] {
  return Array.from({ length: n }, (): HeadEntry => [madeUpLogId(), 5, recordIdOfDigest(getCrypto().randomBytes(32))])
}

describe('pulls one peer can make this peer send', () => {
  it(`15 heads of ${MAX_LOGS} made-up logs: at most ${MAX_PULLS_PER_PEER} pulls in flight, and empty answers past their budget ban the liar`, async () => {
    const hub = createMemoryHub({ seed: 501 })
    // A long pull timeout: only answers free a slot here (timeouts are tested elsewhere).
    const a = await serviceNode(hub, { pullTimeoutMs: 600_000 })
    open.push(a)
    const id = ThreadId.create()
    const key = createThreadKey()
    const eA = await a.open(id, key, true)
    eA.command({ type: 'n', payload: 0 })
    const errors: string[] = []
    a.sync.events.on('error', ({ error }) => errors.push(error.name))
    const thread = { id, key, peers: () => a.sync.peersOf(id.toString()) } as unknown as NetThread
    const raw = await member(hub, a.id, thread, [a])
    const heads = madeUpHeads(MAX_LOGS)
    const message: SyncMessage = { t: 'heads', thread: id.bytes, heads, addrs: [], reply: false }
    const bytes = encodeMessage(message)
    expect(bytes.length).toBeLessThan(MAX_MESSAGE_BYTES)
    // Decoding the largest heads message is cheap: the IDs' form is checked, not their keys' points.
    const t0 = performance.now()
    decodeMessage(bytes)
    expect(performance.now() - t0).toBeLessThan(2_000)
    const pulls = (): number => ofType(raw.seen, 'pull').length
    // It never answers: the pulls in flight are all A sends, however many heads it repeats.
    for (let i = 0; i < 15; i++) await raw.sendMsg(a.id, message)
    await settle(hub, [a])
    expect(pulls()).toBe(MAX_PULLS_PER_PEER)
    expect(errors).toEqual([])
    // Now it answers every pull, with nothing: each frees a slot for the next wanted log, until
    // its empty answers are over budget and struck, and the third strike bans it.
    const answered = new Set<number>()
    const answer = async (): Promise<void> => {
      for (const [i, s] of raw.seen.entries()) {
        if (s.m.t !== 'pull' || answered.has(i)) continue
        answered.add(i)
        await raw.sendMsg(a.id, { t: 'records', thread: id.bytes, log: s.m.log, records: [], more: false, push: false })
      }
    }
    for (let round = 0; round < 20 && a.net.connectedPeers().includes(raw.net.peerId); round++) {
      await answer()
      await settle(hub, [a])
    }
    expect(a.net.connectedPeers()).not.toContain(raw.net.peerId)
    expect(pulls()).toBeLessThanOrEqual(MAX_EMPTY_ANSWERS_PER_MINUTE + STRIKES_TO_BAN + MAX_PULLS_PER_PEER)
    expect(errors).toEqual(Array.from({ length: STRIKES_TO_BAN }, () => 'RateLimitedError'))
    // Nothing of the made-up logs was stored.
    expect([...eA.heads().keys()]).toEqual([a.id])
  }, 60_000)
})

describe('pulls one peer can make this peer serve', () => {
  it(`a flood of pulls: at most ${MAX_QUEUED_PULLS_PER_PEER} queued, the rest struck, and the flooder banned`, async () => {
    const hub = createMemoryHub({ seed: 502 })
    const a = await makePeer(hub)
    open.push(a.peer)
    const tA = await a.createThread({ slices: [todos] })
    for (let i = 0; i < 50; i++) a.store.dispatch(todos.actions.added(`t${i}`))
    await settle(hub, [a.peer])
    const raw = await member(hub, a.id, tA, [a.peer])
    const pull: SyncMessage = { t: 'pull', thread: tA.id.bytes, log: a.id, from: 1, limit: 1000 }
    for (let i = 0; i < 200; i++) await raw.sendMsg(a.id, pull)
    await settle(hub, [a.peer])
    expect(a.peer.network?.connectedPeers()).not.toContain(raw.net.peerId)
    // Served: what fit in the queue (and the ones being served), never the 200.
    expect(ofType(raw.seen, 'records').length).toBeLessThanOrEqual(MAX_QUEUED_PULLS_PER_PEER + 2)
    expect((await status(tA)).lastError?.name).toBe('RateLimitedError')
  })

  it('pages are paced by a byte budget per peer and second', async () => {
    const hub = createMemoryHub({ seed: 503 })
    const rate = 256 * 1024
    const a = await serviceNode(hub, { serveBytesPerSecond: rate })
    open.push(a)
    const id = ThreadId.create()
    const key = createThreadKey()
    const eA = await a.open(id, key, true)
    // About 1.2 MB of records.
    for (let i = 0; i < 300; i++) eA.command({ type: 'n', payload: 'x'.repeat(3000) })
    await a.idle()
    const raw = await member(hub, a.id, { id, key, peers: () => a.sync.peersOf(id.toString()) } as unknown as NetThread, [a])
    let bytes = 0
    raw.net.on('message', ({ bytes: b }) => (bytes += b.length))
    const started = Date.now()
    for (let from = 1; from <= 300; from += 20) await raw.sendMsg(a.id, { t: 'pull', thread: id.bytes, log: a.id, from, limit: 20 })
    await settle(hub, [a])
    const seconds = (Date.now() - started) / 1000
    expect(ofType(raw.seen, 'records').filter((r) => r.records.length > 0)).toHaveLength(15)
    expect(bytes).toBeGreaterThan(1_000_000)
    // Within one second's burst plus the rate for the time it took.
    expect(bytes).toBeLessThanOrEqual(rate * (seconds + 1) * 1.1)
    expect(seconds).toBeGreaterThan(1_000_000 / rate - 1.5)
  }, 30_000)
})

describe('addresses one peer can make this peer store and dial', () => {
  it(`one heads message with ${MAX_ADDR_PEERS} peers × ${MAX_ADDRS_PER_PEER} addresses: at most ${MAX_NEW_PEERS_PER_HEADS} new peers stored, at most ${MAX_DIALS_PER_ROUND} dials a round, failed peers backed off`, async () => {
    const hub = createMemoryHub({ seed: 504 })
    const { p: a, dials } = await countingPeer(hub)
    const tA = await a.createThread({ slices: [todos] })
    const raw = await member(hub, a.id, tA, [a.peer])
    const fakes = Array.from({ length: MAX_ADDR_PEERS }, () => generateLogKey().id)
    const addrs = fakes.map((peer): readonly [string, string[]] => [peer, Array.from({ length: MAX_ADDRS_PER_PEER }, (_, i) => `/ip4/127.0.0.${1 + i}/tcp/${4000 + i}/p2p/${peer}`)])
    expect(addrs.flatMap(([, list]) => list)).toHaveLength(4096)
    await raw.sendMsg(a.id, { t: 'heads', thread: tA.id.bytes, heads: [], addrs, reply: false })
    await settle(hub, [a.peer])
    const book = tA.engine.store.logstore.addrs
    const known = (await book.peers(tA.engine.thread.n)).filter((p) => fakes.includes(p))
    expect(known.length).toBeLessThanOrEqual(MAX_NEW_PEERS_PER_HEADS)
    for (const p of known) expect((await book.addrs(tA.engine.thread.n, p)).length).toBeLessThanOrEqual(MAX_ADDRS_PER_PEER)
    // The dials it caused at once: within one round's budget.
    expect(dials.length).toBeLessThanOrEqual(MAX_DIALS_PER_ROUND)
    // Five rounds: each dials at most its budget, and a peer that failed waits (1, 2, 4… rounds).
    const perRound: number[] = []
    for (let round = 0; round < 5; round++) {
      const before = dials.length
      await a.syncNow()
      await settle(hub, [a.peer])
      perRound.push(dials.length - before)
    }
    for (const n of perRound) expect(n).toBeLessThanOrEqual(MAX_DIALS_PER_ROUND)
    expect(new Set(dials).size).toBeLessThanOrEqual(MAX_NEW_PEERS_PER_HEADS)
    const times = new Map<string, number>()
    for (const d of dials) times.set(d, (times.get(d) ?? 0) + 1)
    // Over six rounds (the heads' own and five), a peer failing every time is tried at most 3 times (rounds 0, 1, 3).
    for (const n of times.values()) expect(n).toBeLessThanOrEqual(3)
    // A second message: at most 32 more peers, so never more than the thread's bound.
    await raw.sendMsg(a.id, { t: 'heads', thread: tA.id.bytes, heads: [], addrs: addrs.slice(64), reply: false })
    await settle(hub, [a.peer])
    expect((await book.peers(tA.engine.thread.n)).filter((p) => fakes.includes(p)).length).toBeLessThanOrEqual(2 * MAX_NEW_PEERS_PER_HEADS)
  })

  it('addresses from a peer that proved nothing are never stored or dialed', async () => {
    const hub = createMemoryHub({ seed: 505 })
    const { p: a, dials } = await countingPeer(hub)
    const tA = await a.createThread({ slices: [todos] })
    const raw = await rawPeer(hub)
    open.push({ close: () => raw.net.stop() })
    await raw.net.dial(a.id)
    await settle(hub, [a.peer])
    const fake = generateLogKey().id
    await raw.sendMsg(a.id, { t: 'heads', thread: tA.id.bytes, heads: [], addrs: [[fake, [`/ip4/10.0.0.1/tcp/1/p2p/${fake}`]]], reply: false })
    await settle(hub, [a.peer])
    await a.syncNow()
    await settle(hub, [a.peer])
    expect(await tA.engine.store.logstore.addrs.peers(tA.engine.thread.n)).toEqual([])
    expect(dials).toEqual([])
  })

  it('a peer this one dialed that proves no thread in time is hung up, and its learnt addresses dropped', async () => {
    const hub = createMemoryHub({ seed: 506 })
    const a = await serviceNode(hub, { authTimeoutMs: 50 })
    open.push(a)
    const id = ThreadId.create()
    const key = createThreadKey()
    await a.open(id, key, true)
    const thread = { id, key, peers: () => a.sync.peersOf(id.toString()) } as unknown as NetThread
    const liar = await member(hub, a.id, thread, [a])
    // A peer that never authenticates (a bare adapter), whose real address the member hands out.
    const silent = await rawPeer(hub)
    open.push({ close: () => silent.net.stop() })
    const t = a.store.logstore.getThread(id).n
    await liar.sendMsg(a.id, { t: 'heads', thread: id.bytes, heads: [], addrs: [[silent.net.peerId, silent.net.addresses()]], reply: false })
    await settle(hub, [a])
    expect(a.net.connectedPeers()).toContain(silent.net.peerId)
    expect(await a.store.logstore.addrs.peers(t)).toContain(silent.net.peerId)
    await new Promise((resolve) => setTimeout(resolve, 120))
    await settle(hub, [a])
    expect(a.net.connectedPeers()).not.toContain(silent.net.peerId)
    expect(await a.store.logstore.addrs.peers(t)).not.toContain(silent.net.peerId)
    // The member that proved the thread stays.
    expect(a.net.connectedPeers()).toContain(liar.net.peerId)
  })
})

describe('messages this peer sends', () => {
  it('a burst of large commands is pushed in messages split by bytes, each within the message limit', async () => {
    const hub = createMemoryHub({ seed: 507 })
    const a = await makePeer(hub)
    const b = await makePeer(hub)
    open.push(a.peer, b.peer)
    const tA = await a.createThread({ slices: [todos] })
    await b.joinThread(await tA.invite(), { slices: [todos] })
    await settle(hub, [a.peer, b.peer])
    const toB = tapIncoming(b.peer)
    const big = 'x'.repeat(600_000)
    for (let i = 0; i < 20; i++) a.store.dispatch(todos.actions.added(`${i}:${big}`))
    await settle(hub, [a.peer, b.peer])
    expect(b.store.getState().todos).toHaveLength(20)
    const pushes = ofType(toB, 'records').filter((m) => m.push)
    expect(pushes.length).toBeGreaterThan(1)
    for (const m of pushes) expect(encodeMessage(m).length).toBeLessThanOrEqual(MAX_MESSAGE_BYTES)
    expect(pushes.reduce((n, m) => n + m.records.length, 0)).toBe(20)
    // A late joiner pulls them in pages that are each within the limit too.
    const c = await makePeer(hub)
    open.push(c.peer)
    const toC = tapIncoming(c.peer)
    await c.joinThread(await tA.invite(), { slices: [todos] })
    await settle(hub, [a.peer, b.peer, c.peer])
    expect(c.store.getState().todos).toHaveLength(20)
    const pages = ofType(toC, 'records').filter((m) => !m.push && m.records.length > 0)
    expect(pages.length).toBeGreaterThan(1)
    for (const m of pages) expect(encodeMessage(m).length).toBeLessThanOrEqual(MAX_MESSAGE_BYTES)
  }, 60_000)
})

describe('records held beyond gaps', () => {
  it(`held records over the bound are a strike only past ${MAX_TOO_LARGE_PER_MINUTE} a minute; duplicates never`, async () => {
    const hub = createMemoryHub({ seed: 508 })
    const a = await serviceNode(hub)
    open.push(a)
    const id = ThreadId.create()
    const key = createThreadKey()
    await a.open(id, key, false, { maxHeldPerLog: 2 })
    const errors: string[] = []
    a.sync.events.on('error', ({ error }) => errors.push(error.name))
    const thread = { id, key, peers: () => a.sync.peersOf(id.toString()) } as unknown as NetThread
    const raw = await member(hub, a.id, thread, [a])
    // The member writes a log of its own, and pushes it with seq 1 missing.
    const records: LogRecord[] = []
    for (let seq = 1; seq <= 40; seq++) {
      const prev = records.at(-1)
      records.push(createRecord({ logKey: raw.identity, threadKey: key, thread: id, body: encodeCommand({ type: 'n', payload: seq }), clock: seq, time: seq, ...(prev === undefined ? {} : { prev: { id: prev.id, seq: prev.seq } }) }))
    }
    const push = (from: number, to: number): Promise<void> =>
      raw.sendMsg(a.id, { t: 'records', thread: id.bytes, log: raw.net.peerId, records: records.slice(from - 1, to).map(recordBlocks), more: false, push: true })
    // 2 held, 3 over the bound: refused, not struck.
    await push(2, 6)
    await settle(hub, [a])
    expect(errors).toEqual([])
    // The same again: duplicates of held records cost nothing.
    await push(2, 3)
    await settle(hub, [a])
    expect(errors).toEqual([])
    // Far past the bound, again and again: now it is a strike.
    await push(7, 40)
    await settle(hub, [a])
    expect(errors).toEqual(['TooLargeError'])
    // The gap filled, everything is taken.
    await push(1, 1)
    await settle(hub, [a])
    expect(a.engines.get(id.toString())?.heads().get(raw.net.peerId)?.seq).toBeGreaterThanOrEqual(3)
  })
})
