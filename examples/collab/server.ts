/**
 * The relay the pages reach: a Node peer listening on WebSockets that follows every document it
 * is given a follow invite for. It holds only the service keys (paper section 3.1.2), so it
 * verifies, stores and forwards the logs, and reads none of them. Pages cannot be dialed, so two
 * browsers meet here.
 *
 * HTTP on the same server (the page's `/api`): `GET /api/relay` (its peer ID and /ws addresses),
 * `POST /api/follow` (a follow invite), `GET /api/presence/:threadId` (server-sent events: the
 * peers it has connected in that thread), and, given `staticDir`, the built app.
 */
import { createReadStream } from 'node:fs'
import { stat } from 'node:fs/promises'
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http'
import { extname, join, normalize } from 'node:path'
import { configureStore } from '@reduxjs/toolkit'
import { createPeer } from '../../src/index.js'
import { memoryStorage } from '../../adapters/storage/memory.js'
import { levelStorage } from '../../adapters/storage/level.js'
import { libp2pNetwork } from '../../adapters/network/libp2p.js'

export interface CollabServerOptions {
  /** Port of the libp2p WebSocket listener (0: any). */
  readonly wsPort?: number
  /** Port of the HTTP API (0: any). */
  readonly httpPort?: number
  /** LevelDB directory; without one the relay keeps everything in memory. */
  readonly dataDir?: string
  /** Serve this directory (a `vite build` output) at `/`. */
  readonly staticDir?: string
  readonly log?: (line: string) => void
}

export interface CollabServer {
  readonly url: string
  readonly peerId: string
  readonly wsAddrs: readonly string[]
  close(): Promise<void>
}

const TYPES: Record<string, string> = { '.html': 'text/html; charset=utf-8', '.js': 'text/javascript', '.css': 'text/css', '.svg': 'image/svg+xml', '.json': 'application/json' }

/** The most documents (threads) one relay follows. */
export const MAX_FOLLOWED = 1_000

export async function startCollabServer(options: CollabServerOptions = {}): Promise<CollabServer> {
  const log = options.log ?? (() => undefined)
  const peer = createPeer({
    storage: options.dataDir === undefined ? memoryStorage() : levelStorage(options.dataDir),
    network: libp2pNetwork({ listen: [`/ip4/127.0.0.1/tcp/${options.wsPort ?? 0}/ws`] }),
    syncIntervalMs: 2_000
  })
  // A follower projects nothing: its store holds only the peer's status.
  const store = configureStore({ reducer: { [peer.reducerPath]: peer.reducer }, middleware: (gDM) => gDM().concat(peer.middleware) })
  await peer.start()
  for (const threadId of await peer.storedThreads()) await store.dispatch(peer.thunks.openThread({ threadId, slices: [] })).unwrap()
  const wsAddrs = peer.addresses().filter((a) => a.includes('/ws'))

  async function follow(invite: string): Promise<[number, string]> {
    // Anyone who reaches the HTTP API may ask: the threads followed are bounded, so a client
    // cannot make the relay hold and sync any number of them.
    if (Object.keys(peer.selectors.selectThreads(store.getState())).length >= MAX_FOLLOWED) return [429, `the relay follows at most ${MAX_FOLLOWED} documents`]
    try {
      const { threadId, role } = await store.dispatch(peer.thunks.joinThread({ invite, waitForSyncMs: 0 })).unwrap()
      if (role !== 'follow') {
        await store.dispatch(peer.thunks.leaveThread({ threadId })).unwrap()
        return [403, 'the relay only takes follow invites']
      }
      log(`following ${threadId}`)
      return [200, threadId]
    } catch (e) {
      const message = (e as Error).message
      return /already open/.test(message) ? [200, 'already following'] : [400, message]
    }
  }

  function presence(threadId: string, res: ServerResponse): void {
    res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-store', connection: 'keep-alive' })
    let last = ''
    const send = (): void => {
      const peers = JSON.stringify(peer.selectors.selectThreadStatus(store.getState(), threadId)?.peers ?? [])
      if (peers !== last) res.write(`data: ${(last = peers)}\n\n`)
    }
    send()
    const off = store.subscribe(send)
    res.on('close', off)
  }

  async function serveFile(path: string, res: ServerResponse): Promise<void> {
    const root = options.staticDir as string
    let file = join(root, normalize(path).replace(/^(\.\.[/\\])+/, ''))
    const found = await stat(file).catch(() => undefined)
    if (found === undefined || !found.isFile()) file = join(root, 'index.html') // a single-page app
    res.writeHead(200, { 'content-type': TYPES[extname(file)] ?? 'application/octet-stream' })
    createReadStream(file).pipe(res)
  }

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const path = decodeURIComponent((req.url ?? '/').split('?')[0] as string)
    if (req.method === 'GET' && path === '/api/relay') {
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ peerId: peer.id, addrs: wsAddrs }))
    } else if (req.method === 'POST' && path === '/api/follow') {
      let body = ''
      for await (const chunk of req) if ((body += String(chunk)).length > 65_536) return void res.writeHead(413).end()
      const [status, text] = await follow(body.trim())
      res.writeHead(status, { 'content-type': 'text/plain' }).end(text)
    } else if (req.method === 'GET' && path.startsWith('/api/presence/')) {
      presence(path.slice('/api/presence/'.length), res)
    } else if (req.method === 'GET' && options.staticDir !== undefined && !path.startsWith('/api/')) {
      await serveFile(path, res)
    } else {
      res.writeHead(404).end()
    }
  }

  const http = createServer((req, res) => {
    handle(req, res).catch((e: unknown) => {
      if (!res.headersSent) res.writeHead(500)
      res.end(String(e))
    })
  })
  await new Promise<void>((ok, fail) => {
    http.once('error', fail)
    http.listen(options.httpPort ?? 0, '127.0.0.1', () => ok())
  })
  const address = http.address()
  if (address === null || typeof address === 'string') throw new Error('no HTTP address')
  return {
    url: `http://127.0.0.1:${address.port}/`,
    peerId: peer.id as string,
    wsAddrs,
    close: async () => {
      http.closeAllConnections()
      await new Promise<void>((ok) => http.close(() => ok()))
      await peer.close()
    }
  }
}
