/**
 * `redux-threads follower --listen <multiaddr> --data <dir> [--invite <invite>]…`
 *
 * Runs a follower (paper section 3.1.2) as a server: it holds only the service keys of the
 * threads it follows, verifies, stores and serves their logs to any peer that proves it holds the
 * same key, and can read none of it. Threads joined once are followed again after a restart.
 */
import { readFileSync } from 'node:fs'
import { parseArgs } from 'node:util'
import { configureStore } from '@reduxjs/toolkit'
import { libp2pNetwork } from '../adapters/network/libp2p.js'
import { levelStorage } from '../adapters/storage/level.js'
import { createPeer } from '../src/redux/createPeer.js'

const USAGE = `usage:
  redux-threads follower --data <dir> [--listen <multiaddr>]... [--invite <invite>]... [--sync-interval <ms>]
  redux-threads --help | --version

  --data           where logs and keys are stored (LevelDB directory)
  --listen         multiaddrs to listen on (default /ip4/0.0.0.0/tcp/4006 and /ip4/0.0.0.0/tcp/4007/ws)
  --invite         a follow invite (threads:…) to accept; repeatable
  --sync-interval  ms between sync rounds with every peer (default 10000)
`

/** Start a follower; resolves with a function that stops it. */
export async function runFollower(argv: readonly string[], log: (line: string) => void = (l) => console.log(l)): Promise<() => Promise<void>> {
  const { values } = parseArgs({
    args: [...argv],
    options: {
      data: { type: 'string' },
      listen: { type: 'string', multiple: true },
      invite: { type: 'string', multiple: true },
      'sync-interval': { type: 'string' }
    },
    strict: true
  })
  if (values.data === undefined) throw new TypeError(`--data is required\n${USAGE}`)
  const interval = values['sync-interval'] === undefined ? 10_000 : Number(values['sync-interval'])
  if (!Number.isFinite(interval) || interval < 0) throw new TypeError(`--sync-interval takes a number of milliseconds\n${USAGE}`)
  const peer = createPeer({
    storage: levelStorage(values.data),
    network: libp2pNetwork({ listen: values.listen ?? ['/ip4/0.0.0.0/tcp/4006', '/ip4/0.0.0.0/tcp/4007/ws'] }),
    syncIntervalMs: interval
  })
  // A follower projects nothing: its store holds only the peer's status.
  const store = configureStore({ reducer: { [peer.reducerPath]: peer.reducer }, middleware: (gDM) => gDM().concat(peer.middleware) })
  for (const id of await peer.storedThreads()) {
    const { role } = await store.dispatch(peer.thunks.openThread({ threadId: id, slices: [] })).unwrap()
    log(`following ${id} (${role}, from storage)`)
  }
  for (const invite of values.invite ?? []) {
    const { threadId, role } = await store.dispatch(peer.thunks.joinThread({ invite, waitForSyncMs: 0 })).unwrap()
    log(`following ${threadId} (${role}, from invite)`)
  }
  for (const id of await peer.storedThreads()) {
    peer.status$(id).subscribe((s) => {
      const logs = s.logs.map((l) => `${l.logId.slice(-6)}:${l.seq}`).join(' ')
      log(`${id.slice(0, 12)}… peers=${s.peers.length} logs=[${logs}] rejected=${s.rejected}${s.lastError === undefined ? '' : ` lastError=${s.lastError.name}`}`)
    })
  }
  log(`follower ${peer.id ?? ''} listening on:`)
  for (const a of peer.addresses()) log(`  ${a}`)
  return () => peer.close()
}

/** This package's version, from its package.json. */
function version(): string {
  for (const rel of ['../package.json', '../../package.json']) {
    try {
      return (JSON.parse(readFileSync(new URL(rel, import.meta.url), 'utf8')) as { version: string }).version
    } catch {
      // the other layout (source or dist)
    }
  }
  return 'unknown'
}

async function main(argv: readonly string[]): Promise<void> {
  const [command, ...rest] = argv
  if (command === '--version' || command === '-v') {
    process.stdout.write(`${version()}\n`)
    return
  }
  // Asked for (`--help`): the usage on stdout, exit 0. No command: the usage on stderr, exit 0
  // (a reminder, as before). An unknown command: the usage on stderr, exit 2.
  const asked = command === '--help' || command === '-h' || (command === 'follower' && (rest.includes('--help') || rest.includes('-h')))
  if (asked) {
    process.stdout.write(USAGE)
    return
  }
  if (command !== 'follower') {
    process.stderr.write(USAGE)
    process.exitCode = command === undefined ? 0 : 2
    return
  }
  const stop = await runFollower(rest)
  const shutdown = (): void => {
    void stop().then(() => process.exit(0))
  }
  process.once('SIGINT', shutdown)
  process.once('SIGTERM', shutdown)
}

const entry = process.argv[1] ?? ''
if (/(cli|redux-threads)\.(ts|js|cjs|mjs)$/.test(entry) || entry.endsWith('redux-threads')) {
  main(process.argv.slice(2)).catch((e: unknown) => {
    process.stderr.write(`${e instanceof Error ? e.message : String(e)}\n`)
    process.exit(1)
  })
}
