/**
 * Long fuzz run: `npm run fuzz [-- <seconds>]` (default 60 s).
 *
 * Runs {@link fuzzRecords} in batches with fresh random seeds (one record batch in four under the
 * pure-JS noble provider), and every third batch {@link fuzzCar} (the thread CAR reader), until the
 * time is up, then prints a JSON summary. On a failure it prints the seed and iteration that
 * reproduce it (`fuzzRecords({ iterations: iteration + 1, seed })`, or `fuzzCar` for a target
 * named `parseThreadCar/…`, `importThreadCar/…` or `car/setup`) and exits with status 1.
 */
import { randomInt } from 'node:crypto'
import { nobleCrypto } from '../../src/core/crypto/nobleCrypto.js'
import { fuzzCar } from './carFuzz.js'
import { FuzzFailure, fuzzRecords, type FuzzSummary } from './recordFuzz.js'

const BATCH = 2000
/** CAR cases per batch: each parses and verifies a whole thread, about ten times a record case. */
const CAR_BATCH = 200

function parseSeconds(argv: readonly string[]): number {
  const arg = argv.find((a) => /^\d+(\.\d+)?$/.test(a))
  return arg === undefined ? 60 : Number(arg)
}

async function main(): Promise<number> {
  const seconds = parseSeconds(process.argv.slice(2))
  const started = performance.now()
  const deadline = started + seconds * 1000
  const rejectedByName: Record<string, number> = {}
  const byTarget: Record<string, { accepted: number; rejected: number }> = {}
  let iterations = 0
  let accepted = 0
  let batches = 0
  let nobleBatches = 0
  let carBatches = 0
  let carIterations = 0
  while (performance.now() < deadline) {
    const seed = randomInt(0, 2 ** 32)
    const car = batches % 3 === 2
    const noble = !car && (batches - carBatches) % 4 === 3
    const harness = car ? 'car' : 'records'
    let summary: FuzzSummary
    try {
      summary = car
        ? await fuzzCar({ iterations: CAR_BATCH, seed })
        : noble
          ? fuzzRecords({ iterations: BATCH / 4, seed, crypto: nobleCrypto })
          : fuzzRecords({ iterations: BATCH, seed })
    } catch (e) {
      const failure =
        e instanceof FuzzFailure
          ? { harness, seed: e.seed, iteration: e.iteration, target: e.target, message: e.message, provider: noble ? 'noble' : 'node' }
          : { harness, seed, message: e instanceof Error ? `${e.name}: ${e.message}` : String(e), provider: noble ? 'noble' : 'node' }
      console.log(JSON.stringify({ ok: false, failure, iterationsBefore: iterations }, null, 2))
      return 1
    }
    batches++
    if (noble) nobleBatches++
    if (car) {
      carBatches++
      carIterations += summary.iterations
    }
    iterations += summary.iterations
    accepted += summary.accepted
    for (const [name, n] of Object.entries(summary.rejectedByName)) rejectedByName[name] = (rejectedByName[name] ?? 0) + n
    for (const [target, t] of Object.entries(summary.byTarget)) {
      const into = (byTarget[target] ??= { accepted: 0, rejected: 0 })
      into.accepted += t.accepted
      into.rejected += t.rejected
    }
  }
  const elapsed = performance.now() - started
  console.log(
    JSON.stringify(
      {
        ok: true,
        seconds: Math.round(elapsed) / 1000,
        iterations,
        perSecond: Math.round((iterations / elapsed) * 1000),
        batches,
        nobleBatches,
        carBatches,
        carIterations,
        accepted,
        rejectedByName,
        byTarget
      },
      null,
      2
    )
  )
  return 0
}

main().then(
  (code) => {
    process.exitCode = code
  },
  (e: unknown) => {
    console.error(e)
    process.exitCode = 1
  }
)
