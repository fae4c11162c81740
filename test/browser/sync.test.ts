/**
 * A page (Chromium, IndexedDB through localforage, libp2p over WebSockets) syncing with a Node
 * peer (libp2p listening on ws://127.0.0.1): commands go both ways, whoever created the thread;
 * two pages with separate storage collaborate through the Node peer. Pages only dial out, so
 * everything between two pages travels through Node.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest'
import type { Browser, BrowserContext } from 'playwright-core'
import { Resources, until } from '../integration/libp2p/helpers.js'
import { launchBrowser, openPage, servePage, type PageServer, takePageErrors } from './support/harness.js'
import { call, nodePeer, pageHas, todos, type NodePeer } from './support/peers.js'

// Real browsers on a shared machine: generous limits; each wait inside has its own.
vi.setConfig({ testTimeout: 60_000, hookTimeout: 60_000 })

let server: PageServer
let browser: Browser
const resources = new Resources()

beforeAll(async () => {
  ;[server, browser] = await Promise.all([servePage('peer.ts'), launchBrowser()])
})

afterAll(async () => {
  await browser?.close()
  await server?.close()
})

afterEach(async () => {
  await resources.closeAll()
  // No page threw or logged an error, not even while closing.
  expect(takePageErrors()).toEqual([])
})

async function startNode(): Promise<NodePeer> {
  const node = await nodePeer()
  resources.add(() => node.close())
  return node
}

/** A page in a fresh context (its own IndexedDB) with a started peer. */
async function startPage(db: string) {
  const context: BrowserContext = await browser.newContext()
  resources.add(() => context.close())
  const page = await openPage(context, server.url)
  const { peerId } = await call(page, 'start', { db })
  resources.add(() => call(page, 'close'))
  return { page, peerId }
}

function nodeHas(node: NodePeer, texts: readonly string[]): Promise<void> {
  return until(node.store, () => texts.every((t) => node.texts().includes(t)), `the Node peer holds ${texts.join(', ')}`, {
    describe: () => JSON.stringify(node.texts())
  })
}

describe('a page syncing with a Node peer over WebSockets', () => {
  it('joins a thread the Node peer created; commands from the page reach Node and back', async () => {
    const node = await startNode()
    expect(node.wsAddresses().length).toBeGreaterThan(0)
    const thread = await node.createThread({ slices: [todos] })
    await node.store.dispatch(todos.actions.added('node-1')).unwrap()
    const invite = await thread.invite()

    const { page, peerId } = await startPage('join')
    const joined = await call(page, 'join', invite)
    expect(joined.threadId).toBe(thread.id.toString())
    expect(joined.caughtUp).toBe(true)
    // Caught up on join: what Node wrote before is there.
    expect(await call(page, 'texts')).toEqual(['node-1'])
    expect(await call(page, 'connectedPeers')).toEqual([node.id])

    await call(page, 'add', 'page-1', 'page-2')
    await nodeHas(node, ['page-1', 'page-2'])
    await node.store.dispatch(todos.actions.added('node-2')).unwrap()
    await pageHas(page, ['node-2'])

    // One order everywhere, and each todo's author is the signer of its event.
    const nodeTodos = node.store.getState().todos.map((t) => [t.text, t.by])
    expect(await call(page, 'todos')).toEqual(nodeTodos)
    expect(nodeTodos.filter(([text]) => text?.startsWith('page-')).map(([, by]) => by)).toEqual([peerId, peerId])
    const status = await call(page, 'status')
    expect(status?.peers).toEqual([node.id])
  })

  it('creates a thread in the page and invites the Node peer, which joins over the connection the page opened', async () => {
    const node = await startNode()
    const { page, peerId } = await startPage('create')
    const threadId = await call(page, 'createThread')
    await call(page, 'add', 'page-1')
    // A page cannot be dialed: it connects out, and Node answers on that connection.
    await call(page, 'dial', node.id, node.wsAddresses())
    const invite = await call(page, 'invite', { role: 'write', to: node.id })
    const thread = await node.joinThread(invite, { slices: [todos] })
    expect(thread.id.toString()).toBe(threadId)
    await nodeHas(node, ['page-1'])

    await node.store.dispatch(todos.actions.added('node-1')).unwrap()
    await pageHas(page, ['node-1'])
    await call(page, 'add', 'page-2')
    await nodeHas(node, ['page-2'])
    expect(await call(page, 'todos')).toEqual(node.store.getState().todos.map((t) => [t.text, t.by]))
    expect(node.store.getState().todos.find((t) => t.text === 'page-1')?.by).toBe(peerId)
  })
})

describe('two pages with separate storage, through a Node peer', () => {
  it('each page sees what the other writes, relayed by the Node peer', async () => {
    const node = await startNode()
    const thread = await node.createThread({ slices: [todos] })
    const a = await startPage('page-a')
    const b = await startPage('page-b')
    expect(a.peerId).not.toBe(b.peerId)
    await call(a.page, 'join', await thread.invite())
    await call(b.page, 'join', await thread.invite({ role: 'write', to: b.peerId }))

    await call(a.page, 'add', 'a-1', 'a-2')
    await pageHas(b.page, ['a-1', 'a-2'])
    await call(b.page, 'add', 'b-1')
    await pageHas(a.page, ['b-1'])
    await node.store.dispatch(todos.actions.added('node-1')).unwrap()
    await Promise.all([pageHas(a.page, ['node-1']), pageHas(b.page, ['node-1'])])
    await nodeHas(node, ['a-1', 'a-2', 'b-1'])

    // The pages never connected to each other: only to Node.
    expect(await call(a.page, 'connectedPeers')).toEqual([node.id])
    expect(await call(b.page, 'connectedPeers')).toEqual([node.id])
    // Same todos, same order, on all three.
    const expected = node.store.getState().todos.map((t) => [t.text, t.by])
    expect(expected).toHaveLength(4)
    expect(await call(a.page, 'todos')).toEqual(expected)
    expect(await call(b.page, 'todos')).toEqual(expected)
  })
})

describe('browser-only writers with a Node follower', () => {
  it('a page creates a thread, a follower (which cannot read it) relays it to a second page', async () => {
    const follower = await startNode()
    const a = await startPage('only-a')
    const b = await startPage('only-b')
    const threadId = await call(a.page, 'createThread')
    await call(a.page, 'add', 'a-1')
    // Pages cannot be dialed: both dial the follower, whose address they know out of band.
    await call(a.page, 'dial', follower.id, follower.wsAddresses())
    const followed = await follower.joinThread(await call(a.page, 'invite', { role: 'follow', to: follower.id }))
    expect(followed.role).toBe('follow')
    expect(followed.key.read).toBeUndefined()
    await call(b.page, 'dial', follower.id, follower.wsAddresses())
    // A's invite names no address (A has none): B finds the thread through the follower.
    const joined = await call(b.page, 'join', await call(a.page, 'invite', { role: 'write', to: b.peerId }))
    expect(joined.threadId).toBe(threadId)
    await pageHas(b.page, ['a-1'])

    await call(b.page, 'add', 'b-1')
    await pageHas(a.page, ['b-1'])
    await call(a.page, 'add', 'a-2')
    await pageHas(b.page, ['a-2'])
    expect(await call(a.page, 'todos')).toEqual(await call(b.page, 'todos'))
    // The follower holds both pages' logs, up to their heads, and no todo (it has no read key).
    await until([follower.store, followed.status$], () => JSON.stringify(Object.fromEntries([...followed.heads()].map(([log, h]) => [log, h.seq]))) === JSON.stringify({ [a.peerId]: 2, [b.peerId]: 1 }), 'the follower holds both logs', {
      describe: () => JSON.stringify([...followed.heads()].map(([log, h]) => [log, h.seq]))
    })
    expect(follower.texts()).toEqual([])
  })
})
