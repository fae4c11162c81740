/**
 * The shared storage conformance suite (adapters/storage/conformance.ts) run on the localforage
 * adapter in real Chromium, over its real IndexedDB: the suite's own cases, registered in the
 * page (test/browser/page/storage.ts), each run there by name as a vitest test of its own here.
 */
import { afterAll, describe, expect, it, vi } from 'vitest'
import type { Browser, Page } from 'playwright-core'
import type { StorageHarness } from './page/storage.js'
import type { PageTestResult } from './page/vitestShim.js'
import { launchBrowser, openPage, pageLog, servePage, takePageErrors, type PageServer } from './support/harness.js'

// Real browsers on a shared machine: generous limits; each wait inside has its own.
vi.setConfig({ testTimeout: 60_000, hookTimeout: 60_000 })

// The case names come from the page, so the page is opened while vitest collects this file.
const server: PageServer = await servePage('storage.ts')
const browser: Browser = await launchBrowser()
const page: Page = await openPage(await browser.newContext(), server.url)
const names = await page.evaluate(() => (globalThis as unknown as { harness: StorageHarness }).harness.tests())

afterAll(async () => {
  await browser.close()
  await server.close()
  // No page threw or logged an error during the suite.
  expect(takePageErrors()).toEqual([])
})

describe('storage conformance in Chromium (localforage on IndexedDB)', () => {
  it('writes through the adapter land in IndexedDB (read back with the raw API)', async () => {
    const raw = await page.evaluate(() => (globalThis as unknown as { harness: StorageHarness }).harness.rawIndexedDb())
    expect(raw.stores).toContain('storage')
    expect(raw.value).toEqual([1, 2, 3])
    expect(raw.databases.some((d) => d.startsWith('raw-'))).toBe(true)
  })

  it('registers the shared suite in the page', () => {
    // The suite as Node runs it has 30-odd cases; the persistence case is among them here.
    expect(names.length).toBeGreaterThan(25)
    expect(names.some((n) => n.includes('keeps values across close and reopen'))).toBe(true)
  })

  for (const name of names) {
    it(name.replace(/^StorageAdapter conformance: [^>]*> /, ''), async () => {
      const result: PageTestResult = await page.evaluate((n) => (globalThis as unknown as { harness: StorageHarness }).harness.run(n), name)
      if (!result.ok) {
        const errors = pageLog(page).errors
        throw new Error(`in Chromium: ${result.stack}${errors.length > 0 ? `\npage errors:\n${errors.join('\n')}` : ''}`)
      }
    })
  }
})
