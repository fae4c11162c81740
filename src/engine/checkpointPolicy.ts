/**
 * Which checkpoints a timeline keeps: one every `every` positions near the tip, ever sparser
 * further back (spacing doubles with age), so memory is O(perLevel · log n) checkpoints while the
 * checkpoint before any position at depth d is at most d/(perLevel − 1) + `every` further back
 * (the spacing there is at most its own age, d + gap, over perLevel): d/3 with the defaults, and
 * within d/4 + `every` for depths up to about 1,800. A late event at depth d therefore costs at
 * most about 1.34·d + `every` reducer calls (1.25·d + `every` up to depth ~1,800), whatever the
 * history's length.
 */
export interface CheckpointPolicy {
  /** Spacing of checkpoints at the tip (positions). */
  readonly every: number
  /** How many checkpoints each doubling of age keeps (at least 2). */
  readonly perLevel: number
}

export const DEFAULT_CHECKPOINTS: CheckpointPolicy = { every: 32, perLevel: 4 }

/** The spacing a checkpoint of this age must be aligned to, to be kept. */
export function spacingAt(age: number, policy: CheckpointPolicy): number {
  const band = Math.max(1, Math.floor(age / (policy.every * policy.perLevel)))
  return policy.every * 2 ** Math.floor(Math.log2(band))
}

/** True when a checkpoint at `position` is still kept with the tip at `tip`. */
export function keepCheckpoint(position: number, tip: number, policy: CheckpointPolicy): boolean {
  return position % spacingAt(tip - position, policy) === 0
}
