import * as dagCbor from '@ipld/dag-cbor'
import type { StorageAdapter, StorageOp } from '../storageAdapter.js'
import { keys } from '../storageKeys.js'

/** An address of a log with its expiry (ms since the epoch). */
export interface AddrEntry {
  /** A multiaddr string, e.g. `/ip4/1.2.3.4/tcp/4006/p2p/12D3…`. */
  readonly addr: string
  readonly expires: number
}

/** An address as the book keeps it: its expiry and the TTL it was last given (for updateAddrs). */
interface Entry {
  readonly expires: number
  /** Absent for entries stored before TTLs were kept: updateAddrs does not move them. */
  readonly ttl: number | undefined
}

/** A TTL that never expires (the paper's permanent addresses: a log's own writer). */
export const PERMANENT_TTL = Number.MAX_SAFE_INTEGER

/**
 * Log addresses with time-to-live (paper section 3.1.2, Example 2). Entries expire, so that
 * unresponsive addresses fall out; adding an address again never shortens its expiry.
 */
export class AddrBook {
  readonly #storage: StorageAdapter
  readonly #now: () => number
  readonly #cache = new Map<string, Map<string, Entry>>()
  /** Per thread, the peers with addresses (loaded from storage on first use, then kept up to date). */
  readonly #peers = new Map<string, Set<string>>()

  constructor(storage: StorageAdapter, now: () => number = Date.now) {
    this.#storage = storage
    this.#now = now
  }

  async #load(t: string, logId: string): Promise<Map<string, Entry>> {
    const k = keys.addrs(t, logId).join('\u0000')
    const cached = this.#cache.get(k)
    if (cached !== undefined) return cached
    const bytes = await this.#storage.get(keys.addrs(t, logId))
    // Another call may have loaded (and changed) the entries while this one waited: use its map.
    const loaded = this.#cache.get(k)
    if (loaded !== undefined) return loaded
    const list = bytes === undefined ? [] : (dagCbor.decode(bytes) as Array<[string, number, number?]>)
    const entries = new Map(list.map(([addr, expires, ttl]): [string, Entry] => [addr, { expires, ttl: ttl ?? (expires >= PERMANENT_TTL ? PERMANENT_TTL : undefined) }]))
    this.#cache.set(k, entries)
    return entries
  }

  /** Drop expired entries, and the op that stores what is left. */
  #write(t: string, logId: string, entries: Map<string, Entry>): StorageOp {
    const now = this.#now()
    for (const [a, e] of entries) if (e.expires <= now) entries.delete(a)
    const peers = this.#peers.get(t)
    if (entries.size === 0) peers?.delete(logId)
    else peers?.add(logId)
    return entries.size === 0
      ? { type: 'del', key: keys.addrs(t, logId) }
      : { type: 'put', key: keys.addrs(t, logId), value: dagCbor.encode([...entries].map(([a, e]) => (e.ttl === undefined ? [a, e.expires] : [a, e.expires, e.ttl]))) }
  }

  #expiry(ttl: number): number {
    return ttl >= PERMANENT_TTL ? PERMANENT_TTL : this.#now() + ttl
  }

  /**
   * Add addresses for `ttl` ms; an address already known keeps the later of its two expiries.
   *
   * `limits` bound what a peer's word can make this book hold (DESIGN.md section 6): at most
   * `maxAddrs` addresses per peer (addresses already known are kept first) and at most `maxPeers`
   * peers per thread.
   *
   * @returns false when the peer is new and the thread already has `maxPeers` peers: nothing is stored.
   *
   * @example
   * ```ts
   * await addrs.addAddrs(t, peerId, ['/ip4/1.2.3.4/tcp/4001/p2p/' + peerId], 3_600_000, { maxAddrs: 16, maxPeers: 256 })
   * ```
   */
  async addAddrs(t: string, logId: string, addrs: readonly string[], ttl: number, limits: { maxAddrs?: number; maxPeers?: number } = {}): Promise<boolean> {
    if (limits.maxPeers !== undefined) {
      const peers = await this.#peerSet(t)
      if (!peers.has(logId) && peers.size >= limits.maxPeers) return false
    }
    const entries = await this.#load(t, logId)
    const expires = this.#expiry(ttl)
    const now = this.#now()
    for (const a of addrs) {
      const old = entries.get(a)
      if (old === undefined && limits.maxAddrs !== undefined) {
        let live = 0
        for (const e of entries.values()) if (e.expires > now) live++
        if (live >= limits.maxAddrs) continue
      }
      if (old === undefined || expires > old.expires) entries.set(a, { expires, ttl: Math.min(ttl, PERMANENT_TTL) })
    }
    await this.#storage.batch([this.#write(t, logId, entries)])
    return true
  }

  /** The set of peers with addresses in a thread, loaded once from storage. */
  async #peerSet(t: string): Promise<Set<string>> {
    const cached = this.#peers.get(t)
    if (cached !== undefined) return cached
    const found = new Set<string>()
    for await (const { key } of this.#storage.range(keys.addrs(t, '').slice(0, 2))) {
      const peer = key[2]
      if (typeof peer === 'string') found.add(peer)
    }
    // Another call may have loaded (and changed) it while this one read storage.
    const loaded = this.#peers.get(t)
    if (loaded !== undefined) return loaded
    this.#peers.set(t, found)
    return found
  }

  /**
   * The peers with addresses in a thread (some may have only expired ones until they are read).
   *
   * @example
   * ```ts
   * for (const peer of await addrs.peers(t)) await network.dial(peer, (await addrs.addrs(t, peer)).map((a) => a.addr))
   * ```
   */
  async peers(t: string): Promise<string[]> {
    return [...(await this.#peerSet(t))].sort()
  }

  /** Set addresses to expire after `ttl` ms, shorter or longer; a `ttl` of 0 removes them. */
  async setAddrs(t: string, logId: string, addrs: readonly string[], ttl: number): Promise<void> {
    const entries = await this.#load(t, logId)
    for (const a of addrs) {
      if (ttl <= 0) entries.delete(a)
      else entries.set(a, { expires: this.#expiry(ttl), ttl: Math.min(ttl, PERMANENT_TTL) })
    }
    await this.#storage.batch([this.#write(t, logId, entries)])
  }

  /**
   * Give every address that was last given `oldTtl` (and has not expired) the new `newTtl`; a
   * `newTtl` of 0 removes them.
   */
  async updateAddrs(t: string, logId: string, oldTtl: number, newTtl: number): Promise<void> {
    const entries = await this.#load(t, logId)
    const now = this.#now()
    const from = Math.min(oldTtl, PERMANENT_TTL)
    for (const [a, e] of entries) {
      if (e.ttl !== from || e.expires <= now) continue
      if (newTtl <= 0) entries.delete(a)
      else entries.set(a, { expires: this.#expiry(newTtl), ttl: Math.min(newTtl, PERMANENT_TTL) })
    }
    await this.#storage.batch([this.#write(t, logId, entries)])
  }

  /** The addresses of a log that have not expired. Expired ones are removed, in storage too. */
  async addrs(t: string, logId: string): Promise<AddrEntry[]> {
    const entries = await this.#load(t, logId)
    const now = this.#now()
    const out: AddrEntry[] = []
    let expired = false
    for (const [addr, { expires }] of entries) {
      if (expires > now) out.push({ addr, expires })
      else expired = true
    }
    if (expired) await this.#storage.batch([this.#write(t, logId, entries)])
    return out.sort((a, b) => (a.addr < b.addr ? -1 : a.addr > b.addr ? 1 : 0))
  }

  async clearAddrs(t: string, logId: string): Promise<void> {
    const entries = await this.#load(t, logId)
    entries.clear()
    await this.#storage.batch([this.#write(t, logId, entries)])
  }
}
