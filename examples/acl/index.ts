/**
 * `npm run example:acl`: access control over libp2p (the paper's section 5.5.2; issue 10).
 *
 * Alice founds an access-controlled todo thread, invites Bob to write and Carol to read, each by
 * peer ID. Bob writes; Alice revokes him. The revocation rotates the read key to Alice and Carol,
 * and cuts everything Bob writes after the last record of his Alice had applied: Bob, who keeps
 * writing, sees his own todos; nobody else ever does. Dave, invited after the rotation, reads all
 * the members wrote. Four peers in one process, each with its own LevelDB directory and libp2p
 * node on loopback.
 */
import { configureStore } from '@reduxjs/toolkit'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { pathToFileURL } from 'node:url'
import { libp2pNetwork } from '../../adapters/network/libp2p.js'
import { levelStorage } from '../../adapters/storage/level.js'
import { createPeer, Variant, type Peer } from '../../src/index.js'
import { todos, type Todo } from '../todo/todoSlice.js'

function member(name: string, dir: string) {
  const peer = createPeer({ storage: levelStorage(join(dir, name)), network: libp2pNetwork({ listen: ['/ip4/127.0.0.1/tcp/0'] }), syncIntervalMs: 200 })
  const store = configureStore({ reducer: { [peer.reducerPath]: peer.reducer, todos: todos.reducer }, middleware: (gDM) => gDM().concat(peer.middleware) })
  const texts = (): string[] => store.getState().todos.map((t: Todo) => t.text)
  return { name, peer, store, texts }
}
type Member = ReturnType<typeof member>

/** Resolves once `ready` holds for the member's store (checked on every change), or rejects after `ms`. */
function until(m: Member, ready: () => boolean, what: string, ms = 20_000): Promise<void> {
  if (ready()) return Promise.resolve()
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      off()
      reject(new Error(`${m.name}: ${what} did not happen within ${ms} ms`))
    }, ms)
    const off = m.store.subscribe(() => {
      if (!ready()) return
      clearTimeout(timer)
      off()
      resolve()
    })
  })
}

/** What the example ends with: each member's todos, and the read key epoch. */
export interface AclExampleResult {
  readonly todos: Readonly<Record<string, readonly string[]>>
  readonly epoch: number
  readonly bobRoles: readonly string[]
}

/** Run the example; `say` gets each line it prints. */
export async function runAclExample(say: (line: string) => void = console.log): Promise<AclExampleResult> {
  const dir = await mkdtemp(join(tmpdir(), 'redux-threads-acl-'))
  const [alice, bob, carol, dave] = ['alice', 'bob', 'carol', 'dave'].map((n) => member(n, dir)) as [Member, Member, Member, Member]
  const everyone = [alice, bob, carol, dave]
  const show = (m: Member): void => say(`  ${m.name.padEnd(6)} ${m.texts().join(' · ') || '(nothing)'}`)
  try {
    const ids: Record<string, string> = {}
    for (const m of everyone) ids[m.name] = (await m.store.dispatch(m.peer.thunks.start()).unwrap()).peerId
    const { threadId } = await alice.store.dispatch(alice.peer.thunks.createThread({ slices: [todos], variant: Variant.AccessControlled })).unwrap()
    say(`Alice founds ${threadId} (its ID commits to her as owner)`)
    await alice.store.dispatch(todos.actions.added('buy milk')).unwrap()

    const forBob = await alice.store.dispatch(alice.peer.thunks.invite({ threadId, role: 'write', to: ids.bob as string })).unwrap()
    const forCarol = await alice.store.dispatch(alice.peer.thunks.invite({ threadId, role: 'read', to: ids.carol as string })).unwrap()
    say('Alice grants Bob write and Carol read, and sends each an invite sealed to them')
    await bob.store.dispatch(bob.peer.thunks.joinThread({ invite: forBob, slices: [todos] })).unwrap()
    await carol.store.dispatch(carol.peer.thunks.joinThread({ invite: forCarol, slices: [todos] })).unwrap()
    await bob.store.dispatch(todos.actions.added('walk the dog')).unwrap()
    for (const m of [alice, carol]) await until(m, () => m.texts().includes('walk the dog'), 'Bob’s todo')
    for (const m of [alice, bob, carol]) show(m)
    try {
      carol.store.dispatch(todos.actions.added('from carol'))
    } catch (e) {
      say(`Carol, a reader, tries to write: ${(e as Error).name} (refused before it is signed)`)
    }

    await alice.store.dispatch(alice.peer.thunks.changeAcl({ threadId, change: { kind: 'revoke', peer: ids.bob as string, roles: ['write'] } })).unwrap()
    await alice.peer.idle()
    const epoch = alice.peer.selectors.selectAccess(alice.store.getState(), threadId)?.epoch ?? 0
    say(`Alice revokes Bob: his records after the last she applied are cut, and the read key rotates to epoch ${epoch} for Alice and Carol`)
    await bob.store.dispatch(todos.actions.added('bob, after his revocation')).unwrap()
    await alice.store.dispatch(todos.actions.added('call mum')).unwrap()
    await until(carol, () => carol.texts().includes('call mum'), 'the todo under the new key')

    const forDave = await alice.store.dispatch(alice.peer.thunks.invite({ threadId, role: 'read', to: ids.dave as string })).unwrap()
    await dave.store.dispatch(dave.peer.thunks.joinThread({ invite: forDave, slices: [todos] })).unwrap()
    await until(dave, () => dave.texts().includes('call mum'), 'Dave catching up')
    say('Dave joins after the rotation (his invite carries the new key) and reads everything the members wrote:')
    for (const m of everyone) show(m)
    say('Bob sees his own late todo and not Alice’s new one; nobody else ever sees his late todo.')
    await Promise.all(everyone.map((m) => m.peer.idle()))
    const bobRoles = alice.peer.selectors.selectAccess(alice.store.getState(), threadId)?.acl.peers[ids.bob as string] ?? []
    return { todos: Object.fromEntries(everyone.map((m) => [m.name, m.texts()])), epoch, bobRoles }
  } finally {
    await Promise.all(everyone.map((m) => m.peer.close()))
    await rm(dir, { recursive: true, force: true })
  }
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  runAclExample().then(
    () => process.exit(0),
    (e: unknown) => {
      console.error(e)
      process.exit(1)
    }
  )
}
