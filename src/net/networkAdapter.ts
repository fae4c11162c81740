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
  /** A pubsub message on a subscribed topic. `from` is the peer that relayed it, if known. */
  pubsub: { readonly topic: string; readonly from: string | undefined; readonly bytes: Uint8Array }
}

export type NetworkListener<K extends keyof NetworkEvents> = (event: NetworkEvents[K]) => void

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
  /** Send one message to a connected peer. Resolves when handed to the transport. */
  send(peerId: string, bytes: Uint8Array): Promise<void>
  subscribe(topic: string): void
  unsubscribe(topic: string): void
  /** Publish to a topic. Best-effort: may reach no one. */
  publish(topic: string, bytes: Uint8Array): Promise<void>
  /** Peers known to be subscribed to `topic`. */
  topicPeers(topic: string): string[]
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
