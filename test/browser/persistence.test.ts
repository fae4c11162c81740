/**
 * IndexedDB persistence in real Chromium: a reload and a browser restart (a persistent context
 * relaunched on the same user-data-dir) keep the peer's identity, its threads and their state;
 * a page closed in the middle of writing loses no command whose `unwrap()` had resolved.
 */
import { afterEach, describe, expect, it, vi } from 'vitest'
import type { BrowserContext, Page } from 'playwright-core'
import { Resources } from '../integration/libp2p/helpers.js'
import { killBrowser, launchPersistent, openPage, PAGE_WAIT_MS, reloadPage, servePage, tempProfile, takePageErrors } from './support/harness.js'
import { call, nodePeer, pageHas, todos } from './support/peers.js'
import { until } from '../integration/libp2p/helpers.js'

// Chromium starts several times per test; on a loaded machine that takes a while.
vi.setConfig({ testTimeout: 60_000, hookTimeout: 60_000 })

const resources = new Resources()
afterEach(async () => {
  await resources.closeAll()
  // No page threw or logged an error, not even while closing.
  expect(takePageErrors()).toEqual([])
})

async function server(): Promise<string> {
  const s = await servePage('peer.ts')
  resources.add(() => s.close())
  return s.url
}

/** A Chromium profile directory for this test, removed after it. */
async function profile(label: string): Promise<string> {
  const p = await tempProfile(label)
  resources.add(() => p.remove())
  return p.dir
}

/** Launch Chromium on `dir`; closed after the test unless the test closed it first. */
async function launch(dir: string): Promise<BrowserContext> {
  const context = await launchPersistent(dir)
  resources.add(() => context.close())
  return context
}

/** Open the peer page and start a peer (no network) on the IndexedDB database `db`. */
async function startPeer(context: BrowserContext, url: string, db: string, network = false): Promise<{ page: Page; peerId: string }> {
  const page = await openPage(context, url)
  const { peerId } = await call(page, 'start', { db, network })
  return { page, peerId }
}

describe('IndexedDB persistence in Chromium', () => {
  it('keeps identity, thread and state across a reload and a browser restart', async () => {
    const url = await server()
    const dir = await profile('reload')
    let context = await launch(dir)
    const first = await startPeer(context, url, 'persist')
    const threadId = await call(first.page, 'createThread')
    await call(first.page, 'add', 'a', 'b')

    // Reload: the document (and the Web Lock its peer held) goes away; IndexedDB stays.
    await reloadPage(first.page)
    expect(await call(first.page, 'start', { db: 'persist', network: false })).toEqual({ peerId: first.peerId })
    expect(await call(first.page, 'storedThreads')).toEqual([threadId])
    await call(first.page, 'open', threadId)
    expect(await call(first.page, 'texts')).toEqual(['a', 'b'])
    await call(first.page, 'add', 'c')

    // Restart: the whole browser closes and a new one starts on the same profile.
    await context.close()
    context = await launch(dir)
    const second = await startPeer(context, url, 'persist')
    expect(second.peerId).toBe(first.peerId)
    expect(await call(second.page, 'storedThreads')).toEqual([threadId])
    await call(second.page, 'open', threadId)
    expect(await call(second.page, 'texts')).toEqual(['a', 'b', 'c'])
    await call(second.page, 'close')
  })

  it('one peer per IndexedDB store across tabs (Web Locks): a second tab is refused while the first is open, and starts at once after it closes', async () => {
    const url = await server()
    const context = await launch(await profile('locks'))
    const first = await startPeer(context, url, 'shared')
    const threadId = await call(first.page, 'createThread')
    await call(first.page, 'add', 'from-first-tab')
    const second = await openPage(context, url)
    await expect(call(second, 'start', { db: 'shared', network: false })).rejects.toThrow(/another tab or worker holds the IndexedDB store/)
    // Another database in the same origin is free.
    await expect(call(second, 'start', { db: 'other', network: false })).resolves.toHaveProperty('peerId')
    await call(second, 'close')
    // The lock goes with the tab that held it. Chromium frees it a moment after the close
    // resolves: the adapter waits for it (lockWaitMs), so starting at once works.
    await first.page.close()
    expect(await call(second, 'start', { db: 'shared', network: false })).toEqual({ peerId: first.peerId })
    await call(second, 'open', threadId)
    expect(await call(second, 'texts')).toEqual(['from-first-tab'])
    await call(second, 'close')
  })

  it('a restarted browser redials the Node peer from its own storage and catches up both ways', async () => {
    const url = await server()
    const dir = await profile('offline')
    const node = await nodePeer()
    resources.add(() => node.close())
    const thread = await node.createThread({ slices: [todos] })
    let context = await launch(dir)
    const first = await startPeer(context, url, 'offline', true)
    await call(first.page, 'join', await thread.invite())
    await call(first.page, 'add', 'page-online')
    await until(node.store, () => node.texts().includes('page-online'), 'Node holds the page todo')
    await context.close()

    // While the browser is closed, Node writes; the page's first write after the restart is
    // made before it reconnects.
    await node.store.dispatch(todos.actions.added('node-while-away')).unwrap()
    context = await launch(dir)
    const second = await startPeer(context, url, 'offline', true)
    expect(second.peerId).toBe(first.peerId)
    // No invite: the thread, its keys and Node's address come from IndexedDB.
    await call(second.page, 'open', thread.id.toString())
    await call(second.page, 'add', 'page-after-restart')
    await pageHas(second.page, ['node-while-away'], 'the restarted page caught up with Node')
    await until(node.store, () => node.texts().includes('page-after-restart'), "Node holds the restarted page's todo", { describe: () => JSON.stringify(node.texts()) })
    expect(await call(second.page, 'todos')).toEqual(node.store.getState().todos.map((t) => [t.text, t.by]))
    await call(second.page, 'close')
  })

  /**
   * Write `w-0`, `w-1`, … one after another, each awaited, and stop the page with `stop` once
   * `TARGET` of them were acknowledged to Node (the page reports each as its unwrap() resolves,
   * and keeps writing). Then restart the browser and read the thread back.
   */
  async function writeThenStop(label: string, stop: (page: Page, context: BrowserContext, dir: string) => Promise<void>): Promise<{ acknowledged: string[]; texts: string[] }> {
    const TARGET = 40
    const url = await server()
    const dir = await profile(label)
    let context = await launch(dir)
    const acknowledged: string[] = []
    let enough!: () => void
    const reached = new Promise<void>((resolve) => (enough = resolve))
    await context.exposeFunction('acknowledge', (text: string) => {
      acknowledged.push(text)
      if (acknowledged.length === TARGET) enough()
    })
    const { page } = await startPeer(context, url, 'writes')
    const threadId = await call(page, 'createThread')
    await call(page, 'writeForever', 'w')
    let timer: ReturnType<typeof setTimeout> | undefined
    await Promise.race([
      reached,
      new Promise((_, reject) => (timer = setTimeout(() => reject(new Error(`only ${acknowledged.length} writes acknowledged`)), PAGE_WAIT_MS)))
    ]).finally(() => clearTimeout(timer))
    await stop(page, context, dir)
    // What Node had heard of before the stop: every one of these had resolved unwrap().
    const seen = [...acknowledged]
    await context.close()

    context = await launch(dir)
    const { page: after } = await startPeer(context, url, 'writes')
    await call(after, 'open', threadId)
    const texts = await call(after, 'texts')
    await call(after, 'close')
    expect(seen.length).toBeGreaterThanOrEqual(TARGET)
    return { acknowledged: seen, texts }
  }

  /** Every acknowledged command is there, and only the ones that followed, in order. */
  function expectNoAcknowledgedLoss({ acknowledged, texts }: { acknowledged: string[]; texts: string[] }): void {
    expect(texts.slice(0, acknowledged.length)).toEqual(acknowledged)
    // Each write began after the previous one was durable, so what is stored is a prefix.
    expect(texts).toEqual(texts.map((_, i) => `w-${i}`))
    if (process.env.BROWSER_DEBUG === '1') console.log(`acknowledged ${acknowledged.length}, stored ${texts.length}`)
  }

  it('a page closed while writing loses no acknowledged command', async () => {
    // Closed with writes in flight (the loop never stops), without running unload handlers.
    expectNoAcknowledgedLoss(await writeThenStop('closed', (page) => page.close({ runBeforeUnload: false })))
  })

  it('a browser killed (SIGKILL) while writing loses no acknowledged command', async () => {
    expectNoAcknowledgedLoss(await writeThenStop('killed', async (_page, context, dir) => void (await killBrowser(context, dir))))
  })
})
