/**
 * redux-threads: Textile's Threads (an event-sourced, end-to-end encrypted, peer-to-peer
 * database over IPLD) as Redux middleware and bindings.
 *
 * @packageDocumentation
 */

// core: formats, keys, records, errors (pure, no I/O)
export * from './core/errors.js'
export { getCrypto, setCrypto, nobleCrypto, createNodeCrypto } from './core/crypto/index.js'
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

// redux: slices, peer, middleware
export { createThreadSlice, isThreadSlice } from './redux/createThreadSlice.js'
export type { ThreadSlice, ThreadSliceLike, CreateThreadSliceOptions } from './redux/createThreadSlice.js'
export { createPeer, durable } from './redux/createPeer.js'
export type { Peer, PeerOptions, Thread, ThreadOptions, AppliedEvent, SliceStates } from './redux/createPeer.js'
export { threadApplied, eventOf } from './redux/appliedAction.js'
export type { AppliedPayload, AppliedReason, EventAction, ThreadAction } from './redux/appliedAction.js'

// rx: status
export type { ThreadStatus, LogStatus, StatusError } from './rx/threadStatus.js'

// net: sync protocol, network contract
export type { NetworkAdapter, NetworkEvents, NetworkFactory, NetworkComponents, NetworkListener } from './net/networkAdapter.js'
export { SyncService, authMac, LEARNT_ADDR_TTL } from './net/syncService.js'
export type { SyncHost, SyncOptions, SyncEvents } from './net/syncService.js'
export { encodeMessage, decodeMessage, MAX_MESSAGE_BYTES, MAX_RECORDS_PER_MESSAGE } from './net/messages.js'
export type { SyncMessage, HeadEntry } from './net/messages.js'

// acl: invites and joins
export { createInvite, openInvite, INVITE_PREFIX } from './acl/invite.js'
export type { Invite, Role } from './acl/invite.js'
export { INVITE_ADDR_TTL } from './redux/createPeer.js'
export type { InviteOptions } from './redux/createPeer.js'
