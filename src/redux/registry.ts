import type { UnknownAction } from '@reduxjs/toolkit'
import { ClosedError, MisuseError, ThreadDeletedError } from '../core/errors.js'
import type { ThreadEngine } from '../engine/threadEngine.js'
import type { Role } from '../acl/invite.js'
import type { StatusTracker } from '../rx/threadStatus.js'
import type { ThreadSliceLike } from './createThreadSlice.js'
import { threadCommandOf } from './createThreadSlice.js'
import type { SliceStates } from './projection.js'

/** A thread open on this peer, bound to the slices that project it into the store. */
export interface Binding {
  readonly threadId: string
  readonly engine: ThreadEngine<SliceStates>
  readonly slices: readonly ThreadSliceLike[]
  readonly role: Role
  readonly status: StatusTracker
  /** Undo every listener the peer put on the engine. */
  readonly stop: () => void
}

/** Where a dispatched action goes. */
export type Route = { readonly kind: 'command'; readonly binding: Binding } | { readonly kind: 'pass' }

/**
 * The threads a peer has open, and which thread each command belongs to. One per peer (never a
 * module-level registry: two peers in one process, or two copies of the library, cannot mix).
 * An unkeyed slice belongs to one thread of a peer; a keyed slice to any number, each command
 * naming its thread in `meta.threadId`.
 */
export class ThreadRegistry {
  #closed = false
  readonly #threads = new Map<string, Binding>()
  /** Command type → the bindings whose slices have it. */
  readonly #byType = new Map<string, Binding[]>()
  readonly #deleted = new Set<string>()
  /** Command type of an unkeyed slice → the deleted thread it fed (its commands name no thread). */
  readonly #deletedTypes = new Map<string, string>()

  get(threadId: string): Binding | undefined {
    return this.#threads.get(threadId)
  }

  all(): Binding[] {
    return [...this.#threads.values()]
  }

  /**
   * Refuse a binding that would make a store differ from its threads, before anything is stored.
   *
   * @throws {@link MisuseError} when the thread is open already, or an unkeyed slice already feeds
   * another thread of this peer.
   */
  checkBindable(threadId: string | undefined, slices: readonly ThreadSliceLike[]): void {
    if (threadId !== undefined && this.#threads.has(threadId)) throw new MisuseError(`thread ${threadId} is already open on this peer`, { threadId })
    for (const s of slices) {
      if (s.keyed) continue
      for (const type of s.commandTypes) {
        const other = this.#byType.get(type)?.[0]
        if (other !== undefined) {
          throw new MisuseError(
            `slice \`${s.name}\` already feeds thread ${other.threadId} on this peer: an unkeyed thread slice feeds one thread per peer. ` +
              `Create it with \`keyed: true\` to back one thread per document (its state keyed by thread ID).`
          )
        }
      }
    }
  }

  bind(binding: Binding): void {
    this.#threads.set(binding.threadId, binding)
    this.#deleted.delete(binding.threadId)
    for (const s of binding.slices) {
      for (const type of s.commandTypes) {
        this.#byType.set(type, [...(this.#byType.get(type) ?? []), binding])
        this.#deletedTypes.delete(type)
      }
    }
  }

  /** The peer is closing: every thread command is refused from now on (`ClosedError`). */
  close(): void {
    this.#closed = true
  }

  get closed(): boolean {
    return this.#closed
  }

  /** Forget a thread (closed, left or deleted); commands for it are refused from now on. */
  unbind(threadId: string, deleted: boolean): Binding | undefined {
    const b = this.#threads.get(threadId)
    if (b === undefined) return undefined
    this.#threads.delete(threadId)
    if (deleted) {
      this.#deleted.add(threadId)
      for (const s of b.slices) if (!s.keyed) for (const type of s.commandTypes) this.#deletedTypes.set(type, threadId)
    }
    for (const [type, list] of this.#byType) {
      const rest = list.filter((x) => x !== b)
      if (rest.length === 0) this.#byType.delete(type)
      else this.#byType.set(type, rest)
    }
    return b
  }

  /**
   * The thread a dispatched action is a command of, or `pass` for any other action.
   *
   * @throws {@link MisuseError} for a thread slice's command that no open thread of this peer
   * takes (dispatched before its thread opened, or naming another thread);
   * {@link ThreadDeletedError} for a command of a deleted thread.
   */
  route(action: UnknownAction): Route {
    const candidates = this.#byType.get(action.type)
    if (this.#closed && (candidates !== undefined || threadCommandOf(action) !== undefined)) {
      throw new ClosedError(`\`${action.type}\` is a thread command, and the peer is closed: it takes no commands`)
    }
    const named = (action as { meta?: { threadId?: unknown } }).meta?.threadId
    const threadId = typeof named === 'string' ? named : undefined
    if (threadId !== undefined && this.#deleted.has(threadId)) throw new ThreadDeletedError('the thread was deleted on this peer: it takes no commands', { threadId })
    if (candidates === undefined) {
      const slice = threadCommandOf(action)
      if (slice === undefined) return { kind: 'pass' }
      const gone = this.#deletedTypes.get(action.type)
      if (gone !== undefined) throw new ThreadDeletedError('the thread was deleted on this peer: it takes no commands', { threadId: gone })
      // Applied here alone, it would make this store's state differ from the thread forever.
      throw new MisuseError(
        `\`${action.type}\` is a command of thread slice \`${slice}\`, which no open thread of this peer holds. ` +
          `Dispatch \`peer.thunks.createThread({ slices: [${slice}] })\` (or openThread / joinThread) and await it before its commands.`
      )
    }
    if (threadId !== undefined) {
      const b = candidates.find((x) => x.threadId === threadId)
      if (b === undefined) throw new MisuseError(`\`${action.type}\` names thread ${threadId}, which is not open on this peer with its slice`, { threadId })
      return { kind: 'command', binding: b }
    }
    const only = candidates[0] as Binding
    if (candidates.length > 1 || only.slices.some((s) => s.keyed && s.commandTypes.has(action.type))) {
      throw new MisuseError(`\`${action.type}\` is a command of a keyed thread slice: say which thread with \`slice.forThread(threadId).actions\``)
    }
    return { kind: 'command', binding: only }
  }
}
