import type { LogKey } from '../core/keys.js'
import { ClosedError } from '../core/errors.js'
import type { CheckpointPolicy } from '../engine/checkpointPolicy.js'
import type { NetworkAdapter, NetworkFactory } from '../net/networkAdapter.js'
import type { SyncService } from '../net/syncService.js'
import type { SyncHost } from '../net/syncTarget.js'
import type { EventStore } from '../store/eventStore.js'
import type { StorageAdapter } from '../store/storageAdapter.js'

/** The engine half of the peer, loaded on start (see engineParts.ts for why). */
export type EngineParts = typeof import('./engineParts.js')

/** Options of `createPeer`. */
export interface PeerOptions<ReducerPath extends string = 'threads'> {
  /**
   * Where logs, keys and snapshots live. Default: in memory (lost on exit). In Node use
   * `levelStorage(dir)` from `redux-p2p-threads/level`; in browsers `localforageStorage()`.
   */
  readonly storage?: StorageAdapter
  /**
   * This peer's identity (its log key in every thread). Default: the one in storage, or a new one
   * stored there. An identity given here may have written elsewhere before, so threads it joins
   * recover its own log from peers before it writes (writing seq 1 again would fork it).
   */
  readonly identity?: LogKey
  /** Write a snapshot of each thread every this many events (default 1,000; 0: never). */
  readonly snapshotEvery?: number
  /** Compact each thread's timeline after every snapshot (default false). */
  readonly compactOnSnapshot?: boolean
  /** Checkpoint spacing of the timelines (default every 32 events, thinning with age). */
  readonly checkpoints?: CheckpointPolicy
  /** Clock for event times (tests). */
  readonly now?: () => number
  /**
   * The network: `libp2pNetwork({ listen })` from `redux-p2p-threads/libp2p`, or an in-memory hub's
   * `hub.network()`. Without one, peers exchange records by hand (thread handles' `recordsSince`
   * and `ingest`) or as CAR files.
   */
  readonly network?: NetworkFactory
  /** Exchange heads with every peer and redial known addresses this often (ms; default 10,000; 0: never). */
  readonly syncIntervalMs?: number
  /** Where the peer's status lives in the store (default `threads`). */
  readonly reducerPath?: ReducerPath
}

/** What the peer facade hears of the runtime's start. */
export interface RuntimeHooks {
  starting(): void
  started(s: Started): void
  failed(e: unknown): void
}

/** What a started peer holds: storage, identity, network and sync. */
export interface Started {
  /** The engine half's modules, loaded on start. */
  readonly parts: EngineParts
  readonly eventStore: EventStore
  readonly identity: LogKey
  /** True when the identity came with this storage's first start (it never wrote elsewhere). */
  readonly identityIsNew: boolean
  readonly network: NetworkAdapter | undefined
  readonly sync: SyncService | undefined
}

/**
 * The asynchronous half of a peer, started once: claim the storage (one peer per storage), open
 * the event store, load or make the identity, start the network and the sync service. `createPeer`
 * returns at once; this runs on the first thunk or `peer.start()` (automerge-repo's
 * synchronous constructor plus `whenReady`).
 */
export class PeerRuntime {
  readonly options: PeerOptions<string>
  readonly #host: SyncHost
  readonly #hooks: RuntimeHooks
  #starting: Promise<Started> | undefined
  #started: Started | undefined
  #closed = false

  constructor(options: PeerOptions<string>, host: SyncHost, hooks: RuntimeHooks) {
    this.options = options
    this.#host = host
    this.#hooks = hooks
  }

  /** The started parts, or undefined before `start()` has finished. */
  get started(): Started | undefined {
    return this.#started
  }

  get closed(): boolean {
    return this.#closed
  }

  /** Start once; later calls return the same promise. */
  start(): Promise<Started> {
    if (this.#closed) return Promise.reject(new ClosedError('the peer is closed'))
    if (this.#starting === undefined) {
      this.#hooks.starting()
      this.#starting = this.#start().then(
        (s) => {
          this.#hooks.started(s)
          return s
        },
        (e: unknown) => {
          this.#hooks.failed(e)
          throw e
        }
      )
    }
    return this.#starting
  }

  async #start(): Promise<Started> {
    const { options } = this
    // Loaded now, not with the store module: see engineParts.ts. Storage and network modules
    // load in parallel with it.
    const parts = await import('./engineParts.js')
    const storage = options.storage ?? parts.memoryStorage()
    await storage.acquire?.()
    const eventStore = await parts.EventStore.open(storage, options.now === undefined ? {} : { now: options.now })
    let identity = options.identity
    let identityIsNew = false
    if (identity === undefined) {
      const stored = await eventStore.logstore.identity(parts.generateLogKey)
      identity = stored.key
      identityIsNew = stored.created
    }
    const network = options.network?.({ identity })
    if (network !== undefined) await network.start()
    const syncParts = network === undefined ? undefined : await import('./syncParts.js')
    const sync =
      network === undefined || syncParts === undefined
        ? undefined
        : new syncParts.SyncService({
            network,
            host: this.#host,
            addrBook: syncParts.logstoreAddressBook(eventStore.logstore),
            ...(options.syncIntervalMs === undefined ? {} : { intervalMs: options.syncIntervalMs })
          })
    await sync?.start()
    this.#started = { parts, eventStore, identity, identityIsNew, network, sync }
    return this.#started
  }

  /** Stop the sync service and the network, and close storage after the last write. */
  async close(): Promise<void> {
    if (this.#closed) return
    this.#closed = true
    const started = await this.#starting?.catch(() => undefined)
    if (started === undefined) return
    await started.sync?.stop()
    await started.network?.stop()
    await started.eventStore.close()
  }
}
