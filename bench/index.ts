/**
 * The benchmark suite of the foundation: `npm run bench [-- filter…]`.
 *
 * Runs every bench (or those whose name contains one of the filter arguments) in sequence and
 * prints one JSON object per figure on its own line, then a summary object with every figure and
 * the machine they were measured on.
 *
 * Profile a slow area with e.g. `node --cpu-prof --import tsx bench/index.ts record`.
 */

import { spawn } from 'node:child_process'
import { existsSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { cpus, arch, platform, release, totalmem } from 'node:os'
import { createInterface } from 'node:readline'
import { getCrypto } from '../src/core/crypto/index.js'
import { aclBenches } from './acl.js'
import { dbBenches } from './db.js'
import { engineBenches } from './engine.js'
import { gcAvailable, Reporter, type Bench } from './harness.js'
import { networkBenches } from './network.js'
import { rawBenches, rawSink } from './raw.js'
import { recordBenches } from './record.js'
import { cleanupStorage, storageBenches } from './storage.js'

const all: Bench[] = [...rawBenches, ...recordBenches, ...storageBenches, ...engineBenches, ...aclBenches, ...dbBenches, ...networkBenches]

/** The areas a full run measures, each in a process of its own. */
const AREAS = ['raw', 'record', 'storage', 'engine', 'acl', 'db', 'network']
/** The browser figures, from bench/browser.ts in a process of its own (Chromium through playwright-core). */
const BROWSER_AREA = 'browser'
const CHROMIUM = '/usr/bin/chromium'
const AREAS_RUN: string[] = []

/**
 * A full run measures each area in a fresh process: one area's heap (100,000-event histories,
 * ten libp2p nodes) must not become the next area's garbage collection.
 */
async function runAreas(): Promise<void> {
  const figures: Array<Record<string, unknown>> = []
  let machine: unknown
  const started = process.hrtime.bigint()
  // The browser area (bench/browser.ts) drives Debian's Chromium; it runs where one is installed.
  const browser = existsSync(CHROMIUM) ? [BROWSER_AREA] : []
  if (browser.length === 0) process.stderr.write(`bench: no ${CHROMIUM}, the browser figures are skipped (docs/BROWSER.md)\n`)
  for (const area of [...AREAS, ...browser]) {
    const script = area === BROWSER_AREA ? fileURLToPath(new URL('./browser.ts', import.meta.url)) : (process.argv[1] as string)
    const args = area === BROWSER_AREA ? [] : ['--area', area]
    const child = spawn(process.execPath, [...process.execArgv, script, ...args], { stdio: ['ignore', 'pipe', 'inherit'] })
    for await (const line of createInterface({ input: child.stdout })) {
      if (!line.startsWith('{')) continue
      const value = JSON.parse(line) as Record<string, unknown>
      if (value.summary === true) {
        machine = value.machine
        continue
      }
      figures.push(value)
      process.stdout.write(line + '\n')
    }
    const code = await new Promise<number | null>((resolve) => child.once('close', resolve))
    if (code !== 0) throw new Error(`bench area ${area} exited with ${code}`)
  }
  if (browser.length > 0) AREAS_RUN.push(BROWSER_AREA)
  const targets = figures.filter((f) => f.target !== undefined).map((f) => ({ bench: f.bench, value: f.value, unit: f.unit, target: f.target }))
  process.stdout.write(
    JSON.stringify({ summary: true, figures, targets, machine, isolated_areas: [...AREAS, ...AREAS_RUN], elapsed_s: Math.round(Number(process.hrtime.bigint() - started) / 1e8) / 10 }) + '\n'
  )
}

async function main(): Promise<void> {
  const args = process.argv.slice(2).filter((a) => a !== '--')
  const areaAt = args.indexOf('--area')
  const area = areaAt < 0 ? undefined : args[areaAt + 1]
  const filters = areaAt < 0 ? args : []
  if (filters.length === 0 && area === undefined) return runAreas()
  const selected =
    area !== undefined ? all.filter((b) => b.name.startsWith(`${area}.`)) : all.filter((b) => filters.some((f) => b.name.includes(f)))
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
