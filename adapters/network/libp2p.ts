import { concat } from 'uint8arrays/concat'
import { privateKeyFromRaw } from '@libp2p/crypto/keys'
import type { GossipSub, GossipsubMessage, GossipsubOpts, TopicValidatorResult as GossipsubVerdict } from '@libp2p/gossipsub'
import type { Identify } from '@libp2p/identify'
import { peerIdFromPrivateKey, peerIdFromString } from '@libp2p/peer-id'
import { multiaddr, type Multiaddr } from '@multiformats/multiaddr'
import type { Libp2pOptions } from 'libp2p'
import type { Connection, Libp2p, Logger, PrivateKey, Stream, StreamMessageEvent } from '@libp2p/interface'
import type {
  NetworkAdapter,
  NetworkComponents,
  NetworkEvents,
  NetworkFactory,
  NetworkListener,
  TopicValidator
} from '../../src/net/networkAdapter.js'
import { installNodePolyfills } from './polyfills.js'
import { loadOptional } from '../optional.js'
import { isNode } from '../../src/platform/env.js'
import { Emitter } from '../../src/core/emitter.js'

/**
 * The protocol direct messages use unless {@link Libp2pNetworkInit.protocol} says otherwise: the
 * sync protocol's version 2 (`SYNC_PROTOCOL` of `src/net/limits.ts`; a test holds them equal).
 * Peers of version 1 never open a stream to it, so the two versions never exchange a message.
 */
export const DEFAULT_SYNC_PROTOCOL = '/redux-threads/sync/2.0.0'
/** The largest direct message accepted unless {@link Libp2pNetworkInit.maxMessageBytes} says otherwise. */
export const DEFAULT_MAX_MESSAGE_BYTES = 8 * 1024 * 1024

/**
 * setTimeout's largest delay (about 24.8 days); larger values, and Infinity, fire at once.
 * Used as "no inactivity timeout" for the long-lived message streams.
 */
const NO_TIMEOUT = 2 ** 31 - 1
/** Frames batched into one stream write at most (Yamux splits writes into 64 KiB frames anyway). */
const MAX_BATCH_BYTES = 256 * 1024
/** How long opening a message stream on an open connection may take. */
const OPEN_STREAM_TIMEOUT = 10_000

/** Options of {@link libp2pNetwork}. */
export interface Libp2pNetworkInit {
  /**
   * Multiaddrs to listen on. Default in Node: `['/ip4/127.0.0.1/tcp/0', '/ip4/127.0.0.1/tcp/0/ws']`
   * (loopback, random ports; use `0.0.0.0` to accept other machines). Default in browsers: none
   * (browsers dial out only).
   */
  listen?: string[]
  /**
   * The largest direct message, in bytes (default 8 MiB). `send` rejects larger messages with a
   * `RangeError`; a peer that sends a longer frame has its stream closed with an error, and the
   * frame is not delivered.
   */
  maxMessageBytes?: number
  /** The protocol ID of the direct message stream (default `/redux-threads/sync/2.0.0`). */
  protocol?: string
  /** Gossipsub options, merged over this adapter's (StrictNoSign, emitSelf false, 200 ms heartbeat). */
  pubsub?: Partial<GossipsubOpts>
  /**
   * Escape hatch: libp2p options merged over the defaults. `addresses` and `services` are merged
   * one level deep (services named `identify` and `pubsub` replace the
   * adapter's, which it needs); every other key replaces the default. `privateKey` is always the
   * peer's identity.
   */
  libp2p?: Partial<Libp2pOptions>
}

interface Services extends Record<string, unknown> {
  identify: Identify
  pubsub: GossipSub
}

type Node = Libp2p<Services>

/** The writing side of the message stream to one peer. */
interface Outbound {
  stream: Stream | undefined
  /** Writes queued behind a stream opening or a full buffer; batching needs it empty. */
  pending: number
  /** The last queued write: each starts when the previous one is done (order). */
  tail: Promise<void>
  /** A frame went straight to the stream in this turn: later ones in the turn are batched. */
  busy: boolean
  /** Frames sent in the current turn of the event loop, written together at its end. */
  batch: Uint8Array[]
  batchBytes: number
  /** Settles when the current batch is handed to the stream (or queued behind a write). */
  flushed: { promise: Promise<void>; resolve: (p: Promise<void> | void) => void } | undefined
}

/**
 * A network adapter over a real libp2p node: TCP and WebSockets, Noise, Yamux, identify and
 * gossipsub.
 *
 * - The libp2p private key is the peer's identity key, so the adapter's peer ID is its log ID.
 * - Direct messages travel on one long-lived stream per remote peer and direction, opened on the
 *   first `send` over an open connection (never dialing) and reopened if it closed, as
 *   length-prefixed frames (unsigned varint length, then the bytes), so a sender's messages
 *   arrive in order.
 * - Pubsub is gossipsub without message signing (records are signed already).
 *
 * @example
 * ```ts
 * import { libp2pNetwork } from 'redux-p2p-threads/libp2p'
 * const peer = await createPeer({ network: libp2pNetwork({ listen: ['/ip4/0.0.0.0/tcp/4001'] }) })
 * ```
 */
export function libp2pNetwork(init: Libp2pNetworkInit = {}): NetworkFactory {
  return (components) => new Libp2pNetwork(components, init)
}

/** One peer's libp2p adapter; build it with {@link libp2pNetwork}. */
export class Libp2pNetwork implements NetworkAdapter {
  readonly peerId: string
  readonly #privateKey: PrivateKey
  readonly #init: Libp2pNetworkInit
  readonly #protocol: string
  readonly #maxMessageBytes: number
  // A throwing listener must not break the stream or libp2p's event dispatch: log and go on.
  readonly #events = new Emitter<NetworkEvents>({ onListenerError: (name, err) => this.#log?.error('%s listener threw - %e', name, err) })
  readonly #topics = new Set<string>()
  readonly #validators = new Map<string, TopicValidator>()
  readonly #outbound = new Map<string, Outbound>()
  #node: Node | undefined
  #starting: Promise<Node> | undefined
  #stopping: Promise<void> | undefined
  #log: Logger | undefined

  constructor(components: NetworkComponents, init: Libp2pNetworkInit = {}) {
    const { id, seed, publicKey } = components.identity
    if (seed.length !== 32 || publicKey.length !== 32) throw new RangeError('the identity needs a 32-byte Ed25519 seed and public key')
    // libp2p's raw Ed25519 private key is seed ‖ public key.
    const raw = new Uint8Array(64)
    raw.set(seed, 0)
    raw.set(publicKey, 32)
    this.#privateKey = privateKeyFromRaw(raw)
    const derived = peerIdFromPrivateKey(this.#privateKey).toString()
    if (derived !== id) throw new Error(`identity mismatch: the key's peer ID is ${derived}, the identity says ${id}`)
    this.peerId = id
    this.#init = init
    this.#protocol = init.protocol ?? DEFAULT_SYNC_PROTOCOL
    this.#maxMessageBytes = init.maxMessageBytes ?? DEFAULT_MAX_MESSAGE_BYTES
    if (!Number.isSafeInteger(this.#maxMessageBytes) || this.#maxMessageBytes < 0) throw new RangeError('maxMessageBytes must be a non-negative integer')
  }

  /** The libp2p node, while started (for diagnostics and advanced use). */
  get libp2p(): Node | undefined {
    return this.#node
  }

  async start(): Promise<void> {
    if (this.#stopping !== undefined) await this.#stopping
    this.#starting ??= this.#create().catch((err: unknown) => {
      this.#starting = undefined
      throw err
    })
    await this.#starting
  }

  stop(): Promise<void> {
    if (this.#stopping !== undefined) return this.#stopping
    const starting = this.#starting
    if (starting === undefined) return Promise.resolve()
    this.#starting = undefined
    this.#stopping = (async () => {
      const node = await starting.catch(() => undefined)
      this.#node = undefined
      this.#outbound.clear()
      await node?.stop()
    })().finally(() => {
      this.#stopping = undefined
    })
    return this.#stopping
  }

  addresses(): string[] {
    const node = this.#node
    if (node === undefined) return []
    const suffix = `/p2p/${this.peerId}`
    return node.getMultiaddrs().map((ma) => {
      const s = ma.toString()
      return s.endsWith(suffix) ? s : s + suffix
    })
  }

  async dial(peerId: string, addrs: readonly string[], options: { signal?: AbortSignal } = {}): Promise<void> {
    const node = this.#started()
    const target = peerIdFromString(peerId)
    const mas: Multiaddr[] = []
    for (const a of addrs) {
      const ma = multiaddr(a)
      const p2p = ma.getComponents().filter((c) => c.name === 'p2p')
      const last = p2p[p2p.length - 1]
      if (last === undefined) mas.push(ma.encapsulate(`/p2p/${peerId}`))
      else if (last.value === peerId) mas.push(ma)
      // An address of another peer is skipped: dialing it could never reach `peerId`.
    }
    if (addrs.length > 0 && mas.length === 0) throw new Error(`no address of ${peerId} among ${addrs.length} given`)
    // With no address, libp2p uses an open connection or the addresses it already knows.
    const signal = options.signal
    const conn = await node.dial(mas.length > 0 ? mas : target, signal === undefined ? {} : { signal })
    if (!conn.remotePeer.equals(target)) {
      // Noise authenticates the remote against the /p2p/ part; this only guards a bad address list.
      await conn.close().catch(() => undefined)
      throw new Error(`dialed ${peerId} but reached ${conn.remotePeer.toString()}`)
    }
  }

  async hangUp(peerId: string): Promise<void> {
    const node = this.#node
    if (node === undefined) return
    const out = this.#outbound.get(peerId)
    if (out !== undefined) out.stream = undefined
    await node.hangUp(peerIdFromString(peerId))
  }

  connectedPeers(): string[] {
    const node = this.#node
    if (node === undefined) return []
    const peers = new Set<string>()
    for (const c of node.getConnections()) if (c.status === 'open') peers.add(c.remotePeer.toString())
    return [...peers]
  }

  /**
   * Send one message on the peer's message stream.
   *
   * Resolves once the frame is handed to the stream; when the stream's buffer is full it waits for
   * `drain` first, so a caller that awaits each send is paced by the network. Messages to a peer
   * with no open connection are dropped (it never dials), and so are messages whose stream fails
   * (the connection closed or the remote reset it): direct messages are reliable only while the
   * connection stays open. Rejects with a `RangeError` for a message over `maxMessageBytes`.
   */
  async send(peerId: string, bytes: Uint8Array): Promise<void> {
    if (bytes.byteLength > this.#maxMessageBytes) {
      throw new RangeError(`message of ${bytes.byteLength} bytes exceeds maxMessageBytes (${this.#maxMessageBytes})`)
    }
    const node = this.#node
    if (node === undefined) return
    let out = this.#outbound.get(peerId)
    if (out === undefined) {
      // Dropped at once, keeping no state, when the peer has no open connection.
      if (openConnection(node, peerId) === undefined) return
      out = { stream: undefined, pending: 0, tail: Promise.resolve(), busy: false, batch: [], batchBytes: 0, flushed: undefined }
      this.#outbound.set(peerId, out)
    }
    // The frame is a copy, so the caller may reuse `bytes` as soon as this returns.
    const frame = encodeFrame(bytes)
    const stream = out.stream
    // Fast path: the first frame of a turn, with nothing queued and a ready stream, is written at
    // once (no added latency for one message, or for a caller awaiting each send).
    if (!out.busy && out.pending === 0 && out.batch.length === 0 && stream !== undefined && isWritable(stream) && !stream.writableNeedsDrain) {
      let sent: boolean | undefined
      try {
        sent = stream.send(frame)
      } catch {
        // Not sent (the stream closed in between): batched below, the flush reopens it.
      }
      if (sent === false) return this.#enqueue(out, () => waitDrain(stream, out))
      if (sent === true) {
        out.busy = true
        const o = out
        queueMicrotask(() => {
          o.busy = false
          this.#flush(peerId, o)
        })
        return
      }
    }
    if (out.pending === 0 && out.batch.length > 0 && out.batchBytes + frame.byteLength > MAX_BATCH_BYTES) this.#flush(peerId, out)
    // Behind a queued write (stream opening, full buffer): queue too, so order is kept.
    if (out.pending > 0) return this.#enqueue(out, () => this.#write(peerId, out, frame))
    // Otherwise batch: later frames of the same turn go to the stream as one write at its end (one
    // Yamux and one Noise frame instead of one each): bursts ran 2 to 5 times faster on loopback.
    out.batch.push(frame)
    out.batchBytes += frame.byteLength
    if (out.flushed === undefined) {
      let resolve!: (p: Promise<void> | void) => void
      const promise = new Promise<void>((r) => (resolve = r))
      out.flushed = { promise, resolve }
      const o = out
      queueMicrotask(() => this.#flush(peerId, o))
    }
    return out.flushed.promise
  }

  /** Write the current batch: straight to a ready stream, else queued (open, drain, reopen). */
  #flush(peerId: string, out: Outbound): void {
    const flushed = out.flushed
    if (out.batch.length === 0 || flushed === undefined) return
    const data = out.batch.length === 1 ? (out.batch[0] as Uint8Array) : concat(out.batch, out.batchBytes)
    out.batch = []
    out.batchBytes = 0
    out.flushed = undefined
    const stream = out.stream
    if (out.pending === 0 && stream !== undefined && isWritable(stream) && !stream.writableNeedsDrain) {
      let sent: boolean | undefined
      try {
        sent = stream.send(data)
      } catch {
        // Not sent (the stream closed in between): the queued path opens a new one.
      }
      if (sent === true) return flushed.resolve()
      // Buffered, but the stream is full: later writes wait for drain, and so do these senders.
      if (sent === false) return flushed.resolve(this.#enqueue(out, () => waitDrain(stream, out)))
    }
    flushed.resolve(this.#enqueue(out, () => this.#write(peerId, out, data)))
  }

  subscribe(topic: string): void {
    this.#topics.add(topic)
    this.#node?.services.pubsub.subscribe(topic)
  }

  unsubscribe(topic: string): void {
    this.#topics.delete(topic)
    this.#node?.services.pubsub.unsubscribe(topic)
  }

  /**
   * Validate every message on `topic` before gossipsub delivers or forwards it (gossipsub's
   * `topicValidators`): `reject` also lowers the propagation source's gossipsub score.
   */
  setTopicValidator(topic: string, validator: TopicValidator | undefined): void {
    if (validator === undefined) this.#validators.delete(topic)
    else this.#validators.set(topic, validator)
    const node = this.#node
    if (node !== undefined) this.#installValidator(node, topic)
  }

  #installValidator(node: Node, topic: string): void {
    const validator = this.#validators.get(topic)
    const validators = node.services.pubsub.topicValidators
    if (validator === undefined) {
      validators.delete(topic)
      return
    }
    validators.set(topic, async (peer, msg) => {
      let result: 'accept' | 'ignore' | 'reject'
      try {
        result = await validator(peer.toString(), msg.data)
      } catch (err) {
        // A validator that fails decides nothing: the message goes no further, nobody is blamed.
        this.#log?.error('topic validator of %s threw - %e', topic, err)
        result = 'ignore'
      }
      // gossipsub's enum holds these very strings; it is not imported as a value because the
      // libp2p stack is loaded lazily (see #create).
      return result as unknown as GossipsubVerdict
    })
  }

  async publish(topic: string, bytes: Uint8Array): Promise<void> {
    const node = this.#node
    if (node === undefined) return
    await node.services.pubsub.publish(topic, Uint8Array.from(bytes))
  }

  topicPeers(topic: string): string[] {
    const node = this.#node
    if (node === undefined) return []
    return node.services.pubsub.getSubscribers(topic).map((p) => p.toString())
  }

  on<K extends keyof NetworkEvents>(event: K, listener: NetworkListener<K>): () => void {
    return this.#events.on(event, listener)
  }

  #emit<K extends keyof NetworkEvents>(event: K, value: NetworkEvents[K]): void {
    this.#events.emit(event, value)
  }

  #started(): Node {
    if (this.#node === undefined) throw new Error('the network adapter is not started')
    return this.#node
  }

  #enqueue(out: Outbound, task: () => Promise<void>): Promise<void> {
    out.pending++
    const run = out.tail.then(task).finally(() => {
      out.pending--
    })
    out.tail = run.catch(() => undefined)
    return run
  }

  /** Queued path of `send`: (re)open the stream if needed, send, wait for drain if full. */
  async #write(peerId: string, out: Outbound, frame: Uint8Array): Promise<void> {
    // Two attempts: a stream that was found closed before anything was written is replaced once.
    for (let attempt = 0; attempt < 2; attempt++) {
      const stream = await this.#openStream(peerId, out)
      if (stream === undefined) return
      let sent: boolean
      try {
        sent = stream.send(frame)
      } catch (err) {
        if (out.stream === stream) out.stream = undefined
        this.#log?.('message stream to %s closed before sending - %e', peerId, err)
        continue
      }
      if (!sent) await waitDrain(stream, out)
      return
    }
  }

  /** The writable message stream to `peerId`, opened on an open connection if needed. */
  async #openStream(peerId: string, out: Outbound): Promise<Stream | undefined> {
    if (out.stream !== undefined && isWritable(out.stream)) return out.stream
    out.stream = undefined
    const node = this.#node
    if (node === undefined) return undefined
    const conn = openConnection(node, peerId)
    if (conn === undefined) return undefined
    let stream: Stream
    try {
      stream = await conn.newStream(this.#protocol, { signal: AbortSignal.timeout(OPEN_STREAM_TIMEOUT) })
    } catch (err) {
      // The connection closed or the peer does not speak the protocol: the message is dropped.
      this.#log?.('could not open a message stream to %s - %e', peerId, err)
      return undefined
    }
    if (this.#node !== node) {
      stream.abort(new Error('the network adapter stopped'))
      return undefined
    }
    // Long-lived: never closed for being idle. (libp2p 3.3 records but does not enforce this
    // per-stream timeout; set anyway so a version that enforces it cannot close an idle stream.)
    stream.inactivityTimeout = NO_TIMEOUT
    stream.addEventListener('close', () => {
      if (out.stream === stream) out.stream = undefined
    })
    out.stream = stream
    return stream
  }

  /** Inbound message stream: decode frames as data arrives and emit them in order. */
  #onStream(stream: Stream, connection: Connection): void {
    const from = connection.remotePeer.toString()
    stream.inactivityTimeout = NO_TIMEOUT
    const decoder = new FrameDecoder(this.#maxMessageBytes)
    let failed = false
    stream.addEventListener('message', (evt: StreamMessageEvent) => {
      if (failed) return
      try {
        for (const chunk of chunksOf(evt.data)) {
          for (const bytes of decoder.push(chunk)) this.#emit('message', { from, bytes })
        }
      } catch (err) {
        // A frame over the limit or a malformed length: reset the stream (the sender sees it
        // close) and deliver nothing more from it. The sender opens a new stream for later sends.
        failed = true
        this.#log?.error('bad frame from %s - %e', from, err)
        stream.abort(err instanceof Error ? err : new Error(String(err)))
      }
    })
    // The remote closed its writing end: it sends nothing more here, so close ours (it never writes).
    stream.addEventListener('remoteCloseWrite', () => {
      stream.close().catch(() => undefined)
    })
  }

  async #create(): Promise<Node> {
    // The libp2p stack is ESM-only: loaded when the node starts, so that the CommonJS build of
    // this module can be required (dynamic import() works from CommonJS; require() does not).
    // These packages are optional peer dependencies: a missing one is named (MissingDependencyError).
    const inNode = isNode()
    const user: Partial<Libp2pOptions> = this.#init.libp2p ?? {}
    const [{ createLibp2p }, { webSockets }, { noise }, { yamux }, { identify }, { gossipsub }, tcp] = await loadOptional('redux-p2p-threads/libp2p', LIBP2P_PACKAGES, () =>
      Promise.all([
        import('libp2p'),
        import('@libp2p/websockets'),
        import('@libp2p/noise'),
        import('@libp2p/yamux'),
        import('@libp2p/identify'),
        import('@libp2p/gossipsub'),
        // Transports passed in (`libp2p.transports`) replace ours: no TCP of our own needed then.
        inNode && user.transports === undefined ? loadTcp() : undefined
      ])
    )
    // After the stack: a missing stack is named first, then (Node 20 only) a missing `ws`.
    await installNodePolyfills()
    const listen = this.#init.listen ?? (inNode ? ['/ip4/127.0.0.1/tcp/0', '/ip4/127.0.0.1/tcp/0/ws'] : [])
    const options: Libp2pOptions<Services> = {
      transports: tcp === undefined ? [webSockets()] : [tcp.tcp(), webSockets()],
      connectionEncrypters: [noise()],
      // Yamux pings every 30 s, which also keeps TCP's 2-minute socket inactivity timeout from
      // closing idle connections, and so the long-lived message streams on them.
      streamMuxers: [yamux({ enableKeepAlive: true, streamOptions: { inactivityTimeout: NO_TIMEOUT } })],
      // Only addresses the application passes to `dial` are dialed (no discovery is configured),
      // so allow all of them: browsers otherwise refuse ws://127.0.0.1 and private networks.
      connectionGater: { denyDialMultiaddr: async () => false },
      ...user,
      privateKey: this.#privateKey,
      addresses: { ...user.addresses, listen: user.addresses?.listen ?? listen },
      services: {
        // gossipsub learns which peers speak it through identify.
        identify: identify(),
        pubsub: gossipsub({
          // Records are signed already; signing every gossip message costs about 5x throughput.
          globalSignaturePolicy: 'StrictNoSign',
          emitSelf: false,
          heartbeatInterval: 200,
          // Best effort, as the contract says: publishing to no one or twice is not an error.
          allowPublishToZeroTopicPeers: true,
          ignoreDuplicatePublishError: true,
          ...this.#init.pubsub
        }),
        ...user.services
      } as Libp2pOptions<Services>['services'],
      start: false
    }
    const node = await createLibp2p<Services>(options)
    this.#log = node.logger.forComponent('redux-p2p-threads:network')
    node.addEventListener('peer:connect', (evt) => this.#emit('peer:connect', { peerId: evt.detail.toString() }))
    node.addEventListener('peer:disconnect', (evt) => {
      const peerId = evt.detail.toString()
      const out = this.#outbound.get(peerId)
      if (out !== undefined) {
        out.stream = undefined
        if (out.pending === 0) this.#outbound.delete(peerId)
      }
      this.#emit('peer:disconnect', { peerId })
    })
    node.services.pubsub.addEventListener('gossipsub:message', (evt: CustomEvent<GossipsubMessage>) => {
      const { msg, propagationSource } = evt.detail
      const from = msg.type === 'signed' ? msg.from.toString() : propagationSource.toString()
      this.#emit('pubsub', { topic: msg.topic, from, bytes: msg.data })
    })
    try {
      await node.handle(this.#protocol, (stream, connection) => this.#onStream(stream, connection), {
        maxInboundStreams: 8,
        maxOutboundStreams: 8
      })
      await node.start()
      for (const topic of this.#validators.keys()) this.#installValidator(node, topic)
      for (const topic of this.#topics) node.services.pubsub.subscribe(topic)
    } catch (err) {
      await Promise.resolve(node.stop()).catch(() => undefined)
      throw err
    }
    this.#node = node
    return node
  }
}

/** What `redux-p2p-threads/libp2p` needs installed (optional peer dependencies); `@libp2p/tcp` and `ws` in Node only. */
const LIBP2P_PACKAGES = ['libp2p', '@libp2p/websockets', '@libp2p/noise', '@libp2p/yamux', '@libp2p/identify', '@libp2p/gossipsub', '@libp2p/tcp']

/**
 * `@libp2p/tcp`, in Node only. A computed specifier: bundlers targeting browsers neither follow
 * nor bundle it, so a browser app need not install it (it could not use TCP anyway).
 */
function loadTcp(): Promise<typeof import('@libp2p/tcp')> {
  const specifier = '@libp2p/tcp'
  return import(/* @vite-ignore */ /* webpackIgnore: true */ specifier) as Promise<typeof import('@libp2p/tcp')>
}

function isWritable(stream: Stream): boolean {
  return stream.status === 'open' && stream.writeStatus === 'writable'
}

function openConnection(node: Node, peerId: string): Connection | undefined {
  let peer
  try {
    peer = peerIdFromString(peerId)
  } catch {
    return undefined // not a peer ID: no connection to it either
  }
  return node.getConnections(peer).find((c) => c.status === 'open')
}

/** Wait until a full stream drains; a stream that closes meanwhile loses what it buffered. */
async function waitDrain(stream: Stream, out: Outbound): Promise<void> {
  try {
    await stream.onDrain()
  } catch {
    if (out.stream === stream) out.stream = undefined
  }
}

/** `varint(length) ‖ bytes`, in one new buffer. */
export function encodeFrame(bytes: Uint8Array): Uint8Array {
  let n = bytes.byteLength
  let prefix = 1
  for (let v = n; v >= 0x80; v = Math.floor(v / 128)) prefix++
  const frame = new Uint8Array(prefix + n)
  let i = 0
  while (n >= 0x80) {
    frame[i++] = (n % 128) | 0x80
    n = Math.floor(n / 128)
  }
  frame[i] = n
  frame.set(bytes, prefix)
  return frame
}


/** Error for a frame whose announced length is over the limit, or a malformed length. */
export class FrameError extends Error {
  override name = 'FrameError'
}

/**
 * Incremental decoder of `varint(length) ‖ bytes` frames. Each frame's body is allocated once at
 * its announced length (checked against the limit first) and filled as chunks arrive, so the
 * decoder never holds more than one frame and copies each byte once.
 */
export class FrameDecoder {
  readonly #max: number
  #length = 0
  #shift = 0
  #body: Uint8Array | undefined
  #filled = 0

  constructor(maxFrameBytes: number) {
    this.#max = maxFrameBytes
  }

  *push(chunk: Uint8Array): Generator<Uint8Array> {
    let i = 0
    while (i < chunk.length) {
      const body = this.#body
      if (body === undefined) {
        const b = chunk[i++] as number
        this.#length += (b & 0x7f) * 2 ** this.#shift
        this.#shift += 7
        if (this.#length > this.#max) throw new FrameError(`frame of ${this.#length}+ bytes exceeds the limit of ${this.#max}`)
        if ((b & 0x80) !== 0) {
          if (this.#shift >= 56) throw new FrameError('frame length varint too long')
          continue
        }
        const length = this.#length
        this.#length = 0
        this.#shift = 0
        if (length === 0) {
          yield new Uint8Array(0)
          continue
        }
        this.#body = new Uint8Array(length)
        this.#filled = 0
        continue
      }
      const n = Math.min(body.length - this.#filled, chunk.length - i)
      body.set(chunk.subarray(i, i + n), this.#filled)
      this.#filled += n
      i += n
      if (this.#filled === body.length) {
        this.#body = undefined
        yield body
      }
    }
  }
}

/** The chunks of a `Uint8Array | Uint8ArrayList` without concatenating them. */
function chunksOf(data: Uint8Array | Iterable<Uint8Array>): Iterable<Uint8Array> {
  return data instanceof Uint8Array ? [data] : data
}
