import { multiaddr, registry, V, type Multiaddr } from '@multiformats/multiaddr'
import { InvalidThreadIdError } from './errors.js'
import { ThreadId } from './threadId.js'

/** The multiaddr protocol code of `/thread/<id>` (0x0196). */
export const THREAD_PROTOCOL_CODE = 406

let registered = false

/**
 * Teach `@multiformats/multiaddr` the `/thread/<id>` component: binary value = the thread ID
 * bytes, text = its base32 string. Idempotent; called by every function here.
 */
export function registerThreadProtocol(): void {
  if (registered) return
  registered = true
  try {
    registry.getProtocol(THREAD_PROTOCOL_CODE)
    return
  } catch {
    // not known yet: add it below
  }
  registry.addProtocol({
    code: THREAD_PROTOCOL_CODE,
    name: 'thread',
    size: V,
    valueToBytes: (value) => Uint8Array.from(ThreadId.parse(value).bytes),
    bytesToValue: (bytes) => ThreadId.fromBytes(bytes).toString(),
    validate: (value) => {
      ThreadId.parse(value)
    }
  })
}

/**
 * A peer address encapsulating a thread: `/ip4/1.2.3.4/tcp/4006/p2p/<peer>/thread/<tid>`.
 *
 * @example
 * ```ts
 * import { threadAddr, ThreadId } from 'redux-p2p-threads/advanced'
 * threadAddr('/ip4/127.0.0.1/tcp/4006/p2p/12D3KooW…', ThreadId.create()).toString()
 * ```
 */
export function threadAddr(peerAddr: string | Multiaddr, id: ThreadId): Multiaddr {
  registerThreadProtocol()
  return multiaddr(peerAddr).encapsulate(`/thread/${id.toString()}`)
}

/** Split a thread multiaddr into the thread ID and the peer address before it. */
export function parseThreadAddr(addr: string | Multiaddr): { threadId: ThreadId; peerAddr: Multiaddr } {
  registerThreadProtocol()
  const ma = multiaddr(addr)
  const components = ma.getComponents()
  const last = components[components.length - 1]
  if (last === undefined || last.code !== THREAD_PROTOCOL_CODE || last.value === undefined) {
    throw new InvalidThreadIdError(`not a thread multiaddr (no trailing /thread/<id>): ${ma.toString()}`)
  }
  return { threadId: ThreadId.parse(last.value), peerAddr: ma.decapsulateCode(THREAD_PROTOCOL_CODE) }
}
