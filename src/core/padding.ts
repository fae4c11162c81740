import { MalformedRecordError, type ErrorContext } from './errors.js'

/** The smallest padded body: every command of up to 63 bytes looks the same from outside. */
export const MIN_PADDED_BYTES = 64
/** Up to this size bodies pad to the next power of two; above it, to Padmé's buckets. */
export const POWER_OF_TWO_UP_TO = 4096

/**
 * The size a body of `n` bytes (the marker included) is padded to.
 *
 * Powers of two from 64 bytes to 4 KiB, then Padmé (Nikitin et al., "Reducing Metadata Leakage
 * from Encrypted Files and Communication with PURBs", PETS 2019): at most 12% overhead, and a
 * padded length reveals O(log log n) bits of the true one. Powers of two below 4 KiB waste at
 * most a few KiB where Padmé would still tell apart commands a few bytes apart.
 *
 * @example
 * ```ts
 * paddedLength(51)   // 64
 * paddedLength(600)  // 1024
 * paddedLength(5085) // 5120
 * ```
 */
export function paddedLength(n: number): number {
  if (n <= MIN_PADDED_BYTES) return MIN_PADDED_BYTES
  if (n <= POWER_OF_TWO_UP_TO) return 2 ** Math.ceil(Math.log2(n))
  const e = Math.floor(Math.log2(n))
  const s = Math.floor(Math.log2(e)) + 1
  const mask = 2 ** (e - s) - 1
  return Math.floor((n + mask) / (mask + 1)) * (mask + 1)
}

/**
 * Pad plaintext to its bucket, ISO/IEC 7816-4 style: a `0x80` marker, then zeros. Bodies are
 * padded before they are encrypted, so a command's ciphertext (in storage, in pushes and in
 * gossip) tells only its bucket, never its exact size (DESIGN.md section 6: what outsiders learn).
 */
export function pad(plain: Uint8Array): Uint8Array {
  const out = new Uint8Array(paddedLength(plain.length + 1))
  out.set(plain)
  out[plain.length] = 0x80
  return out
}

/**
 * The plaintext inside a padded body (a view, no copy).
 *
 * @throws {@link MalformedRecordError} when the padding is not a `0x80` marker followed by zeros.
 */
export function unpad(padded: Uint8Array, ctx: ErrorContext = {}): Uint8Array {
  let i = padded.length - 1
  while (i >= 0 && padded[i] === 0) i--
  if (i < 0 || padded[i] !== 0x80) throw new MalformedRecordError('body padding has no 0x80 marker', ctx)
  return padded.subarray(0, i)
}
