import { uniformFloat64 } from 'pure-rand/distribution/uniformFloat64'
import { xoroshiro128plus } from 'pure-rand/generator/xoroshiro128plus'
import { Emitter } from '../../src/core/emitter.js'
import { macrotask, nextMacrotask } from '../../src/platform/scheduler.js'
import type {
  NetworkAdapter,
  NetworkComponents,
  NetworkEvents,
  NetworkFactory,
  NetworkListener,
  TopicValidator
} from '../../src/net/networkAdapter.js'

/** Faults the in-memory network injects, each a probability per message (0 to 1). */
export interface Faults {
  readonly drop?: number
  readonly duplicate?: number
  /** Deliver this message after the next one on the same link. */
  readonly reorder?: number
  /** Hold the message for 1 to `maxDelay` scheduler turns. */
  readonly delay?: number
  readonly maxDelay?: number
}

/** Deterministic: the same seed gives the same faults in the same order (pure-rand's xoroshiro128+). */
function prng(seed: number): () => number {
  const generator = xoroshiro128plus(seed)
  return () => uniformFloat64(generator)
}

/** Pubsub message IDs each adapter remembers (as gossipsub's seen cache). */
const SEEN_MESSAGES = 16_384

interface Delivery {
  readonly run: () => void
  due: number
}

/**
 * An in-process network for tests and demos: peers connect by ID, messages are delivered
 * asynchronously through one scheduler queue, and faults (drop, duplicate, reorder, delay) and
 * partitions are injected from a seeded PRNG, so a failing seed replays exactly.
 *
 * Pubsub behaves as gossipsub does where it matters to the protocol: a message hops from peer to
 * peer over connections (every subscribed peer relays it to its other connected peers), each peer
 * takes a message once (by message ID), and a peer with a validator for the topic delivers and
 * relays a message only once its validator said `accept`.
 *
 * @example
 * ```ts
 * import { createMemoryHub } from 'redux-p2p-threads/memory-network'
 * const hub = createMemoryHub({ seed: 42, faults: { drop: 0.1, duplicate: 0.05 } })
 * const alice = createPeer({ network: hub.network() })
 * const bob = createPeer({ network: hub.network() })
 * await Promise.all([alice.start(), bob.start()])     // peer IDs exist once started
 * hub.partition([alice.id!], [bob.id!]); … ; hub.heal()
 * await hub.idle()   // every message in flight delivered
 * ```
 */
export class MemoryHub {
  readonly #adapters = new Map<string, MemoryNetwork>()
  readonly #random: () => number
  #faults: Faults
  #groups: Array<Set<string>> | undefined
  #queue: Delivery[] = []
  #turn = 0
  #scheduled = false
  #idle: Array<() => void> = []
  #connections = 0
  #messages = 0
  /** Messages delivered, dropped and duplicated (for tests and figures). */
  readonly stats = { delivered: 0, dropped: 0, duplicated: 0 }

  constructor(options: { seed?: number; faults?: Faults } = {}) {
    this.#random = prng(options.seed ?? 1)
    this.#faults = options.faults ?? {}
  }

  /** A network factory for one peer on this hub. */
  network(): NetworkFactory {
    return (components) => new MemoryNetwork(this, components)
  }

  /** Change the faults from now on. */
  setFaults(faults: Faults): void {
    this.#faults = faults
  }

  /** Split peers into groups that cannot reach each other; connections across groups close. */
  partition(...groups: ReadonlyArray<readonly string[]>): void {
    this.#groups = groups.map((g) => new Set(g))
    for (const a of this.#adapters.values()) {
      for (const b of a.connectedPeers()) if (!this.reachable(a.peerId, b)) a._drop(b)
    }
  }

  /** Remove the partition (peers must dial again, as after a real outage). */
  heal(): void {
    this.#groups = undefined
  }

  reachable(a: string, b: string): boolean {
    if (this.#groups === undefined) return true
    return this.#groups.some((g) => g.has(a) && g.has(b))
  }

  /** True when no message is in flight or scheduled. */
  get quiet(): boolean {
    return this.#queue.length === 0 && !this.#scheduled
  }

  /** Resolves when no message is in flight. */
  idle(): Promise<void> {
    if (this.#queue.length === 0 && !this.#scheduled) return Promise.resolve()
    return new Promise((resolve) => this.#idle.push(resolve))
  }

  /** A new pubsub message's ID: relays and duplicates of it keep it, so every adapter sees it once. */
  _messageId(): number {
    return ++this.#messages
  }

  /** A new connection's number: a message sent on one connection is never delivered on a later one. */
  _connection(): number {
    return ++this.#connections
  }

  _register(a: MemoryNetwork): void {
    this.#adapters.set(a.peerId, a)
  }

  _unregister(a: MemoryNetwork): void {
    this.#adapters.delete(a.peerId)
  }

  _adapter(peerId: string): MemoryNetwork | undefined {
    return this.#adapters.get(peerId)
  }

  _adapters(): MemoryNetwork[] {
    return [...this.#adapters.values()]
  }

  /** Queue a delivery through the fault model. `reliable` skips faults (connection events). */
  _deliver(run: () => void, reliable = false): void {
    const f = this.#faults
    if (!reliable) {
      if (this.#random() < (f.drop ?? 0)) {
        this.stats.dropped++
        return
      }
      if (this.#random() < (f.duplicate ?? 0)) {
        this.stats.duplicated++
        this.#push(run, this.#delay())
      }
    }
    this.#push(run, reliable ? 0 : this.#delay())
  }

  #delay(): number {
    const f = this.#faults
    let d = 0
    if (this.#random() < (f.delay ?? 0)) d += 1 + Math.floor(this.#random() * (f.maxDelay ?? 5))
    if (this.#random() < (f.reorder ?? 0)) d += 1
    return d
  }

  #push(run: () => void, delay: number): void {
    this.#queue.push({ run, due: this.#turn + delay })
    this.#schedule()
  }

  #schedule(): void {
    if (this.#scheduled) return
    this.#scheduled = true
    nextMacrotask(() => this.#tick())
  }

  #tick(): void {
    this.#scheduled = false
    this.#turn++
    const now = this.#queue.filter((d) => d.due <= this.#turn)
    this.#queue = this.#queue.filter((d) => d.due > this.#turn)
    for (const d of now) {
      this.stats.delivered++
      d.run()
    }
    if (this.#queue.length > 0) this.#schedule()
    else for (const done of this.#idle.splice(0)) done()
  }
}

/**
 * Resolves when the hub and every given peer are quiet: nothing in flight, no handler running,
 * writes durable. Loops because a handler that finishes may send again.
 */
export async function settle(hub: MemoryHub, peers: ReadonlyArray<{ idle(): Promise<void> }>): Promise<void> {
  for (let round = 0; round < 10_000; round++) {
    await hub.idle()
    await Promise.all(peers.map((p) => p.idle()))
    // One macrotask turn: pushes are flushed on the next macrotask (setImmediate in Node).
    await macrotask()
    await Promise.all(peers.map((p) => p.idle()))
    if (hub.quiet) return
  }
  throw new Error('the network did not settle in 10,000 rounds')
}

/** Create a hub for in-memory peers. */
export function createMemoryHub(options: { seed?: number; faults?: Faults } = {}): MemoryHub {
  return new MemoryHub(options)
}

/** One peer's adapter on a {@link MemoryHub}. */
export class MemoryNetwork implements NetworkAdapter {
  readonly peerId: string
  readonly #hub: MemoryHub
  readonly #events = new Emitter<NetworkEvents>()
  readonly #connected = new Set<string>()
  /** The number of the open connection to each peer. */
  readonly #connection = new Map<string, number>()
  readonly #topics = new Set<string>()
  readonly #validators = new Map<string, TopicValidator>()
  /** Pubsub message IDs taken (bounded): a relayed or duplicated message is taken once. */
  readonly #seen = new Set<number>()
  #started = false

  constructor(hub: MemoryHub, components: NetworkComponents) {
    this.#hub = hub
    this.peerId = components.identity.id
  }

  async start(): Promise<void> {
    if (this.#started) return
    this.#started = true
    this.#hub._register(this)
  }

  async stop(): Promise<void> {
    if (!this.#started) return
    this.#started = false
    for (const p of [...this.#connected]) {
      this._drop(p)
      this.#hub._adapter(p)?._drop(this.peerId)
    }
    this.#hub._unregister(this)
  }

  addresses(): string[] {
    return [`/memory/${this.peerId}/p2p/${this.peerId}`]
  }

  async dial(peerId: string): Promise<void> {
    const other = this.#hub._adapter(peerId)
    if (!this.#started) throw new Error('the adapter is not started')
    if (other === undefined || !this.#hub.reachable(this.peerId, peerId)) throw new Error(`peer ${peerId} is not reachable`)
    if (this.#connected.has(peerId)) return
    const connection = this.#hub._connection()
    this._open(peerId, connection)
    other._open(this.peerId, connection)
  }

  async hangUp(peerId: string): Promise<void> {
    this._drop(peerId)
    this.#hub._adapter(peerId)?._drop(this.peerId)
  }

  connectedPeers(): string[] {
    return [...this.#connected]
  }

  async send(peerId: string, bytes: Uint8Array): Promise<void> {
    if (!this.#connected.has(peerId)) return
    const from = this.peerId
    const copy = Uint8Array.from(bytes)
    const connection = this.#connection.get(peerId)
    this.#hub._deliver(() => {
      const to = this.#hub._adapter(peerId)
      // Ordered per connection: a message still in flight when its connection closed dies with
      // it, even if the peers have connected again since.
      if (to !== undefined && to.#connection.get(from) === connection && this.#hub.reachable(from, peerId)) to.#emit('message', { from, bytes: copy })
    })
  }

  subscribe(topic: string): void {
    this.#topics.add(topic)
  }

  unsubscribe(topic: string): void {
    this.#topics.delete(topic)
  }

  async publish(topic: string, bytes: Uint8Array): Promise<void> {
    const id = this.#hub._messageId()
    this.#remember(id)
    this.#relay(topic, id, Uint8Array.from(bytes), undefined)
  }

  setTopicValidator(topic: string, validator: TopicValidator | undefined): void {
    if (validator === undefined) this.#validators.delete(topic)
    else this.#validators.set(topic, validator)
  }

  /** Send a pubsub message on to every connected peer but the one it came from. */
  #relay(topic: string, id: number, bytes: Uint8Array, cameFrom: string | undefined): void {
    const from = this.peerId
    for (const peer of this.#connected) {
      if (peer === cameFrom) continue
      this.#hub._deliver(() => {
        const to = this.#hub._adapter(peer)
        if (to !== undefined && this.#hub.reachable(from, peer)) to._pubsub(topic, id, from, bytes)
      })
    }
  }

  /** A pubsub message from a connected peer: once per ID, validated, then delivered and relayed. */
  _pubsub(topic: string, id: number, from: string, bytes: Uint8Array): void {
    if (!this.#started || !this.#topics.has(topic) || !this.#connected.has(from) || this.#seen.has(id)) return
    this.#remember(id)
    const validator = this.#validators.get(topic)
    const verdict = validator === undefined ? 'accept' : validator(from, bytes)
    const settle = (result: string): void => {
      if (result !== 'accept' || !this.#started) return
      this.#emit('pubsub', { topic, from, bytes })
      this.#relay(topic, id, bytes, from)
    }
    if (typeof verdict === 'string') settle(verdict)
    else verdict.then(settle, () => undefined)
  }

  #remember(id: number): void {
    if (this.#seen.size >= SEEN_MESSAGES) this.#seen.delete(this.#seen.values().next().value as number)
    this.#seen.add(id)
  }

  topicPeers(topic: string): string[] {
    return [...this.#connected].filter((p) => this.#hub._adapter(p)?._subscribed(topic) === true)
  }

  on<K extends keyof NetworkEvents>(event: K, listener: NetworkListener<K>): () => void {
    return this.#events.on(event, listener)
  }

  #emit<K extends keyof NetworkEvents>(event: K, value: NetworkEvents[K]): void {
    this.#events.emit(event, value)
  }

  _subscribed(topic: string): boolean {
    return this.#topics.has(topic)
  }

  _open(peerId: string, connection: number): void {
    if (this.#connected.has(peerId)) return
    this.#connected.add(peerId)
    this.#connection.set(peerId, connection)
    // Not if that connection closed meanwhile: its disconnect was told already.
    this.#hub._deliver(() => {
      if (this.#connection.get(peerId) === connection) this.#emit('peer:connect', { peerId })
    }, true)
  }

  _drop(peerId: string): void {
    if (!this.#connected.delete(peerId)) return
    this.#connection.delete(peerId)
    // At once, not through the queue: a queued disconnect could arrive after the peers have
    // connected again, and listeners would drop the state of the new connection (and act on
    // that of the old one until then).
    this.#emit('peer:disconnect', { peerId })
  }
}

/**
 * A network factory on `hub` (the same as `hub.network()`), for one-process examples.
 *
 * @example
 * ```ts
 * const hub = createMemoryHub()
 * const peer = createPeer({ network: memoryNetwork(hub) })
 * ```
 */
export function memoryNetwork(hub: MemoryHub): NetworkFactory {
  return hub.network()
}
