import { base64url } from 'multiformats/bases/base64'

/**
 * The key layout of the event store and logstore in a storage adapter. Keys are short on
 * purpose: a record costs one entry, so every byte of its key is a byte per event. Threads
 * and logs are interned to small base36 numbers (`['t', <thread id>]` and
 * `['l', <thread n>, <log id>]` map them).
 */
export const keys = {
  /** This peer's identity: the seed of its log key (one per storage). */
  identity: (): string[] => ['i'],
  /** Counters for interned numbers. */
  counters: (): string[] => ['n'],
  /** Thread entry: number, keys and variant. */
  thread: (threadId: string): string[] => ['t', threadId],
  threads: (): string[] => ['t'],
  /** Log entry of a thread: number, and the seed for this peer's own logs. */
  log: (t: string, logId: string): string[] => ['l', t, logId],
  logs: (t: string): string[] => ['l', t],
  /** Head of a log: the commit point of every append. */
  head: (t: string, l: string): string[] => ['h', t, l],
  heads: (t: string): string[] => ['h', t],
  /** Addresses of a log, with expiry times. */
  addrs: (t: string, logId: string): string[] => ['a', t, logId],
  /** Application metadata of a thread. */
  meta: (t: string, name: string): string[] => ['d', t, name],
  metas: (t: string): string[] => ['d', t],
  /** A record of a log at `seq` (fixed-width hex so keys sort by seq). */
  record: (t: string, l: string, seq: number): string[] => ['r', t, l, seqKey(seq)],
  records: (t: string, l: string): string[] => ['r', t, l],
  /** Index from a record identity's digest (first 12 bytes) to where the record lives. */
  id: (digest: Uint8Array): string[] => ['c', base64url.baseEncode(digest.subarray(0, 12))],
  /** A probe written when storage is tried again after a failure. */
  probe: (): string[] => ['p'],
  /** Snapshots of thread state (engine layer). */
  snapshot: (t: string, name: string): string[] => ['s', t, name]
} as const

/** `seq` as 10 hex digits: sorts numerically up to 2^40 records per log. */
export function seqKey(seq: number): string {
  return seq.toString(16).padStart(10, '0')
}

/** Interned numbers as base36 strings. */
export function internKey(n: number): string {
  return n.toString(36)
}
