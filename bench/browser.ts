/**
 * Browser figures (issue 12): `npx tsx bench/browser.ts [runs] [--todos]`. Needs Chromium (docs/BROWSER.md).
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
 * - `browser.replicate.10000.todo_list` (with `--todos`): the same with the example todo list as
 *   the slice, whose Immer array is copied and frozen on every event.
 *
 * Times are taken in the page (`performance.now()`), medians over `runs` timed runs after one
 * warm-up, each run in a fresh browser context (empty IndexedDB).
 */
import { writeFile } from 'node:fs/promises'
import { cpus } from 'node:os'
import type { Browser } from 'playwright-core'
import { launchBrowser, openPage, servePage } from '../test/browser/support/harness.js'
import { configureStore } from '@reduxjs/toolkit'
import { libp2pNetwork } from '../adapters/network/libp2p.js'
import { memoryStorage } from '../adapters/storage/memory.js'
import { createPeer } from '../src/redux/createPeer.js'
import { tally } from '../test/browser/page/tally.js'
import type { SliceName } from '../test/browser/page/peer.js'
import { call, nodePeer, todos, WS_LOOPBACK, type NodePeer } from '../test/browser/support/peers.js'
import { sig, target, type Figure } from './harness.js'

const COMMANDS = 1_000
const REPLICATE_N = 10_000
/** `--profile <file>`: write the page's CPU profile (Chrome DevTools format) of the first timed replicate run. */
const PROFILE = ((at) => (at < 0 ? undefined : process.argv[at + 1]))(process.argv.indexOf('--profile'))
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
      await call(page, 'createThread', 'tally')
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

/** A Node writer writes a thread of `n` events into `kind`, a Node follower replicates it, the writer leaves. */
async function followerOnly(kind: SliceName, n: number): Promise<{ follower: NodePeer; invite: string; hash: number }> {
  const peer = createPeer({ storage: memoryStorage(), network: libp2pNetwork({ listen: WS_LOOPBACK }), syncIntervalMs: 500 })
  const store = configureStore({
    reducer: { [peer.reducerPath]: peer.reducer, todos: todos.reducer, tally: tally.reducer },
    middleware: (d) => d({ immutableCheck: false, serializableCheck: false }).concat(peer.middleware)
  })
  const follower = await nodePeer()
  try {
    const { threadId } = await store.dispatch(peer.thunks.createThread({ slices: [kind === 'todos' ? todos : tally] })).unwrap()
    const thread = peer.thread(threadId)
    if (thread === undefined) throw new Error('no thread')
    for (let i = 0; i < n; i += 1_000) {
      for (let j = i; j < Math.min(n, i + 1_000); j++) store.dispatch(kind === 'todos' ? todos.actions.added(`e-${j}`) : tally.actions.added({ n: j }))
      await thread.flush()
    }
    await peer.idle()
    const invite = await store.dispatch(peer.thunks.invite({ threadId })).unwrap()
    const followed = await follower.joinThread(await store.dispatch(peer.thunks.invite({ threadId, role: 'follow' })).unwrap())
    const head = thread.heads().get(peer.id as string)?.seq
    while (followed.heads().get(peer.id as string)?.seq !== head) await follower.syncNow()
    return { follower, invite, hash: store.getState().tally.hash }
  } catch (e) {
    await follower.close()
    throw e
  } finally {
    await peer.close()
  }
}

/**
 * `kind` 'tally' is the headline (the library's cost, as bench/network.ts measures in Node);
 * 'todos' adds an application's todo list, whose reducer copies and freezes the whole array on
 * every event (Immer), so its cost grows with the square of the events.
 */
async function replicateFigure(browser: Browser, url: string, kind: SliceName, timedRuns: number, warmup: number): Promise<void> {
  const { follower, invite, hash } = await followerOnly(kind, REPLICATE_N)
  const applied: number[] = []
  const durable: number[] = []
  try {
    for (let run = 0; run < warmup + timedRuns; run++) {
      const { page, close } = await freshPage(browser, url, `bench-replicate-${kind}-${run}`)
      try {
        // The invite names the writer, who is gone: the page reaches the follower it dialed.
        await call(page, 'dial', follower.id, follower.wsAddresses())
        const cdp = PROFILE !== undefined && run === warmup ? await page.context().newCDPSession(page) : undefined
        if (cdp !== undefined) {
          await cdp.send('Profiler.enable')
          await cdp.send('Profiler.start')
        }
        const start = await call(page, 'now')
        const all = page.evaluate((n) => (globalThis as unknown as { harness: { whenCount(n: number): Promise<number> } }).harness.whenCount(n), REPLICATE_N)
        await call(page, 'join', invite, kind)
        const done = await all
        await call(page, 'idle')
        const stored = await call(page, 'now')
        if (cdp !== undefined && PROFILE !== undefined) {
          const { profile } = await cdp.send('Profiler.stop')
          await writeFile(PROFILE, JSON.stringify(profile))
          process.stderr.write(`bench: the page's CPU profile of one replicate run is in ${PROFILE} (open it in Chrome DevTools)\n`)
        }
        if ((await call(page, 'count')) !== REPLICATE_N) throw new Error('browser.replicate: the page holds the wrong number of events')
        if (kind === 'tally' && (await call(page, 'tallyHash')) !== hash) throw new Error('browser.replicate: the page folded another order than the writer')
        if (run >= warmup) {
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
    bench: kind === 'tally' ? `browser.replicate.${REPLICATE_N}` : `browser.replicate.${REPLICATE_N}.todo_list`,
    unit: 'ms',
    value,
    n: REPLICATE_N,
    ...(kind === 'tally' ? { target: target('< 3 s to replicate 10,000 events from a Node follower into a page', 'max', 3000, value) } : {}),
    events_per_s: Math.round(REPLICATE_N / (value / 1000)),
    durable_ms: sig(median(durable), 3),
    runs_ms: applied.map((v) => sig(v, 3)),
    spread: spread(applied),
    slice: kind === 'tally' ? 'event tally (count and order hash), as bench/network.ts' : 'examples/todo todo list (an Immer array: copied and frozen on every event)',
    note: 'ms from joinThread until the page store holds every event; durable_ms: until peer.idle() (every record in IndexedDB)'
  })
}

async function main(): Promise<void> {
  const started = performance.now()
  const [server, browser] = await Promise.all([servePage('peer.ts'), launchBrowser()])
  try {
    await storageFigure(browser, server.url)
    await commandsFigure(browser, server.url)
    await replicateFigure(browser, server.url, 'tally', runs, 1)
    // Slow (the square of the events): one run, no warm-up, unless asked for with --todos.
    if (process.argv.includes('--todos')) await replicateFigure(browser, server.url, 'todos', 1, 0)
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
