import type { StorageAdapter } from '../storageAdapter.js'
import { keys } from '../storageKeys.js'

const text = new TextEncoder()
const untext = new TextDecoder()

/** Per-thread metadata: small named values (a thread's name, app settings). */
export class MetadataBook {
  readonly #storage: StorageAdapter

  constructor(storage: StorageAdapter) {
    this.#storage = storage
  }

  get(t: string, name: string): Promise<Uint8Array | undefined> {
    return this.#storage.get(keys.meta(t, name))
  }

  put(t: string, name: string, value: Uint8Array): Promise<void> {
    return this.#storage.batch([{ type: 'put', key: keys.meta(t, name), value }])
  }

  delete(t: string, name: string): Promise<void> {
    return this.#storage.batch([{ type: 'del', key: keys.meta(t, name) }])
  }

  async getString(t: string, name: string): Promise<string | undefined> {
    const v = await this.get(t, name)
    return v === undefined ? undefined : untext.decode(v)
  }

  putString(t: string, name: string, value: string): Promise<void> {
    return this.put(t, name, text.encode(value))
  }
}
