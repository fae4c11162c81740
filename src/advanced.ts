/**
 * `redux-p2p-threads/advanced`: the formats, the engine and the sync pieces, for tool authors
 * (inspectors, followers, importers, other transports). Application code needs only the root
 * entry; everything here may change between minor versions.
 *
 * @packageDocumentation
 */

// core: formats, keys, records, errors (pure, no I/O)
export { getCrypto, setCrypto, nobleCrypto, createNodeCrypto } from './core/crypto/index.js'
export type { NodeCryptoModule } from './core/crypto/index.js'
export type { CryptoProvider, SigningKey, VerifyingKey } from './core/crypto/index.js'
export { ThreadId, Variant, THREAD_ID_VERSION, MIN_RANDOM_BYTES, DEFAULT_RANDOM_BYTES } from './core/threadId.js'
export { threadAddr, parseThreadAddr, registerThreadProtocol, THREAD_PROTOCOL_CODE } from './core/threadAddr.js'
export {
  generateLogKey,
  logKeyFromSeed,
  logIdFromPublicKey,
  publicKeyFromLogId,
  createThreadKey,
  threadKeyToString,
  parseThreadKey,
  threadKeyToBytes,
  threadKeyFromBytes,
  followKey,
  sealTo,
  openSealed
} from './core/keys.js'
export type { LogKey, ThreadKey } from './core/keys.js'
export { encodeBlock, blockOf, cidOfDigest } from './core/block.js'
export type { Block } from './core/block.js'
export {
  createRecord,
  verifyRecord,
  verifyChain,
  openEvent,
  recordBlocks,
  equivocationBetween,
  linksHead,
  MAX_BODY_BYTES
} from './core/record.js'
export type { LogRecord, RecordBlocks, LogHead, EventHeader, NewRecord, VerifyOptions, RecordContext } from './core/record.js'
export { RECORD_FORMAT, recordIdOf, statementBytes } from './core/recordId.js'
export type { RecordStatement } from './core/recordId.js'
export { checkForkProof, encodeForkProof, decodeForkProof } from './core/forkProof.js'
export type { ForkProof, SignedStatement } from './core/forkProof.js'
export { pad, unpad, paddedLength } from './core/padding.js'
export { encodeCommand, decodeCommand } from './core/command.js'
export type { Command } from './core/command.js'

// store: storage contract, logstore, event store
export type { StorageAdapter, StorageKey, StorageOp, StorageEntry, RangeOptions } from './store/storageAdapter.js'
export { Logstore } from './store/logstore/logstore.js'
export type { ThreadInfo, LogInfo } from './store/logstore/logstore.js'
export { AddrBook, PERMANENT_TTL } from './store/logstore/addrBook.js'
export type { AddrEntry } from './store/logstore/addrBook.js'
export { MetadataBook } from './store/logstore/metadataBook.js'
export { EventStore } from './store/eventStore.js'
export type { StoredEvent, SeqRange } from './store/eventStore.js'
export { exportThreadCar, exportThreadCarBytes, importThreadCar } from './store/car.js'
export type { ThreadManifest, ImportProgress, ImportOptions, ImportResult, ExportOptions } from './store/car.js'

// engine: total order, timeline, snapshots
export { compareOrder } from './engine/threadEvent.js'
export type { EventMeta, ThreadEvent, OrderKey } from './engine/threadEvent.js'
export { Timeline, BehindBaseError } from './engine/timeline.js'
export type { Fold, InsertResult } from './engine/timeline.js'
export { DEFAULT_CHECKPOINTS } from './engine/checkpointPolicy.js'
export type { CheckpointPolicy } from './engine/checkpointPolicy.js'
export { ThreadEngine } from './engine/threadEngine.js'
export type { Projection, Progress, ThreadEngineOptions, CommandResult, IngestResult, EngineEvents } from './engine/threadEngine.js'

// redux internals
export { engineOf } from './redux/threadHandle.js'
export { projectionOf, shareStates } from './redux/projection.js'
export type { SliceStates } from './redux/projection.js'
export { eventActionOf } from './redux/eventAction.js'
export { INVITE_ADDR_TTL } from './redux/threads.js'
// rx: status
export type { ThreadStatus, LogStatus, StatusError } from './rx/threadStatus.js'

// net: sync protocol, network contract
export type { NetworkAdapter, NetworkEvents, NetworkFactory, NetworkComponents, NetworkListener, TopicValidator } from './net/networkAdapter.js'
export { SyncService, authTag, LEARNT_ADDR_TTL } from './net/syncService.js'
export { logstoreAddressBook } from './net/addressBook.js'
export * as limits from './net/limits.js'
export type { SyncTarget, SyncAddressBook } from './net/syncTarget.js'
// Named by the declarations of Peer (its internals' types): exported so a consumer's declaration
// emit can name them (TypeScript's TS2742 otherwise).
export type { PeerRuntime } from './redux/runtime.js'
export type { ThreadLifecycle } from './redux/threads.js'
export type { ThreadRegistry } from './redux/registry.js'
export type { SyncHost, SyncOptions, SyncEvents } from './net/syncService.js'
export { encodeMessage, decodeMessage, MAX_MESSAGE_BYTES, MAX_RECORDS_PER_MESSAGE } from './net/messages.js'
export type { SyncMessage, HeadEntry } from './net/messages.js'

// acl: invites and joins
export { createInvite, openInvite, INVITE_PREFIX } from './acl/invite.js'
export type { Invite, Role } from './acl/invite.js'
