/**
 * A minimal typed event emitter: the engine's broadcaster and the network adapters' event map.
 * The rx layer turns it into Observables, so nothing below it depends on RxJS. Listeners run
 * synchronously, in order, and every listener sees every event: nothing is buffered, so nothing
 * is dropped. A listener that throws stops `emit` with its error, unless `onListenerError` is
 * given (a transport must not let one listener break its stream).
 */
export class Emitter<Events extends object> {
  readonly #listeners = new Map<keyof Events, Set<(value: never) => void>>()
  readonly #onListenerError: ((name: keyof Events, error: unknown) => void) | undefined

  constructor(options: { onListenerError?: (name: keyof Events, error: unknown) => void } = {}) {
    this.#onListenerError = options.onListenerError
  }

  /** Listen; returns the function that stops listening. */
  on<K extends keyof Events>(name: K, listener: (value: Events[K]) => void): () => void {
    let set = this.#listeners.get(name)
    if (set === undefined) this.#listeners.set(name, (set = new Set()))
    set.add(listener as (value: never) => void)
    return () => {
      set.delete(listener as (value: never) => void)
    }
  }

  /** Listeners of one event now. */
  listenerCount(name: keyof Events): number {
    return this.#listeners.get(name)?.size ?? 0
  }

  emit<K extends keyof Events>(name: K, value: Events[K]): void {
    const set = this.#listeners.get(name)
    if (set === undefined) return
    for (const l of [...set]) {
      if (this.#onListenerError === undefined) {
        ;(l as (value: Events[K]) => void)(value)
        continue
      }
      try {
        ;(l as (value: Events[K]) => void)(value)
      } catch (error) {
        this.#onListenerError(name, error)
      }
    }
  }
}
