/**
 * Gossip of a thread's records on a topic only members can name, sealed so only members can read
 * it, and validated before it is forwarded (DESIGN.md section 6; issue 7 sections 4 and 5).
 *
 * The adapter asks the sync service about every message on a thread's topic before it delivers or
 * forwards it (`NetworkAdapter.setTopicValidator`): opened, decoded and ingested, it is `accept`ed
 * (forwarded), `ignore`d (a duplicate: not forwarded, nobody blamed) or `reject`ed (the
 * propagation source is struck: since honest peers validate before they forward, that is the peer
 * that made it).
 *
 * @packageDocumentation
 */
import { MalformedMessageError, ThreadsError, type ErrorContext } from '../core/errors.js'
import type { Busy } from './busy.js'
import type { NetworkAdapter, TopicValidatorResult } from './networkAdapter.js'
import { decodeMessage, encodeMessage, type SyncMessage } from './protocol/messages.js'
import { gossipKey, gossipTopic, openGossip, sealGossip } from './protocol/gossipEnvelope.js'
import type { SyncTarget } from './syncTarget.js'

/** A verdict on gossip, with the error to blame the propagation source for when it is `reject`. */
export type GossipVerdict = { readonly result: 'accept' | 'ignore' } | { readonly result: 'reject'; readonly error: ThreadsError }

/** What the gossip layer needs of the sync service. */
export interface GossipHost {
  /** Check and take a `records` message that arrived as gossip (ingest, announce, pull gaps). */
  onGossipRecords(from: string | undefined, target: SyncTarget, m: Extract<SyncMessage, { t: 'records' }>): Promise<GossipVerdict>
  /** Blame the propagation source of rejected gossip. */
  blame(from: string, error: ThreadsError): void
  /** Report a failure that is this peer's own (an encoding bug). */
  fail(error: ThreadsError): void
  /** Validations under way count as sync work (`idle()` waits for them). */
  readonly busy: Busy
}

interface TopicEntry {
  readonly target: SyncTarget
  readonly key: Uint8Array
}

/**
 * @example
 * ```ts
 * const gossip = new Gossip(network, host)
 * gossip.add(engine)                     // subscribe, validate every message on its topic
 * gossip.publish(engine, recordsMessage) // sealed, on the topic
 * ```
 */
export class Gossip {
  readonly #net: NetworkAdapter
  readonly #host: GossipHost
  readonly #byTopic = new Map<string, TopicEntry>()
  readonly #topicOf = new Map<string, string>()

  constructor(network: NetworkAdapter, host: GossipHost) {
    this.#net = network
    this.#host = host
  }

  /** True when the adapter validates before it forwards (else `pubsub` events are handled here, after the fact). */
  get validatesBeforeForwarding(): boolean {
    return typeof this.#net.setTopicValidator === 'function'
  }

  /** Subscribe to a thread's topic and validate everything on it. */
  add(target: SyncTarget): void {
    const service = target.thread.key.service
    const topic = gossipTopic(service, target.thread.id.bytes)
    this.#byTopic.set(topic, { target, key: gossipKey(service, target.thread.id.bytes) })
    this.#topicOf.set(target.id, topic)
    this.#net.setTopicValidator?.(topic, (from, bytes) => {
      const verdict = this.validate(topic, from, bytes)
      void this.#host.busy.track(verdict)
      return verdict
    })
    this.#net.subscribe(topic)
  }

  /** Stop gossiping a thread: unsubscribe from its topic. */
  remove(threadId: string): void {
    const topic = this.#topicOf.get(threadId)
    if (topic === undefined) return
    this.#net.setTopicValidator?.(topic, undefined)
    this.#net.unsubscribe(topic)
    this.#byTopic.delete(topic)
    this.#topicOf.delete(threadId)
  }

  /** Unsubscribe from every topic. */
  stop(): void {
    for (const topic of this.#byTopic.keys()) {
      this.#net.setTopicValidator?.(topic, undefined)
      this.#net.unsubscribe(topic)
    }
  }

  /** The thread's topic. */
  topicOf(threadId: string): string | undefined {
    return this.#topicOf.get(threadId)
  }

  /** True when the topic reaches a peer not in `direct` (one this peer has no session with for the thread). */
  reachesBeyond(threadId: string, direct: readonly string[]): boolean {
    const topic = this.#topicOf.get(threadId)
    if (topic === undefined) return false
    const set = new Set(direct)
    return this.#net.topicPeers(topic).some((p) => !set.has(p))
  }

  /** Seal and publish a message on the thread's topic (best effort). */
  publish(target: SyncTarget, m: SyncMessage): void {
    const topic = this.#topicOf.get(target.id)
    const entry = topic === undefined ? undefined : this.#byTopic.get(topic)
    if (topic === undefined || entry === undefined) return
    let sealed: Uint8Array
    try {
      sealed = sealGossip(entry.key, encodeMessage(m))
    } catch (e) {
      this.#host.fail(e instanceof ThreadsError ? e : new ThreadsError(`gossip could not be sealed: ${String(e)}`, { threadId: target.id }, { cause: e }))
      return
    }
    this.#net.publish(topic, sealed).catch((e: unknown) => this.#host.fail(new ThreadsError(`gossip publish failed: ${String(e)}`, { threadId: target.id }, { cause: e })))
  }

  /** Handle a `pubsub` event of an adapter that does not validate before forwarding. */
  async onPubsub(topic: string, from: string | undefined, bytes: Uint8Array): Promise<void> {
    if (this.validatesBeforeForwarding) return
    await this.validate(topic, from, bytes)
  }

  /** The validator of a topic: open, decode, ingest; blame the propagation source of bad input. */
  async validate(topic: string, from: string | undefined, bytes: Uint8Array): Promise<TopicValidatorResult> {
    const entry = this.#byTopic.get(topic)
    if (entry === undefined) return 'ignore'
    const verdict = await this.#check(entry, from, bytes)
    if (verdict.result === 'reject' && from !== undefined) this.#host.blame(from, verdict.error)
    return verdict.result
  }

  async #check(entry: TopicEntry, from: string | undefined, bytes: Uint8Array): Promise<GossipVerdict> {
    let m: SyncMessage
    try {
      m = decodeMessage(openGossip(entry.key, bytes))
    } catch (e) {
      return { result: 'reject', error: aboutThread(e, entry.target.id) }
    }
    const threadBytes = entry.target.thread.id.bytes
    if (m.t !== 'records' || !m.push || m.more || !sameBytes(m.thread, threadBytes)) {
      return { result: 'reject', error: new MalformedMessageError(`gossip carries pushed records of its own thread only, not a ${m.t} message`, { threadId: entry.target.id }) }
    }
    return this.#host.onGossipRecords(from, entry.target, m)
  }
}

/**
 * The error, as one about the thread whose topic the message came on (so it reaches that thread's
 * status, not every thread's), keeping its class and its cause.
 */
function aboutThread(e: unknown, threadId: string): ThreadsError {
  if (!(e instanceof ThreadsError)) return new MalformedMessageError(`gossip: ${String(e)}`, { threadId }, { cause: e })
  if (e.threadId !== undefined) return e
  const Named = e.constructor as new (message: string, ctx: ErrorContext, options?: { cause?: unknown }) => ThreadsError
  return new Named(`gossip: ${e.message}`, { threadId }, { cause: e })
}

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false
  return true
}
