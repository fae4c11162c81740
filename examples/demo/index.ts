/**
 * `npm run demo`: three peers, each in its own process with its own Redux store and LevelDB
 * directory, share an encrypted todo thread over libp2p on loopback. They edit at the same time,
 * one goes offline and comes back, and all converge. Nothing to set up: data goes to a fresh
 * temporary directory that is removed at the end.
 */
import { fork, type ChildProcess } from 'node:child_process'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import type { Command, Report } from './peerProcess.js'

const here = dirname(fileURLToPath(import.meta.url))
const say = (line: string): void => console.log(line)
const DEADLINE_MS = 60_000

type StateReport = Extract<Report, { kind: 'state' }>

class PeerProcess {
  readonly name: string
  readonly dir: string
  #child: ChildProcess | undefined
  #waiters: Array<{ test: (r: Report) => boolean; resolve: (r: Report) => void }> = []
  state: StateReport | undefined
  peerId = ''

  constructor(name: string, dir: string) {
    this.name = name
    this.dir = dir
  }

  async start(): Promise<void> {
    const child = fork(join(here, 'peerProcess.ts'), [this.dir], { execArgv: ['--import', 'tsx'], stdio: ['ignore', 'inherit', 'inherit', 'ipc'] })
    this.#child = child
    child.on('message', (r: Report) => {
      if (r.kind === 'state') this.state = r
      if (r.kind === 'error') say(`  [${this.name}] error: ${r.message}`)
      for (const w of [...this.#waiters]) {
        if (w.test(r)) {
          this.#waiters.splice(this.#waiters.indexOf(w), 1)
          w.resolve(r)
        }
      }
      onReport()
    })
    const ready = (await this.next((r) => r.kind === 'ready')) as Extract<Report, { kind: 'ready' }>
    this.peerId = ready.peerId
  }

  send(c: Command): void {
    this.#child?.send(c)
  }

  next(test: (r: Report) => boolean): Promise<Report> {
    return new Promise((resolve) => this.#waiters.push({ test, resolve }))
  }

  async stop(): Promise<void> {
    const child = this.#child
    if (child === undefined || child.exitCode !== null) return
    const exited = new Promise((resolve) => child.once('exit', resolve))
    this.send({ cmd: 'quit' })
    await exited
    this.#child = undefined
    this.state = undefined
  }
}

let onReport: () => void = () => undefined

/** Resolve when `test` holds, re-checked after every report from any peer (no polling). */
function until(what: string, test: () => boolean): Promise<void> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`demo: timed out waiting until ${what}`)), DEADLINE_MS)
    const check = (): void => {
      if (!test()) return
      clearTimeout(timer)
      onReport = () => undefined
      resolve()
    }
    onReport = check
    check()
  })
}

function show(peers: readonly PeerProcess[]): void {
  for (const p of peers) {
    const s = p.state
    say(`  ${p.name.padEnd(6)} ${s === undefined ? '(offline)' : `${s.hash}  peers=${s.peers}  ${s.todos.join(' · ')}`}`)
  }
}

function converged(peers: readonly PeerProcess[], count: number): boolean {
  const hashes = new Set(peers.map((p) => p.state?.hash))
  return peers.every((p) => p.state?.todos.length === count) && hashes.size === 1
}

async function main(): Promise<void> {
  const root = await mkdtemp(join(tmpdir(), 'redux-threads-demo-'))
  const [alice, bob, carol] = ['alice', 'bob', 'carol'].map((n) => new PeerProcess(n, join(root, n))) as [PeerProcess, PeerProcess, PeerProcess]
  const all = [alice, bob, carol]
  try {
    say('redux-p2p-threads demo: three processes, one encrypted todo thread, libp2p on loopback\n')
    await Promise.all(all.map((p) => p.start()))
    for (const p of all) say(`${p.name.padEnd(6)} is peer ${p.peerId}`)

    alice.send({ cmd: 'create' })
    const created = (await alice.next((r) => r.kind === 'thread')) as Extract<Report, { kind: 'thread' }>
    say(`\nalice created thread ${created.threadId} and wrote an invite (${created.invite.length} characters:`)
    say('  thread ID, her addresses, and the thread keys)')
    for (const p of [bob, carol]) p.send({ cmd: 'join', invite: created.invite })
    await until('everyone is connected', () => all.every((p) => (p.state?.peers ?? 0) >= 2))
    say('bob and carol joined with it: each opened a log of its own, found the others, proved it holds the key')

    say('\n1. All three add todos at the same moment:')
    alice.send({ cmd: 'add', text: 'buy milk' })
    bob.send({ cmd: 'add', text: 'fix the bike' })
    carol.send({ cmd: 'add', text: 'book the train' })
    alice.send({ cmd: 'add', text: 'call grandma' })
    bob.send({ cmd: 'add', text: 'pay rent' })
    await until('all three hold the same 5 todos', () => converged(all, 5))
    show(all)

    say('\n2. Carol goes offline. Alice and Bob keep editing:')
    await carol.stop()
    alice.send({ cmd: 'toggle', text: 'buy milk' })
    bob.send({ cmd: 'add', text: 'water the plants' })
    alice.send({ cmd: 'add', text: 'renew passport' })
    await until('alice and bob agree on 7 todos', () => converged([alice, bob], 7) && alice.state?.todos[0] !== undefined)
    show(all)

    say('\n3. Carol comes back: same process binary, same data directory, no invite needed.')
    say('   She restores her state from disk, dials the addresses in her address book and catches up:')
    await carol.start()
    carol.send({ cmd: 'reopen', threadId: created.threadId })
    carol.send({ cmd: 'add', text: 'back online' })
    await until('all three hold the same 8 todos', () => converged(all, 8))
    show(all)
    say(`\nconverged: all three hold state ${alice.state?.hash} with logs ${alice.state?.logs}`)
  } finally {
    await Promise.all(all.map((p) => p.stop()))
    await rm(root, { recursive: true, force: true })
  }
  say('done.')
}

main().catch((e: unknown) => {
  console.error(e instanceof Error ? e.message : e)
  process.exit(1)
})
