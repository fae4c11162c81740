/**
 * Page entry: a redux-threads peer as a browser application builds it (createPeer, the
 * localforage adapter on IndexedDB, the libp2p adapter over WebSockets, an RTK store with the
 * todo slice), driven from Node through `window.harness`.
 *
 * Every method returns plain data (it crosses `page.evaluate`). Node waits on page state with
 * `page.waitForFunction` over `harness.texts()` / `harness.status()`, never with sleeps.
 */
import { configureStore } from '@reduxjs/toolkit'
import { createPeer, type Peer } from '../../../src/index.js'
import { localforageStorage } from '../../../adapters/storage/localforage.js'
import { libp2pNetwork } from '../../../adapters/network/libp2p.js'
import { todos } from '../../../examples/todo/todoSlice.js'
import type { ThreadEntry } from '../../../src/redux/peerSlice.js'
import { tally } from './tally.js'

/** The thread slice a thread projects into: the todo list, or the benches' event tally. */
export type SliceName = 'todos' | 'tally'
const slices = { todos, tally } as const

function makeStore(peer: Peer) {
  return configureStore({
    reducer: { [peer.reducerPath]: peer.reducer, todos: todos.reducer, tally: tally.reducer },
    // RTK's dev checks walk the whole state on every dispatch; they test nothing of the peer.
    middleware: (d) => d({ immutableCheck: false, serializableCheck: false }).concat(peer.middleware)
  })
}

type Store = ReturnType<typeof makeStore>

export interface StartOptions {
  /** IndexedDB database name of this peer's storage. */
  readonly db: string
  /** Start libp2p (WebSockets, dialing out only): default true. */
  readonly network?: boolean
}

let peer: Peer | undefined
let store: Store | undefined
let threadId: string | undefined
let slice: SliceName = 'todos'
/** Texts whose `added` command resolved `unwrap()` (durable), in order. */
const acknowledged: string[] = []

function started(): { peer: Peer; store: Store } {
  if (peer === undefined || store === undefined) throw new Error('harness: start() first')
  return { peer, store }
}

function thread(): string {
  if (threadId === undefined) throw new Error('harness: no thread open')
  return threadId
}

const harness = {
  async start(options: StartOptions): Promise<{ peerId: string }> {
    peer = createPeer({
      storage: localforageStorage({ name: options.db }),
      ...(options.network === false ? {} : { network: libp2pNetwork() }),
      syncIntervalMs: 500
    })
    store = makeStore(peer)
    await peer.start()
    return { peerId: peer.id as string }
  },

  async createThread(kind: SliceName = 'todos'): Promise<string> {
    const { peer, store } = started()
    slice = kind
    ;({ threadId } = await store.dispatch(peer.thunks.createThread({ slices: [slices[kind]] })).unwrap())
    return threadId
  },

  async join(invite: string, kind: SliceName = 'todos'): Promise<{ threadId: string; caughtUp: boolean }> {
    const { peer, store } = started()
    slice = kind
    const joined = await store.dispatch(peer.thunks.joinThread({ invite, slices: [slices[kind]] })).unwrap()
    threadId = joined.threadId
    return { threadId: joined.threadId, caughtUp: joined.caughtUp }
  },

  /** Open the thread stored in IndexedDB (no network needed). */
  async open(id: string): Promise<void> {
    const { peer, store } = started()
    ;({ threadId } = await store.dispatch(peer.thunks.openThread({ threadId: id, slices: [todos] })).unwrap())
  },

  storedThreads(): Promise<string[]> {
    return started().peer.storedThreads()
  },

  invite(options: { role?: 'write' | 'read' | 'follow'; to?: string } = {}): Promise<string> {
    const { peer, store } = started()
    return store.dispatch(peer.thunks.invite({ threadId: thread(), ...options })).unwrap()
  },

  /** Dial a peer (the page has no address to be dialed at: it connects out). */
  async dial(peerId: string, addrs: string[]): Promise<void> {
    const network = started().peer.network
    if (network === undefined) throw new Error('harness: started without a network')
    await network.dial(peerId, addrs)
  },

  /** Add todos, all dispatched at once; resolves when every one is durable (unwrap). */
  async add(...texts: string[]): Promise<void> {
    const { store } = started()
    await Promise.all(
      texts.map(async (text) => {
        await store.dispatch(todos.actions.added(text)).unwrap()
        acknowledged.push(text)
      })
    )
  },

  /**
   * Keep adding `prefix-0`, `prefix-1`, … one after another (each awaited) until the page goes
   * away; each acknowledged text is reported to Node through `window.acknowledge` (a binding Node
   * exposes) as soon as its `unwrap()` resolved.
   */
  writeForever(prefix: string): void {
    const { store } = started()
    const report = (globalThis as { acknowledge?: (text: string) => Promise<void> }).acknowledge
    void (async () => {
      for (let i = 0; ; i++) {
        const text = `${prefix}-${i}`
        await store.dispatch(todos.actions.added(text)).unwrap()
        acknowledged.push(text)
        void report?.(text)
      }
    })()
  },

  acknowledged: (): string[] => [...acknowledged],

  /** The page's clock (ms), for timings measured in the page. */
  now: (): number => performance.now(),

  /** Events in the open thread's slice (todos, or the tally's count). */
  count(): number {
    const state = started().store.getState()
    return slice === 'todos' ? state.todos.length : state.tally.count
  },

  /** The tally's order hash (equal on peers that folded the same events in the same order). */
  tallyHash: (): number => started().store.getState().tally.hash,

  /** Resolves with the page's clock when the open thread's slice holds at least `n` events. */
  whenCount(n: number): Promise<number> {
    const { store } = started()
    return new Promise((resolve) => {
      const check = (): boolean => {
        if (harness.count() < n) return false
        resolve(performance.now())
        return true
      }
      if (check()) return
      const off = store.subscribe(() => {
        if (check()) off()
      })
    })
  },

  /**
   * What storing `n` entries of `bytes` costs here: one `batch` through the localforage adapter,
   * and the same entries in one raw IndexedDB transaction (ms each). For the browser bench.
   */
  async storageBatch(n: number, bytes: number): Promise<{ adapterMs: number; rawMs: number }> {
    const value = new Uint8Array(bytes).fill(7)
    const name = `bench-batch-${Date.now()}`
    const adapter = localforageStorage({ name })
    await adapter.get(['warm']) // opens the database outside the timed region
    let start = performance.now()
    await adapter.batch(Array.from({ length: n }, (_, i) => ({ type: 'put' as const, key: ['b', String(i)], value })))
    const adapterMs = performance.now() - start
    await adapter.close()
    const db = await new Promise<IDBDatabase>((resolve, reject) => {
      const req = indexedDB.open(`${name}-raw`, 1)
      req.onupgradeneeded = () => req.result.createObjectStore('s')
      req.onsuccess = () => resolve(req.result)
      req.onerror = () => reject(req.error)
    })
    start = performance.now()
    await new Promise<void>((resolve, reject) => {
      const tx = db.transaction('s', 'readwrite')
      const store = tx.objectStore('s')
      for (let i = 0; i < n; i++) store.put(value, `b/${i}`)
      tx.oncomplete = () => resolve()
      tx.onerror = () => reject(tx.error)
    })
    const rawMs = performance.now() - start
    db.close()
    return { adapterMs, rawMs }
  },

  /** Dispatch `n` commands in one turn; resolves with the ms until every one is durable. */
  async burst(n: number, prefix: string): Promise<number> {
    const { store } = started()
    const start = performance.now()
    const pending: Array<Promise<unknown>> = []
    for (let i = 0; i < n; i++) {
      const action = slice === 'todos' ? todos.actions.added(`${prefix}-${i}`) : tally.actions.added({ n: i })
      pending.push(store.dispatch(action).unwrap())
    }
    await Promise.all(pending)
    return performance.now() - start
  },

  texts(): string[] {
    return started().store.getState().todos.map((t) => t.text)
  },

  /** Todos as `[text, author]`, in the thread's order. */
  todos(): Array<[string, string]> {
    return started().store.getState().todos.map((t) => [t.text, t.by])
  },

  status(): ThreadEntry | undefined {
    const { peer, store } = started()
    return threadId === undefined ? undefined : peer.selectors.selectThreadStatus(store.getState(), threadId)
  },

  connectedPeers(): string[] {
    return started().peer.network?.connectedPeers() ?? []
  },

  async idle(): Promise<void> {
    await started().peer.idle()
  },

  async close(): Promise<void> {
    await peer?.close()
    peer = undefined
    store = undefined
    threadId = undefined
  }
}

export type PeerHarness = typeof harness
;(globalThis as { harness?: PeerHarness }).harness = harness
