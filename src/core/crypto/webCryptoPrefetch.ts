/**
 * Asynchronous prefetch of AES-256-GCM decryptions through WebCrypto, for the pure-JS provider.
 *
 * Why: the protocol core's crypto is synchronous ({@link CryptoProvider}), and in a browser that
 * means noble's AES-GCM in JavaScript: a third of a page's time replicating 10,000 events (issue
 * 12). The engine knows a batch's boxes before it opens them, so it hands them here first
 * ({@link prefetchDecrypts}): one `crypto.subtle.decrypt` per box, all at once (`Promise.all`,
 * each distinct raw key imported once, a thread's keys kept as `CryptoKey`s), and the plaintexts
 * wait in a memo that `nobleCrypto.aesGcmDecrypt` consults ({@link takePrefetched}) before
 * running noble. Nothing else changes: the synchronous path runs as before and finds its result
 * ready, and every miss runs noble. Used by the engine's ingest, in rounds as the layers need
 * them: the record blocks (service key) before `RecordIntake.take` verifies them, then the
 * headers (read key), then the bodies (content key, from the header) before `openRecords`.
 * SHA-256 is not prefetched: `crypto.subtle.digest` costs the main thread about what noble's
 * hash of a 200-byte block does (measured), so it gained nothing.
 *
 * Exactly correct: an entry holds copies of its key, nonce and sealed bytes and answers only a
 * lookup with the same bytes of all three (compared in full: a nonce or tag can be replayed by
 * anyone). Only boxes that authenticated are kept; a tag that does not, a subtle that throws or
 * is missing, an odd key or nonce length: no entry, so noble decides, as it would have alone.
 * Peers with and without WebCrypto accept exactly the same records.
 *
 * Bounded: at most {@link MAX_PREFETCHED} entries and {@link MAX_PREFETCHED_BYTES} bytes in all
 * (what does not fit is not prefetched), at most {@link MAX_PER_BUCKET} alike-looking entries per
 * bucket (replayed nonces and tags cannot make lookups quadratic), each entry taken on use, and
 * the caller releases what its batch left (`release()`, after the batch), so the memo is empty
 * between batches.
 *
 * @packageDocumentation
 */
import { subtleCrypto } from '../../platform/env.js'

/** One box to decrypt: `nonce(12) ‖ ciphertext ‖ tag(16)` under a 32-byte key, as `decrypt` in keys.ts opens it. */
export interface DecryptJob {
  readonly key: Uint8Array
  readonly box: Uint8Array
}

/** What a prefetch left: each job's plaintext (`undefined` when not prefetched), and the release of its entries. */
export interface Prefetched {
  readonly plains: readonly (Uint8Array | undefined)[]
  /** Drop the entries of this batch nobody took. Call it after the batch, in a `finally`. */
  readonly release: () => void
}

/** Most entries the memo holds at once. */
export const MAX_PREFETCHED = 8192
/** Most bytes (sealed copies and plaintexts) the memo holds at once. */
export const MAX_PREFETCHED_BYTES = 16 * 1024 * 1024
/** Most entries in one bucket (same first nonce and last tag bytes); more are not prefetched. */
export const MAX_PER_BUCKET = 4
/** Most thread keys kept imported between batches. */
const MAX_KEPT_KEYS = 32

const NONCE = 12
const TAG = 16
const KEY = 32

interface Entry {
  readonly key: Uint8Array
  readonly nonce: Uint8Array
  readonly sealed: Uint8Array
  readonly plain: Uint8Array
  readonly size: number
}

const memo = new Map<number, Entry[]>()
let entries = 0
let bytes = 0
/** Raw key bytes (as a string) → imported key: the keys used more than once in a batch (a thread's service and read keys). */
const kept = new Map<string, CryptoKey>()

/** Entries waiting: 0 when no batch is in flight (the synchronous provider then skips the lookup). */
export function prefetchedCount(): number {
  return entries
}

function bucketOf(nonce: Uint8Array, sealed: Uint8Array): number {
  const t = sealed.length - 4
  return (((nonce[0] as number) | ((nonce[1] as number) << 8) | ((nonce[2] as number) << 16) | ((nonce[3] as number) << 24)) ^
    ((sealed[t] as number) | ((sealed[t + 1] as number) << 8) | ((sealed[t + 2] as number) << 16) | ((sealed[t + 3] as number) << 24))) | 0
}

function same(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false
  return true
}

function remove(bucket: number, entry: Entry): boolean {
  const list = memo.get(bucket)
  const at = list === undefined ? -1 : list.indexOf(entry)
  if (list === undefined || at < 0) return false
  list.splice(at, 1)
  if (list.length === 0) memo.delete(bucket)
  entries--
  bytes -= entry.size
  return true
}

/**
 * The plaintext prefetched for exactly these key, nonce and sealed bytes, taken out of the memo;
 * `undefined` on a miss (the caller decrypts as usual). A hit is always a box that authenticated.
 */
export function takePrefetched(key: Uint8Array, nonce: Uint8Array, sealed: Uint8Array): Uint8Array | undefined {
  if (entries === 0 || nonce.length !== NONCE || sealed.length < TAG) return undefined
  const bucket = bucketOf(nonce, sealed)
  const list = memo.get(bucket)
  if (list === undefined) return undefined
  for (const e of list) {
    if (same(e.sealed, sealed) && same(e.nonce, nonce) && same(e.key, key)) {
      remove(bucket, e)
      return e.plain
    }
  }
  return undefined
}

function keyString(key: Uint8Array): string {
  return String.fromCharCode.apply(null, key as unknown as number[])
}

const AES_GCM = { name: 'AES-GCM' }
const DECRYPT: KeyUsage[] = ['decrypt']
const NOTHING: Prefetched = { plains: [], release: () => undefined }

interface Slot {
  readonly key: Uint8Array
  readonly nonce: Uint8Array<ArrayBuffer>
  readonly sealed: Uint8Array<ArrayBuffer>
  readonly size: number
}

/**
 * Decrypt `jobs` through `subtle` at once and leave each plaintext in the memo for the
 * synchronous provider; resolves when all settled. Never rejects: a failure leaves no entry.
 */
export async function prefetchDecrypts(jobs: readonly DecryptJob[], subtle: SubtleCrypto | undefined = subtleCrypto()): Promise<Prefetched> {
  if (subtle === undefined || jobs.length === 0) return NOTHING
  const batch: { bucket: number; entry: Entry }[] = []
  const release = (): void => {
    for (const { bucket, entry } of batch) remove(bucket, entry)
    batch.length = 0
  }
  try {
    // Copies taken now, within the memo's room: what a lookup compares is what was decrypted,
    // whatever happens to the caller's buffers later.
    let room = MAX_PREFETCHED - entries
    let roomBytes = MAX_PREFETCHED_BYTES - bytes
    // Each distinct key imported once (a batch's jobs share their thread key's bytes object);
    // one used twice or more (a thread's) stays imported, found again by its bytes.
    const raws = new Map<Uint8Array, { raw: Uint8Array<ArrayBuffer>; uses: number; key?: CryptoKey }>()
    const slots = jobs.map((j): Slot | undefined => {
      if (!(j.key instanceof Uint8Array) || j.key.length !== KEY || !(j.box instanceof Uint8Array) || j.box.length < NONCE + TAG) return undefined
      const size = 2 * j.box.length
      if (room <= 0 || roomBytes < size) return undefined
      room--
      roomBytes -= size
      const raw = raws.get(j.key)
      if (raw === undefined) raws.set(j.key, { raw: j.key.slice(), uses: 1 })
      else raw.uses++
      const box = j.box.slice()
      return { key: j.key, nonce: box.subarray(0, NONCE), sealed: box.subarray(NONCE), size }
    })
    await Promise.all(
      [...raws.values()].map((r) => {
        const name = r.uses > 1 ? keyString(r.raw) : undefined
        const known = name === undefined ? undefined : kept.get(name)
        if (known !== undefined) return (r.key = known)
        return subtle.importKey('raw', r.raw, AES_GCM, false, DECRYPT).then((key) => {
          r.key = key
          if (name === undefined) return
          if (kept.size >= MAX_KEPT_KEYS) kept.clear()
          kept.set(name, key)
        })
      })
    )
    const plains = await Promise.all(
      slots.map((slot) => {
        if (slot === undefined) return undefined
        const r = raws.get(slot.key)
        if (r?.key === undefined) return undefined
        return subtle.decrypt({ name: 'AES-GCM', iv: slot.nonce, tagLength: 128 }, r.key, slot.sealed).then(
          (buffer) => keep(r.raw, slot, new Uint8Array(buffer), batch),
          // Did not authenticate, or subtle failed: no entry, noble decides.
          () => undefined
        )
      })
    )
    return { plains, release }
  } catch {
    // subtle threw (or is not what it claims): no entry, noble decides every box.
    release()
    return NOTHING
  }
}

/** Put a plaintext that authenticated in the memo, if there is room. */
function keep(key: Uint8Array, slot: Slot, plain: Uint8Array, batch: { bucket: number; entry: Entry }[]): Uint8Array {
  const bucket = bucketOf(slot.nonce, slot.sealed)
  const list = memo.get(bucket) ?? []
  if (list.length >= MAX_PER_BUCKET || entries >= MAX_PREFETCHED || bytes + slot.size > MAX_PREFETCHED_BYTES) return plain
  const entry: Entry = { key, nonce: slot.nonce, sealed: slot.sealed, plain, size: slot.size }
  list.push(entry)
  memo.set(bucket, list)
  entries++
  bytes += slot.size
  batch.push({ bucket, entry })
  return plain
}
