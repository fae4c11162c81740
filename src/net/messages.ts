import * as dagCbor from '@ipld/dag-cbor'
import { MalformedMessageError, TooLargeError } from '../core/errors.js'
import type { RecordBlocks } from '../core/record.js'

/** Largest message accepted or sent (bytes). A pull page stops adding records before this. */
export const MAX_MESSAGE_BYTES = 8 << 20
/** Most records in one message. */
export const MAX_RECORDS_PER_MESSAGE = 1000
/** Records a pull asks for by default. */
export const DEFAULT_PULL_LIMIT = 500
/** Bytes of an auth nonce and MAC. */
export const NONCE_BYTES = 16
export const MAC_BYTES = 32
/** Most logs a heads message may list. */
export const MAX_LOGS = 10_000

/** A peer's addresses as exchanged: peer ID and multiaddr strings. */
export type AddrEntry = readonly [peerId: string, addrs: readonly string[]]
/** Most peers with addresses in one heads message, and addresses per peer. */
export const MAX_ADDR_PEERS = 256
export const MAX_ADDRS_PER_PEER = 16

/** A log head as exchanged: log ID and seq. */
export type HeadEntry = readonly [logId: string, seq: number]

/**
 * The messages of the sync protocol (DESIGN.md section 6), each a dag-cbor map with a `t` field.
 * `thread` is the binary thread ID.
 */
export type SyncMessage =
  /** Challenge: prove you hold the thread's service key. */
  | { readonly t: 'auth'; readonly thread: Uint8Array; readonly nonce: Uint8Array }
  /** Proof of the challenge, and a challenge back. */
  | { readonly t: 'auth-reply'; readonly thread: Uint8Array; readonly mac: Uint8Array; readonly nonce: Uint8Array }
  /** Proof of the counter-challenge. */
  | { readonly t: 'auth-done'; readonly thread: Uint8Array; readonly mac: Uint8Array }
  /** Refusal: this peer does not hold the thread, or the proof failed. */
  | { readonly t: 'nack'; readonly thread: Uint8Array; readonly reason: string }
  /**
   * Every log head of the thread as the sender has it, and the addresses it knows of the
   * thread's peers (its own first), so peers find each other beyond the one that invited them.
   */
  | { readonly t: 'heads'; readonly thread: Uint8Array; readonly heads: readonly HeadEntry[]; readonly addrs: readonly AddrEntry[] }
  /** Ask for records `from`.. of a log, at most `limit`. */
  | { readonly t: 'pull'; readonly thread: Uint8Array; readonly log: string; readonly from: number; readonly limit: number }
  /** Records of one log, oldest first: a pull's answer (`more`: the log goes on) or a push. */
  | { readonly t: 'records'; readonly thread: Uint8Array; readonly log: string; readonly records: readonly RecordBlocks[]; readonly more: boolean; readonly push: boolean }

type Fields = Record<string, unknown>

function fail(why: string): never {
  throw new MalformedMessageError(`sync message: ${why}`)
}

function bytesField(m: Fields, key: string, min: number, max: number): Uint8Array {
  const v = m[key]
  if (!(v instanceof Uint8Array) || v.length < min || v.length > max) fail(`\`${key}\` must be ${min === max ? min : `${min} to ${max}`} bytes`)
  return v
}

function stringField(m: Fields, key: string, max: number): string {
  const v = m[key]
  if (typeof v !== 'string' || v.length === 0 || v.length > max) fail(`\`${key}\` must be a string of 1 to ${max} characters`)
  return v
}

function uintField(m: Fields, key: string): number {
  const v = m[key]
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 0) fail(`\`${key}\` must be a non-negative integer`)
  return v
}

function recordsField(m: Fields): RecordBlocks[] {
  const v = m.records
  if (!Array.isArray(v) || v.length > MAX_RECORDS_PER_MESSAGE) fail(`\`records\` must be a list of at most ${MAX_RECORDS_PER_MESSAGE}`)
  return v.map((r: unknown) => {
    if (!Array.isArray(r) || r.length !== 4 || !r.every((b) => b instanceof Uint8Array)) fail('a record is a list of four byte strings')
    const [record, event, header, body] = r as Uint8Array[]
    return { record, event, header, body } as RecordBlocks
  })
}

/** Encode a message; throws {@link TooLargeError} past {@link MAX_MESSAGE_BYTES}. */
export function encodeMessage(m: SyncMessage): Uint8Array {
  const wire = m.t === 'records' ? { ...m, records: m.records.map((r) => [r.record, r.event, r.header, r.body]) } : m
  const bytes = dagCbor.encode(wire)
  if (bytes.length > MAX_MESSAGE_BYTES) throw new TooLargeError(`a ${m.t} message of ${bytes.length} bytes is over the ${MAX_MESSAGE_BYTES}-byte limit`)
  return bytes
}

/**
 * Decode a message from the network. Anything but a well-formed message of the protocol is
 * refused with {@link MalformedMessageError} (or {@link TooLargeError}); nothing else escapes.
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
  const thread = bytesField(m, 'thread', 18, 80)
  switch (m.t) {
    case 'auth':
      return { t: 'auth', thread, nonce: bytesField(m, 'nonce', NONCE_BYTES, NONCE_BYTES) }
    case 'auth-reply':
      return { t: 'auth-reply', thread, mac: bytesField(m, 'mac', MAC_BYTES, MAC_BYTES), nonce: bytesField(m, 'nonce', NONCE_BYTES, NONCE_BYTES) }
    case 'auth-done':
      return { t: 'auth-done', thread, mac: bytesField(m, 'mac', MAC_BYTES, MAC_BYTES) }
    case 'nack':
      return { t: 'nack', thread, reason: stringField(m, 'reason', 200) }
    case 'heads': {
      const h = m.heads
      if (!Array.isArray(h) || h.length > MAX_LOGS) fail(`\`heads\` must be a list of at most ${MAX_LOGS}`)
      const heads = h.map((e: unknown): HeadEntry => {
        if (!Array.isArray(e) || e.length !== 2 || typeof e[0] !== 'string' || e[0].length > 200) fail('a head is [logId, seq]')
        const seq = e[1] as unknown
        if (typeof seq !== 'number' || !Number.isSafeInteger(seq) || seq < 0) fail('a head seq is a non-negative integer')
        return [e[0], seq]
      })
      const a = m.addrs ?? []
      if (!Array.isArray(a) || a.length > MAX_ADDR_PEERS) fail(`\`addrs\` must be a list of at most ${MAX_ADDR_PEERS}`)
      const addrs = a.map((e: unknown): AddrEntry => {
        if (!Array.isArray(e) || e.length !== 2 || typeof e[0] !== 'string' || e[0].length > 200) fail('an addrs entry is [peerId, [addr…]]')
        const list = e[1] as unknown
        if (!Array.isArray(list) || list.length > MAX_ADDRS_PER_PEER || !list.every((x) => typeof x === 'string' && x.length <= 1000)) {
          fail(`a peer has at most ${MAX_ADDRS_PER_PEER} addresses, each a string`)
        }
        return [e[0], list as string[]]
      })
      return { t: 'heads', thread, heads, addrs }
    }
    case 'pull': {
      const limit = uintField(m, 'limit')
      if (limit < 1 || limit > MAX_RECORDS_PER_MESSAGE) fail(`\`limit\` must be 1 to ${MAX_RECORDS_PER_MESSAGE}`)
      const from = uintField(m, 'from')
      if (from < 1) fail('`from` starts at 1')
      return { t: 'pull', thread, log: stringField(m, 'log', 200), from, limit }
    }
    case 'records': {
      if (typeof m.more !== 'boolean' || typeof m.push !== 'boolean') fail('`more` and `push` must be booleans')
      return { t: 'records', thread, log: stringField(m, 'log', 200), records: recordsField(m), more: m.more, push: m.push }
    }
    default:
      // Not String(m.t): a decoded map with its own `toString` key would throw a TypeError.
      return fail(`unknown type ${typeof m.t === 'string' ? JSON.stringify(m.t).slice(0, 40) : typeof m.t}`)
  }
}
