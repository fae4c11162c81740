/**
 * Node side of the browser tests: bundle a page entry from TypeScript with esbuild (platform
 * `browser`, straight from `src/` and `adapters/`), serve it on 127.0.0.1 (a secure context, so
 * IndexedDB and Web Locks behave as on a real site), and drive Debian's Chromium with
 * playwright-core.
 *
 * Chromium: `/usr/bin/chromium` (`apt-get install -y chromium`), or `CHROMIUM_PATH`.
 */
import { existsSync } from 'node:fs'
import { mkdtemp, rm } from 'node:fs/promises'
import { createServer, type Server } from 'node:http'
import { tmpdir } from 'node:os'
import { dirname, join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { build } from 'esbuild'
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core'

const here = dirname(fileURLToPath(import.meta.url))
/** The repository root (this file is test/browser/support/harness.ts). */
export const ROOT = resolve(here, '../../..')
/** Page entries, bundled on demand. */
export const PAGES = resolve(here, '../page')

/**
 * Flags for a headless Chromium on a machine with no network: without the background-networking
 * ones Chromium keeps dialing Google services, which a closed network refuses, slowly.
 */
export const CHROMIUM_ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--disable-dev-shm-usage'
]

/** How long one awaited page condition may take before the test fails. */
export const PAGE_WAIT_MS = 20_000

export function chromiumPath(): string {
  const path = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium'
  if (!existsSync(path)) {
    throw new Error(`no Chromium at ${path}: install it (apt-get install -y chromium, as .ci/run does) or set CHROMIUM_PATH`)
  }
  return path
}

export function launchBrowser(): Promise<Browser> {
  return chromium.launch({ executablePath: chromiumPath(), args: CHROMIUM_ARGS })
}

/** A browser whose profile (IndexedDB included) lives in `userDataDir`: relaunch with the same dir to restart it. */
export function launchPersistent(userDataDir: string): Promise<BrowserContext> {
  return chromium.launchPersistentContext(userDataDir, { executablePath: chromiumPath(), args: CHROMIUM_ARGS })
}

const bundles = new Map<string, Promise<string>>()

/**
 * Bundle a page entry (a path under test/browser/page/) for the browser, once per process.
 * `vitest` resolves to the page-side runner, so modules written against vitest's API (the shared
 * conformance suites) register their cases in the page.
 */
export function bundle(entry: string): Promise<string> {
  let done = bundles.get(entry)
  if (done === undefined) {
    done = build({
      entryPoints: [join(PAGES, entry)],
      absWorkingDir: ROOT,
      bundle: true,
      format: 'esm',
      platform: 'browser',
      target: 'chrome120',
      write: false,
      logLevel: 'silent',
      // A development build, as an application's dev server would make (the library's dev checks on).
      define: { 'process.env.NODE_ENV': '"development"' },
      alias: { vitest: join(PAGES, 'vitestShim.ts') },
      sourcemap: process.env.BROWSER_SOURCEMAP === '1' ? 'inline' : false
    }).then((result) => {
      const out = result.outputFiles[0]
      if (out === undefined) throw new Error(`esbuild produced nothing for ${entry}`)
      return out.text
    })
    bundles.set(entry, done)
  }
  return done
}

/** An HTTP server on 127.0.0.1 serving one page: `/` loads `/app.js`, the bundle of `entry`. */
export interface PageServer {
  readonly url: string
  close(): Promise<void>
}

export async function servePage(entry: string): Promise<PageServer> {
  const js = await bundle(entry)
  const html = '<!doctype html><meta charset="utf-8"><title>redux-threads browser test</title><script type="module" src="/app.js"></script>'
  const server: Server = createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0]
    if (path === '/' || path === '/index.html') {
      res.writeHead(200, { 'content-type': 'text/html; charset=utf-8', 'cache-control': 'no-store' })
      res.end(html)
    } else if (path === '/app.js') {
      res.writeHead(200, { 'content-type': 'text/javascript; charset=utf-8', 'cache-control': 'no-store' })
      res.end(js)
    } else if (path === '/favicon.ico') {
      res.writeHead(204) // asked for by every page; not an error worth logging
      res.end()
    } else {
      res.writeHead(404)
      res.end()
    }
  })
  await new Promise<void>((ok, fail) => {
    server.once('error', fail)
    server.listen(0, '127.0.0.1', () => ok())
  })
  const address = server.address()
  if (address === null || typeof address === 'string') throw new Error('no server address')
  return {
    url: `http://127.0.0.1:${address.port}/`,
    close: () =>
      new Promise<void>((ok) => {
        server.closeAllConnections()
        server.close(() => ok())
      })
  }
}

/** What went wrong in a page: uncaught errors and console errors, for failure messages. */
export interface PageLog {
  readonly errors: string[]
}

const logs = new WeakMap<Page, PageLog>()
/** Every page's errors since the last {@link takePageErrors}. */
let unclaimed: string[] = []

/**
 * The uncaught errors and console errors of every page opened in this process since the last
 * call. The browser tests expect none after each test: a library that threw in a page callback
 * (a timer, a socket event) would otherwise pass unnoticed.
 */
export function takePageErrors(): string[] {
  const errors = unclaimed
  unclaimed = []
  return errors
}

/** The page's uncaught errors and console errors so far. */
export function pageLog(page: Page): PageLog {
  return logs.get(page) ?? { errors: [] }
}

/**
 * Open `url` in a new page of `context` and wait until its entry has installed `window.harness`.
 * Uncaught page errors and console errors are kept (see {@link pageLog}) and echoed when
 * `BROWSER_DEBUG=1`.
 */
export async function openPage(context: BrowserContext, url: string): Promise<Page> {
  const page = await context.newPage()
  watch(page)
  await page.goto(url)
  await page.waitForFunction(() => (globalThis as { harness?: unknown }).harness !== undefined, undefined, { timeout: PAGE_WAIT_MS })
  return page
}

/** Reload `page` and wait for its harness again. */
export async function reloadPage(page: Page): Promise<void> {
  await page.reload()
  await page.waitForFunction(() => (globalThis as { harness?: unknown }).harness !== undefined, undefined, { timeout: PAGE_WAIT_MS })
}

function watch(page: Page): void {
  const log: PageLog = { errors: [] }
  logs.set(page, log)
  const debug = process.env.BROWSER_DEBUG === '1'
  page.on('pageerror', (err) => {
    log.errors.push(`pageerror: ${err.stack ?? err.message}`)
    unclaimed.push(`pageerror: ${err.stack ?? err.message}`)
    if (debug) console.error('[page error]', err)
  })
  page.on('console', (msg) => {
    if (msg.type() === 'error') {
      log.errors.push(`console.error: ${msg.text()}`)
      unclaimed.push(`console.error: ${msg.text()}`)
    }
    if (debug) console.log(`[page ${msg.type()}]`, msg.text())
  })
}

/** A new temporary directory (a Chromium profile), and how to remove it. */
export async function tempProfile(label: string): Promise<{ dir: string; remove: () => Promise<void> }> {
  const dir = await mkdtemp(join(tmpdir(), `redux-threads-${label}-`))
  return { dir, remove: () => rm(dir, { recursive: true, force: true }) }
}

/**
 * SIGKILL the Chromium running on the profile `userDataDir` (its main process: the one with that
 * `--user-data-dir` and no `--type=`), as a crash or a killed tab process would end it: no
 * shutdown, no flush. Resolves when `context` has seen the browser go.
 */
export async function killBrowser(context: BrowserContext, userDataDir: string): Promise<number> {
  const { readdir, readFile } = await import('node:fs/promises')
  const pids: number[] = []
  for (const entry of await readdir('/proc')) {
    if (!/^\d+$/.test(entry)) continue
    let args: string[]
    try {
      args = (await readFile(`/proc/${entry}/cmdline`, 'utf8')).split('\0')
    } catch {
      continue // exited meanwhile
    }
    if (args.includes(`--user-data-dir=${userDataDir}`) && !args.some((a) => a.startsWith('--type='))) pids.push(Number(entry))
  }
  if (pids.length !== 1) throw new Error(`expected one Chromium main process on ${userDataDir}, found ${JSON.stringify(pids)}`)
  const pid = pids[0] as number
  const closed = new Promise<void>((resolve) => context.once('close', () => resolve()))
  process.kill(pid, 'SIGKILL')
  await closed
  return pid
}
