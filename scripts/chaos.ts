/**
 * Many chaos runs (see test/property/chaosScenario.ts): five peers, a faulty memory hub, random
 * partitions and commands, then heal and sync rounds until every peer holds the same state.
 *
 *   npx tsx scripts/chaos.ts [seeds=500] [firstSeed=1]
 *
 * Prints one JSON summary on stdout (failing seeds in full) and exits 1 if any seed failed to
 * converge. A failing seed replays with `runChaos(seed)`.
 */
import { DEFAULT_FAULTS, runChaos, type ChaosResult } from '../test/property/chaosScenario.js'

const count = Number(process.argv[2] ?? 500)
const first = Number(process.argv[3] ?? 1)
if (!Number.isSafeInteger(count) || count < 1 || !Number.isSafeInteger(first)) {
  console.error('usage: npx tsx scripts/chaos.ts [seeds=500] [firstSeed=1]')
  process.exit(2)
}

const started = Date.now()
const failures: ChaosResult[] = []
const rounds: Record<string, number> = {}
const rejected: Record<string, number> = {}
const hub = { delivered: 0, dropped: 0, duplicated: 0 }
let commands = 0
let partitions = 0
let slowest = { seed: first, ms: 0 }
for (let seed = first; seed < first + count; seed++) {
  let r: ChaosResult
  try {
    r = await runChaos(seed)
  } catch (e) {
    r = { seed, converged: false, rounds: 0, commands: 0, partitions: 0, virtualMs: 0, hashes: [], events: [], storeMismatches: 0, rejected: {}, hub: { delivered: 0, dropped: 0, duplicated: 0 }, ms: 0, problem: `threw: ${e instanceof Error ? e.stack ?? e.message : String(e)}` }
  }
  if (!r.converged) failures.push(r)
  rounds[r.rounds] = (rounds[r.rounds] ?? 0) + 1
  for (const [name, n] of Object.entries(r.rejected)) rejected[name] = (rejected[name] ?? 0) + n
  hub.delivered += r.hub.delivered
  hub.dropped += r.hub.dropped
  hub.duplicated += r.hub.duplicated
  commands += r.commands
  partitions += r.partitions
  if (r.ms > slowest.ms) slowest = { seed, ms: r.ms }
  if (process.stderr.isTTY && (seed - first + 1) % 10 === 0) process.stderr.write(`\r${seed - first + 1}/${count} seeds, ${failures.length} failed`)
}
if (process.stderr.isTTY) process.stderr.write('\n')

const summary = {
  seeds: { first, count },
  faults: DEFAULT_FAULTS,
  converged: count - failures.length,
  failed: failures.map((f) => f.seed),
  roundsToConverge: rounds,
  commands,
  partitions,
  refusalsByName: rejected,
  hub,
  slowest,
  ms: Date.now() - started,
  failures
}
console.log(JSON.stringify(summary, null, 2))
process.exit(failures.length === 0 ? 0 : 1)
