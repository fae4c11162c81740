/**
 * One peer of `npm run demo`, in its own process: a Redux store with the todo slice, a peer on
 * LevelDB with libp2p on loopback. The demo drives it over the IPC channel and it reports its
 * state after every change.
 */
import { configureStore } from '@reduxjs/toolkit'
import { createHash } from 'node:crypto'
import { libp2pNetwork } from '../../adapters/network/libp2p.js'
import { levelStorage } from '../../adapters/storage/level.js'
import { createPeer } from '../../src/index.js'
import { todos } from '../todo/todoSlice.js'

export type Command =
  | { readonly cmd: 'create' }
  | { readonly cmd: 'join'; readonly invite: string }
  | { readonly cmd: 'reopen'; readonly threadId: string }
  | { readonly cmd: 'add'; readonly text: string }
  | { readonly cmd: 'toggle'; readonly text: string }
  | { readonly cmd: 'invite' }
  | { readonly cmd: 'quit' }

export type Report =
  | { readonly kind: 'ready'; readonly peerId: string }
  | { readonly kind: 'thread'; readonly threadId: string; readonly invite: string }
  | { readonly kind: 'state'; readonly hash: string; readonly todos: string[]; readonly peers: number; readonly logs: string }
  | { readonly kind: 'error'; readonly message: string }

const send = (r: Report): void => {
  process.send?.(r)
}

async function main(): Promise<void> {
  const dir = process.argv[2] as string
  // The usual store module: the peer is created synchronously and starts on its first thunk.
  const peer = createPeer({
    storage: levelStorage(dir),
    network: libp2pNetwork({ listen: ['/ip4/127.0.0.1/tcp/0'] }),
    syncIntervalMs: 1000
  })
  const store = configureStore({
    reducer: { [peer.reducerPath]: peer.reducer, todos: todos.reducer },
    middleware: (gDM) => gDM().concat(peer.middleware)
  })
  let threadId: string | undefined
  const report = (): void => {
    const thread = threadId === undefined ? undefined : peer.thread(threadId)
    if (thread === undefined) return
    const list = store.getState().todos
    // The peer's status is in the store: the peers that proved they hold the thread's key.
    const status = peer.selectors.selectThreadStatus(store.getState(), thread.id)?.peers.length ?? 0
    const logs = [...thread.heads()].map(([l, h]) => `${l.slice(-4)}:${h.seq}`).sort().join(' ')
    send({
      kind: 'state',
      hash: createHash('sha256').update(JSON.stringify(list)).digest('hex').slice(0, 12),
      todos: list.map((t) => `${t.done ? '☑' : '☐'} ${t.text}`),
      peers: status,
      logs
    })
  }
  store.subscribe(report)
  const invite = (id: string): Promise<string> => store.dispatch(peer.thunks.invite({ threadId: id, role: 'write' })).unwrap()
  const bindThread = async (id: string): Promise<void> => {
    threadId = id
    send({ kind: 'thread', threadId: id, invite: await invite(id) })
    report()
  }
  // Commands run one after another: an `add` must not overtake the `reopen` before it.
  let queue: Promise<void> = Promise.resolve()
  process.on('message', (m: Command) => {
    queue = queue.then(async () => {
      switch (m.cmd) {
        case 'create':
          return bindThread((await store.dispatch(peer.thunks.createThread({ slices: [todos] })).unwrap()).threadId)
        case 'join':
          return bindThread((await store.dispatch(peer.thunks.joinThread({ invite: m.invite, slices: [todos] })).unwrap()).threadId)
        case 'reopen': {
          await bindThread((await store.dispatch(peer.thunks.openThread({ threadId: m.threadId, slices: [todos] })).unwrap()).threadId)
          await store.dispatch(peer.thunks.syncNow()).unwrap()
          return
        }
        case 'add':
          store.dispatch(todos.actions.added(m.text))
          return
        case 'toggle': {
          const t = store.getState().todos.find((x) => x.text === m.text)
          if (t !== undefined) store.dispatch(todos.actions.toggled(t.id))
          return
        }
        case 'invite':
          if (threadId !== undefined) send({ kind: 'thread', threadId, invite: await invite(threadId) })
          return
        case 'quit':
          await peer.close()
          process.exit(0)
      }
    }).catch((e: unknown) => send({ kind: 'error', message: e instanceof Error ? `${e.name}: ${e.message}` : String(e) }))
  })
  await peer.start()
  send({ kind: 'ready', peerId: peer.id ?? '' })
}

main().catch((e: unknown) => {
  send({ kind: 'error', message: String(e) })
  process.exit(1)
})
