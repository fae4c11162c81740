/**
 * The sync protocol's codec and its wire limits, in one import for tools and tests (the codec
 * lives in `protocol/messages.ts`, every bound in `limits.ts`).
 *
 * @packageDocumentation
 */
export { decodeMessage, encodeMessage, isThreadMessage } from './protocol/messages.js'
export type { AddrEntry, HeadEntry, SyncMessage, ThreadMessage } from './protocol/messages.js'
export {
  DEFAULT_PULL_LIMIT,
  MAX_ADDR_PEERS,
  MAX_ADDRS_PER_PEER,
  MAX_LOGS,
  MAX_MESSAGE_BYTES,
  MAX_RECORDS_PER_MESSAGE,
  NONCE_BYTES,
  SYNC_PROTOCOL,
  TAG_BYTES,
  WIRE_VERSION
} from './limits.js'
