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

  /** Every entry of a thread whose name starts with `prefix`, as `[name, value]`. */
  async entries(t: string, prefix: string): Promise<Array<[string, Uint8Array]>> {
    const out: Array<[string, Uint8Array]> = []
    for await (const { key, value } of this.#storage.range(keys.metas(t))) {
      const name = key[2]
      if (typeof name === 'string' && name.startsWith(prefix)) out.push([name, value])
    }
    return out
  }

  async getString(t: string, name: string): Promise<string | undefined> {
    const v = await this.get(t, name)
    return v === undefined ? undefined : untext.decode(v)
  }

  putString(t: string, name: string, value: string): Promise<void> {
    return this.put(t, name, text.encode(value))
  }
}
