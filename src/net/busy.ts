/**
 * One count of the sync work under way (handlers, validations, scheduled flushes, paced serving),
 * so that `idle()` means one thing everywhere: nothing started by a message or a command is still
 * running. Timers that only wait for something that may never come (pull timeouts) are not counted.
 *
 * @packageDocumentation
 */

/**
 * @example
 * ```ts
 * const busy = new Busy((e) => log.error('handler failed', e))
 * busy.track(handle(message))   // counted until it settles; a rejection goes to onError
 * const release = busy.hold()   // counted until release()
 * await busy.idle()
 * ```
 */
export class Busy {
  #count = 0
  #waiters: Array<() => void> = []
  readonly #onError: (error: unknown) => void

  /** `onError` hears every rejection of tracked work: a handler must never take the peer down. */
  constructor(onError: (error: unknown) => void) {
    this.#onError = onError
  }

  /** True while anything is counted. */
  get busy(): boolean {
    return this.#count > 0
  }

  /** Count something until the returned function is called (once; later calls do nothing). */
  hold(): () => void {
    this.#count++
    let released = false
    return () => {
      if (released) return
      released = true
      if (--this.#count === 0) for (const done of this.#waiters.splice(0)) done()
    }
  }

  /** Count `work` until it settles. Never rejects: failures go to `onError`. */
  async track(work: Promise<unknown>): Promise<void> {
    const release = this.hold()
    try {
      await work
    } catch (e) {
      this.#onError(e)
    } finally {
      release()
    }
  }

  /** Resolves when nothing is counted. */
  idle(): Promise<void> {
    if (this.#count === 0) return Promise.resolve()
    return new Promise((resolve) => this.#waiters.push(resolve))
  }
}
