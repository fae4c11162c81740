/**
 * Shared set-up for the tests over real libp2p on loopback and real LevelDB in temporary
 * directories: peers with a todo store, an event-driven `until` (no sleeps), a registry of
 * things to close, and a byte scan of data directories.
 */
import { mkdtemp, readdir, readFile, rm, stat } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { firstValueFrom, isObservable, type Observable } from 'rxjs'
import { libp2pNetwork, type Libp2pNetwork } from '../../../adapters/network/libp2p.js'
import { levelStorage } from '../../../adapters/storage/level.js'
import { memoryStorage } from '../../../adapters/storage/memory.js'
import { generateLogKey, type ThreadKey } from '../../../src/core/keys.js'
import type { ThreadId } from '../../../src/core/threadId.js'
import { ThreadEngine } from '../../../src/engine/threadEngine.js'
import { SyncService, type SyncOptions } from '../../../src/net/syncService.js'
import { logstoreAddressBook } from '../../../src/net/addressBook.js'
import { EventStore } from '../../../src/store/eventStore.js'
import { todos } from '../../../examples/todo/todoSlice.js'
import type { LogKey } from '../../../src/core/keys.js'
import { createPeer, type Peer, type PeerOptions } from '../../../src/redux/createPeer.js'
import type { ThreadEntry } from '../../../src/redux/peerSlice.js'
import { netStore, peerDriver, type NetStore, type NetThread, type PeerDriver } from '../../unit/net/helpers.js'

export { todos }
export { netStore, type NetStore, type NetThread } from '../../unit/net/helpers.js'

/** Loopback TCP on a random port: the only transport these tests use. */
export const LOOPBACK = ['/ip4/127.0.0.1/tcp/0']
/** How long any one awaited condition may take before the test fails. */
export const DEFAULT_WAIT_MS = 20_000

/** Something that says "something changed": an Observable, a Redux store, or an `on` function. */
export type Source =
  | Observable<unknown>
  | { subscribe(listener: () => void): () => void }
  | ((notify: () => void) => () => void)

function listen(source: Source, notify: () => void): () => void {
  if (isObservable(source)) {
    const sub = source.subscribe({ next: notify, error: notify, complete: notify })
    return () => sub.unsubscribe()
  }
  if (typeof source === 'function') return source(notify)
  return source.subscribe(notify)
}

/**
 * Resolve when `check` holds: checked at once, then on every emission of any source (a thread's
 * `status$` emits on every applied event, durability change and peer change; a store on every
 * dispatch). Rejects after `timeoutMs` with a message naming what was awaited, and `describe()`
 * of the state then, if given.
 */
export function until(
  sources: Source | readonly Source[],
  check: () => boolean,
  what: string,
  options: { timeoutMs?: number; describe?: () => string } = {}
): Promise<void> {
  const list = Array.isArray(sources) ? (sources as readonly Source[]) : [sources as Source]
  return new Promise<void>((resolve, reject) => {
    const offs: Array<() => void> = []
    let done = false
    const finish = (err?: Error): void => {
      if (done) return
      done = true
      clearTimeout(timer)
      for (const off of offs.splice(0)) off()
      if (err === undefined) resolve()
      else reject(err)
    }
    const test = (): void => {
      if (done) return
      let ok: boolean
      try {
        ok = check()
      } catch (e) {
        finish(e instanceof Error ? e : new Error(String(e)))
        return
      }
      if (ok) finish()
    }
    const ms = options.timeoutMs ?? DEFAULT_WAIT_MS
    const timer = setTimeout(() => {
      let state = ''
      try {
        state = options.describe === undefined ? '' : `\n  state: ${options.describe()}`
      } catch (e) {
        state = `\n  (describe failed: ${String(e)})`
      }
      finish(new Error(`timed out after ${ms} ms waiting until ${what}${state}`))
    }, ms)
    for (const s of list) {
      const off = listen(s, test)
      // A source that emits on subscribe may have settled the wait already.
      if (done) {
        off()
        break
      }
      offs.push(off)
    }
    test()
  })
}

/** Resolve with the first status of `thread` (current or later) for which `predicate` holds. */
export function statusWhere(thread: Pick<NetThread, 'status$'>, predicate: (s: ThreadEntry) => boolean, what: string, timeoutMs = DEFAULT_WAIT_MS): Promise<ThreadEntry> {
  let last: ThreadEntry | undefined
  let hit: ThreadEntry | undefined
  return until(
    (notify) => {
      const sub = thread.status$.subscribe((s) => {
        last = s
        if (hit === undefined && predicate(s)) hit = s
        notify()
      })
      return () => sub.unsubscribe()
    },
    () => hit !== undefined,
    what,
    { timeoutMs, describe: () => JSON.stringify(last) }
  ).then(() => hit as ThreadEntry)
}

/**
 * A thread's status now. Status is coalesced to one update a macrotask; after `peer.idle()`
 * (nothing syncing, every write durable, pending status sent) the stream holds the current one.
 */
export async function statusNow(p: { readonly peer: Peer }, thread: Pick<NetThread, 'status$'>): Promise<ThreadEntry> {
  await p.peer.idle()
  return firstValueFrom(thread.status$)
}

/** Things to close after a test, closed newest first; failures do not stop the others. */
export class Resources {
  readonly #closers: Array<() => Promise<unknown> | unknown> = []

  add(close: () => Promise<unknown> | unknown): void {
    this.#closers.push(close)
  }

  async closeAll(): Promise<void> {
    const errors: unknown[] = []
    for (const close of this.#closers.splice(0).reverse()) {
      try {
        await close()
      } catch (e) {
        errors.push(e)
      }
    }
    if (errors.length > 0) throw new AggregateError(errors, `${errors.length} resource(s) failed to close`)
  }
}

/** A new temporary directory, removed by `resources` (after whatever was registered later). */
export async function tempDir(resources: Resources, label: string): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), `redux-threads-${label}-`))
  resources.add(() => rm(dir, { recursive: true, force: true }))
  return dir
}

/**
 * A started peer on LevelDB (in `dir`) with libp2p on loopback, a todo store (the peer's status
 * at `peer.reducerPath`), and its lifecycle thunks as methods (see `peerDriver`).
 */
export interface LivePeer extends PeerDriver {
  readonly name: string
  readonly peer: Peer
  readonly store: NetStore
  readonly dir: string
  /** Close the peer (idempotent): its network, sync service and LevelDB. */
  close(): Promise<void>
}

export interface LivePeerOptions {
  /** The LevelDB directory; default a new temporary one. */
  readonly dir?: string
  readonly identity?: LogKey
  readonly syncIntervalMs?: number
  readonly peer?: Omit<PeerOptions, 'storage' | 'network' | 'identity' | 'syncIntervalMs' | 'reducerPath'>
}

export async function livePeer(resources: Resources, name: string, options: LivePeerOptions = {}): Promise<LivePeer> {
  const dir = options.dir ?? (await tempDir(resources, name))
  const peer = createPeer({
    storage: levelStorage(dir),
    network: libp2pNetwork({ listen: LOOPBACK }),
    syncIntervalMs: options.syncIntervalMs ?? 500,
    ...(options.identity === undefined ? {} : { identity: options.identity }),
    ...options.peer
  })
  let closing: Promise<void> | undefined
  const close = (): Promise<void> => (closing ??= peer.close())
  resources.add(close)
  const store = netStore(peer)
  await peer.start()
  return { ...peerDriver(peer, store), name, peer, store, dir, close }
}

/** The todo texts of a peer's store, in order. */
export function texts(p: LivePeer): string[] {
  return p.store.getState().todos.map((t) => t.text)
}

/** Heads of a thread as `{ logId: 'seq:cid' }`, keys sorted: comparable with `toEqual` and as JSON. */
export function headsOf(thread: Pick<NetThread, 'heads'>): Record<string, string> {
  return Object.fromEntries([...thread.heads()].sort(([x], [y]) => (x < y ? -1 : 1)).map(([log, h]) => [log, `${h.seq}:${h.id.toString()}`]))
}

/** Heads as `{ logId: seq }`, keys sorted. */
export function seqsOf(thread: Pick<NetThread, 'heads'>): Record<string, number> {
  return Object.fromEntries([...thread.heads()].sort(([x], [y]) => (x < y ? -1 : 1)).map(([log, h]) => [log, h.seq]))
}

/** True when every peer holds exactly `count` todos, all equal (same items, same order). */
export function converged(peers: readonly LivePeer[], count: number): boolean {
  const first = peers[0]
  if (first === undefined) return true
  const ref = JSON.stringify(first.store.getState().todos)
  return peers.every((p) => p.store.getState().todos.length === count && JSON.stringify(p.store.getState().todos) === ref)
}

/** One line per peer: name, todo count, and thread heads, for timeout messages. */
export function describePeers(peers: ReadonlyArray<{ p: LivePeer; t: Pick<NetThread, 'heads' | 'peers'> }>): string {
  return peers.map(({ p, t }) => `${p.name}: ${p.store.getState().todos.length} todos, peers=${t.peers().length}, heads=${JSON.stringify(seqsOf(t))}`).join('; ')
}

/** Index of `needle` in `hay`, or -1. */
export function indexOfBytes(hay: Uint8Array, needle: Uint8Array): number {
  const first = needle[0]
  if (first === undefined) return 0
  for (let i = hay.indexOf(first); i >= 0 && i + needle.length <= hay.length; i = hay.indexOf(first, i + 1)) {
    let j = 1
    while (j < needle.length && hay[i + j] === needle[j]) j++
    if (j === needle.length) return i
  }
  return -1
}

/** Every regular file under `dir`, recursively. */
export async function filesUnder(dir: string): Promise<string[]> {
  const out: string[] = []
  for (const entry of await readdir(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name)
    if (entry.isDirectory()) out.push(...(await filesUnder(path)))
    else if (entry.isFile()) out.push(path)
  }
  return out
}

/** Files under `dir` that contain `text` (as UTF-8 bytes), and how many files and bytes were scanned. */
export async function filesContaining(dir: string, text: string): Promise<{ files: number; bytes: number; hits: string[] }> {
  const needle = new TextEncoder().encode(text)
  const hits: string[] = []
  let bytes = 0
  const files = await filesUnder(dir)
  for (const f of files) {
    if (!(await stat(f)).isFile()) continue
    const data = await readFile(f)
    bytes += data.length
    if (indexOfBytes(data, needle) >= 0) hits.push(f)
  }
  return { files: files.length, bytes, hits }
}

/** A sync node over libp2p without Redux: an event store, one engine per thread, and a SyncService with options. */
export interface Libp2pServiceNode {
  readonly id: string
  readonly net: Libp2pNetwork
  readonly store: EventStore
  readonly sync: SyncService
  readonly engines: Map<string, ThreadEngine<unknown[]>>
  /** Open (creating its log when `write`) a thread this node holds the key of. */
  open(id: ThreadId, key: ThreadKey, write: boolean): Promise<ThreadEngine<unknown[]>>
  close(): Promise<void>
}

export async function libp2pServiceNode(resources: Resources, options: Partial<Omit<SyncOptions, 'network' | 'addrBook' | 'host'>> = {}): Promise<Libp2pServiceNode> {
  const identity = generateLogKey()
  const net = libp2pNetwork({ listen: LOOPBACK })({ identity }) as Libp2pNetwork
  await net.start()
  const store = await EventStore.open(memoryStorage())
  const engines = new Map<string, ThreadEngine<unknown[]>>()
  const sync = new SyncService({
    network: net,
    host: { target: (t) => engines.get(t), targets: () => [...engines.values()] },
    addrBook: logstoreAddressBook(store.logstore),
    intervalMs: 0,
    ...options
  })
  await sync.start()
  let closing: Promise<void> | undefined
  const close = (): Promise<void> =>
    (closing ??= (async () => {
      await sync.stop()
      await net.stop()
      await store.close()
    })())
  resources.add(close)
  return {
    id: identity.id,
    net,
    store,
    sync,
    engines,
    async open(id, key, write) {
      await store.logstore.addThread(id, key)
      if (write) await store.logstore.addLog(id, identity.id, identity)
      const engine = await ThreadEngine.open<unknown[]>({ store, threadId: id, projection: { initial: [], fold: (s, e) => [...s, e.command.payload] } })
      engines.set(id.toString(), engine)
      sync.addThread(engine)
      return engine
    },
    close
  }
}
