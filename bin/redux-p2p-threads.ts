/**
 * `redux-p2p-threads follower --listen <multiaddr> --data <dir> [--invite <invite>]…`
 *
 * Runs a follower (paper section 3.1.2) as a server: it holds only the service keys of the
 * threads it follows, verifies, stores and serves their logs to any peer that proves it holds the
 * same key, and can read none of it. Threads joined once are followed again after a restart.
 */
import { readFileSync, realpathSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { parseArgs } from 'node:util'
import { configureStore } from '@reduxjs/toolkit'
import { libp2pNetwork } from '../adapters/network/libp2p.js'
import { levelStorage } from '../adapters/storage/level.js'
import { createPeer } from '../src/redux/createPeer.js'

const FOLLOWER_USAGE = `usage: redux-p2p-threads follower --data <dir> [--listen <multiaddr>]... [--invite <invite>]... [--sync-interval <ms>]

Runs a follower: it stores and serves the logs of the threads it follows (it holds only their
service keys, so it reads none of them) and follows them again after a restart.

  --data           where logs and keys are stored (LevelDB directory)
  --listen         multiaddrs to listen on (default /ip4/0.0.0.0/tcp/4006 and /ip4/0.0.0.0/tcp/4007/ws)
  --invite         a follow invite (threads:…) to accept; repeatable
  --sync-interval  ms between sync rounds with every peer (default 10000)
  -h, --help       this help

Needs the optional peer dependencies level, libp2p, @libp2p/tcp, @libp2p/websockets,
@libp2p/noise, @libp2p/yamux, @libp2p/identify and @libp2p/gossipsub.
`

/** The subcommands: each answers `--help` with its own usage. */
const COMMANDS: Record<string, { summary: string; usage: string }> = {
  follower: { summary: 'store and serve the logs of threads, reading none of them', usage: FOLLOWER_USAGE }
}

const USAGE = `usage:
  redux-p2p-threads follower --data <dir> [--listen <multiaddr>]... [--invite <invite>]... [--sync-interval <ms>]
  redux-p2p-threads <command> --help
  redux-p2p-threads --help | --version

commands:
${Object.entries(COMMANDS)
  .map(([name, c]) => `  ${name.padEnd(10)} ${c.summary}`)
  .join('\n')}

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

/** `--help`/`-h` among a subcommand's arguments (before a `--` that ends the options). */
function asksHelp(args: readonly string[]): boolean {
  const end = args.indexOf('--')
  return (end === -1 ? args : args.slice(0, end)).some((a) => a === '--help' || a === '-h')
}

async function main(argv: readonly string[]): Promise<void> {
  const [command, ...rest] = argv
  if (command === '--version' || command === '-v') {
    process.stdout.write(`${version()}\n`)
    return
  }
  // Asked for (`--help`): the usage on stdout, exit 0. No command: the usage on stderr, exit 0
  // (a reminder, as before). An unknown command: the usage on stderr, exit 2.
  if (command === '--help' || command === '-h' || command === 'help') {
    const topic = command === 'help' ? rest[0] : undefined
    process.stdout.write(topic !== undefined && topic in COMMANDS ? (COMMANDS[topic] as { usage: string }).usage : USAGE)
    return
  }
  if (command === undefined || !(command in COMMANDS)) {
    process.stderr.write(command === undefined ? USAGE : `unknown command: ${command}\n${USAGE}`)
    process.exitCode = command === undefined ? 0 : 2
    return
  }
  if (asksHelp(rest)) {
    process.stdout.write((COMMANDS[command] as { usage: string }).usage)
    return
  }
  let stop: () => Promise<void>
  try {
    stop = await runFollower(rest)
  } catch (e) {
    // parseArgs' errors (an unknown or malformed option) say what; point at the help too.
    const code = (e as { code?: unknown }).code
    if (typeof code === 'string' && code.startsWith('ERR_PARSE_ARGS')) throw new TypeError(`${(e as Error).message}\n(redux-p2p-threads ${command} --help for usage)`, { cause: e })
    throw e
  }
  const shutdown = (): void => {
    void stop().then(() => process.exit(0))
  }
  process.once('SIGINT', shutdown)
  process.once('SIGTERM', shutdown)
}

/** Run as a program (the bin, `node dist/cli.js`, `tsx bin/…`), not imported (examples/follower). */
function isMain(): boolean {
  const entry = process.argv[1]
  if (entry === undefined) return false
  try {
    return realpathSync(entry) === realpathSync(fileURLToPath(import.meta.url))
  } catch {
    return /(cli|redux-p2p-threads)(\.(ts|js|cjs|mjs))?$/.test(entry)
  }
}

if (isMain()) {
  main(process.argv.slice(2)).catch((e: unknown) => {
    process.stderr.write(`${e instanceof Error ? e.message : String(e)}\n`)
    process.exit(1)
  })
}
