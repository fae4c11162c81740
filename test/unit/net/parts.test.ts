/**
 * The parts of the sync service on their own (REVIEW.md P5: each testable alone): rate budgets and
 * peer scores, the pull scheduler's bounds and re-issuing, the dialer's budget, concurrency and
 * backoff, paging by bytes, the gossip envelope, the peer table's sending (encoding failures
 * reported, slow readers hung up), and the address book's bounds.
 */
import { describe, expect, it } from 'vitest'
import { createThreadKey, generateLogKey } from '../../../src/core/keys.js'
import type { RecordBlocks } from '../../../src/core/record.js'
import { ThreadId } from '../../../src/core/threadId.js'
import { Busy } from '../../../src/net/busy.js'
import { Dialer } from '../../../src/net/dialer.js'
import {
  MAX_CONCURRENT_DIALS,
  MAX_DIALS_PER_ROUND,
  MAX_PULLS_PER_PEER,
  MAX_PULLS_PER_THREAD,
  MAX_WANTED_LOGS_PER_PEER,
  STRIKE_TTL_MS
} from '../../../src/net/limits.js'
import type { NetworkAdapter } from '../../../src/net/networkAdapter.js'
import { PeerScore, RateBudget } from '../../../src/net/peerScore.js'
import { gossipKey, gossipTopic, openGossip, sealGossip } from '../../../src/net/protocol/gossipEnvelope.js'
import { chunkRecords, wireSize } from '../../../src/net/protocol/paging.js'
import { PullScheduler } from '../../../src/net/pull.js'
import { PeerSession, type WantedPull } from '../../../src/net/session.js'
import { silentLogger, type SyncAddressBook, type SyncEvents } from '../../../src/net/syncTarget.js'
import { PeerTable } from '../../../src/net/peers.js'
import { Emitter } from '../../../src/core/emitter.js'
import { Logstore } from '../../../src/store/logstore/logstore.js'
import { memoryStorage } from '../../../adapters/storage/memory.js'

function clock(start = 1_000_000): { now: () => number; advance: (ms: number) => void } {
  let t = start
  return { now: () => t, advance: (ms) => (t += ms) }
}

describe('RateBudget', () => {
  it('allows its count per minute, refills with time, and a clock that goes back gives nothing', () => {
    const c = clock()
    const budget = new RateBudget(3, c.now)
    expect([budget.take(), budget.take(), budget.take(), budget.take()]).toEqual([true, true, true, false])
    c.advance(20_000)
    expect([budget.take(), budget.take()]).toEqual([true, false])
    c.advance(-1_000_000)
    expect(budget.take()).toBe(false)
  })
})

describe('PeerScore', () => {
  it('bans on the third strike, forgets old strikes, and bans only for a while', () => {
    const c = clock()
    const score = new PeerScore({ strikes: 3, banMs: 60_000, now: c.now })
    expect(score.strike('p')).toBe(false)
    expect(score.strike('p')).toBe(false)
    c.advance(STRIKE_TTL_MS + 1)
    expect(score.strikesOf('p')).toBe(0)
    expect(score.strike('p')).toBe(false)
    expect(score.strike('p')).toBe(false)
    expect(score.isBanned('p')).toBe(false)
    expect(score.strike('p')).toBe(true)
    expect(score.isBanned('p')).toBe(true)
    expect(score.strikesOf('p')).toBe(0)
    c.advance(60_001)
    expect(score.isBanned('p')).toBe(false)
  })
})

describe('PullScheduler', () => {
  function setup(timeoutMs = 1000) {
    const c = clock()
    const sessions: PeerSession[] = []
    const sent: Array<{ peer: string; pull: WantedPull }> = []
    const pulls = new PullScheduler({ sessions: () => sessions, send: (s, pull) => sent.push({ peer: s.peerId, pull }) }, { limit: 500, timeoutMs, now: c.now })
    const add = (): PeerSession => {
      const s = new PeerSession(generateLogKey().id, c.now)
      sessions.push(s)
      return s
    }
    return { c, sessions, sent, pulls, add }
  }

  it(`sends at most ${MAX_PULLS_PER_PEER} per peer; the rest wait in a bounded want-list, one per log`, () => {
    const { sent, pulls, add } = setup()
    const s = add()
    const logs = Array.from({ length: MAX_WANTED_LOGS_PER_PEER + 100 }, (_, i) => `log${i}`)
    for (const log of logs) pulls.want(s, 't', log, 1)
    pulls.want(s, 't', 'log0', 1) // in flight already: nothing
    pulls.want(s, 't', 'log20', 5) // waiting already: keeps the lower `from`
    expect(sent).toHaveLength(MAX_PULLS_PER_PEER)
    expect(s.inflight.size).toBe(MAX_PULLS_PER_PEER)
    expect(s.wants.size).toBe(MAX_WANTED_LOGS_PER_PEER)
    expect(s.wants.get('t\u0000log20')?.from).toBe(1)
    // An answer frees a slot: the next wanted log goes out.
    expect(pulls.answered(s, 't', 'log0')?.from).toBe(1)
    expect(pulls.answered(s, 't', 'log0')).toBeUndefined()
    pulls.pump()
    expect(sent).toHaveLength(MAX_PULLS_PER_PEER + 1)
    expect(sent.at(-1)?.pull.log).toBe(`log${MAX_PULLS_PER_PEER}`)
  })

  it(`sends at most ${MAX_PULLS_PER_THREAD} for one thread over all peers`, () => {
    const { sent, pulls, add } = setup()
    const many = Array.from({ length: 8 }, () => add())
    for (const s of many) for (let i = 0; i < MAX_PULLS_PER_PEER; i++) pulls.want(s, 't', `l${i}`, 1)
    expect(sent).toHaveLength(MAX_PULLS_PER_THREAD)
    expect(pulls.inflight('t')).toBe(MAX_PULLS_PER_THREAD)
    // Another thread is not held up by this one.
    pulls.want(many[7] as PeerSession, 'u', 'x', 1)
    expect(sent).toHaveLength(MAX_PULLS_PER_THREAD + 1)
  })

  it('asks a timed-out pull again of another peer that advertised the log, else of the same peer a few times', () => {
    const { c, sent, pulls, add } = setup()
    const a = add()
    const b = add()
    b.link('t').proved = true
    b.link('t').advertised.set('log', 10)
    pulls.want(a, 't', 'log', 3)
    pulls.want(a, 't', 'other', 1)
    c.advance(999)
    pulls.expire()
    expect(sent).toHaveLength(2)
    c.advance(2)
    pulls.expire()
    // `log` moved to B (it advertised seq 10 >= 3); `other` is asked of A again.
    expect(sent.slice(2).map((x) => [x.peer === b.peerId ? 'B' : 'A', x.pull.log, x.pull.attempt])).toEqual([
      ['B', 'log', 1],
      ['A', 'other', 2]
    ])
    c.advance(1001)
    pulls.expire()
    c.advance(1001)
    pulls.expire()
    // After three attempts in a row A is no longer asked for `other`.
    expect(sent.filter((x) => x.pull.log === 'other').map((x) => x.pull.attempt)).toEqual([1, 2, 3])
    pulls.stop()
  })

  it('moves the pulls of a closed session to a peer that advertised their logs at once', () => {
    const { sent, pulls, add, sessions } = setup(60_000)
    const a = add()
    const b = add()
    b.link('t').proved = true
    b.link('t').advertised.set('log', 10)
    pulls.want(a, 't', 'log', 4)
    a.closed = true
    sessions.splice(sessions.indexOf(a), 1)
    pulls.drop(a)
    expect(sent.map((x) => [x.peer === b.peerId ? 'B' : 'A', x.pull.from])).toEqual([
      ['A', 4],
      ['B', 4]
    ])
    expect(pulls.inflight('t')).toBe(1)
    pulls.stop()
  })
})

describe('Dialer', () => {
  function setup() {
    const dials: string[] = []
    const pending: Array<{ peer: string; settle: (ok: boolean) => void }> = []
    const net = {
      peerId: 'me',
      dial: (peer: string) =>
        new Promise<void>((resolve, reject) => {
          dials.push(peer)
          pending.push({ peer, settle: (ok) => (ok ? resolve() : reject(new Error('unreachable'))) })
        })
    } as unknown as NetworkAdapter
    const book: SyncAddressBook = {
      addrs: async (_t, peer) => [{ addr: `/ip4/10.0.0.1/tcp/1/p2p/${peer}` }],
      addAddrs: async () => true,
      clearAddrs: async () => undefined,
      peers: async () => []
    }
    const busy = new Busy(() => undefined)
    const dialer = new Dialer({ net, addrBook: book, busy, log: silentLogger, session: () => undefined, isBanned: (p) => p === 'banned' })
    return { dials, pending, dialer, busy }
  }
  const flush = (): Promise<void> => new Promise((resolve) => setTimeout(resolve, 0))

  it(`dials at most ${MAX_CONCURRENT_DIALS} at once and ${MAX_DIALS_PER_ROUND} a round; never itself or a banned peer`, async () => {
    const { dials, pending, dialer } = setup()
    const peers = Array.from({ length: 40 }, (_, i) => `p${i}`)
    for (const p of ['me', 'banned', ...peers]) dialer.request(p, ['t'])
    await flush()
    expect(dials).toHaveLength(MAX_CONCURRENT_DIALS)
    for (let i = 0; i < 10; i++) {
      for (const p of pending.splice(0)) p.settle(false)
      await flush()
      await flush()
    }
    expect(dials).toHaveLength(MAX_DIALS_PER_ROUND)
    expect(dials).not.toContain('me')
    expect(dials).not.toContain('banned')
  })

  it('backs off a failing peer: the next round, then every 2nd, 4th… round', async () => {
    const { dials, pending, dialer } = setup()
    const rounds: number[] = []
    for (let round = 0; round < 16; round++) {
      dialer.newRound()
      if (dialer.request('p', ['t']) !== undefined) rounds.push(round)
      await flush()
      for (const p of pending.splice(0)) p.settle(false)
      await flush()
      await flush()
    }
    expect(rounds).toEqual([0, 1, 3, 7, 15])
    expect(dials).toHaveLength(5)
  })
})

describe('paging and the gossip envelope', () => {
  const block = (n: number): RecordBlocks => ({ record: new Uint8Array(100), event: new Uint8Array(80), header: new Uint8Array(100), body: new Uint8Array(n) })

  it('splits records by count and by bytes, never over either bound, keeping order', () => {
    const records = Array.from({ length: 25 }, (_, i) => block(1000 + i))
    const byCount = chunkRecords(records, 10, 1 << 30)
    expect(byCount.map((r) => r.length)).toEqual([10, 10, 5])
    const bytes = 5 * wireSize(block(1024)) + 2048
    const byBytes = chunkRecords(records, 1000, bytes)
    for (const run of byBytes) expect(run.reduce((n, r) => n + wireSize(r), 1024)).toBeLessThanOrEqual(bytes)
    expect(byBytes.flat()).toEqual(records)
    // One record larger than the bound still gets a run of its own.
    expect(chunkRecords([block(10_000)], 10, 100).map((r) => r.length)).toEqual([1])
  })

  it('seals for the thread: opens with its key only, and the topic depends on the key', () => {
    const thread = ThreadId.create().bytes
    const key = createThreadKey()
    const sealed = sealGossip(gossipKey(key.service, thread), Uint8Array.of(1, 2, 3))
    expect(openGossip(gossipKey(key.service, thread), sealed)).toEqual(Uint8Array.of(1, 2, 3))
    expect(() => openGossip(gossipKey(createThreadKey().service, thread), sealed)).toThrow(expect.objectContaining({ name: 'DecryptionError' }))
    expect(() => openGossip(gossipKey(key.service, ThreadId.create().bytes), sealed)).toThrow(expect.objectContaining({ name: 'DecryptionError' }))
    // The gossip key is not the service key, nor the topic's tag.
    expect(gossipKey(key.service, thread)).not.toEqual(key.service)
    expect(gossipTopic(key.service, thread)).toBe(gossipTopic(Uint8Array.from(key.service), Uint8Array.from(thread)))
  })
})

describe('PeerTable', () => {
  function table(maxUnsentBytes?: number) {
    const sent: Uint8Array[] = []
    const hungUp: string[] = []
    let release: (() => void) | undefined
    const net = {
      peerId: 'me',
      send: (_peer: string, bytes: Uint8Array) => {
        sent.push(bytes)
        // Never taken by the transport until released: a peer that does not read.
        return new Promise<void>((resolve) => (release = resolve))
      },
      hangUp: async (peer: string) => {
        hungUp.push(peer)
      }
    } as unknown as NetworkAdapter
    const events = new Emitter<SyncEvents>()
    const errors: string[] = []
    const logged: string[] = []
    events.on('error', ({ error }) => errors.push(error.name))
    const closed: string[] = []
    const peers = new PeerTable({
      net,
      events,
      log: { debug: () => undefined, error: (m, ...args) => logged.push(`${m} ${args.join(' ')}`) },
      score: new PeerScore(),
      ...(maxUnsentBytes === undefined ? {} : { maxUnsentBytes }),
      onClose: (s) => closed.push(s.peerId)
    })
    return { peers, sent, hungUp, errors, logged, closed, release: () => release?.() }
  }

  it('reports a message of its own that does not encode (a bug), and sends nothing', async () => {
    const t = table()
    const s = t.peers.open('p') as PeerSession
    const huge = new Uint8Array(9 << 20)
    await t.peers.send(s, { t: 'records', thread: ThreadId.create().bytes, log: generateLogKey().id, records: [{ record: huge, event: huge, header: huge, body: huge }], more: false, push: true })
    expect(t.sent).toEqual([])
    expect(t.errors).toEqual(['TooLargeError'])
    expect(t.logged.join()).toMatch(/could not encode a records message/)
  })

  it('counts bytes not yet taken by the transport, and hangs up a peer past the bound', async () => {
    const t = table(1000)
    const s = t.peers.open('p') as PeerSession
    const pull = { t: 'pull', thread: ThreadId.create().bytes, log: generateLogKey().id, from: 1, limit: 1 } as const
    let n = 0
    while (!s.closed && n < 100) {
      void t.peers.send(s, pull)
      n++
    }
    expect(s.closed).toBe(true)
    expect(s.unsent).toBeLessThanOrEqual(1000)
    expect(t.errors).toEqual(['SlowPeerError'])
    expect(t.hungUp).toEqual(['p'])
    expect(t.closed).toEqual(['p'])
    expect(t.peers.get('p')).toBeUndefined()
  })
})

describe('AddrBook bounds', () => {
  it('keeps at most maxAddrs per peer and maxPeers per thread, and lists the peers', async () => {
    const book = (await Logstore.open(memoryStorage())).addrs
    const peer = (i: number): string => `peer${i}`
    const addr = (p: string, i: number): string => `/ip4/10.0.0.${i}/tcp/1/p2p/${p}`
    expect(await book.addAddrs('t', peer(0), Array.from({ length: 20 }, (_, i) => addr(peer(0), i)), 60_000, { maxAddrs: 16, maxPeers: 3 })).toBe(true)
    expect(await book.addrs('t', peer(0))).toHaveLength(16)
    for (let i = 1; i < 3; i++) expect(await book.addAddrs('t', peer(i), [addr(peer(i), 1)], 60_000, { maxAddrs: 16, maxPeers: 3 })).toBe(true)
    expect(await book.addAddrs('t', peer(3), [addr(peer(3), 1)], 60_000, { maxAddrs: 16, maxPeers: 3 })).toBe(false)
    // A known peer may still be refreshed; another thread has its own bound.
    expect(await book.addAddrs('t', peer(1), [addr(peer(1), 2)], 60_000, { maxAddrs: 16, maxPeers: 3 })).toBe(true)
    expect(await book.addAddrs('u', peer(3), [addr(peer(3), 1)], 60_000, { maxAddrs: 16, maxPeers: 3 })).toBe(true)
    expect(await book.peers('t')).toEqual([peer(0), peer(1), peer(2)])
    await book.clearAddrs('t', peer(2))
    expect(await book.peers('t')).toEqual([peer(0), peer(1)])
    expect(await book.addAddrs('t', peer(3), [addr(peer(3), 1)], 60_000, { maxAddrs: 16, maxPeers: 3 })).toBe(true)
  })
})
