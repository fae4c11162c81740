/**
 * Gossip that only members can name or read (DESIGN.md section 6): a thread's pubsub topic and
 * the key that seals its gossip are both derived from the thread's service key, so a peer without
 * the key can neither tell which topic belongs to which thread nor read what is published on it.
 *
 * @packageDocumentation
 */
import { base32 } from 'multiformats/bases/base32'
import { getCrypto } from '../../core/crypto/index.js'
import { DecryptionError } from '../../core/errors.js'
import { decrypt, encrypt } from '../../core/keys.js'
import { TOPIC_TAG_BYTES } from '../limits.js'

const text = new TextEncoder()
const TOPIC_LABEL = text.encode('redux-threads/topic/v2')
const GOSSIP_KEY_LABEL = text.encode('redux-threads/gossip/v2')
/** Every topic of this protocol version starts with this. */
export const TOPIC_PREFIX = '/rt/2/'

function labelled(serviceKey: Uint8Array, label: Uint8Array, thread: Uint8Array): Uint8Array {
  const data = new Uint8Array(label.length + thread.length)
  data.set(label)
  data.set(thread, label.length)
  return getCrypto().hmacSha256(serviceKey, data)
}

/**
 * A thread's gossip topic: `/rt/2/` and base32 of the first 16 bytes of
 * HMAC-SHA256(service key, "redux-threads/topic/v2" ‖ thread ID). Anyone who sees the topic in a
 * subscription learns that two peers share *some* thread, never which one.
 *
 * @example
 * ```ts
 * gossipTopic(thread.key.service, thread.id.bytes) // '/rt/2/mfrgg…' (26 base32 characters)
 * ```
 */
export function gossipTopic(serviceKey: Uint8Array, thread: Uint8Array): string {
  return TOPIC_PREFIX + base32.baseEncode(labelled(serviceKey, TOPIC_LABEL, thread).subarray(0, TOPIC_TAG_BYTES))
}

/**
 * The AES-256-GCM key that seals a thread's gossip: HMAC-SHA256(service key,
 * "redux-threads/gossip/v2" ‖ thread ID). A label of its own, so it is never the key of anything
 * else (records are sealed with the service key itself).
 */
export function gossipKey(serviceKey: Uint8Array, thread: Uint8Array): Uint8Array {
  return labelled(serviceKey, GOSSIP_KEY_LABEL, thread)
}

/** Seal an encoded sync message for the topic: `nonce(12) ‖ ciphertext ‖ tag(16)`. */
export function sealGossip(key: Uint8Array, message: Uint8Array): Uint8Array {
  return encrypt(key, message)
}

/**
 * Open gossip sealed by {@link sealGossip}.
 *
 * @throws {@link DecryptionError} when the bytes were not sealed with this thread's gossip key.
 */
export function openGossip(key: Uint8Array, sealed: Uint8Array): Uint8Array {
  const plain = decrypt(key, sealed)
  if (plain === undefined) throw new DecryptionError('gossip does not open with the thread gossip key')
  return plain
}
