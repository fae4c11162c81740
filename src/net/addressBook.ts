/**
 * The logstore's address book as the sync service sees it: keyed by thread ID (REVIEW.md P6:
 * storage's interned thread numbers stay behind this one adapter, never in the protocol's code).
 *
 * @packageDocumentation
 */
import type { Logstore } from '../store/logstore/logstore.js'
import type { SyncAddressBook } from './syncTarget.js'

/**
 * @example
 * ```ts
 * const sync = new SyncService({ network, host, addrBook: logstoreAddressBook(eventStore.logstore) })
 * ```
 */
export function logstoreAddressBook(logstore: Logstore): SyncAddressBook {
  const n = (threadId: string): string => logstore.getThread(threadId).n
  return {
    addrs: (threadId, peerId) => logstore.addrs.addrs(n(threadId), peerId),
    addAddrs: (threadId, peerId, addrs, ttl, limits) => logstore.addrs.addAddrs(n(threadId), peerId, addrs, ttl, limits),
    clearAddrs: (threadId, peerId) => logstore.addrs.clearAddrs(n(threadId), peerId),
    peers: (threadId) => logstore.addrs.peers(n(threadId))
  }
}
