/**
 * Third red-team round (helper atk3): attacks on the three newest changes.
 * "FINDING:" tests assert the weakness as it stands; "holds:" tests assert a defence.
 */
import { afterEach, describe, expect, it } from 'vitest'
import * as dagCbor from '@ipld/dag-cbor'
import { planRotation } from '../../../src/acl/rotation.js'
import type { AclState } from '../../../src/acl/aclProjection.js'
import { generateLogKey, type LogKey } from '../../../src/core/keys.js'
import { recordBlocks, type RecordBlocks } from '../../../src/core/record.js'
import { getCrypto } from '../../../src/core/crypto/index.js'
import type { ThreadsError } from '../../../src/core/errors.js'
import { RecordsHandler, type RecordsHost } from '../../../src/net/records.js'
import { PeerSession } from '../../../src/net/session.js'
import { PullScheduler } from '../../../src/net/pull.js'
import type { SyncTarget } from '../../../src/net/syncTarget.js'
import { DEFAULT_PULL_LIMIT, MAX_LOGS, MAX_MESSAGE_BYTES, MAX_UNKNOWN_KEY_MESSAGES_PER_MINUTE, PULL_TIMEOUT_MS } from '../../../src/net/limits.js'
import { chunkRecords } from '../../../src/net/protocol/paging.js'
import type { TestEngine } from '../../support/engines.js'
import { ACL, aclWorld, type World } from './fixture.js'

async function world(): Promise<{ w: World; follower: TestEngine; mids: LogKey[] }> {
  const w = await aclWorld(3)
  const fid = generateLogKey()
  const mids = Array.from({ length: 6 }, () => generateLogKey())
  w.cmd(0, `${ACL}grant`, { peer: w.keys[1]!.id, roles: ['write'] })
  w.cmd(0, `${ACL}grant`, { peer: w.keys[2]!.id, roles: ['read'] })
  w.cmd(0, `${ACL}grant`, { peer: fid.id, roles: ['follow'] })
  for (const m of mids) w.cmd(0, `${ACL}grant`, { peer: m.id, roles: ['follow'] })
  const follower = await w.open({ key: { service: w.thread.key.service }, engine: { identity: fid } })
  return { w, follower, mids }
}

async function rotate(w: World): Promise<void> {
  const owner = w.peers[0]!.engine
  const ok = owner.serviceKeys()
  const plan = planRotation(owner.system as AclState, ok.newest().key, (e) => ok.byEpoch(e))!
  await owner.addServiceKey(plan.service!.epoch, plan.service!.key)
  const { record } = owner.command({ type: `${ACL}rotate`, payload: plan.payload }, undefined, { service: plan.service!.box })
  w.sent.push({ logId: w.keys[0]!.id, blocks: recordBlocks(record) })
}

function junk(n: number, size = 200): RecordBlocks[] {
  const out: RecordBlocks[] = []
  for (let i = 0; i < n; i++) {
    const box = dagCbor.encode(getCrypto().randomBytes(size))
    const record = new Uint8Array(10 + box.length)
    record[0] = 0x82
    record[1] = 0x48
    record.set(getCrypto().randomBytes(8), 2)
    record.set(box, 10)
    out.push({ record, event: new Uint8Array(0), header: new Uint8Array(0), body: new Uint8Array(0) })
  }
  return out
}

function targetOf(t: TestEngine): SyncTarget {
  return {
    id: 'thread',
    logKey: undefined,
    ownLogRecovery: undefined,
    ingest: (log: string, blocks: readonly RecordBlocks[]) => t.engine.ingest(log, blocks),
    heads: () => t.engine.heads(),
    gaps: () => [],
    idAt: async () => undefined
  } as unknown as SyncTarget
}

const schedulers: PullScheduler[] = []
afterEach(() => {
  for (const s of schedulers.splice(0)) s.stop()
})

/** A RecordsHandler wired to a real PullScheduler (as SyncService wires it), with a fake clock. */
function wired(sessions: PeerSession[]): { handler: RecordsHandler; strikes: ThreadsError[]; pulls: PullScheduler; sentPulls: unknown[]; wants: { n: number }; clock: { now: number } } {
  const strikes: ThreadsError[] = []
  const sentPulls: unknown[] = []
  const clock = { now: 1_000_000 }
  const wants = { n: 0 }
  const pulls = new PullScheduler({ sessions: () => sessions, send: (_s, p) => sentPulls.push(p) }, { limit: DEFAULT_PULL_LIMIT, timeoutMs: PULL_TIMEOUT_MS, now: () => clock.now })
  schedulers.push(pulls)
  const handler = new RecordsHandler({
    pulls,
    session: () => undefined,
    provedSessions: () => [],
    want: (s, t, log, from, limit) => {
      wants.n++
      pulls.want(s, t.id, log, from, limit)
    },
    strike: (_peer, e) => strikes.push(e),
    ownLogMaybeRecovered: () => undefined,
    announce: () => undefined
  } as RecordsHost)
  return { handler, strikes, pulls, sentPulls, wants, clock }
}

describe('red team round 3: #pullAhead (unknown-key budget escape)', () => {
  it('fixed: a peer that advertises one fake log far ahead, never answers the pull and keeps pushing junk is excused once per pull, then charged and struck (10 x the unknown-key budget in junk messages, past the pull timeout)', async () => {
    const { w, follower } = await world()
    await w.deliver(follower)
    const target = targetOf(follower)
    const attacker = new PeerSession('attacker')
    const link = attacker.link(target.id)
    link.proved = true
    const fake = generateLogKey().id // no such writer: nobody will ever serve it
    link.advertised.set(fake, 2 ** 31)
    const { handler, strikes, pulls, sentPulls, clock } = wired([attacker])
    const writer = w.keys[1]!.id
    const messages = MAX_UNKNOWN_KEY_MESSAGES_PER_MINUTE * 10
    for (let i = 0; i < messages; i++) {
      // Each junk message is "heard" (SyncService sets lastHeard on every message), so the pull
      // it never answers never counts as lost; even time passing past the timeout changes nothing.
      clock.now += PULL_TIMEOUT_MS
      attacker.lastHeard = clock.now
      pulls.expire()
      await handler.onRecords(attacker, target, { t: 'records', thread: target.id, log: writer, records: junk(50), more: false, push: true } as never)
    }
    // One pull of the fake log went out and stays in flight (the junk keeps it from expiring): the
    // excuse was spent on it, so the junk is charged and, past the budget, struck.
    expect(sentPulls.length).toBe(1)
    expect(strikes.length).toBeGreaterThanOrEqual(messages - MAX_UNKNOWN_KEY_MESSAGES_PER_MINUTE - 2)
    expect(new Set(strikes.map((e) => e.name))).toEqual(new Set(['RateLimitedError']))
  }, 60_000)

  it('known gap (documented): even a peer that goes quiet is not struck for never answering: the pull expires MAX_PULL_ATTEMPTS times and is dropped, no strike, and the next junk message re-arms it', async () => {
    const { w, follower } = await world()
    await w.deliver(follower)
    const target = targetOf(follower)
    const attacker = new PeerSession('attacker')
    attacker.link(target.id).proved = true
    attacker.link(target.id).advertised.set(generateLogKey().id, 2 ** 31)
    const { handler, strikes, pulls, sentPulls, clock } = wired([attacker])
    attacker.lastHeard = clock.now
    for (let i = 0; i < MAX_UNKNOWN_KEY_MESSAGES_PER_MINUTE * 3; i++) {
      await handler.onRecords(attacker, target, { t: 'records', thread: target.id, log: w.keys[1]!.id, records: junk(20), more: false, push: true } as never)
      // Quiet for longer than the timeout, several times: the pull is retried, then dropped.
      for (let k = 0; k < 4; k++) {
        clock.now += PULL_TIMEOUT_MS + 1
        pulls.expire()
      }
    }
    expect(strikes).toEqual([])
    expect(sentPulls.length).toBeGreaterThan(MAX_UNKNOWN_KEY_MESSAGES_PER_MINUTE * 3)
  }, 60_000)

  it('fixed: work per junk message is bounded whatever is advertised: with MAX_LOGS fake logs advertised, each junk message looks at a few and asks one new pull at most', async () => {
    const { w, follower } = await world()
    await w.deliver(follower)
    const target = targetOf(follower)
    const attacker = new PeerSession('attacker')
    attacker.link(target.id).proved = true
    for (let i = 0; i < MAX_LOGS; i++) attacker.link(target.id).advertised.set(`fake-log-${i}`, 2 ** 31)
    const { handler, strikes, wants } = wired([attacker])
    const messages = MAX_UNKNOWN_KEY_MESSAGES_PER_MINUTE + 8
    const t0 = performance.now()
    for (let i = 0; i < messages; i++) {
      await handler.onRecords(attacker, target, { t: 'records', thread: target.id, log: w.keys[1]!.id, records: junk(1), more: false, push: true } as never)
    }
    const ms = performance.now() - t0
    expect(wants.n).toBeLessThanOrEqual(messages)
    console.info(`[atk3] ${messages} one-record junk messages with ${MAX_LOGS} logs advertised: ${wants.n} want() calls, ${ms.toFixed(0)} ms`)
  }, 120_000)

  it('holds: answering the pulls empty is what the budget charges: past MAX_EMPTY_ANSWERS_PER_MINUTE empty answers to advertised pulls, strikes follow', async () => {
    const { w, follower } = await world()
    await w.deliver(follower)
    const target = targetOf(follower)
    const attacker = new PeerSession('attacker')
    attacker.link(target.id).proved = true
    const fake = generateLogKey().id
    attacker.link(target.id).advertised.set(fake, 2 ** 31)
    const { handler, strikes } = wired([attacker])
    for (let i = 0; i < 40; i++) {
      await handler.onRecords(attacker, target, { t: 'records', thread: target.id, log: w.keys[1]!.id, records: junk(5), more: false, push: true } as never)
      await handler.onRecords(attacker, target, { t: 'records', thread: target.id, log: fake, records: [], more: false, push: false } as never)
    }
    expect(strikes.length).toBeGreaterThan(0)
    expect(strikes.every((e) => e.name === 'RateLimitedError')).toBe(true)
  }, 60_000)
})

describe('red team round 3: #ingestAcrossRotations', () => {
  function rejections(t: TestEngine): ThreadsError[] {
    const out: ThreadsError[] = []
    t.engine.events.on('rejected', (e) => out.push(e))
    return out
  }

  it('holds: junk under unknown keys alone (no key taken) is ingested once, however much of it a non-owner sends', async () => {
    const { w, follower } = await world()
    await w.deliver(follower)
    const keys = follower.engine.serviceKeys().all().length
    const r = await follower.engine.ingest(w.keys[0]!.id, junk(1000))
    expect(follower.engine.serviceKeys().all().length).toBe(keys)
    expect(r.rejected.filter((e) => e.name === 'UnknownServiceKeyError').length).toBe(1000)
  }, 60_000)

  it('known gap (low, bounded, documented): a relaying non-owner that appends junk to a page of the owner\'s genuine rotations makes the junk re-ingested once per rotation (n+1 rounds); the bound is 64 rounds x 1,000 records a message', async () => {
    const { w, follower, mids } = await world()
    await w.deliver(follower)
    const base = w.sent.length
    const n = 5
    for (let i = 0; i < n; i++) {
      w.cmd(0, `${ACL}revoke`, { peer: mids[i]!.id, roles: ['follow'], lastSeq: 0 })
      await rotate(w)
    }
    const page = w.sent.slice(base).filter((s) => s.logId === w.keys[0]!.id).map((s) => s.blocks)
    const extra = 200
    const errs = rejections(follower)
    const t0 = performance.now()
    const r = await follower.engine.ingest(w.keys[0]!.id, [...page, ...junk(extra)])
    const ms = performance.now() - t0
    expect(follower.engine.serviceKeys().newest().epoch).toBe(n)
    const unknown = errs.filter((e) => e.name === 'UnknownServiceKeyError').length
    console.info(`[atk3] ${n} rotations + ${extra} junk: ${unknown} unknown-key refusals reported (${(unknown / extra).toFixed(1)} rounds' worth), result.rejected ${r.rejected.length}, ${ms.toFixed(0)} ms`)
    // The junk is refused in more than one round: every round re-reads the whole batch.
    expect(unknown).toBeGreaterThan(extra)
  }, 120_000)
})

describe('red team round 3: DEFAULT_PULL_LIMIT 1000', () => {
  it('holds: a page of 1,000 maximal records (1 MiB body + 512 KiB event) is split by bytes to one message within MAX_MESSAGE_BYTES', () => {
    const big: RecordBlocks = { record: new Uint8Array(300), header: new Uint8Array(200), event: new Uint8Array(512 * 1024), body: new Uint8Array(1 << 20) }
    const chunks = chunkRecords(Array.from({ length: DEFAULT_PULL_LIMIT }, () => big))
    const first = chunks[0]!
    const bytes = first.reduce((n, b) => n + b.record.length + b.event.length + b.header.length + b.body.length, 0)
    expect(first.length).toBe(5)
    expect(bytes).toBeLessThanOrEqual(MAX_MESSAGE_BYTES)
  })
})

describe('red team round 3: DEFAULT_PULL_LIMIT 1000, server side', () => {
  it('fixed: a pull of 1,000 maximal records makes the server read a 32-record probe (not all 1,000, ~1.5 GiB) to send 5; only the 5 sent are charged to the peer\'s serve budget, and the next pull re-reads 995 of them', async () => {
    const { PullServer } = await import('../../../src/net/serve.js')
    const { Busy } = await import('../../../src/net/busy.js')
    const blocks = { record: { bytes: new Uint8Array(300) }, header: { bytes: new Uint8Array(200) }, event: { bytes: new Uint8Array(512 * 1024) }, body: { bytes: new Uint8Array(1 << 20) } }
    const perRecord = 300 + 200 + 512 * 1024 + (1 << 20)
    const total = 5000
    let readRecords = 0
    const target = {
      id: 'thread',
      thread: { id: { bytes: new Uint8Array(4) } },
      heads: () => new Map([['log', { seq: total, id: undefined }]]),
      records: async (_log: string, from: number, limit: number) => {
        const n = Math.max(0, Math.min(limit, total - from + 1))
        readRecords += n
        return Array.from({ length: n }, (_, i) => ({ seq: from + i, blocks }))
      }
    } as unknown as SyncTarget
    const sent: Array<{ records: unknown[] }> = []
    const server = new PullServer({ target: () => target, send: async (_s: unknown, m: unknown) => void sent.push(m as never), strike: () => undefined, busy: new Busy(() => undefined) } as never, { bytesPerSecond: Number.MAX_SAFE_INTEGER, burstBytes: Number.MAX_SAFE_INTEGER })
    const puller = new PeerSession('puller')
    let from = 1
    for (let i = 0; i < 20; i++) {
      server.enqueue(puller, { threadId: 'thread', log: 'log', from, limit: DEFAULT_PULL_LIMIT } as never)
      await new Promise((r) => setTimeout(r, 0))
      await new Promise((r) => setTimeout(r, 0))
      from += sent[sent.length - 1]!.records.length
    }
    const sentRecords = sent.reduce((n, m) => n + m.records.length, 0)
    console.info(`[atk3] 20 pulls of ${DEFAULT_PULL_LIMIT}: ${readRecords} records read (${((readRecords * perRecord) / 2 ** 30).toFixed(1)} GiB), ${sentRecords} sent (${server.servedBytes} bytes charged)`)
    expect(sentRecords).toBe(100)
    // A probe of 32 per pull: the page is sized from it, so a pull reads no more than it can send.
    expect(readRecords).toBeLessThanOrEqual(20 * 32)
    expect(readRecords / sentRecords).toBeLessThan(8) // was 200 before the probe
    expect(server.servedBytes).toBe(sentRecords * perRecord)
  }, 60_000)
})
