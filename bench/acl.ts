/**
 * Access control (issue 10): what the system projection costs at ingest, with the same events
 * in a Raw thread as the limit in the same run, and what a read key rotation for 100 readers
 * and a service key rotation for 100 members cost their maker (time) and every peer (bytes of
 * the rotation record), and a follower taking its key.
 */
import { memoryStorage } from '../src/store/memory/memoryStorage.js'
import { aclProjection, createAclThreadId } from '../src/acl/aclProjection.js'
import { createRotation } from '../src/acl/rotation.js'
import { createServiceRotation, openServiceRotation, serviceKeyFor } from '../src/core/serviceRotation.js'
import { createThreadKey, generateLogKey, type LogKey } from '../src/core/keys.js'
import { recordBlocks, type RecordBlocks } from '../src/core/record.js'
import { ThreadId, Variant } from '../src/core/threadId.js'
import { ThreadEngine } from '../src/engine/threadEngine.js'
import type { ThreadEvent } from '../src/engine/threadEvent.js'
import { EventStore } from '../src/store/eventStore.js'
import { ACTION } from './fixtures.js'
import { once, sig, target, time, type Bench, type Reporter } from './harness.js'

/** Members of the ACL thread (the owner and 99 writers). */
const MEMBERS = 100
/** Writers whose logs carry the app events. */
const WRITERS = 10
/** App events per writer. */
const PER_WRITER = 500
const EVENTS = WRITERS * PER_WRITER
const CHUNK = 500

/** A count of events: cheap, so the figure measures the engine and the ACL, not a reducer. */
const counter = { initial: 0, fold: (n: number, _e: ThreadEvent): number => n + 1 }

type Thread = { threadId: ThreadId; key: ReturnType<typeof createThreadKey> }

async function engineOf(thread: Thread, acl: boolean, logKey?: LogKey): Promise<ThreadEngine<number>> {
  const store = await EventStore.open(memoryStorage())
  await store.logstore.addThread(thread.threadId, thread.key)
  if (logKey !== undefined) await store.logstore.addLog(thread.threadId, logKey.id, logKey)
  return ThreadEngine.open({ store, threadId: thread.threadId, projection: counter, snapshotEvery: 0, ...(acl ? { system: aclProjection() } : {}) })
}

interface Written {
  readonly thread: Thread
  /** Every log, in the order a fresh peer ingests them (each at the tip of the order). */
  readonly logs: ReadonlyArray<{ logId: string; blocks: RecordBlocks[] }>
}

async function feed(e: ThreadEngine<number>, logs: Written['logs']): Promise<void> {
  for (const { logId, blocks } of logs) {
    for (let i = 0; i < blocks.length; i += CHUNK) {
      const r = await e.ingest(logId, blocks.slice(i, i + CHUNK))
      if (r.rejected.length > 0) throw r.rejected[0]
    }
  }
}

/**
 * The same app events in a thread of each kind. Writers take turns, each having seen the ones
 * before, so a fresh peer ingesting log after log always folds at the tip (no replays in either).
 */
async function written(acl: boolean): Promise<Written> {
  const keys = Array.from({ length: MEMBERS }, () => generateLogKey())
  const owner = keys[0] as LogKey
  const made = acl ? createAclThreadId(owner.id) : undefined
  const thread: Thread = { threadId: made?.threadId ?? ThreadId.create(Variant.Raw), key: createThreadKey() }
  const logs: Array<{ logId: string; blocks: RecordBlocks[] }> = []
  if (acl && made !== undefined) {
    const o = await engineOf(thread, true, owner)
    const blocks = [recordBlocks(o.command({ type: 'redux-threads/acl/init', payload: { salt: made.salt } }).record)]
    for (const k of keys.slice(1)) blocks.push(recordBlocks(o.command({ type: 'redux-threads/acl/grant', payload: { peer: k.id, roles: ['write'] } }).record))
    await o.flush()
    logs.push({ logId: owner.id, blocks })
  }
  for (const k of keys.slice(1, 1 + WRITERS)) {
    const w = await engineOf(thread, acl, k)
    await feed(w, logs)
    const blocks: RecordBlocks[] = []
    for (let i = 0; i < PER_WRITER; i++) blocks.push(recordBlocks(w.command(ACTION).record))
    await w.flush()
    logs.push({ logId: k.id, blocks })
  }
  return { thread, logs }
}

const threads = once(async () => ({ raw: await written(false), acl: await written(true) }))

async function ingestRate(w: Written, acl: boolean): Promise<number> {
  let fresh: ThreadEngine<number> | undefined
  const timing = await time({ n: EVENTS, runs: 3, setup: async () => (fresh = await engineOf(w.thread, acl)) }, (e) => feed(e, w.logs))
  if (fresh?.state !== EVENTS) throw new Error(`acl bench: ${String(fresh?.state)} events applied, expected ${EVENTS}`)
  return timing.opsPerSec
}

async function ingestFigure(r: Reporter): Promise<void> {
  const { raw, acl } = await threads()
  // Alternate, so a change in the machine's speed during the run falls on both alike.
  const rawRates: number[] = []
  const aclRates: number[] = []
  for (let i = 0; i < 3; i++) {
    rawRates.push(await ingestRate(raw, false))
    aclRates.push(await ingestRate(acl, true))
  }
  const mid = (v: number[]): number => [...v].sort((a, b) => a - b)[1] as number
  const rawRate = mid(rawRates)
  const aclRate = mid(aclRates)
  const ratio = sig(aclRate / rawRate, 3)
  r.emit({
    bench: 'acl.ingest',
    unit: 'events/s',
    value: Math.round(aclRate),
    limit: { name: 'the same events in a Raw thread, same run', value: Math.round(rawRate) },
    ratio,
    target: target('>= 90% of a Raw thread', 'min', 0.9, ratio, 'ratio'),
    n: EVENTS,
    members: MEMBERS,
    note: `a fresh peer ingests ${EVENTS} app events of ${WRITERS} writer logs in chunks of ${CHUNK}, into a thread whose ACL names ${MEMBERS} members (the owner's init and ${MEMBERS - 1} grants ingested first, inside the timed region), against the same app events in a Raw thread; memory storage; median of 3 alternating medians of 3 runs`
  })
}

async function rotationFigure(r: Reporter): Promise<void> {
  const keys = Array.from({ length: MEMBERS + 1 }, () => generateLogKey())
  const owner = keys[0] as LogKey
  const made = createAclThreadId(owner.id)
  const thread: Thread = { threadId: made.threadId, key: createThreadKey() }
  const o = await engineOf(thread, true, owner)
  o.command({ type: 'redux-threads/acl/init', payload: { salt: made.salt } })
  for (const k of keys.slice(1)) o.command({ type: 'redux-threads/acl/grant', payload: { peer: k.id, roles: ['read'] } })
  await o.flush()
  const readers = keys.slice(2).map((k) => k.id)
  let epoch = 0
  let bytes = 0
  // One op = one rotation: the new key sealed to the readers left, signed and stored as the revocation.
  const timing = await time({ n: 1, runs: 7, warmup: 1 }, async () => {
    epoch++
    const { rotate } = createRotation([...readers, owner.id], epoch)
    const { record, durable } = o.command({ type: 'redux-threads/acl/revoke', payload: { peer: (keys[1] as LogKey).id, roles: ['read'], lastSeq: 0, rotate: { read: rotate } } })
    const b = recordBlocks(record)
    bytes = b.record.length + b.event.length + b.header.length + b.body.length
    await durable
  })
  r.emit({
    bench: 'acl.rotation',
    unit: 'ms',
    value: sig(timing.secPerOp * 1000, 3),
    n: 1,
    readers: MEMBERS,
    record_bytes: bytes,
    bytes_per_reader: sig(bytes / MEMBERS, 3),
    note: `a revocation that rotates the read key: a fresh key sealed (X25519 sealed box) to ${MEMBERS} readers (99 left + the owner), encoded, signed, encrypted and stored; record_bytes: the revocation record's four blocks, what each peer receives once; median of 7`
  })
}

async function serviceRotationFigure(r: Reporter): Promise<void> {
  const keys = Array.from({ length: MEMBERS + 1 }, () => generateLogKey())
  const owner = keys[0] as LogKey
  const made = createAclThreadId(owner.id)
  const thread: Thread = { threadId: made.threadId, key: createThreadKey() }
  const o = await engineOf(thread, true, owner)
  o.command({ type: 'redux-threads/acl/init', payload: { salt: made.salt } })
  for (const k of keys.slice(1)) o.command({ type: 'redux-threads/acl/grant', payload: { peer: k.id, roles: ['follow'] } })
  await o.flush()
  const members = [...keys.slice(2).map((k) => k.id), owner.id]
  let epoch = 0
  let bytes = 0
  let eventBytes = 0
  let last: { box: Uint8Array; sealingKey: Uint8Array } | undefined
  // One op = one rotation: a new service key sealed to the members left, carried in the rotate
  // record's event node (sealed under the current service key), signed and stored; the owner then
  // seals under the new key.
  const timing = await time({ n: 1, runs: 7, warmup: 1 }, async () => {
    epoch++
    const sealingKey = o.serviceKeys().newest().key
    const { key, box } = createServiceRotation({ members, epoch, salt: made.salt, sealingKey })
    const { record, durable } = o.command({ type: 'redux-threads/acl/rotate', payload: { rotate: { service: { epoch, peers: members } } } }, undefined, { service: box })
    const b = recordBlocks(record)
    bytes = b.record.length + b.event.length + b.header.length + b.body.length
    eventBytes = b.event.length
    last = { box, sealingKey }
    await o.addServiceKey(epoch, key)
    await durable
  })
  // What a follower spends on taking its key: open the rotation with the old key, then its box.
  const follower = keys[2] as LogKey
  const take = await time({ n: 1, runs: 7, warmup: 1 }, () => {
    const rotation = openServiceRotation(last!.sealingKey, last!.box, {})
    if (serviceKeyFor(rotation, follower) === undefined) throw new Error('acl bench: no box for the follower')
  })
  r.emit({
    bench: 'acl.service_rotation',
    unit: 'ms',
    value: sig(timing.secPerOp * 1000, 3),
    n: 1,
    members: MEMBERS,
    record_bytes: bytes,
    event_bytes: eventBytes,
    bytes_per_member: sig(bytes / MEMBERS, 3),
    follower_take_ms: sig(take.secPerOp * 1000, 3),
    note: `a service key rotation after a member lost follow: a fresh key sealed (X25519 sealed box) to ${MEMBERS} members (99 left + the owner), in the rotate record's event node under the current service key; encoded, signed, encrypted and stored; record_bytes: the record's four blocks (event_bytes of them the event node carrying the boxes), what each peer receives once; follower_take_ms: a follower opening the rotation and its box; median of 7`
  })
}

export const aclBenches: Bench[] = [
  { name: 'acl.ingest', run: ingestFigure },
  { name: 'acl.rotation', run: rotationFigure },
  { name: 'acl.service_rotation', run: serviceRotationFigure }
]
