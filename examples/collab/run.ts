/**
 * `npm run collab`: the relay (server.ts) and Vite's dev server, then the URL to open.
 * `npm run collab -- --data ./.collab-data` keeps the relay's logs on disk.
 */
import { fileURLToPath } from 'node:url'
import { parseArgs } from 'node:util'
import { createServer } from 'vite'
import { startCollabServer } from './server.js'

const { values } = parseArgs({ options: { data: { type: 'string' }, port: { type: 'string', default: '5173' } } })
const relay = await startCollabServer({ wsPort: 4012, httpPort: 0, ...(values.data === undefined ? {} : { dataDir: values.data }), log: (l) => console.log(`[relay] ${l}`) })
process.env.COLLAB_API = relay.url.replace(/\/$/, '')
const vite = await createServer({ configFile: fileURLToPath(new URL('./vite.config.ts', import.meta.url)), server: { port: Number(values.port) } })
await vite.listen()
const url = vite.resolvedUrls?.local[0] ?? `http://127.0.0.1:${values.port}/`
console.log(`relay ${relay.peerId} on ${relay.wsAddrs.join(' ')}`)
console.log(`\nOpen ${url}?name=alice  (and ${url}?name=bob in another tab or browser; share a document's invite link)\n`)

const stop = async (): Promise<void> => {
  await vite.close()
  await relay.close()
  process.exit(0)
}
process.once('SIGINT', () => void stop())
process.once('SIGTERM', () => void stop())
