/**
 * Shared set-up for the network tests: peers with a todo store on a memory hub, message taps,
 * and a scan of raw storage bytes.
 *
 * `makePeer` builds a peer the way an application does (`createPeer` + a store mounting
 * `peer.reducer` and `peer.middleware`), starts it, and wraps the lifecycle thunks in a few
 * methods (`createThread`, `joinThread`, `openThread`, `connect`, `syncNow`) whose threads
 * (`NetThread`) give the tests the handle's capabilities, its engine (`engineOf`), its status
 * stream and its invites: the tests read as they did, over the new API.
 */
import { configureStore, type Middleware, type UnknownAction } from '@reduxjs/toolkit'
import { firstValueFrom, type Observable } from 'rxjs'
import { MemoryNetwork, type MemoryHub } from '../../../adapters/network/memory.js'
import { memoryStorage } from '../../../adapters/storage/memory.js'
import { todos } from '../../../examples/todo/todoSlice.js'
import type { Role } from '../../../src/acl/invite.js'
import { generateLogKey, type LogKey, type ThreadKey } from '../../../src/core/keys.js'
import type { LogHead, RecordBlocks } from '../../../src/core/record.js'
import { ThreadId } from '../../../src/core/threadId.js'
import type { IngestResult } from '../../../src/engine/engineTypes.js'
import type { ForkedLog } from '../../../src/engine/forks.js'
import { ThreadEngine } from '../../../src/engine/threadEngine.js'
import type { EventMeta } from '../../../src/engine/threadEvent.js'
import { SyncService, type SyncOptions } from '../../../src/net/syncService.js'
import { logstoreAddressBook } from '../../../src/net/addressBook.js'
import { EventStore } from '../../../src/store/eventStore.js'
import { decodeMessage, encodeMessage, NONCE_BYTES, type SyncMessage } from '../../../src/net/messages.js'
import { authTag } from '../../../src/net/auth.js'
import { gossipKey, openGossip } from '../../../src/net/protocol/gossipEnvelope.js'
import { eventOf } from '../../../src/redux/appliedAction.js'
import type { ThreadSliceLike } from '../../../src/redux/createThreadSlice.js'
import { createPeer, type Peer, type PeerOptions } from '../../../src/redux/createPeer.js'
import type { ThreadEntry } from '../../../src/redux/peerSlice.js'
import type { SliceStates } from '../../../src/redux/projection.js'
import { engineOf, type ThreadHandle } from '../../../src/redux/threadHandle.js'
import type { StorageAdapter } from '../../../src/store/storageAdapter.js'

export { todos }

/** Heard for every event action the store sees (local or remote, each once, in order). */
export type EventListener = (event: EventMeta, action: UnknownAction) => void

/**
 * A store for network tests: the peer's status at `peer.reducerPath`, the todo slice, and the
 * peer's middleware. RTK's development checks walk the whole state on every dispatch (quadratic
 * over thousands of todos) and test nothing of the network: they are off here. `onEvent` hears
 * every thread event action that reaches the reducers.
 */
export function netStore(peer: Peer, onEvent?: EventListener) {
  const events: Middleware = () => (next) => (action) => {
    const result = next(action)
    const e = eventOf(action)
    if (e !== undefined && onEvent !== undefined) onEvent(e, action as UnknownAction)
    return result
  }
  return configureStore({
    reducer: { [peer.reducerPath]: peer.reducer, todos: todos.reducer },
    middleware: (d) => d({ immutableCheck: false, serializableCheck: false }).concat(peer.middleware, events)
  })
}

export type NetStore = ReturnType<typeof netStore>

/** A thread open on a test peer: the handle's capabilities, the engine behind it, its status and invites. */
export interface NetThread {
  /** The thread ID (`.bytes` for hand-made messages, `.toString()` for the API). */
  readonly id: ThreadId
  readonly key: ThreadKey
  readonly role: Role
  readonly handle: ThreadHandle
  /** The engine (`engineOf(handle)`): timeline, state, held records, gaps, forks, events. */
  readonly engine: ThreadEngine<SliceStates>
  /** The thread's status (ThreadStatus, role, behind, caughtUp), as the store holds it. */
  readonly status$: Observable<ThreadEntry>
  heads(): Map<string, LogHead>
  forks(): ForkedLog[]
  peers(): string[]
  recordsSince(theirs: ReadonlyMap<string, number>): Promise<Array<{ logId: string; blocks: RecordBlocks[] }>>
  ingest(logId: string, blocks: readonly RecordBlocks[]): Promise<IngestResult<SliceStates>>
  snapshot(): Promise<void>
  flush(): Promise<void>
  /** `peer.thunks.invite`, unwrapped (a bearer link by default, `write` role). */
  invite(options?: { readonly role?: Role; readonly to?: string }): Promise<string>
}

/** The lifecycle thunks of a started peer, dispatched on its store and unwrapped. */
export interface PeerDriver {
  readonly peer: Peer
  /** The peer's ID (it is started). */
  readonly id: string
  readonly identity: LogKey
  createThread(options?: { readonly slices?: readonly ThreadSliceLike[] }): Promise<NetThread>
  /**
   * Join from an invite. Resolves once caught up with the peers reached (up to `waitForSyncMs`,
   * default the library's 30 s): pass `waitForSyncMs: 0` where messages are dropped or no peer
   * in the invite can be reached.
   */
  joinThread(invite: string, options?: { readonly slices?: readonly ThreadSliceLike[]; readonly waitForSyncMs?: number }): Promise<NetThread>
  openThread(id: ThreadId | string, options: { readonly slices: readonly ThreadSliceLike[]; readonly key?: ThreadKey }): Promise<NetThread>
  /** The thread if open here. */
  thread(id: ThreadId | string): NetThread | undefined
  /** Dial a peer by a multiaddr ending in its /p2p/. */
  connect(addr: string): Promise<void>
  /** `peer.thunks.syncNow`, unwrapped. */
  syncNow(): Promise<void>
}

type Dispatching = Pick<NetStore, 'dispatch'>

/** The thunks of `peer` on `store`, as methods. `peer` must be started. */
export function peerDriver(peer: Peer, store: Dispatching): PeerDriver {
  const { id, identity } = peer
  if (id === undefined || identity === undefined) throw new Error('peerDriver: start the peer first')
  const wrap = (threadId: string): NetThread => {
    const handle = peer.thread(threadId)
    if (handle === undefined) throw new Error(`thread ${threadId} is not open`)
    return {
      id: ThreadId.from(threadId),
      key: handle.key,
      role: handle.role,
      handle,
      engine: engineOf(handle),
      status$: peer.status$(threadId),
      heads: () => handle.heads(),
      forks: () => handle.forks(),
      peers: () => handle.peers(),
      recordsSince: (theirs) => handle.recordsSince(theirs),
      ingest: (logId, blocks) => handle.ingest(logId, blocks),
      snapshot: () => handle.snapshot(),
      flush: () => handle.flush(),
      invite: (options = {}) => store.dispatch(peer.thunks.invite({ threadId, ...options })).unwrap()
    }
  }
  return {
    peer,
    id,
    identity,
    async createThread(options = {}) {
      const { threadId } = await store.dispatch(peer.thunks.createThread({ slices: options.slices ?? [todos] })).unwrap()
      return wrap(threadId)
    },
    async joinThread(invite, options = {}) {
      const { threadId } = await store
        .dispatch(peer.thunks.joinThread({ invite, slices: options.slices ?? [], ...(options.waitForSyncMs === undefined ? {} : { waitForSyncMs: options.waitForSyncMs }) }))
        .unwrap()
      return wrap(threadId)
    },
    async openThread(threadId, options) {
      const { threadId: opened } = await store
        .dispatch(peer.thunks.openThread({ threadId: threadId.toString(), slices: options.slices, ...(options.key === undefined ? {} : { key: options.key }) }))
        .unwrap()
      return wrap(opened)
    },
    thread: (threadId) => (peer.thread(threadId.toString()) === undefined ? undefined : wrap(threadId.toString())),
    async connect(addr) {
      const to = addr.split('/p2p/').at(-1)?.split('/')[0]
      if (to === undefined || to === '' || peer.network === undefined) throw new Error(`cannot dial ${addr}`)
      await peer.network.dial(to, [addr])
    },
    async syncNow() {
      await store.dispatch(peer.thunks.syncNow()).unwrap()
    }
  }
}

export interface NetPeer extends PeerDriver {
  readonly store: NetStore
  readonly storage: StorageAdapter
  /** Hear every event action the store sees from now on (local and remote, each once, in order). */
  onEvent(listener: EventListener): () => void
}

/** A started peer on `hub` with in-memory storage, a todo store, and no periodic sync (rounds are explicit). */
export async function makePeer(hub: MemoryHub, options: Omit<PeerOptions, 'reducerPath'> = {}): Promise<NetPeer> {
  const storage = options.storage ?? memoryStorage()
  const peer = createPeer({ storage, network: hub.network(), syncIntervalMs: 0, ...options })
  const listeners = new Set<EventListener>()
  const store = netStore(peer, (e, action) => {
    for (const l of listeners) l(e, action)
  })
  await peer.start()
  return {
    ...peerDriver(peer, store),
    store,
    storage,
    onEvent(listener) {
      listeners.add(listener)
      return () => listeners.delete(listener)
    }
  }
}

/** A thread's status now (call after `settle` or `peer.idle()`: status is coalesced to one update a macrotask). */
export function status(thread: Pick<NetThread, 'status$'>): Promise<ThreadEntry> {
  return firstValueFrom(thread.status$)
}

export interface Tapped {
  readonly from: string
  readonly m: SyncMessage
}

/** Every sync message `peer` receives from now on (direct messages), decoded. Undecodable input is skipped. */
export function tapIncoming(peer: Peer): Tapped[] {
  const seen: Tapped[] = []
  peer.network?.on('message', ({ from, bytes }) => {
    try {
      seen.push({ from, m: decodeMessage(bytes) })
    } catch {
      // garbage is the sync service's business
    }
  })
  return seen
}

/** Every pubsub message `peer` delivers from now on (validated), opened with the thread's gossip key and decoded. */
export function tapGossip(peer: Peer, thread: { readonly id: ThreadId; readonly key: ThreadKey }): Tapped[] {
  const seen: Tapped[] = []
  const key = gossipKey(thread.key.service, thread.id.bytes)
  peer.network?.on('pubsub', ({ from, bytes }) => {
    try {
      seen.push({ from: from ?? '', m: decodeMessage(openGossip(key, bytes)) })
    } catch {
      // not this thread's gossip
    }
  })
  return seen
}

/** Messages of a type, optionally only from one peer. */
export function ofType<T extends SyncMessage['t']>(seen: readonly Tapped[], t: T, from?: string): Array<Extract<SyncMessage, { t: T }>> {
  return seen.filter((s) => s.m.t === t && (from === undefined || s.from === from)).map((s) => s.m as Extract<SyncMessage, { t: T }>)
}

/** A bare adapter on the hub, with no sync service: it sends whatever a test gives it, and can do the handshake by hand. */
export interface RawPeer {
  readonly net: MemoryNetwork
  /** Its identity (a log key it may write records with). */
  readonly identity: LogKey
  readonly seen: Tapped[]
  /** This raw peer's hello nonce (one for every connection). */
  readonly nonce: Uint8Array
  sendMsg(to: string, m: SyncMessage): Promise<void>
  /** Send this peer's hello to `to`. */
  hello(to: string): Promise<void>
  /** The tag proving `thread` to `to` (needs `to`'s hello, from `seen`). */
  tagFor(to: string, thread: { readonly id: ThreadId; readonly key: ThreadKey }): Uint8Array
  /** Say hello and prove `thread` to `to` (after `to`'s hello arrived). */
  prove(to: string, thread: { readonly id: ThreadId; readonly key: ThreadKey }): Promise<void>
}

export async function rawPeer(hub: MemoryHub): Promise<RawPeer> {
  const identity = generateLogKey()
  const net = hub.network()({ identity }) as MemoryNetwork
  await net.start()
  const seen: Tapped[] = []
  net.on('message', ({ from, bytes }) => seen.push({ from, m: decodeMessage(bytes) }))
  const nonce = new Uint8Array(NONCE_BYTES).fill(0x5a)
  const sendMsg = (to: string, m: SyncMessage): Promise<void> => net.send(to, encodeMessage(m))
  const tagFor = (to: string, thread: { readonly id: ThreadId; readonly key: ThreadKey }): Uint8Array => {
    const theirs = seen.filter((x) => x.from === to && x.m.t === 'hello').map((x) => (x.m as Extract<SyncMessage, { t: 'hello' }>).nonce).at(-1)
    if (theirs === undefined) throw new Error(`no hello from ${to} yet`)
    return authTag(thread.key.service, { recipientNonce: theirs, senderNonce: nonce, sender: identity.id, recipient: to, thread: thread.id.bytes })
  }
  return {
    net,
    identity,
    seen,
    nonce,
    sendMsg,
    hello: (to) => sendMsg(to, { t: 'hello', nonce }),
    tagFor,
    async prove(to, thread) {
      await sendMsg(to, { t: 'hello', nonce })
      await sendMsg(to, { t: 'auth', tag: tagFor(to, thread), nonce })
    }
  }
}

/** Index of `needle` in `hay`, or -1. */
export function indexOfBytes(hay: Uint8Array, needle: Uint8Array): number {
  outer: for (let i = 0; i + needle.length <= hay.length; i++) {
    for (let j = 0; j < needle.length; j++) if (hay[i + j] !== needle[j]) continue outer
    return i
  }
  return -1
}

/** Stored entries (keys joined, values) whose key or value contains `text` as UTF-8. */
export async function storageContaining(storage: StorageAdapter, text: string): Promise<{ entries: number; hits: string[] }> {
  const needle = new TextEncoder().encode(text)
  const hits: string[] = []
  let entries = 0
  for await (const { key, value } of storage.range([])) {
    entries++
    if (key.join('/').includes(text) || indexOfBytes(value, needle) >= 0) hits.push(key.join('/'))
  }
  return { entries, hits }
}

/** A sync node without Redux: an event store, one engine per thread, and a SyncService with options. */
export interface ServiceNode {
  readonly id: string
  readonly net: MemoryNetwork
  readonly store: EventStore
  readonly sync: SyncService
  readonly engines: Map<string, ThreadEngine<unknown[]>>
  /** Open (creating its log when `write`) a thread this node holds the key of; `engine` options go to the engine. */
  open(id: ThreadId, key: ThreadKey, write: boolean, engine?: { maxHeldPerLog?: number; maxHeldBytes?: number }): Promise<ThreadEngine<unknown[]>>
  idle(): Promise<void>
  close(): Promise<void>
}

export async function serviceNode(
  hub: MemoryHub,
  options: Partial<Omit<SyncOptions, 'network' | 'addrBook' | 'host'>> = {},
  setup: { readonly storage?: StorageAdapter; readonly identity?: LogKey } = {}
): Promise<ServiceNode> {
  const identity = setup.identity ?? generateLogKey()
  const net = hub.network()({ identity }) as MemoryNetwork
  await net.start()
  const store = await EventStore.open(setup.storage ?? memoryStorage())
  const engines = new Map<string, ThreadEngine<unknown[]>>()
  const sync = new SyncService({
    network: net,
    host: { target: (t) => engines.get(t), targets: () => [...engines.values()] },
    addrBook: logstoreAddressBook(store.logstore),
    intervalMs: 0,
    ...options
  })
  await sync.start()
  return {
    id: identity.id,
    net,
    store,
    sync,
    engines,
    async open(id, key, write, engineOptions = {}) {
      // A thread already in storage (a node reopened on the same storage) is opened as it is.
      if (store.logstore.thread(id) === undefined) {
        await store.logstore.addThread(id, key)
        if (write) await store.logstore.addLog(id, identity.id, identity)
      }
      const engine = await ThreadEngine.open<unknown[]>({ store, threadId: id, projection: { initial: [], fold: (s, e) => [...s, e.command.payload] }, ...engineOptions })
      engines.set(id.toString(), engine)
      sync.addThread(engine)
      return engine
    },
    async idle() {
      await sync.idle()
      await store.flush()
    },
    async close() {
      await sync.stop()
      await net.stop()
      await store.close()
    }
  }
}
