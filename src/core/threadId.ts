import { base32 } from 'multiformats/bases/base32'
import { varint } from 'multiformats'
import { getCrypto } from './crypto/index.js'
import { InvalidThreadIdError } from './errors.js'
import { anyBase } from './multibase.js'
import { Variant } from './variant.js'

export { Variant } from './variant.js'

/** The only thread ID version so far. */
export const THREAD_ID_VERSION = 1
/** Random bytes in a new ID; the paper's minimum is 16. */
export const DEFAULT_RANDOM_BYTES = 32
export const MIN_RANDOM_BYTES = 16
/** An upper bound so a hostile ID cannot make every key and message huge. */
export const MAX_RANDOM_BYTES = 64

/**
 * A thread identity: `uvarint(version) ‖ uvarint(variant) ‖ random` (paper section 3.2.1).
 *
 * @example
 * ```ts
 * import { ThreadId, Variant } from 'redux-p2p-threads/advanced'
 * const id = ThreadId.create(Variant.Raw)
 * ThreadId.parse(id.toString()).equals(id) // true
 * ```
 */
export class ThreadId {
  readonly version: number
  readonly variant: Variant
  /** The random part. */
  readonly random: Uint8Array
  /** The whole binary ID. */
  readonly bytes: Uint8Array
  #text: string | undefined

  private constructor(bytes: Uint8Array, version: number, variant: Variant, random: Uint8Array) {
    this.bytes = bytes
    this.version = version
    this.variant = variant
    this.random = random
  }

  /** A new random ID. */
  static create(variant: Variant = Variant.Raw, randomBytes: number = DEFAULT_RANDOM_BYTES): ThreadId {
    if (randomBytes < MIN_RANDOM_BYTES || randomBytes > MAX_RANDOM_BYTES) {
      throw new InvalidThreadIdError(`the random part has ${MIN_RANDOM_BYTES} to ${MAX_RANDOM_BYTES} bytes, got ${randomBytes}`)
    }
    const v = varint.encodeTo(THREAD_ID_VERSION, new Uint8Array(varint.encodingLength(THREAD_ID_VERSION)))
    const w = varint.encodeTo(variant, new Uint8Array(varint.encodingLength(variant)))
    const bytes = new Uint8Array(v.length + w.length + randomBytes)
    bytes.set(v)
    bytes.set(w, v.length)
    bytes.set(getCrypto().randomBytes(randomBytes), v.length + w.length)
    return ThreadId.fromBytes(bytes)
  }

  /** Parse the binary form; throws {@link InvalidThreadIdError}. */
  static fromBytes(input: Uint8Array): ThreadId {
    const bytes = Uint8Array.from(input)
    let version: number, vlen: number, variant: number, wlen: number
    try {
      ;[version, vlen] = varint.decode(bytes)
      ;[variant, wlen] = varint.decode(bytes, vlen)
    } catch (cause) {
      throw new InvalidThreadIdError('thread ID header is not two uvarints', {}, { cause })
    }
    if (version !== THREAD_ID_VERSION) throw new InvalidThreadIdError(`unsupported thread ID version ${version}`)
    if (variant !== Variant.Raw && variant !== Variant.AccessControlled) {
      throw new InvalidThreadIdError(`unknown thread ID variant 0x${variant.toString(16)}`)
    }
    const random = bytes.subarray(vlen + wlen)
    if (random.length < MIN_RANDOM_BYTES || random.length > MAX_RANDOM_BYTES) {
      throw new InvalidThreadIdError(`the random part has ${MIN_RANDOM_BYTES} to ${MAX_RANDOM_BYTES} bytes, got ${random.length}`)
    }
    return new ThreadId(bytes, version, variant, random)
  }

  /** Parse a string in any multibase (base32 `b…` is the default form). */
  static parse(text: string): ThreadId {
    if (typeof text !== 'string' || text.length < 2 || text.length > 256) {
      throw new InvalidThreadIdError('a thread ID string is a multibase string of 2 to 256 characters')
    }
    let bytes: Uint8Array
    try {
      bytes = anyBase.decode(text)
    } catch (cause) {
      throw new InvalidThreadIdError(`not a multibase string: ${JSON.stringify(text.slice(0, 80))}`, {}, { cause })
    }
    return ThreadId.fromBytes(bytes)
  }

  /** Accept an ID, its string or its bytes. */
  static from(id: ThreadId | string | Uint8Array): ThreadId {
    if (id instanceof ThreadId) return id
    return typeof id === 'string' ? ThreadId.parse(id) : ThreadId.fromBytes(id)
  }

  /** Multibase base32, lower case (`bafk…` or `bafy…`). */
  toString(): string {
    this.#text ??= base32.encode(this.bytes)
    return this.#text
  }

  toJSON(): string {
    return this.toString()
  }

  equals(other: ThreadId): boolean {
    return this.toString() === other.toString()
  }
}
