/**
 * Shared set-up for the network tests: peers with a todo store on a memory hub, message taps,
 * and a scan of raw storage bytes.
 */
import { firstValueFrom } from 'rxjs'
import { MemoryNetwork, type MemoryHub } from '../../../adapters/network/memory.js'
import { memoryStorage } from '../../../adapters/storage/memory.js'
import { todos } from '../../../examples/todo/todoSlice.js'
import { generateLogKey, type LogKey, type ThreadKey } from '../../../src/core/keys.js'
import type { ThreadId } from '../../../src/core/threadId.js'
import { ThreadEngine } from '../../../src/engine/threadEngine.js'
import { SyncService, type SyncOptions } from '../../../src/net/syncService.js'
import { logstoreAddressBook } from '../../../src/net/addressBook.js'
import { EventStore } from '../../../src/store/eventStore.js'
import { decodeMessage, encodeMessage, NONCE_BYTES, type SyncMessage } from '../../../src/net/messages.js'
import { authTag } from '../../../src/net/auth.js'
import { gossipKey, openGossip } from '../../../src/net/protocol/gossipEnvelope.js'
import { createPeer, type Peer, type PeerOptions, type Thread } from '../../../src/redux/createPeer.js'
import type { ThreadStatus } from '../../../src/rx/threadStatus.js'
import type { StorageAdapter } from '../../../src/store/storageAdapter.js'
import { todoStore, type TodoStore } from '../../support/todoStore.js'

export { todos }

export { todoStore, type TodoStore } from '../../support/todoStore.js'

export interface NetPeer {
  readonly peer: Peer
  readonly store: TodoStore
  readonly storage: StorageAdapter
}

/** A peer on `hub` with in-memory storage, a todo store, and no periodic sync (rounds are explicit). */
export async function makePeer(hub: MemoryHub, options: PeerOptions = {}): Promise<NetPeer> {
  const storage = memoryStorage()
  const peer = await createPeer({ storage, network: hub.network(), syncIntervalMs: 0, ...options })
  return { peer, store: todoStore(peer), storage }
}

/** A thread's status now. */
export function status(thread: Thread): Promise<ThreadStatus> {
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
