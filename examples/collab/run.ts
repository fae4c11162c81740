/**
 * `npm run collab`: the relay (server.ts) and Vite's dev server, then the URL to open.
 *
 *   --data <dir>     keep the relay's logs on disk (LevelDB) instead of in memory
 *   --port <n>       Vite's port (default 5173)
 *   --ws-port <n>    the relay's WebSocket port (default 4012)
 *   --built          build the app with Vite and let the relay serve it (no dev server)
 */
import { fileURLToPath } from 'node:url'
import { parseArgs } from 'node:util'
import { build, createServer } from 'vite'
import { startCollabServer } from './server.js'

const { values } = parseArgs({
  options: { data: { type: 'string' }, port: { type: 'string', default: '5173' }, 'ws-port': { type: 'string', default: '4012' }, built: { type: 'boolean', default: false } }
})
const configFile = fileURLToPath(new URL('./vite.config.ts', import.meta.url))
const staticDir = fileURLToPath(new URL('./dist', import.meta.url))
if (values.built) await build({ configFile, logLevel: 'warn' })
const relay = await startCollabServer({
  wsPort: Number(values['ws-port']),
  httpPort: values.built ? Number(values.port) : 0,
  ...(values.data === undefined ? {} : { dataDir: values.data }),
  ...(values.built ? { staticDir } : {}),
  log: (l) => console.log(`[relay] ${l}`)
})
process.env.COLLAB_API = relay.url.replace(/\/$/, '')
const vite = values.built ? undefined : await createServer({ configFile, server: { port: Number(values.port) } })
await vite?.listen()
const url = vite?.resolvedUrls?.local[0] ?? relay.url
console.log(`relay ${relay.peerId} on ${relay.wsAddrs.join(' ')}`)
console.log(`\nOpen ${url}?name=alice  (and ${url}?name=bob in another tab or browser; share a document's invite link)\n`)

const stop = async (): Promise<void> => {
  await vite?.close()
  await relay.close()
  process.exit(0)
}
process.once('SIGINT', () => void stop())
process.once('SIGTERM', () => void stop())
