/**
 * The benchmark suite of the foundation: `npm run bench [-- filter…]`.
 *
 * Runs every bench (or those whose name contains one of the filter arguments) in sequence and
 * prints one JSON object per figure on its own line, then a summary object with every figure and
 * the machine they were measured on.
 *
 * Profile a slow area with e.g. `node --cpu-prof --import tsx bench/index.ts record`.
 */

import { cpus, arch, platform, release, totalmem } from 'node:os'
import { getCrypto } from '../src/core/crypto/index.js'
import { engineBenches } from './engine.js'
import { gcAvailable, Reporter, type Bench } from './harness.js'
import { networkBenches } from './network.js'
import { rawBenches, rawSink } from './raw.js'
import { recordBenches } from './record.js'
import { cleanupStorage, storageBenches } from './storage.js'

const all: Bench[] = [...rawBenches, ...recordBenches, ...storageBenches, ...engineBenches, ...networkBenches]

async function main(): Promise<void> {
  const filters = process.argv.slice(2).filter((a) => a !== '--')
  const selected = filters.length === 0 ? all : all.filter((b) => filters.some((f) => b.name.includes(f)))
  if (selected.length === 0) {
    process.stderr.write(`no bench matches ${JSON.stringify(filters)}; benches: ${all.map((b) => b.name).join(', ')}\n`)
    process.exitCode = 2
    return
  }
  const reporter = new Reporter()
  const started = process.hrtime.bigint()
  try {
    for (const bench of selected) await bench.run(reporter)
  } finally {
    await cleanupStorage()
  }
  const cpuList = cpus()
  const summary = {
    summary: true,
    figures: reporter.figures,
    targets: reporter.figures
      .filter((f) => f.target !== undefined)
      .map((f) => ({ bench: f.bench, value: f.value, unit: f.unit, ...(f.ratio === undefined ? {} : { ratio: f.ratio }), target: f.target })),
    machine: {
      node: process.version,
      v8: process.versions.v8,
      platform: `${platform()} ${release()} ${arch()}`,
      cpus: { model: cpuList[0]?.model ?? 'unknown', count: cpuList.length },
      memory_gb: Math.round((totalmem() / 2 ** 30) * 10) / 10,
      crypto_provider: getCrypto().name,
      gc_between_runs: gcAvailable
    },
    filter: filters,
    elapsed_s: Math.round(Number(process.hrtime.bigint() - started) / 1e8) / 10,
    // Never zero in practice; printed so the benches' results cannot be optimised away.
    sink: rawSink() % 1000
  }
  process.stdout.write(JSON.stringify(summary) + '\n')
}

main().catch((error: unknown) => {
  process.stderr.write(`bench failed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`)
  process.exitCode = 1
})
