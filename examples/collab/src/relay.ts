/**
 * The relay (server.ts) over HTTP on the page's own origin (`/api`, proxied by Vite in dev): its
 * peer ID and WebSocket addresses, follow invites for it, and who it sees online in a document.
 * Everything else between the relay and the page is libp2p.
 */
import { peer } from './store.js'

export interface Relay {
  readonly peerId: string
  readonly addrs: readonly string[]
}

export async function fetchRelay(): Promise<Relay> {
  const res = await fetch('/api/relay')
  if (!res.ok) throw new Error(`relay: ${res.status}`)
  return (await res.json()) as Relay
}

/** Pages cannot be dialed: they dial the relay, which then syncs every thread both hold. */
export async function dialRelay(relay: Relay): Promise<void> {
  await peer.network?.dial(relay.peerId, [...relay.addrs])
}

/** Hand the relay a follow invite (sealed to it): it stores and forwards the thread, reading nothing. */
export async function followOnRelay(invite: string): Promise<void> {
  const res = await fetch('/api/follow', { method: 'POST', headers: { 'content-type': 'text/plain' }, body: invite })
  if (!res.ok) throw new Error(`relay refused the follow invite: ${await res.text()}`)
}

/**
 * Peers the relay has connected in this document (each page is connected to the relay only), as
 * server-sent events. Returns a function that closes the stream.
 */
export function watchPresence(threadId: string, onPeers: (peers: string[]) => void): () => void {
  const source = new EventSource(`/api/presence/${encodeURIComponent(threadId)}`)
  source.onmessage = (e) => onPeers(JSON.parse(e.data as string) as string[])
  return () => source.close()
}
