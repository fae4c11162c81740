/**
 * Browser figures (issue 12): `npx tsx bench/browser.ts [runs]`. Needs Chromium (docs/BROWSER.md).
 *
 * Prints JSON Lines like the other benches (bench/harness.ts's figure shape), then a summary:
 *
 * - `browser.commands`: commands/s a page makes durable (signed, encrypted, stored in IndexedDB
 *   through localforage): 1,000 dispatched in one turn, until every `unwrap()` resolved.
 * - `browser.replicate.10000`: a page joins a thread of 10,000 events that only a Node follower
 *   serves (the writer has gone), over WebSockets; ms from the join until the page's store holds
 *   all 10,000 (target < 3 s), and until every record is durable in IndexedDB. Its events/s is the
 *   page's ingest rate.
 *
 * - `browser.storage.batch`: puts/s of one 4,000-put batch through the localforage adapter, with
 *   the same puts in one raw IndexedDB transaction as its limit (the floor under both figures above).
 *
 * Times are taken in the page (`performance.now()`), medians over `runs` timed runs after one
 * warm-up, each run in a fresh browser context (empty IndexedDB).
 */
import { cpus } from 'node:os'
import type { Browser } from 'playwright-core'
import { launchBrowser, openPage, servePage } from '../test/browser/support/harness.js'
import { call, nodePeer, todos, type NodePeer } from '../test/browser/support/peers.js'
import { sig, target, type Figure } from './harness.js'

const COMMANDS = 1_000
const REPLICATE_N = 10_000
const runs = Math.max(1, Number(process.argv.slice(2).find((a) => /^\d+$/.test(a)) ?? 3))

const figures: Figure[] = []
function emit(figure: Figure): void {
  figures.push(figure)
  process.stdout.write(JSON.stringify(figure) + '\n')
}

function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b)
  const mid = sorted.length >> 1
  return sorted.length % 2 === 1 ? (sorted[mid] as number) : ((sorted[mid - 1] as number) + (sorted[mid] as number)) / 2
}

function spread(values: readonly number[]): number {
  const m = median(values)
  return values.length < 2 || m === 0 ? 0 : sig((Math.max(...values) - Math.min(...values)) / m, 2)
}

async function freshPage(browser: Browser, url: string, db: string) {
  const context = await browser.newContext()
  const page = await openPage(context, url)
  await call(page, 'start', { db })
  return { page, close: async () => { await call(page, 'close').catch(() => undefined); await context.close() } }
}

/** The storage floor under both figures: one adapter batch against one raw IndexedDB transaction. */
async function storageFigure(browser: Browser, url: string): Promise<void> {
  const N = 4_000
  const adapter: number[] = []
  const raw: number[] = []
  for (let run = 0; run <= runs; run++) {
    const { page, close } = await freshPage(browser, url, `bench-storage-${run}`)
    try {
      const r = await call(page, 'storageBatch', N, 600)
      if (run > 0) {
        adapter.push(N / (r.adapterMs / 1000))
        raw.push(N / (r.rawMs / 1000))
      }
    } finally {
      await close()
    }
  }
  emit({
    bench: 'browser.storage.batch',
    unit: 'puts/s',
    value: Math.round(median(adapter)),
    n: N,
    limit: { name: 'raw IndexedDB, one transaction', value: Math.round(median(raw)) },
    ratio: sig(median(adapter) / median(raw), 3),
    runs: adapter.map((r) => Math.round(r)),
    spread: spread(adapter),
    note: `one batch of ${N} puts of 600 bytes through the localforage adapter, against the same puts in one raw IndexedDB transaction`
  })
}

async function commandsFigure(browser: Browser, url: string): Promise<void> {
  const rates: number[] = []
  for (let run = 0; run <= runs; run++) {
    const { page, close } = await freshPage(browser, url, `bench-commands-${run}`)
    try {
      await call(page, 'createThread')
      const ms = await call(page, 'burst', COMMANDS, 'c')
      if ((await call(page, 'count')) !== COMMANDS) throw new Error('browser.commands: not every command applied')
      if (run > 0) rates.push(COMMANDS / (ms / 1000))
    } finally {
      await close()
    }
  }
  const value = Math.round(median(rates))
  emit({ bench: 'browser.commands', unit: 'commands/s', value, n: COMMANDS, runs: rates.map((r) => Math.round(r)), spread: spread(rates), storage: 'localforage (IndexedDB)', note: `${COMMANDS} dispatched in one turn, until every unwrap() resolved` })
}

/** A Node writer writes the thread, a Node follower replicates it, the writer leaves. */
async function followerOnly(): Promise<{ follower: NodePeer; invite: string }> {
  const writer = await nodePeer()
  const follower = await nodePeer()
  const thread = await writer.createThread({ slices: [todos] })
  for (let i = 0; i < REPLICATE_N; i += 1_000) {
    for (let j = i; j < i + 1_000; j++) writer.store.dispatch(todos.actions.added(`e-${j}`))
    await thread.flush()
  }
  await writer.peer.idle()
  const invite = await thread.invite()
  const followed = await follower.joinThread(await thread.invite({ role: 'follow' }))
  const head = thread.heads().get(writer.id)?.seq
  while (followed.heads().get(writer.id)?.seq !== head) await follower.syncNow()
  await writer.close()
  return { follower, invite }
}

async function replicateFigure(browser: Browser, url: string): Promise<void> {
  const { follower, invite } = await followerOnly()
  const applied: number[] = []
  const durable: number[] = []
  try {
    for (let run = 0; run <= runs; run++) {
      const { page, close } = await freshPage(browser, url, `bench-replicate-${run}`)
      try {
        // The invite names the writer, who is gone: the page reaches the follower it dialed.
        await call(page, 'dial', follower.id, follower.wsAddresses())
        const start = await call(page, 'now')
        const all = page.evaluate((n) => (globalThis as unknown as { harness: { whenCount(n: number): Promise<number> } }).harness.whenCount(n), REPLICATE_N)
        await call(page, 'join', invite)
        const done = await all
        await call(page, 'idle')
        const stored = await call(page, 'now')
        if ((await call(page, 'count')) !== REPLICATE_N) throw new Error('browser.replicate: the page holds the wrong number of events')
        if (run > 0) {
          applied.push(done - start)
          durable.push(stored - start)
        }
      } finally {
        await close()
      }
    }
  } finally {
    await follower.close()
  }
  const value = sig(median(applied), 3)
  emit({
    bench: `browser.replicate.${REPLICATE_N}`,
    unit: 'ms',
    value,
    n: REPLICATE_N,
    target: target('< 3 s to replicate 10,000 events from a Node follower into a page', 'max', 3000, value),
    events_per_s: Math.round(REPLICATE_N / (value / 1000)),
    durable_ms: sig(median(durable), 3),
    runs_ms: applied.map((v) => sig(v, 3)),
    spread: spread(applied),
    note: 'ms from joinThread until the page store holds every event; durable_ms: until peer.idle() (every record in IndexedDB)'
  })
}

async function main(): Promise<void> {
  const started = performance.now()
  const [server, browser] = await Promise.all([servePage('peer.ts'), launchBrowser()])
  try {
    await storageFigure(browser, server.url)
    await commandsFigure(browser, server.url)
    await replicateFigure(browser, server.url)
  } finally {
    await browser.close()
    await server.close()
  }
  process.stdout.write(
    JSON.stringify({
      summary: true,
      figures,
      targets: figures.filter((f) => f.target !== undefined).map((f) => ({ bench: f.bench, value: f.value, unit: f.unit, target: f.target })),
      machine: { browser: 'Chromium (Debian)', cpus: cpus().length, node: process.version },
      elapsed_s: Math.round((performance.now() - started) / 100) / 10
    }) + '\n'
  )
}

main().catch((e: unknown) => {
  console.error(e)
  process.exit(1)
})
