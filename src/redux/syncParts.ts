/**
 * The sync service, loaded by `PeerRuntime.start()` only when the peer has a network: a peer that
 * exchanges records by hand or as CAR files (or one that never syncs) does not carry it.
 */
export { SyncService } from '../net/syncService.js'
export { logstoreAddressBook } from '../net/addressBook.js'
