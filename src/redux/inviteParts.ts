/**
 * Invites and multiaddrs, loaded by `ThreadLifecycle` when a peer first invites or joins: a peer
 * that only opens its own threads does not carry the invite codec or the multiaddr parser.
 */
export { createInvite, openInvite, MAX_INVITE_ADDRS } from '../acl/invite.js'
export { multiaddr } from '@multiformats/multiaddr'
