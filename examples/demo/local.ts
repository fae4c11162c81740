/**
 * `npm run demo:local`: three peers in one process share a todo thread, with no network at all.
 *
 * Each peer has its own Redux store and its own LevelDB directory. They edit concurrently while
 * apart, exchange records by hand (`recordsSince` / `ingest`, the path every transport uses), converge
 * on one state whatever the arrival order, refuse a tampered record, and restore everything from
 * disk with no network at all. Nothing to set up: data goes to a fresh temporary directory.
 */
import { configureStore } from '@reduxjs/toolkit'
import { createHash } from 'node:crypto'
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { levelStorage } from '../../adapters/storage/level.js'
import { createPeer, type Peer, type ThreadEntry, type ThreadHandle } from '../../src/index.js'
import { engineOf, verifyChain, type RecordBlocks } from '../../src/advanced.js'
import { todos, type Todo } from '../todo/todoSlice.js'

const say = (line: string): void => console.log(line)
const short = (id: string): string => `…${id.slice(-6)}`

function makeStore(peer: Peer) {
  return configureStore({ reducer: { [peer.reducerPath]: peer.reducer, todos: todos.reducer }, middleware: (d) => d().concat(peer.middleware) })
}
type Store = ReturnType<typeof makeStore>

interface Member {
  readonly name: string
  readonly dir: string
  peer: Peer
  store: Store
  thread: ThreadHandle
}

function hashOf(list: readonly Todo[]): string {
  return createHash('sha256').update(JSON.stringify(list)).digest('hex').slice(0, 12)
}

function show(m: Member): void {
  const list = m.store.getState().todos
  say(`  ${m.name.padEnd(6)} ${hashOf(list)}  ${list.map((t) => `${t.done ? '☑' : '☐'} ${t.text}`).join(' · ')}`)
}

/** Send `from` everything `to` lacks, log by log, in the order given (any order converges). */
async function sync(from: Member, to: Member, shuffle = false): Promise<number> {
  const theirs = new Map([...to.thread.heads()].map(([log, h]) => [log, h.seq]))
  let applied = 0
  for (const { logId, blocks } of await from.thread.recordsSince(theirs)) {
    const order = shuffle ? [...blocks].reverse() : blocks
    const result = await to.thread.ingest(logId, order)
    applied += result.added.length
  }
  return applied
}

async function main(): Promise<void> {
  const root = await mkdtemp(join(tmpdir(), 'redux-threads-demo-'))
  say(`redux-p2p-threads demo: three peers, one encrypted todo thread (data in ${root})\n`)

  const members: Member[] = []
  for (const name of ['alice', 'bob', 'carol']) {
    const dir = join(root, name)
    const peer = createPeer({ storage: levelStorage(dir), snapshotEvery: 50 })
    members.push({ name, dir, peer, store: makeStore(peer), thread: undefined as unknown as ThreadHandle })
  }
  const [alice, bob, carol] = members as [Member, Member, Member]

  const { threadId } = await alice.store.dispatch(alice.peer.thunks.createThread({ slices: [todos] })).unwrap()
  alice.thread = alice.peer.thread(threadId) as ThreadHandle
  say(`alice created thread ${threadId}`)
  for (const m of [bob, carol]) {
    await m.store.dispatch(m.peer.thunks.openThread({ threadId, slices: [todos], key: alice.thread.key })).unwrap()
    m.thread = m.peer.thread(threadId) as ThreadHandle
    say(`${m.name} joined with the thread key; its own log is ${short(idOf(m))}`)
  }

  say('\n1. Everyone edits at once, apart from each other (every dispatch is signed, encrypted, stored):')
  await alice.store.dispatch(todos.actions.added('buy milk')).unwrap()
  bob.store.dispatch(todos.actions.added('fix the bike'))
  carol.store.dispatch(todos.actions.added('book the train'))
  alice.store.dispatch(todos.actions.added('call grandma'))
  await Promise.all(members.map((m) => m.peer.idle()))
  for (const m of members) show(m)

  say('\n2. They exchange records, each in a different order (carol gets logs newest-first):')
  await sync(alice, bob)
  await sync(carol, bob)
  await sync(bob, alice)
  await sync(bob, carol, true)
  for (const m of members) show(m)

  say('\n3. Carol goes offline and keeps editing; alice and bob edit too:')
  const milk = alice.store.getState().todos.find((t) => t.text === 'buy milk') as Todo
  carol.store.dispatch(todos.actions.toggled(milk.id))
  carol.store.dispatch(todos.actions.added('water the plants'))
  alice.store.dispatch(todos.actions.renamed({ id: milk.id, text: 'buy oat milk' }))
  bob.store.dispatch(todos.actions.added('pay rent'))
  await sync(alice, bob)
  await sync(bob, alice)
  for (const m of members) show(m)

  say('\n4. A tampered record reaches bob (one flipped byte in a body block):')
  const fake = await carol.thread.recordsSince(new Map([[idOf(carol), 0]]))
  const carolLog = fake.find((l) => l.logId === idOf(carol)) as { logId: string; blocks: RecordBlocks[] }
  const first = carolLog.blocks[0] as RecordBlocks
  const body = Uint8Array.from(first.body)
  body[body.length - 1] = (body[body.length - 1] as number) ^ 1
  const bad = await bob.thread.ingest(carolLog.logId, [{ ...first, body }])
  const err = bad.rejected[0]
  say(`  bob refused it: ${err?.name}: ${err?.message.slice(0, 90)}…`)
  const bobStatus = await statusOf(bob)
  say(`  bob's status: rejected=${bobStatus.rejected}, lastError=${bobStatus.lastError?.name}`)

  say('\n5. Carol comes back: her older edits sort before newer ones, so peers roll back and replay:')
  await sync(carol, alice)
  await sync(carol, bob)
  await sync(alice, carol)
  await sync(bob, carol)
  await Promise.all(members.map((m) => m.peer.idle()))
  for (const m of members) show(m)
  for (const m of members) {
    const s = await statusOf(m)
    say(`  ${m.name.padEnd(6)} logs=${s.logs.map((l) => `${short(l.logId)}:${l.seq}`).join(' ')} replays=${s.replays} pending=${s.pending}`)
  }
  const hashes = new Set(members.map((m) => hashOf(m.store.getState().todos)))
  say(hashes.size === 1 ? `  converged: all three hold state ${[...hashes][0]}` : '  NOT converged')

  say('\n6. Everyone closes. Alice restarts from disk alone, with no network:')
  const before = hashOf(alice.store.getState().todos)
  for (const m of members) await m.peer.close()
  const peer = createPeer({ storage: levelStorage(alice.dir) })
  const store = makeStore(peer)
  await store.dispatch(peer.thunks.openThread({ threadId, slices: [todos] })).unwrap()
  const thread = peer.thread(threadId) as ThreadHandle
  const engine = engineOf(thread)
  const after = hashOf(store.getState().todos)
  say(`  restored ${store.getState().todos.length} todos, state ${after} (${after === before ? 'same as before' : 'DIFFERENT'})`)
  let records = 0
  for (const [logId] of thread.heads()) {
    const logRecords = await engine.store.records(threadId, logId)
    const blocks = logRecords.map((r) => ({ record: r.blocks.record.bytes, event: r.blocks.event.bytes, header: r.blocks.header.bytes, body: r.blocks.body.bytes }))
    verifyChain({ thread: engine.thread.id, logId, serviceKey: thread.key.service }, blocks)
    records += logRecords.length
  }
  say(`  re-verified ${records} records in ${thread.heads().size} logs: every CID, every identity link, one signature per log`)
  await peer.close()
  const files = await readdir(alice.dir)
  let plaintext = false
  for (const f of files) if ((await readFile(join(alice.dir, f))).includes('milk')) plaintext = true
  say(`  alice's LevelDB files contain the word "milk": ${plaintext ? 'yes (!)' : 'no: events rest encrypted'}`)
  await rm(root, { recursive: true, force: true })
  say('\ndone.')
}

/** A member's peer ID (its log ID), once its peer has started. */
function idOf(m: Member): string {
  if (m.peer.id === undefined) throw new Error(`${m.name}'s peer has not started`)
  return m.peer.id
}

/** The thread's status as the member's store holds it, once the peer is idle (status is current then). */
async function statusOf(m: Member): Promise<ThreadEntry> {
  await m.peer.idle()
  const s = m.peer.selectors.selectThreadStatus(m.store.getState(), m.thread.id)
  if (s === undefined) throw new Error(`${m.name} has no status for the thread`)
  return s
}

main().catch((e: unknown) => {
  console.error(e)
  process.exit(1)
})
