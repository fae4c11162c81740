import type { LogKey } from '../core/keys.js'
import { ClosedError } from '../core/errors.js'
import { loadPart } from '../engine/loadPart.js'
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
  #parts: Promise<EngineParts> | undefined
  #closing: Promise<void> | undefined
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

  /**
   * Begin loading the engine half now (createPeer calls it): the chunk downloads while the app
   * renders, so the first thunk does not wait for it. A failure here is only remembered as "not
   * loaded": `start()` loads again and reports it.
   */
  preload(): void {
    this.#parts ??= this.#loadParts()
    this.#parts.catch(() => undefined)
  }

  #loadParts(): Promise<EngineParts> {
    const attempt = loadPart('the engine (redux-p2p-threads engineParts chunk)', () => import('./engineParts.js'))
    // A failed load is forgotten, so the next start() fetches the chunk again.
    attempt.catch(() => {
      if (this.#parts === attempt) this.#parts = undefined
    })
    return attempt
  }

  /**
   * Start once; later calls return the same promise while it runs or once it succeeded. A start
   * that failed released what it took (network, storage) and is forgotten: the next call tries
   * again (a chunk that failed to download, storage another tab held).
   */
  start(): Promise<Started> {
    if (this.#closed) return Promise.reject(new ClosedError('the peer is closed'))
    if (this.#starting === undefined) {
      this.#hooks.starting()
      const attempt = this.#start()
      this.#starting = attempt
      // Registered before any caller's reaction, so hooks run first. Nothing is reported once
      // close() has begun (the phase goes closing → closed, not back to ready).
      attempt.then(
        (s) => {
          if (!this.#closed) this.#hooks.started(s)
        },
        (e: unknown) => {
          if (this.#starting === attempt) this.#starting = undefined
          if (!this.#closed) this.#hooks.failed(e)
        }
      )
    }
    return this.#starting
  }

  async #start(): Promise<Started> {
    const { options } = this
    // The engine chunk, the sync chunk (with a network) and the storage's own lock and modules
    // load in parallel: none needs another.
    const parts = (this.#parts ??= this.#loadParts())
    const syncParts = options.network === undefined ? undefined : loadPart('the sync service (redux-p2p-threads syncParts chunk)', () => import('./syncParts.js'))
    syncParts?.catch(() => undefined)
    const storage = options.storage ?? (await parts).memoryStorage()
    let network: NetworkAdapter | undefined
    let eventStore: EventStore | undefined
    let acquired = false
    const acquiring = (async () => {
      await storage.acquire?.()
      acquired = true
    })()
    try {
      const [loaded] = await Promise.all([parts, acquiring])
      eventStore = await loaded.EventStore.open(storage, options.now === undefined ? {} : { now: options.now })
      let identity = options.identity
      let identityIsNew = false
      if (identity === undefined) {
        const stored = await eventStore.logstore.identity(loaded.generateLogKey)
        identity = stored.key
        identityIsNew = stored.created
      }
      network = options.network?.({ identity })
      if (network !== undefined) await network.start()
      const sp = await syncParts
      const sync =
        network === undefined || sp === undefined
          ? undefined
          : new sp.SyncService({
              network,
              host: this.#host,
              addrBook: sp.logstoreAddressBook(eventStore.logstore),
              ...(options.syncIntervalMs === undefined ? {} : { intervalMs: options.syncIntervalMs })
            })
      await sync?.start()
      this.#started = { parts: loaded, eventStore, identity, identityIsNew, network, sync }
      return this.#started
    } catch (e) {
      // Release what this attempt took, so a later one (or another peer) can take it: after the
      // lock was settled either way (the engine chunk may fail while it is still being taken).
      await acquiring.catch(() => undefined)
      await network?.stop().catch(() => undefined)
      if (eventStore !== undefined) await eventStore.close().catch(() => undefined)
      else if (acquired) await storage.close().catch(() => undefined)
      throw e
    }
  }

  /**
   * Stop the sync service and the network, and close storage after the last write. Every call
   * resolves when all of that is done (a second call waits for the first).
   */
  close(): Promise<void> {
    this.#closing ??= this.#close()
    return this.#closing
  }

  async #close(): Promise<void> {
    this.#closed = true
    const started = await this.#starting?.catch(() => undefined)
    if (started === undefined) return
    await started.sync?.stop()
    await started.network?.stop()
    await started.eventStore.close()
  }
}
