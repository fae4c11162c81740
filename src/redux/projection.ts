import type { UnknownAction } from '@reduxjs/toolkit'
import type { Projection } from '../engine/engineTypes.js'
import type { ThreadEvent } from '../engine/threadEvent.js'
import type { ThreadSliceLike } from './createThreadSlice.js'
import { eventActionOf } from './eventAction.js'
import { shareStructure } from './structuralSharing.js'

/** The states of a thread's slices, by reducer path: the thread's projection. */
export type SliceStates = Readonly<Record<string, unknown>>

/**
 * The projection of a thread bound to `slices`: each event's action folded by every slice's
 * reducer as written (so a slice's `extraReducers` may react to the commands of the thread's
 * other slices). Its version names every slice and its reducers' version: a snapshot of another
 * combination is folded again from the events.
 */
export function projectionOf(slices: readonly ThreadSliceLike[]): Projection<SliceStates> & { version: string } {
  return {
    initial: Object.fromEntries(slices.map((s) => [s.reducerPath, s.initialThreadState()])),
    version: slices.map((s) => `${s.reducerPath}@${s.version}`).join(','),
    fold: (state: SliceStates, e: ThreadEvent): SliceStates => {
      const action = eventActionOf(e) as unknown as UnknownAction
      let out: Record<string, unknown> | undefined
      for (const s of slices) {
        const prev = state[s.reducerPath]
        const next = s.fold(prev as never, action)
        if (next !== prev) (out ??= { ...state })[s.reducerPath] = next
      }
      return out ?? state
    }
  }
}

/**
 * Keep every part of a replayed state that did not change as the object it was: a replay folds
 * the suffix again and rebuilds unchanged items as new objects, which would re-render every
 * memoized component that shows one (see `structuralSharing.ts` for why not RTK Query's).
 */
export function shareStates(prev: SliceStates, next: SliceStates): SliceStates {
  let out: Record<string, unknown> | undefined
  for (const [path, value] of Object.entries(next)) {
    const shared = shareStructure(prev[path], value)
    if (shared !== value) (out ??= { ...next })[path] = shared
  }
  return out ?? next
}

/** The entries of `next` that are not the same objects as in `prev`: what an action must carry. */
export function changedStates(prev: SliceStates, next: SliceStates): Record<string, unknown> {
  const out: Record<string, unknown> = {}
  for (const [path, value] of Object.entries(next)) if (prev[path] !== value) out[path] = value
  return out
}
