import { uniformFloat64 } from 'pure-rand/distribution/uniformFloat64'
import { xoroshiro128plus } from 'pure-rand/generator/xoroshiro128plus'

/**
 * A seeded random number generator in [0, 1) for tests: the same seed gives the same sequence,
 * so a failing run replays exactly. pure-rand's xoroshiro128+ (the generator fast-check uses).
 */
export function seededRandom(seed: number): () => number {
  const generator = xoroshiro128plus(seed)
  return () => uniformFloat64(generator)
}
