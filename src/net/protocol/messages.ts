/**
 * The sync protocol's messages, version 2 (DESIGN.md section 6), and their strict codec.
 *
 * Every message is a dag-cbor map with `t` (its type) and `v` (the wire version, {@link WIRE_VERSION}).
 * `hello` and `auth` name no thread: a peer learns which threads another holds only by proving
 * that it holds them too. Every other message names its thread and is taken only from a peer
 * that proved it holds the thread's service key.
 *
 * @packageDocumentation
 */
import * as dagCbor from '@ipld/dag-cbor'
import { multiaddr } from '@multiformats/multiaddr'
import type { CID } from 'multiformats/cid'
import { MalformedMessageError, ThreadsError, TooLargeError, UnsupportedFormatError } from '../../core/errors.js'
import { forkProofFromValue, forkProofToValue, type ForkProof } from '../../core/forkProof.js'
import type { RecordBlocks } from '../../core/record.js'
import { isRecordId } from '../../core/recordId.js'
import { ed25519FromPeerId } from '../../core/peerId.js'
import {
  MAX_ADDR_CHARS,
  MAX_ADDR_PEERS,
  MAX_ADDRS_PER_PEER,
  MAX_ID_CHARS,
  MAX_LOGS,
  MAX_MESSAGE_BYTES,
  MAX_RECORDS_PER_MESSAGE,
  NONCE_BYTES,
  TAG_BYTES,
  WIRE_VERSION
} from '../limits.js'

/** A log head as exchanged: log ID, seq and the head record's identity (DESIGN.md section 3). */
export type HeadEntry = readonly [logId: string, seq: number, id: CID]

/** A peer's addresses as exchanged: peer ID and multiaddr strings, each ending in `/p2p/<peer ID>`. */
export type AddrEntry = readonly [peerId: string, addrs: readonly string[]]

/** The messages of the sync protocol, version 2. `thread` is the binary thread ID. */
export type SyncMessage =
  /** Sent by each side when a connection opens: the nonce the other side's auth tags must bind. */
  | { readonly t: 'hello'; readonly nonce: Uint8Array }
  /**
   * A claim of membership: an HMAC under one thread's service key over both hello nonces, both
   * peer IDs and the thread ID (see `auth.ts`). It names no thread; the recipient tries the threads
   * it holds, and a tag that matches none is ignored without a word. `nonce` repeats the sender's
   * hello nonce (not a secret), so an auth that overtakes its hello, or whose hello was lost, can
   * be checked at once.
   */
  | { readonly t: 'auth'; readonly tag: Uint8Array; readonly nonce: Uint8Array }
  /**
   * Every log head of the thread as the sender has it, the addresses it knows of the thread's
   * peers (its own first; in rounds and after authentication only), and whether it asks for the
   * receiver's heads in return (`reply`: round heads ask, answers and announcements do not).
   */
  | {
      readonly t: 'heads'
      readonly thread: Uint8Array
      readonly heads: readonly HeadEntry[]
      readonly addrs: readonly AddrEntry[]
      readonly reply: boolean
    }
  /** Ask for records `from`.. of a log, at most `limit`. */
  | { readonly t: 'pull'; readonly thread: Uint8Array; readonly log: string; readonly from: number; readonly limit: number }
  /** Records of one log, oldest first: a pull's answer (`more`: the log goes on) or a push. */
  | {
      readonly t: 'records'
      readonly thread: Uint8Array
      readonly log: string
      readonly records: readonly RecordBlocks[]
      readonly more: boolean
      readonly push: boolean
    }
  /** Proof that a writer forked its log (two signed statements for one seq): every peer freezes the log. */
  | { readonly t: 'fork'; readonly thread: Uint8Array; readonly proof: ForkProof }

/** The types of thread messages: they name a thread and need a peer that proved it. */
export type ThreadMessage = Extract<SyncMessage, { readonly thread: Uint8Array }>

type Fields = Record<string, unknown>

function fail(why: string): never {
  throw new MalformedMessageError(`sync message: ${why}`)
}

function bytesField(m: Fields, key: string, min: number, max: number): Uint8Array {
  const v = m[key]
  if (!(v instanceof Uint8Array) || v.length < min || v.length > max) fail(`\`${key}\` must be ${min === max ? min : `${min} to ${max}`} bytes`)
  return v
}

function boolField(m: Fields, key: string): boolean {
  const v = m[key]
  if (typeof v !== 'boolean') fail(`\`${key}\` must be a boolean`)
  return v
}

function uintField(m: Fields, key: string, min: number): number {
  const v = m[key]
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < min) fail(`\`${key}\` must be an integer of at least ${min}`)
  return v
}

/**
 * A log or peer ID: an Ed25519 peer ID in its one canonical string form (base58btc, `12D3KooW…`).
 *
 * @remarks
 * Checked by form only. Whether the key is a usable Ed25519 point (not of small order) is checked
 * where a key is used (`verifierForLog`, once per log): that check costs about 1.5 ms a key, and a
 * heads message may name 10,000 logs. The canonical form matters: the same key written another
 * way (a CID string) would otherwise be a second name for the same log.
 */
function peerIdValue(v: unknown, what: string): string {
  if (typeof v !== 'string' || v.length === 0 || v.length > MAX_ID_CHARS) fail(`${what} must be a peer ID string`)
  // The one standard spelling of an Ed25519 key: not a CID string, not another encoding of the key.
  const canonical = ed25519FromPeerId(v) !== undefined
  if (!canonical) fail(`${what} must be an Ed25519 peer ID in base58btc`)
  return v
}

function recordsField(m: Fields): RecordBlocks[] {
  const v = m.records
  if (!Array.isArray(v) || v.length > MAX_RECORDS_PER_MESSAGE) fail(`\`records\` must be a list of at most ${MAX_RECORDS_PER_MESSAGE}`)
  return v.map((r: unknown) => {
    if (!Array.isArray(r) || r.length !== 4 || !r.every((b) => b instanceof Uint8Array)) fail('a record is a list of four byte strings')
    const [record, event, header, body] = r as [Uint8Array, Uint8Array, Uint8Array, Uint8Array]
    return { record, event, header, body }
  })
}

function headsField(m: Fields): HeadEntry[] {
  const h = m.heads
  if (!Array.isArray(h) || h.length > MAX_LOGS) fail(`\`heads\` must be a list of at most ${MAX_LOGS}`)
  const seen = new Set<string>()
  return h.map((e: unknown): HeadEntry => {
    if (!Array.isArray(e) || e.length !== 3) fail('a head is [logId, seq, id]')
    const log = peerIdValue(e[0], 'a head log ID')
    if (seen.has(log)) fail('a log is listed twice in `heads`')
    seen.add(log)
    const seq = e[1] as unknown
    if (typeof seq !== 'number' || !Number.isSafeInteger(seq) || seq < 1) fail('a head seq is a positive integer')
    if (!isRecordId(e[2])) fail('a head id is a record identity (CIDv1 raw sha2-256)')
    return [log, seq, e[2]]
  })
}

/**
 * A learnt address must parse, and its last component must be `/p2p/<peer>` of the entry's own
 * peer: an address that would dial someone else is not that peer's address.
 */
function addrValue(peer: string, a: unknown): string {
  if (typeof a !== 'string' || a.length === 0 || a.length > MAX_ADDR_CHARS) fail(`an address is a string of at most ${MAX_ADDR_CHARS} characters`)
  let last: { name: string; value?: string | undefined } | undefined
  try {
    last = multiaddr(a).getComponents().at(-1)
  } catch {
    fail('an address must be a multiaddr')
  }
  if (last?.name !== 'p2p' || last.value !== peer) fail("an address must end in /p2p/<the entry's peer ID>")
  return a
}

function addrsField(m: Fields): AddrEntry[] {
  const a = m.addrs
  if (!Array.isArray(a) || a.length > MAX_ADDR_PEERS) fail(`\`addrs\` must be a list of at most ${MAX_ADDR_PEERS}`)
  const seen = new Set<string>()
  return a.map((e: unknown): AddrEntry => {
    if (!Array.isArray(e) || e.length !== 2) fail('an addrs entry is [peerId, [addr…]]')
    const peer = peerIdValue(e[0], 'an addrs peer ID')
    if (seen.has(peer)) fail('a peer is listed twice in `addrs`')
    seen.add(peer)
    const list = e[1] as unknown
    if (!Array.isArray(list) || list.length > MAX_ADDRS_PER_PEER) fail(`a peer has at most ${MAX_ADDRS_PER_PEER} addresses`)
    return [peer, list.map((x: unknown) => addrValue(peer, x))]
  })
}

function toWire(m: SyncMessage): Fields {
  switch (m.t) {
    case 'records':
      return { ...m, v: WIRE_VERSION, records: m.records.map((r) => [r.record, r.event, r.header, r.body]) }
    case 'fork':
      return { ...m, v: WIRE_VERSION, proof: forkProofToValue(m.proof) }
    default:
      return { ...m, v: WIRE_VERSION }
  }
}

/**
 * Encode a message of this peer.
 *
 * @throws {@link TooLargeError} past {@link MAX_MESSAGE_BYTES}: the caller split its records
 * wrongly, which is a bug to report, never to drop silently.
 *
 * @example
 * ```ts
 * const bytes = encodeMessage({ t: 'pull', thread: threadId.bytes, log, from: 1, limit: 500 })
 * ```
 */
export function encodeMessage(m: SyncMessage): Uint8Array {
  const bytes = dagCbor.encode(toWire(m))
  if (bytes.length > MAX_MESSAGE_BYTES) throw new TooLargeError(`a ${m.t} message of ${bytes.length} bytes is over the ${MAX_MESSAGE_BYTES}-byte limit`)
  return bytes
}

/**
 * Decode a message from the network. Anything but a well-formed message of this version is refused
 * with {@link MalformedMessageError}, {@link TooLargeError} or {@link UnsupportedFormatError};
 * nothing else escapes. Log and peer IDs are checked to be Ed25519 peer IDs, head identities to be
 * record identities, and addresses to parse and end in their peer's `/p2p/`.
 *
 * @example
 * ```ts
 * const m = decodeMessage(bytes)
 * if (m.t === 'heads') for (const [log, seq, id] of m.heads) …
 * ```
 */
export function decodeMessage(bytes: Uint8Array): SyncMessage {
  if (!(bytes instanceof Uint8Array)) fail('not bytes')
  if (bytes.length > MAX_MESSAGE_BYTES) throw new TooLargeError(`a message of ${bytes.length} bytes is over the ${MAX_MESSAGE_BYTES}-byte limit`)
  let value: unknown
  try {
    value = dagCbor.decode(bytes)
  } catch (cause) {
    throw new MalformedMessageError('sync message is not valid dag-cbor', {}, { cause })
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value) || value instanceof Uint8Array) fail('not a map')
  const m = value as Fields
  if (m.v !== WIRE_VERSION) {
    throw new UnsupportedFormatError(`sync message of version ${typeof m.v === 'number' ? m.v : typeof m.v}; this peer speaks version ${WIRE_VERSION}`)
  }
  switch (m.t) {
    case 'hello':
      return { t: 'hello', nonce: bytesField(m, 'nonce', NONCE_BYTES, NONCE_BYTES) }
    case 'auth':
      return { t: 'auth', tag: bytesField(m, 'tag', TAG_BYTES, TAG_BYTES), nonce: bytesField(m, 'nonce', NONCE_BYTES, NONCE_BYTES) }
    case 'heads':
    case 'pull':
    case 'records':
    case 'fork':
      break
    default:
      // Not String(m.t): a decoded map with its own `toString` key would throw a TypeError.
      return fail(`unknown type ${typeof m.t === 'string' ? JSON.stringify(m.t).slice(0, 40) : typeof m.t}`)
  }
  const thread = bytesField(m, 'thread', 18, 80)
  switch (m.t) {
    case 'heads':
      return { t: 'heads', thread, heads: headsField(m), addrs: addrsField(m), reply: boolField(m, 'reply') }
    case 'pull': {
      const limit = uintField(m, 'limit', 1)
      if (limit > MAX_RECORDS_PER_MESSAGE) fail(`\`limit\` must be 1 to ${MAX_RECORDS_PER_MESSAGE}`)
      return { t: 'pull', thread, log: peerIdValue(m.log, '`log`'), from: uintField(m, 'from', 1), limit }
    }
    case 'records':
      return { t: 'records', thread, log: peerIdValue(m.log, '`log`'), records: recordsField(m), more: boolField(m, 'more'), push: boolField(m, 'push') }
    case 'fork': {
      let proof: ForkProof
      try {
        proof = forkProofFromValue(m.proof)
      } catch (cause) {
        throw new MalformedMessageError(`sync message: \`proof\` is not a fork proof (${cause instanceof ThreadsError ? cause.message : 'malformed'})`, {}, { cause })
      }
      peerIdValue(proof.logId, 'the fork proof log ID')
      return { t: 'fork', thread, proof }
    }
  }
  return fail('unknown type')
}

/** True for the messages that name a thread (everything but `hello` and `auth`). */
export function isThreadMessage(m: SyncMessage): m is ThreadMessage {
  return m.t !== 'hello' && m.t !== 'auth'
}
