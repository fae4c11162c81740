import type { Dispatch } from '@reduxjs/toolkit'
import { BehaviorSubject, type Observable } from 'rxjs'
import { nextMacrotask } from '../platform/scheduler.js'
import { peerSlice, type ThreadEntry } from './peerSlice.js'
import type { Binding } from './registry.js'

/**
 * The status of a peer's threads, fed to the store (`peer.reducer`) and to `status$` alike: one
 * `status` action per turn of the event loop however busy the peer is (a burst of 10,000
 * commands builds the status once), and the same objects on the RxJS stream, so the two always
 * agree.
 */
export class StatusFeed {
  readonly #dispatch: () => Dispatch | undefined
  readonly #entryOf: (b: Binding) => ThreadEntry
  readonly #dirty = new Map<string, Binding>()
  readonly #streams = new Map<string, BehaviorSubject<ThreadEntry>>()
  #connected: string[] | undefined
  #scheduled = false

  constructor(dispatch: () => Dispatch | undefined, entryOf: (b: Binding) => ThreadEntry) {
    this.#dispatch = dispatch
    this.#entryOf = entryOf
  }

  /** Follow a thread: every engine event that can change its status marks it. */
  watch(b: Binding): () => void {
    const mark = (): void => this.touch(b)
    const e = b.engine.events
    const offs = [e.on('applied', mark), e.on('rejected', mark), e.on('progress', mark), e.on('durability', mark), e.on('held', mark), e.on('fork', mark)]
    this.touch(b)
    return () => {
      for (const off of offs) off()
    }
  }

  /** A thread's status changed (peers, heads from the network…). */
  touch(b: Binding): void {
    this.#dirty.set(b.threadId, b)
    this.#schedule()
  }

  /** The connected peers changed. */
  connected(peers: string[]): void {
    this.#connected = peers
    this.#schedule()
  }

  #schedule(): void {
    if (this.#scheduled) return
    this.#scheduled = true
    nextMacrotask(() => this.flush())
  }

  /** Build and send the pending statuses now. */
  flush(): void {
    this.#scheduled = false
    if (this.#dirty.size === 0 && this.#connected === undefined) return
    const threads: Record<string, ThreadEntry> = {}
    for (const [id, b] of this.#dirty) threads[id] = this.#entryOf(b)
    this.#dirty.clear()
    const connected = this.#connected
    this.#connected = undefined
    this.#dispatch()?.(peerSlice.actions.status({ threads, ...(connected === undefined ? {} : { connected }) }))
    for (const [id, entry] of Object.entries(threads)) this.#streams.get(id)?.next(entry)
  }

  /** The status stream of a thread: its current status at once, then every change. */
  stream(b: Binding): Observable<ThreadEntry> {
    let s = this.#streams.get(b.threadId)
    if (s === undefined) this.#streams.set(b.threadId, (s = new BehaviorSubject(this.#entryOf(b))))
    return s.asObservable()
  }

  /** A thread closed: complete its stream. */
  forget(threadId: string): void {
    this.#dirty.delete(threadId)
    this.#streams.get(threadId)?.complete()
    this.#streams.delete(threadId)
  }
}
