/**
 * The handshake's one computation (DESIGN.md section 6, issue 7 section 5): a tag that proves the
 * sender holds a thread's service key, bound to this connection, that tells a peer without the key
 * nothing at all.
 *
 * Each side of a connection sends `hello { nonce }`. To claim a thread, a peer sends
 * `auth { tag }` with
 * `tag = HMAC-SHA256(service key, "redux-threads/auth/v2" ‖ recipient nonce ‖ sender nonce ‖ sender ID ‖ 0x00 ‖ recipient ID ‖ thread ID)`.
 * Both nonces make it fresh for this connection (no replay); both peer IDs, in order, bind it to
 * this direction (no reflection, no relay to a third peer); the thread ID is inside the MAC, so the
 * message names no thread. The key never crosses the wire.
 *
 * @packageDocumentation
 */
import { getCrypto } from '../core/crypto/index.js'

const DOMAIN = new TextEncoder().encode('redux-threads/auth/v2')
const utf8 = new TextEncoder()

/** What a tag binds besides the key. */
export interface TagInput {
  /** The nonce of the `hello` the recipient sent. */
  readonly recipientNonce: Uint8Array
  /** The nonce of the `hello` the sender sent. */
  readonly senderNonce: Uint8Array
  readonly sender: string
  readonly recipient: string
  /** The binary thread ID. */
  readonly thread: Uint8Array
}

/**
 * The auth tag of `input.sender` for one thread (32 bytes).
 *
 * @example
 * ```ts
 * const tag = authTag(thread.key.service, { recipientNonce: theirHello, senderNonce: myHello, sender: me, recipient: them, thread: thread.id.bytes })
 * send(them, { t: 'auth', tag })
 * ```
 */
export function authTag(serviceKey: Uint8Array, input: TagInput): Uint8Array {
  const sender = utf8.encode(input.sender)
  const recipient = utf8.encode(input.recipient)
  const parts = [DOMAIN, input.recipientNonce, input.senderNonce, sender, Uint8Array.of(0), recipient, input.thread]
  const data = new Uint8Array(parts.reduce((n, p) => n + p.length, 0))
  let at = 0
  for (const p of parts) {
    data.set(p, at)
    at += p.length
  }
  return getCrypto().hmacSha256(serviceKey, data)
}

/** A tag as a map key: the tags a peer may send on a connection are computed once and looked up. */
export function tagKey(tag: Uint8Array): string {
  let s = ''
  for (const b of tag) s += b.toString(16).padStart(2, '0')
  return s
}
