/**
 * examples/collab end to end: the app built with Vite's `build()`, served by its relay
 * (examples/collab/server.ts), two users in Chromium contexts with separate IndexedDB. Alice
 * creates a document and shares its invite link; Bob opens it; concurrent edits of the task list
 * and the text converge; Bob goes offline, both edit, he comes back and both converge; a reload
 * keeps his state. Screenshots go to test-results/collab/.
 */
import { mkdir, mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, expect, it, vi } from 'vitest'
import type { Browser, Page } from 'playwright-core'
import { build } from 'vite'
import { startCollabServer, type CollabServer } from '../../examples/collab/server.js'
import { PAGE_WAIT_MS, ROOT, launchBrowser } from './support/harness.js'

vi.setConfig({ testTimeout: 60_000, hookTimeout: 60_000 })

const ARTIFACTS = join(ROOT, 'test-results', 'collab')
let outDir: string
let relay: CollabServer
let browser: Browser

beforeAll(async () => {
  outDir = await mkdtemp(join(tmpdir(), 'collab-build-'))
  ;[, browser] = await Promise.all([
    build({ configFile: join(ROOT, 'examples/collab/vite.config.ts'), logLevel: 'silent', build: { outDir, emptyOutDir: true } }),
    launchBrowser()
  ])
  relay = await startCollabServer({ staticDir: outDir })
})

afterAll(async () => {
  await browser?.close()
  await relay?.close()
  await rm(outDir, { recursive: true, force: true })
})

/** What a user sees of the open document. */
interface View {
  title: string
  tasks: string[]
  text: string
  sync: string
  online: string
  done: string[]
  docs: string[]
}

const view = (page: Page): Promise<View> =>
  page.evaluate(() => {
    const q = (id: string) => document.querySelector(`[data-testid="${id}"]`)
    return {
      title: (q('title') as HTMLInputElement | null)?.value ?? '',
      tasks: Array.from(document.querySelectorAll('[data-testid="tasks"] .task-text'), (e) => e.textContent ?? ''),
      text: (q('text') as HTMLTextAreaElement | null)?.value ?? '',
      sync: q('sync')?.textContent ?? '',
      online: q('online')?.textContent ?? '',
      done: Array.from(document.querySelectorAll('[data-testid="tasks"] li.done .task-text'), (e) => e.textContent ?? ''),
      docs: Array.from(document.querySelectorAll('.doc-list li'), (e) => e.textContent ?? '')
    }
  })

/**
 * Wait until `check` holds of what the page shows. The view is read after each animation frame
 * of the page (a `waitForFunction` on the next frame), so the wait follows the page's rendering
 * and never sleeps; `check` stays a Node function and can name the test's values.
 */
async function until(page: Page, what: string, check: (v: View) => boolean): Promise<View> {
  const deadline = Date.now() + PAGE_WAIT_MS
  for (;;) {
    const v = await view(page)
    if (check(v)) return v
    if (Date.now() > deadline) throw new Error(`${what}: timed out; the page shows ${JSON.stringify(v)}`)
    await page.waitForFunction(() => new Promise((r) => requestAnimationFrame(() => r(true))))
  }
}

/** Uncaught errors and console errors of every page: none is expected. */
const pageErrors: string[] = []

async function open(url: string): Promise<Page> {
  const context = await browser.newContext({ viewport: { width: 1100, height: 640 } })
  const page = await context.newPage()
  page.on('pageerror', (e) => pageErrors.push(`pageerror: ${e.stack ?? e.message}`))
  page.on('console', (m) => {
    if (m.type() === 'error') pageErrors.push(`console.error: ${m.text()}`)
  })
  await page.goto(url)
  await page.waitForSelector('.app[data-ready="true"]', { timeout: PAGE_WAIT_MS })
  return page
}

const addTask = async (page: Page, text: string) => {
  await page.fill('[data-testid="new-task"]', text)
  await page.press('[data-testid="new-task"]', 'Enter')
}

/** Type at the start or the end of the notes, key by key, as a user would. */
async function typeIn(page: Page, where: 'start' | 'end', text: string): Promise<void> {
  await page.focus('[data-testid="text"]')
  await page.keyboard.press(where === 'start' ? 'Control+Home' : 'Control+End')
  await page.keyboard.type(text)
}

it('two users edit a shared document through the relay, offline and back, and after a reload', async () => {
  const alice = await open(`${relay.url}?name=alice`)
  await alice.fill('[data-testid="new-title"]', 'Plans')
  await alice.click('[data-testid="new-doc"]')
  await until(alice, 'the document opens', (v) => v.title === 'Plans' && v.sync === 'synced')
  await alice.fill('[data-testid="text"]', 'shared notes')
  await addTask(alice, 'a1')

  // The invite travels as a link: Bob opens it (as "bob", in his own browser profile).
  await alice.click('[data-testid="share"]')
  const link = new URL(await alice.inputValue('[data-testid="invite"]'))
  expect(link.hash).toMatch(/^#invite=threads/)
  link.searchParams.set('name', 'bob')
  const bob = await open(link.toString())
  await until(bob, 'bob joins and catches up', (v) => v.title === 'Plans' && v.text === 'shared notes' && v.tasks.join() === 'a1' && v.sync === 'synced')
  expect(await bob.evaluate(() => location.hash)).toBe('') // the invite leaves the address bar once used
  await until(alice, 'alice sees bob online', (v) => v.online === 'online: alice, bob' || v.online === 'online: bob, alice')
  expect(await bob.getAttribute('[data-testid="progress"]', 'value')).toBe('1')

  // Concurrent edits: both add tasks and type in the text at once.
  await Promise.all([
    addTask(alice, 'a2').then(() => typeIn(alice, 'start', 'ALICE ')),
    addTask(bob, 'b1').then(() => typeIn(bob, 'end', ' BOB'))
  ])
  const both = (v: View) => v.text === 'ALICE shared notes BOB' && ['a1', 'a2', 'b1'].every((t) => v.tasks.includes(t)) && v.tasks.length === 3
  const a1 = await until(alice, 'alice converges', both)
  const b1 = await until(bob, 'bob converges', both)
  expect(b1.tasks).toEqual(a1.tasks) // one order on both
  await alice.check('[data-testid="tasks"] li:has-text("b1") input[type=checkbox]')
  await until(bob, 'bob sees b1 done', (v) => v.done.join() === 'b1')

  // Bob goes offline; both edit; he comes back.
  await bob.check('[data-testid="offline"]')
  await until(bob, 'bob is offline', (v) => v.sync === 'offline')
  await until(alice, 'alice sees bob leave', (v) => v.online === 'online: alice')
  await addTask(alice, 'a-off')
  await typeIn(alice, 'start', '[A] ')
  await addTask(bob, 'b-off')
  await typeIn(bob, 'end', ' [B]')
  await bob.click('[data-testid="tasks"] li:has-text("a1") .delete')
  await alice.check('[data-testid="tasks"] li:has-text("a1") input[type=checkbox]') // an edit of what Bob deleted: delete wins
  expect((await view(bob)).tasks).not.toContain('a-off')
  await bob.uncheck('[data-testid="offline"]')
  const merged = (v: View) =>
    v.text === '[A] ALICE shared notes BOB [B]' && v.tasks.length === 4 && ['a2', 'b1', 'a-off', 'b-off'].every((t) => v.tasks.includes(t)) && v.sync === 'synced'
  const a2 = await until(alice, 'alice has bob\'s offline edits', merged)
  const b2 = await until(bob, 'bob has alice\'s edits after reconnecting', merged)
  expect(b2.tasks).toEqual(a2.tasks)

  // A reload keeps Bob's documents (IndexedDB) and he reconnects.
  await bob.reload()
  await bob.waitForSelector('.app[data-ready="true"]', { timeout: PAGE_WAIT_MS })
  const b3 = await until(bob, 'bob after a reload', (v) => merged(v) && v.title === 'Plans')
  expect(b3.tasks).toEqual(a2.tasks)
  await addTask(bob, 'b-reloaded')
  await until(alice, 'alice hears from bob after his reload', (v) => v.tasks.includes('b-reloaded'))

  // Another document is another thread: Bob was not invited to it, and Plans is unchanged.
  await alice.fill('[data-testid="new-title"]', 'Groceries')
  await alice.click('[data-testid="new-doc"]')
  await until(alice, 'alice opens a second document', (v) => v.title === 'Groceries' && v.tasks.length === 0 && v.text === '' && v.docs.length === 2)
  await addTask(alice, 'milk')
  await alice.click('.doc-list li:has-text("Plans") button')
  await until(alice, 'Plans again', (v) => v.title === 'Plans' && v.tasks.includes('b-reloaded') && !v.tasks.includes('milk'))
  expect((await view(bob)).docs).toEqual(['Plans'])

  await mkdir(ARTIFACTS, { recursive: true })
  await alice.screenshot({ path: join(ARTIFACTS, 'alice.png') })
  await bob.screenshot({ path: join(ARTIFACTS, 'bob.png') })
  expect(pageErrors).toEqual([])
})
