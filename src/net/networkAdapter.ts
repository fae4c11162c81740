/**
 * The network adapter contract: how the sync protocol reaches other peers. Small on purpose
 * (automerge-repo's shape): methods, plus a typed event map. Adapters move opaque bytes;
 * message formats, limits, authentication and verification live in `src/net`, so no adapter can
 * weaken them. The sync service turns the events into Observables; adapters need no RxJS.
 *
 * Every adapter runs the shared conformance suite (`adapters/network/conformance.ts`).
 *
 * @packageDocumentation
 */

/** The events an adapter emits. */
export interface NetworkEvents {
  /** A connection to `peerId` is open: messages can be sent both ways. */
  'peer:connect': { readonly peerId: string }
  /** The last connection to `peerId` closed. */
  'peer:disconnect': { readonly peerId: string }
  /** A direct message from `from`, in the order it was sent on its connection. */
  message: { readonly from: string; readonly bytes: Uint8Array }
  /**
   * A pubsub message on a subscribed topic. `from` is the peer that relayed it (the propagation
   * source), if known. On a topic with a validator, only messages the validator accepted.
   */
  pubsub: { readonly topic: string; readonly from: string | undefined; readonly bytes: Uint8Array }
}

export type NetworkListener<K extends keyof NetworkEvents> = (event: NetworkEvents[K]) => void

/**
 * A validator's verdict on a pubsub message (gossipsub's `TopicValidatorResult`):
 * - `accept`: valid; deliver it and forward it to other subscribers;
 * - `ignore`: neither delivered nor forwarded, and nobody is penalised (a duplicate, say);
 * - `reject`: invalid; neither delivered nor forwarded, and the propagation source is penalised.
 */
export type TopicValidatorResult = 'accept' | 'ignore' | 'reject'

/**
 * Decides about one pubsub message before the adapter delivers or forwards it. `from` is the
 * propagation source (the peer it came from), which is the peer to blame for a `reject`: honest
 * peers forward only what they accepted.
 */
export type TopicValidator = (from: string | undefined, bytes: Uint8Array) => TopicValidatorResult | Promise<TopicValidatorResult>

/**
 * A transport for the sync protocol.
 *
 * @remarks
 * `peerId` is the peer's libp2p peer ID, which is also its log ID in every thread: the adapter
 * is built with the peer's identity key. Direct messages are reliable and ordered per connection
 * while it stays open; a message sent while no connection is open is dropped (the protocol pulls
 * again on reconnect). Pubsub is best-effort.
 */
export interface NetworkAdapter {
  /** This peer's ID. Valid after `start()`. */
  readonly peerId: string
  /** Open listeners and services. Idempotent. */
  start(): Promise<void>
  /** Close every connection and listener. Idempotent, and safe before `start()`. */
  stop(): Promise<void>
  /** Addresses others can dial, as multiaddr strings including `/p2p/<peerId>`. */
  addresses(): string[]
  /** Dial a peer at one of `addrs` (multiaddr strings). Resolves when connected. */
  dial(peerId: string, addrs: readonly string[], options?: { signal?: AbortSignal }): Promise<void>
  /** Close connections to a peer (for example one that sent bad input). */
  hangUp(peerId: string): Promise<void>
  /** Peers with an open connection. */
  connectedPeers(): string[]
  /**
   * Send one message to a connected peer. Resolves when the transport took it: an adapter with
   * backpressure resolves only once the peer's connection accepts more, so the bytes of sends not
   * yet resolved are what a slow reader is holding up.
   */
  send(peerId: string, bytes: Uint8Array): Promise<void>
  subscribe(topic: string): void
  unsubscribe(topic: string): void
  /** Publish to a topic. Best-effort: may reach no one. */
  publish(topic: string, bytes: Uint8Array): Promise<void>
  /** Peers known to be subscribed to `topic`. */
  topicPeers(topic: string): string[]
  /**
   * Set (or, with `undefined`, remove) the validator of a topic: the adapter calls it for every
   * message on the topic from another peer before it delivers it (`pubsub`) or forwards it, and
   * does either only on `accept` (gossipsub's topic validators). Optional for adapters that never
   * forward; the sync service then validates on delivery instead.
   */
  setTopicValidator?(topic: string, validator: TopicValidator | undefined): void
  on<K extends keyof NetworkEvents>(event: K, listener: NetworkListener<K>): () => void
}

/** What a network adapter factory is given by the peer that starts it. */
export interface NetworkComponents {
  /** The peer's identity: its libp2p private key is this log key (peer ID = log ID). */
  readonly identity: { readonly id: string; readonly seed: Uint8Array; readonly publicKey: Uint8Array }
}

/**
 * Builds an adapter for a peer, js-libp2p style: `libp2pNetwork(init)` returns one of these and
 * `createPeer({ network })` calls it with the peer's identity.
 */
export type NetworkFactory = (components: NetworkComponents) => NetworkAdapter
