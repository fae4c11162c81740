/**
 * Peers for the browser tests: a Node peer listening on WebSockets on loopback (the libp2p
 * adapter), and typed calls into a page running test/browser/page/peer.ts.
 */
import type { Page } from 'playwright-core'
import { libp2pNetwork } from '../../../adapters/network/libp2p.js'
import { memoryStorage } from '../../../adapters/storage/memory.js'
import { createPeer } from '../../../src/redux/createPeer.js'
import { netStore, peerDriver, type NetStore, type PeerDriver } from '../../unit/net/helpers.js'
import type { PeerHarness } from '../page/peer.js'
import { PAGE_WAIT_MS, pageLog } from './harness.js'

export { todos } from '../../unit/net/helpers.js'

/** WebSockets on loopback, a random port: what a page can dial. */
export const WS_LOOPBACK = ['/ip4/127.0.0.1/tcp/0/ws']

export interface NodePeer extends PeerDriver {
  readonly store: NetStore
  texts(): string[]
  /** The peer's `/ws` addresses (with `/p2p/`). */
  wsAddresses(): string[]
  close(): Promise<void>
}

/** A started Node peer: memory storage, libp2p listening on WebSockets only, a todo store. */
export async function nodePeer(): Promise<NodePeer> {
  const peer = createPeer({ storage: memoryStorage(), network: libp2pNetwork({ listen: WS_LOOPBACK }), syncIntervalMs: 500 })
  const store = netStore(peer)
  await peer.start()
  let closing: Promise<void> | undefined
  return {
    ...peerDriver(peer, store),
    store,
    texts: () => store.getState().todos.map((t) => t.text),
    wsAddresses: () => peer.addresses().filter((a) => a.includes('/ws')),
    close: () => (closing ??= peer.close())
  }
}

type Methods = {
  [K in keyof PeerHarness]: PeerHarness[K] extends (...args: infer A) => infer R ? (...args: A) => R : never
}

/**
 * Call `harness[method](...args)` in the page and return its (awaited) result. A page-side
 * failure fails with the page's message and the errors the page logged.
 */
export async function call<K extends keyof Methods>(page: Page, method: K, ...args: Parameters<Methods[K]>): Promise<Awaited<ReturnType<Methods[K]>>> {
  try {
    return (await page.evaluate(
      ([m, a]) => {
        const h = (globalThis as unknown as { harness: Record<string, (...x: unknown[]) => unknown> }).harness
        return h[m as string]?.(...(a as unknown[]))
      },
      [method, args] as const
    )) as Awaited<ReturnType<Methods[K]>>
  } catch (e) {
    const errors = pageLog(page).errors
    if (e instanceof Error && errors.length > 0) e.message += `\npage errors:\n${errors.slice(-10).join('\n')}`
    throw e
  }
}

/** Wait until the page's todo texts include every one of `texts`. */
export async function pageHas(page: Page, texts: readonly string[], what = `the page holds ${texts.length} todos`): Promise<void> {
  try {
    await page.waitForFunction(
      (wanted) => {
        const h = (globalThis as unknown as { harness: PeerHarness }).harness
        const have = new Set(h.texts())
        return wanted.every((t) => have.has(t))
      },
      texts,
      { timeout: PAGE_WAIT_MS }
    )
  } catch (e) {
    const have = await call(page, 'texts').catch(() => [] as string[])
    throw new Error(`${what}: ${(e as Error).message}\n  page has ${have.length}: ${JSON.stringify(have.slice(0, 20))}`)
  }
}
