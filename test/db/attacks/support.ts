/**
 * Helpers for the attack tests: fold crafted events straight through a collection's `fold` (what
 * the engine calls for every event, local or remote), decode payloads as a peer's bytes would be
 * decoded (dag-cbor, as `decodeCommand` does), and run a function deeper in the call stack (as a
 * fold inside a replay, a browser with a smaller stack, or a deeper caller would).
 */
import * as dagCbor from '@ipld/dag-cbor'
import type { UnknownAction } from '@reduxjs/toolkit'

/** A payload as a remote peer's body decodes: through dag-cbor's decoder, like `decodeCommand`. */
export function asRemote<T>(value: T): T {
  return dagCbor.decode(dagCbor.encode(value)) as T
}

/** Raw CBOR bytes decoded with the engine's decoder (for values a malicious encoder writes). */
export function decodeRaw(bytes: number[]): unknown {
  return dagCbor.decode(new Uint8Array(bytes))
}

/** CBOR text string header + bytes. */
export function cborText(s: string): number[] {
  const b = [...new TextEncoder().encode(s)]
  if (b.length < 24) return [0x60 + b.length, ...b]
  if (b.length < 256) return [0x78, b.length, ...b]
  return [0x79, b.length >> 8, b.length & 0xff, ...b]
}

/** Run `fn` with `frames` more frames on the stack. */
export function atDepth<T>(frames: number, fn: () => T): T {
  return frames === 0 ? fn() : atDepth(frames - 1, fn)
}

/** The outcome of `fn`: 'ok' or the thrown error's name. */
export function outcome(fn: () => unknown): string {
  try {
    fn()
    return 'ok'
  } catch (e) {
    return e instanceof Error ? e.name : typeof e
  }
}

/** Fold `actions` through `fold` from `from`. */
export function foldAll<S>(fold: (s: S, a: UnknownAction) => S, actions: readonly UnknownAction[], from?: S): S {
  let s = from as S
  for (const a of actions) s = fold(s, a)
  return s
}

/** A remote stamp (not this peer's event). */
export const remote = { clock: 5, logId: 'rogue', seq: 1, local: false } as const

/**
 * FNV-1a (32-bit) of a string's UTF-16 code units: how the first layout of the database modules
 * hashed document IDs (modulo 512) and key-value keys (low 8 bits) into buckets, before sorted
 * pages replaced them. The flooding test picks IDs of one old bucket with it.
 */
export function fnv1a(text: string): number {
  let h = 0x811c9dc5
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i)
    h = Math.imul(h, 0x01000193)
  }
  return h >>> 0
}

/** The first layout's document bucket of an ID (512 buckets). */
export const bucketOf = (id: string): number => fnv1a(id) & 511

/** The first layout's key-value bucket of a key (256 buckets, in hex). */
export const keyValueBucket = (key: string): string => (fnv1a(key) & 255).toString(16)
