import * as dagCbor from '@ipld/dag-cbor'
import type { StorageAdapter, StorageOp } from '../storageAdapter.js'
import { keys } from '../storageKeys.js'

/** An address of a log with its expiry (ms since the epoch). */
export interface AddrEntry {
  /** A multiaddr string, e.g. `/ip4/1.2.3.4/tcp/4006/p2p/12D3…`. */
  readonly addr: string
  readonly expires: number
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
  readonly #cache = new Map<string, Map<string, number>>()

  constructor(storage: StorageAdapter, now: () => number = Date.now) {
    this.#storage = storage
    this.#now = now
  }

  async #load(t: string, logId: string): Promise<Map<string, number>> {
    const k = keys.addrs(t, logId).join('\u0000')
    let entries = this.#cache.get(k)
    if (entries === undefined) {
      const bytes = await this.#storage.get(keys.addrs(t, logId))
      const list = bytes === undefined ? [] : (dagCbor.decode(bytes) as Array<[string, number]>)
      entries = new Map(list)
      this.#cache.set(k, entries)
    }
    return entries
  }

  #write(t: string, logId: string, entries: Map<string, number>): StorageOp {
    return entries.size === 0
      ? { type: 'del', key: keys.addrs(t, logId) }
      : { type: 'put', key: keys.addrs(t, logId), value: dagCbor.encode([...entries]) }
  }

  #expiry(ttl: number): number {
    return ttl >= PERMANENT_TTL ? PERMANENT_TTL : this.#now() + ttl
  }

  /** Add addresses for `ttl` ms; an address already known keeps the later of its two expiries. */
  async addAddrs(t: string, logId: string, addrs: readonly string[], ttl: number): Promise<void> {
    const entries = await this.#load(t, logId)
    const expires = this.#expiry(ttl)
    for (const a of addrs) entries.set(a, Math.max(entries.get(a) ?? 0, expires))
    await this.#storage.batch([this.#write(t, logId, entries)])
  }

  /** Set addresses to expire after `ttl` ms, shorter or longer; a `ttl` of 0 removes them. */
  async setAddrs(t: string, logId: string, addrs: readonly string[], ttl: number): Promise<void> {
    const entries = await this.#load(t, logId)
    for (const a of addrs) {
      if (ttl <= 0) entries.delete(a)
      else entries.set(a, this.#expiry(ttl))
    }
    await this.#storage.batch([this.#write(t, logId, entries)])
  }

  /** Give every address whose remaining TTL was set as `oldTtl` the new `newTtl`. */
  async updateAddrs(t: string, logId: string, oldTtl: number, newTtl: number): Promise<void> {
    const entries = await this.#load(t, logId)
    const oldExpiry = this.#expiry(oldTtl)
    for (const [a, exp] of entries) if (exp <= oldExpiry) entries.set(a, this.#expiry(newTtl))
    await this.#storage.batch([this.#write(t, logId, entries)])
  }

  /** The addresses of a log that have not expired. */
  async addrs(t: string, logId: string): Promise<AddrEntry[]> {
    const entries = await this.#load(t, logId)
    const now = this.#now()
    const out: AddrEntry[] = []
    for (const [addr, expires] of entries) {
      if (expires > now) out.push({ addr, expires })
      else entries.delete(addr)
    }
    return out.sort((a, b) => (a.addr < b.addr ? -1 : a.addr > b.addr ? 1 : 0))
  }

  async clearAddrs(t: string, logId: string): Promise<void> {
    const entries = await this.#load(t, logId)
    entries.clear()
    await this.#storage.batch([this.#write(t, logId, entries)])
  }
}
