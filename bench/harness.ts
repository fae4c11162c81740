/**
 * The timing harness of the benchmark suite: a warm-up run, then N timed runs, median ops/s.
 *
 * Figures are printed as JSON Lines (one object per figure) and kept for the summary that
 * `bench/index.ts` prints at the end.
 */

import { setFlagsFromString } from 'node:v8'
import { runInNewContext } from 'node:vm'

/** A reference value a figure is compared with. */
export interface Limit {
  readonly name: string
  readonly value: number
}

/** A goal printed beside a figure, with whether this run met it. */
export interface Target {
  readonly name: string
  /** `min`: the figure must be at least `value`; `max`: at most. */
  readonly kind: 'min' | 'max'
  readonly value: number
  /** What `value` is compared with: the figure itself, or its ratio to the limit. */
  readonly of: 'value' | 'ratio'
  readonly met: boolean
}

/** One printed figure. */
export interface Figure {
  readonly bench: string
  readonly unit: string
  readonly value: number
  readonly limit?: Limit
  readonly ratio?: number
  readonly target?: Target
  /** Operations per timed run. */
  readonly n?: number
  readonly [extra: string]: unknown
}

/** The result of {@link time}. */
export interface Timing {
  /** Median operations per second over the timed runs. */
  readonly opsPerSec: number
  /** Median seconds per operation. */
  readonly secPerOp: number
  /** Operations per run. */
  readonly n: number
  /** Operations per second of every timed run, in order. */
  readonly runs: readonly number[]
}

export interface TimeOptions<S> {
  /** Operations per run: the body must perform exactly this many. */
  readonly n: number
  /** Timed runs after the warm-up (default 5). */
  readonly runs?: number
  /** Untimed warm-up runs (default 1). */
  readonly warmup?: number
  /** Untimed preparation of each run (warm-up included); its result goes to the body. */
  readonly setup?: (run: number) => S | Promise<S>
}

type GcFn = () => void

function findGc(): GcFn | undefined {
  const exposed = (globalThis as { gc?: GcFn }).gc
  if (typeof exposed === 'function') return exposed
  // `npm run bench` is plain `tsx bench/index.ts`: turn the flag on at run time instead.
  try {
    setFlagsFromString('--expose-gc')
    const gc = runInNewContext('gc') as unknown
    return typeof gc === 'function' ? (gc as GcFn) : undefined
  } catch {
    return undefined
  }
}

const gcFn = findGc()

/** True when the harness can force a full collection between runs. */
export const gcAvailable = gcFn !== undefined

/** Force a full garbage collection when possible (outside timed regions only). */
export function collect(): void {
  gcFn?.()
}

function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b)
  const mid = sorted.length >> 1
  return sorted.length % 2 === 1 ? (sorted[mid] as number) : ((sorted[mid - 1] as number) + (sorted[mid] as number)) / 2
}

/**
 * Time `body`, which performs `n` operations, over a warm-up and `runs` timed runs. The setup
 * of each run and a forced GC before it stay outside the timed region.
 */
export async function time<S = undefined>(options: TimeOptions<S>, body: (state: S, n: number) => unknown): Promise<Timing> {
  const { n } = options
  const runs = options.runs ?? 5
  const warmup = options.warmup ?? 1
  const rates: number[] = []
  for (let run = 0; run < warmup + runs; run++) {
    const state = (options.setup === undefined ? undefined : await options.setup(run)) as S
    collect()
    const start = process.hrtime.bigint()
    const out = body(state, n)
    if (out instanceof Promise) await out
    const elapsed = Number(process.hrtime.bigint() - start) / 1e9
    if (run >= warmup) rates.push(n / elapsed)
  }
  const opsPerSec = median(rates)
  return { opsPerSec, secPerOp: 1 / opsPerSec, n, runs: rates }
}

/** Round to `digits` significant digits (figures do not carry more precision than that). */
export function sig(value: number, digits = 4): number {
  if (value === 0 || !Number.isFinite(value)) return value
  return Number(value.toPrecision(digits))
}

/** A minimum/maximum target and whether `actual` meets it. */
export function target(name: string, kind: 'min' | 'max', value: number, actual: number, of: 'value' | 'ratio' = 'value'): Target {
  return { name, kind, value, of, met: kind === 'min' ? actual >= value : actual <= value }
}

/** Where figures go: printed as JSON Lines and kept for the summary. */
export class Reporter {
  readonly figures: Figure[] = []

  emit(figure: Figure): void {
    this.figures.push(figure)
    process.stdout.write(JSON.stringify(figure) + '\n')
  }

  /** Emit a throughput figure from a timing, with an optional limit to compare against. */
  rate(bench: string, unit: string, timing: Timing, extra: { limit?: Limit; target?: (value: number, ratio: number | undefined) => Target; [k: string]: unknown } = {}): Figure {
    const { limit, target: makeTarget, ...rest } = extra
    const value = Math.round(timing.opsPerSec)
    const ratio = limit === undefined ? undefined : sig(timing.opsPerSec / limit.value, 3)
    const figure: Figure = {
      bench,
      unit,
      value,
      ...(limit === undefined ? {} : { limit: { name: limit.name, value: Math.round(limit.value) }, ratio }),
      ...(makeTarget === undefined ? {} : { target: makeTarget(value, ratio) }),
      n: timing.n,
      ...rest,
      spread: spread(timing)
    }
    this.emit(figure)
    return figure
  }
}

/** (max - min) / median of the timed runs: how far to trust a figure. */
function spread(timing: Timing): number {
  if (timing.runs.length < 2) return 0
  return sig((Math.max(...timing.runs) - Math.min(...timing.runs)) / timing.opsPerSec, 2)
}

/** One named benchmark; `run` emits one or more figures whose names start with `name`. */
export interface Bench {
  readonly name: string
  run(reporter: Reporter): Promise<void>
}

/** Memoise a measurement: benches share it, and it runs only if some selected bench needs it. */
export function once<T>(fn: () => Promise<T>): () => Promise<T> {
  let value: Promise<T> | undefined
  return () => (value ??= fn())
}
