/**
 * A minimal typed event emitter: the engine's broadcaster. The rx layer turns it into
 * Observables, so the engine itself does not depend on RxJS. Listeners run synchronously, in
 * order, and every listener sees every event: nothing is buffered, so nothing is dropped.
 */
export class Emitter<Events extends object> {
  readonly #listeners = new Map<keyof Events, Set<(value: never) => void>>()

  /** Listen; returns the function that stops listening. */
  on<K extends keyof Events>(name: K, listener: (value: Events[K]) => void): () => void {
    let set = this.#listeners.get(name)
    if (set === undefined) this.#listeners.set(name, (set = new Set()))
    set.add(listener as (value: never) => void)
    return () => {
      set.delete(listener as (value: never) => void)
    }
  }

  emit<K extends keyof Events>(name: K, value: Events[K]): void {
    const set = this.#listeners.get(name)
    if (set === undefined) return
    for (const l of [...set]) (l as (value: Events[K]) => void)(value)
  }
}
