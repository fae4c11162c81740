/**
 * A malicious peer that holds the thread key, over real libp2p: it authenticates by hand on a raw
 * adapter (no sync service, no checks of its own), then pushes tampered and forged records to an
 * honest peer. The honest peer refuses them with typed errors on status$, keeps syncing with the
 * other honest peer, and disconnects the malicious one after repeated bad messages.
 */
import { afterEach, describe, expect, it } from 'vitest'
import { libp2pNetwork, type Libp2pNetwork } from '../../../adapters/network/libp2p.js'
import { openInvite } from '../../../src/acl/invite.js'
import { encodeCommand } from '../../../src/core/command.js'
import { getCrypto } from '../../../src/core/crypto/index.js'
import { generateLogKey, type ThreadKey } from '../../../src/core/keys.js'
import { createRecord, recordBlocks, type RecordBlocks } from '../../../src/core/record.js'
import { decodeMessage, encodeMessage, NONCE_BYTES, type SyncMessage } from '../../../src/net/messages.js'
import { authTag } from '../../../src/net/auth.js'
import { converged, describePeers, headsOf, livePeer, LOOPBACK, Resources, statusNow, statusWhere, texts, todos, until, type LivePeer, type NetThread } from './helpers.js'

const resources = new Resources()
afterEach(async () => {
  await resources.closeAll()
})

interface Honest {
  readonly a: LivePeer
  readonly b: LivePeer
  readonly tA: NetThread
  readonly tB: NetThread
}

/** A creates a thread and writes; B joins with a write invite and writes; both converged. */
async function honestPair(): Promise<Honest> {
  const a = await livePeer(resources, 'A')
  const b = await livePeer(resources, 'B')
  const tA = await a.createThread({ slices: [todos] })
  const tB = await b.joinThread(await tA.invite({ role: 'write', to: b.id }), { slices: [todos] })
  await Promise.all([tA, tB].map((t) => statusWhere(t, (s) => s.peers.length === 1, 'the honest pair is authenticated')))
  for (const text of ['a1', 'a2', 'a3']) a.store.dispatch(todos.actions.added(text))
  b.store.dispatch(todos.actions.added('b1'))
  await until([tA.status$, tB.status$, a.store, b.store], () => converged([a, b], 4), 'the honest pair holds the same 4 todos', {
    describe: () => describePeers([{ p: a, t: tA }, { p: b, t: tB }])
  })
  return { a, b, tA, tB }
}

/** The honest pair still syncs both ways: each writes once and both converge. */
async function stillSyncing(h: Honest, tag: string): Promise<void> {
  const count = h.a.store.getState().todos.length + 2
  h.a.store.dispatch(todos.actions.added(`A ${tag}`))
  h.b.store.dispatch(todos.actions.added(`B ${tag}`))
  await until([h.tA.status$, h.tB.status$, h.a.store, h.b.store], () => converged([h.a, h.b], count), `the honest pair converged after ${tag}`, {
    describe: () => describePeers([{ p: h.a, t: h.tA }, { p: h.b, t: h.tB }])
  })
  expect(texts(h.b)).toEqual(expect.arrayContaining([`A ${tag}`, `B ${tag}`]))
}

interface Received {
  readonly from: string
  readonly m: SyncMessage
}

/**
 * A raw libp2p adapter with the thread's key (from an invite sealed to it) and no sync service:
 * it does the version 2 handshake itself (hello, then a tag per connection), and sends whatever a
 * test gives it.
 */
async function maliciousPeer(h: Honest) {
  const identity = generateLogKey()
  const key: ThreadKey = openInvite(await h.tA.invite({ role: 'write', to: identity.id }), identity).key
  const thread = h.tA.id.bytes
  const net = libp2pNetwork({ listen: LOOPBACK })({ identity }) as Libp2pNetwork
  resources.add(() => net.stop())
  await net.start()
  const received: Received[] = []
  const disconnected: string[] = []
  const changes: Array<() => void> = []
  const changed = (): void => {
    for (const c of [...changes]) c()
  }
  const nonce = getCrypto().randomBytes(NONCE_BYTES)
  let honestProofs = 0
  const send = (to: string, m: SyncMessage): Promise<void> => net.send(to, encodeMessage(m))
  net.on('message', ({ from, bytes }) => {
    const m = decodeMessage(bytes)
    received.push({ from, m })
    if (m.t === 'hello') {
      // Claim the thread to whoever says hello.
      void send(from, { t: 'auth', tag: authTag(key.service, { recipientNonce: m.nonce, senderNonce: nonce, sender: identity.id, recipient: from, thread }), nonce })
    } else if (m.t === 'auth') {
      const expected = authTag(key.service, { recipientNonce: nonce, senderNonce: m.nonce, sender: from, recipient: identity.id, thread })
      if (equalBytes(expected, m.tag)) honestProofs++
    }
    changed()
  })
  net.on('peer:disconnect', ({ peerId }) => {
    disconnected.push(peerId)
    changed()
  })
  return {
    net,
    identity,
    key,
    received,
    disconnected,
    /** Notifies on every message or disconnection (a source for `until`). */
    source: (notify: () => void) => {
      changes.push(notify)
      return () => changes.splice(changes.indexOf(notify), 1)
    },
    honestProofs: () => honestProofs,
    /** Dial `target`, say hello, prove the thread; resolves when it authorised us and sent its heads. */
    async authenticate(target: LivePeer, targetThread: NetThread) {
      const addr = target.peer.addresses()[0] as string
      await net.dial(target.id, [addr])
      await send(target.id, { t: 'hello', nonce })
      await statusWhere(targetThread, (s) => s.peers.includes(identity.id), `${target.name} authorized the malicious peer`)
      await until(this.source, () => received.some((r) => r.from === target.id && r.m.t === 'heads'), `${target.name} sent heads`)
    },
    pushRecords: (to: string, log: string, records: readonly RecordBlocks[]) =>
      send(to, { t: 'records', thread, log, records, more: false, push: true })
  }
}

function equalBytes(x: Uint8Array, y: Uint8Array): boolean {
  return x.length === y.length && x.every((v, i) => v === y[i])
}

/** A's newest record as B holds it, with one byte of its body block flipped. */
async function tamperedRecordOf(h: Honest, index = 0): Promise<RecordBlocks> {
  const logs = await h.tA.recordsSince(new Map())
  const mine = logs.find((l) => l.logId === h.a.id)
  const blocks = mine?.blocks[mine.blocks.length - 1 - index]
  if (blocks === undefined) throw new Error("no record of A's log")
  const body = Uint8Array.from(blocks.body)
  const at = body.length >> 1
  body[at] = (body[at] as number) ^ 0x01
  return { ...blocks, body }
}

describe('a malicious peer with the thread key, over libp2p', () => {
  it('a tampered body block is refused as CidMismatchError; the honest peer keeps running and converging', async () => {
    const h = await honestPair()
    const mal = await maliciousPeer(h)
    await mal.authenticate(h.b, h.tB)
    // The handshake was real: B proved the key to us too.
    expect(mal.honestProofs()).toBeGreaterThan(0)
    const before = await statusNow(h.b, h.tB)
    expect(before.rejected).toBe(0)
    const headsBefore = headsOf(h.tB)

    await mal.pushRecords(h.b.id, h.a.id, [await tamperedRecordOf(h)])
    const s = await statusWhere(h.tB, (x) => x.rejected > 0, 'B reported the tampered record')
    expect(s.lastError?.name).toBe('CidMismatchError')
    expect(s.lastError?.logId).toBe(h.a.id)
    // One bad record, counted once.
    expect(s.rejected).toBe(1)
    expect(headsOf(h.tB)).toEqual(headsBefore)
    expect(texts(h.b)).toEqual(texts(h.a))
    // One strike is not a ban.
    expect(h.b.peer.network?.connectedPeers()).toContain(mal.identity.id)
    expect(mal.disconnected).toEqual([])

    await stillSyncing(h, 'after the tampered record')
    expect(h.b.store.getState().todos).toEqual(h.a.store.getState().todos)
    // Still one refusal on B's status, however many layers saw it.
    expect((await statusNow(h.b, h.tB)).rejected).toBe(1)
  })

  it('records signed by another key under a writer\'s log ID are refused as BadSignatureError', async () => {
    const h = await honestPair()
    const mal = await maliciousPeer(h)
    await mal.authenticate(h.b, h.tB)
    const headOfA = h.tB.heads().get(h.a.id)
    expect(headOfA?.seq).toBe(3)
    // A perfect record continuing A's log, but signed with the malicious peer's own key.
    const forged = createRecord({
      thread: h.tA.id,
      logKey: mal.identity,
      threadKey: mal.key,
      body: encodeCommand({ type: todos.actions.added.type, payload: { id: 'forged01', text: 'forged by M' }, meta: {} }),
      clock: 1_000,
      time: Date.now(),
      prev: headOfA as NonNullable<typeof headOfA>
    })
    await mal.pushRecords(h.b.id, h.a.id, [recordBlocks(forged)])
    const s = await statusWhere(h.tB, (x) => x.rejected > 0, 'B reported the forged record')
    expect(s.lastError?.name).toBe('BadSignatureError')
    expect(s.lastError?.logId).toBe(h.a.id)
    expect(s.rejected).toBe(1)
    expect(h.tB.heads().get(h.a.id)?.seq).toBe(3)
    expect(texts(h.b)).not.toContain('forged by M')

    // A's real next record (same seq the forgery claimed) is taken as usual.
    await stillSyncing(h, 'after the forgery')
    expect(h.tB.heads().get(h.a.id)?.seq).toBe(4)
    expect(texts(h.b)).not.toContain('forged by M')
  })

  it('repeated bad messages get the malicious peer disconnected; the honest pair goes on', async () => {
    const h = await honestPair()
    const mal = await maliciousPeer(h)
    await mal.authenticate(h.b, h.tB)
    for (let i = 0; i < 2; i++) {
      await mal.pushRecords(h.b.id, h.a.id, [await tamperedRecordOf(h, i)])
      await statusWhere(h.tB, (x) => x.rejected > i, `B reported bad record ${i + 1}`)
      expect(mal.disconnected).toEqual([])
    }
    expect(h.b.peer.network?.connectedPeers()).toContain(mal.identity.id)
    // The third strike.
    await mal.pushRecords(h.b.id, h.a.id, [await tamperedRecordOf(h, 2)])
    await until(mal.source, () => mal.disconnected.includes(h.b.id), "the malicious peer's connection to B closed")
    await statusWhere(h.tB, (x) => !x.peers.includes(mal.identity.id), 'B no longer lists the malicious peer')
    expect(h.b.peer.network?.connectedPeers()).not.toContain(mal.identity.id)
    expect(mal.net.connectedPeers()).not.toContain(h.b.id)
    const s = await statusNow(h.b, h.tB)
    expect(s.lastError?.name).toBe('CidMismatchError')
    expect(s.peers).toEqual([h.a.id])

    await stillSyncing(h, 'after the ban')
    expect(h.b.store.getState().todos).toEqual(h.a.store.getState().todos)
  })
})
