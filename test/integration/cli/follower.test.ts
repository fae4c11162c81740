/**
 * The follower CLI (`bin/redux-p2p-threads.ts`) as a child process, over real libp2p on loopback and LevelDB:
 * it joins from a follow invite, prints where it listens, stores what a writer in this process
 * sends it and reports the log seq, exits cleanly on SIGTERM, and follows the thread again from
 * storage after a restart. Usage, `--help`, `--version` and flag errors are checked too.
 */
import { spawn, type ChildProcess } from 'node:child_process'
import { readFile } from 'node:fs/promises'
import { createInterface } from 'node:readline'
import { fileURLToPath } from 'node:url'
import { afterEach, describe, expect, it } from 'vitest'
import { livePeer, Resources, statusWhere, tempDir, todos, until } from '../libp2p/helpers.js'

const ROOT = fileURLToPath(new URL('../../../', import.meta.url))
const CLI = fileURLToPath(new URL('../../../bin/redux-p2p-threads.ts', import.meta.url))

const resources = new Resources()
afterEach(async () => {
  await resources.closeAll()
})

/** A running `node --import tsx bin/redux-p2p-threads.ts …`, its output as lines, and its exit. */
class Cli {
  readonly child: ChildProcess
  readonly stdout: string[] = []
  readonly stderr: string[] = []
  exit: { code: number | null; signal: NodeJS.Signals | null } | undefined
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>
  readonly #listeners = new Set<() => void>()

  constructor(args: readonly string[]) {
    this.child = spawn(process.execPath, ['--import', 'tsx', CLI, ...args], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, NODE_ENV: 'test' } })
    const lines = (stream: NodeJS.ReadableStream, into: string[]): void => {
      createInterface({ input: stream }).on('line', (line) => {
        into.push(line)
        this.#changed()
      })
    }
    lines(this.child.stdout as NodeJS.ReadableStream, this.stdout)
    lines(this.child.stderr as NodeJS.ReadableStream, this.stderr)
    // 'close' (not 'exit'): every line of stdout and stderr has been read by then.
    this.exited = new Promise((resolve) => {
      this.child.once('close', (code, signal) => {
        this.exit = { code, signal }
        this.#changed()
        resolve(this.exit)
      })
    })
    resources.add(async () => {
      if (this.exit === undefined) {
        this.child.kill('SIGKILL')
        await this.exited
      }
    })
  }

  #changed(): void {
    for (const l of [...this.#listeners]) l()
  }

  /** A source for `until`: notifies on every line and on exit. */
  readonly source = (notify: () => void): (() => void) => {
    this.#listeners.add(notify)
    return () => this.#listeners.delete(notify)
  }

  /** The first stdout line (from index `from`) matching `re`; fails if the process exits first. */
  async line(re: RegExp, what: string, from = 0): Promise<{ line: string; index: number }> {
    let found: { line: string; index: number } | undefined
    await until(
      this.source,
      () => {
        const index = this.stdout.findIndex((l, i) => i >= from && re.test(l))
        if (index >= 0) found = { line: this.stdout[index] as string, index }
        else if (this.exit !== undefined) throw new Error(`the CLI exited (${JSON.stringify(this.exit)}) before ${what}\nstdout:\n${this.stdout.join('\n')}\nstderr:\n${this.stderr.join('\n')}`)
        return found !== undefined
      },
      what,
      { describe: () => `stdout:\n${this.stdout.join('\n')}\nstderr:\n${this.stderr.join('\n')}` }
    )
    return found as { line: string; index: number }
  }

  /** SIGTERM, then the exit. */
  async terminate(): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
    this.child.kill('SIGTERM')
    return this.exited
  }
}

/** Run the CLI to completion. */
async function runToExit(args: readonly string[]): Promise<Cli> {
  const cli = new Cli(args)
  await cli.exited
  return cli
}

describe('the follower CLI', () => {
  it('follows from an invite, stores what a writer sends, exits 0 on SIGTERM, and follows again from storage', async () => {
    const data = await tempDir(resources, 'cli-follower')
    const a = await livePeer(resources, 'A')
    const tA = await a.createThread({ slices: [todos] })
    const threadId = tA.id.toString()
    const invite = await tA.invite({ role: 'follow' })

    const cli = new Cli(['follower', '--data', data, '--listen', '/ip4/127.0.0.1/tcp/0', '--invite', invite, '--sync-interval', '500'])
    await cli.line(new RegExp(`^following ${threadId} \\(follow, from invite\\)$`), 'it joined from the invite')
    const header = await cli.line(/^follower (\S+) listening on:$/, 'it printed its peer ID')
    const followerId = /^follower (\S+) listening on:$/.exec(header.line)?.[1] as string
    const addrLine = await cli.line(new RegExp(`^\\s+/ip4/127\\.0\\.0\\.1/tcp/\\d+/p2p/${followerId}$`), 'it printed a loopback address', header.index + 1)
    const addr = addrLine.line.trim()

    await a.connect(addr)
    await statusWhere(tA, (s) => s.peers.includes(followerId), 'the writer authenticated the CLI follower')
    const short = a.id.slice(-6)
    for (let i = 1; i <= 5; i++) a.store.dispatch(todos.actions.added(`todo ${i}`))
    // The follower's status lines carry each log's seq.
    const status = await cli.line(new RegExp(`peers=1 logs=\\[${short}:5\\] rejected=0$`), 'the CLI reported seq 5 of the writer\'s log')
    expect(status.line.startsWith(threadId.slice(0, 12))).toBe(true)

    expect(await cli.terminate()).toEqual({ code: 0, signal: null })
    expect(cli.stderr.filter((l) => l.trim() !== '')).toEqual([])

    // Restarted over the same data, without any invite.
    const again = new Cli(['follower', '--data', data, '--listen', '/ip4/127.0.0.1/tcp/0', '--sync-interval', '500'])
    await again.line(new RegExp(`^following ${threadId} \\(follow, from storage\\)$`), 'it followed the thread from storage')
    // Its first status line already holds the stored log.
    await again.line(new RegExp(`logs=\\[${short}:5\\]`), 'it reported the stored seq')
    await again.line(new RegExp(`^follower ${followerId} listening on:$`), 'it kept its identity')
    expect(again.stdout.some((l) => l.includes('from invite'))).toBe(false)
    // It dials the writer from its address book on its own, and takes new records.
    await statusWhere(tA, (s) => s.peers.includes(followerId), 'the restarted follower is back with the writer')
    a.store.dispatch(todos.actions.added('todo 6'))
    await again.line(new RegExp(`logs=\\[${short}:6\\]`), 'the restarted CLI reported seq 6')
    expect(await again.terminate()).toEqual({ code: 0, signal: null })
  })

  it('with no command prints usage to stderr and exits 0', async () => {
    const cli = await runToExit([])
    expect(cli.exit).toEqual({ code: 0, signal: null })
    expect(cli.stderr.join('\n')).toMatch(/^usage:/)
    expect(cli.stderr.join('\n')).toContain('redux-p2p-threads follower --data <dir>')
    expect(cli.stdout).toEqual([])
  })

  it('--help (alone or after the command) prints the usage to stdout and exits 0', async () => {
    const [alone, short, word] = await Promise.all([runToExit(['--help']), runToExit(['-h']), runToExit(['help'])])
    for (const cli of [alone, short, word]) {
      expect(cli.exit).toEqual({ code: 0, signal: null })
      expect(cli.stdout.join('\n')).toMatch(/^usage:/)
      expect(cli.stdout.join('\n')).toContain('redux-p2p-threads follower --data <dir>')
      expect(cli.stdout.join('\n')).toContain('redux-p2p-threads --help | --version')
      expect(cli.stdout.join('\n')).toContain('redux-p2p-threads <command> --help')
      expect(cli.stderr.filter((l) => l.trim() !== '')).toEqual([])
    }
  })

  it('every subcommand answers --help and -h with its own usage (wherever the flag is), and exits 0', async () => {
    const data = await tempDir(resources, 'cli-help')
    const runs = await Promise.all([
      runToExit(['follower', '--help']),
      runToExit(['follower', '-h']),
      runToExit(['follower', '--data', data, '--help']),
      runToExit(['follower', '--bogus', '--help']),
      runToExit(['help', 'follower'])
    ])
    for (const cli of runs) {
      expect(cli.exit).toEqual({ code: 0, signal: null })
      expect(cli.stdout.join('\n')).toMatch(/^usage: redux-p2p-threads follower --data <dir>/)
      expect(cli.stdout.join('\n')).toContain('--sync-interval')
      expect(cli.stdout.join('\n')).toContain('--help')
      expect(cli.stderr.filter((l) => l.trim() !== '')).toEqual([])
    }
    // It started nothing: no LevelDB was created in --data.
    expect(runs[2]?.stdout.some((l) => l.includes('listening'))).toBe(false)
  })

  it('--version prints the package version and exits 0', async () => {
    const { version } = JSON.parse(await readFile(new URL('../../../package.json', import.meta.url), 'utf8')) as { version: string }
    expect(version).toMatch(/^\d+\.\d+\.\d+/)
    const [long, short] = await Promise.all([runToExit(['--version']), runToExit(['-v'])])
    for (const cli of [long, short]) {
      expect(cli.exit).toEqual({ code: 0, signal: null })
      expect(cli.stdout).toEqual([version])
      expect(cli.stderr.filter((l) => l.trim() !== '')).toEqual([])
    }
  })

  it('refuses a bad flag, a missing --data and an unknown command with a message and a non-zero exit', async () => {
    const data = await tempDir(resources, 'cli-bad')
    const [badFlag, noData, unknown, badInterval] = await Promise.all([
      runToExit(['follower', '--data', data, '--bogus']),
      runToExit(['follower', '--listen', '/ip4/127.0.0.1/tcp/0']),
      runToExit(['frobnicate']),
      runToExit(['follower', '--data', data, '--sync-interval', 'soon'])
    ])
    expect(badFlag.exit?.code).not.toBe(0)
    expect(badFlag.stderr.join('\n')).toMatch(/--bogus/)
    expect(badFlag.stderr.join('\n')).toContain('redux-p2p-threads follower --help')
    expect(noData.exit?.code).not.toBe(0)
    expect(noData.stderr.join('\n')).toMatch(/--data is required/)
    expect(unknown.exit?.code).not.toBe(0)
    expect(unknown.stderr.join('\n')).toMatch(/^unknown command: frobnicate\nusage:/)
    expect(badInterval.exit?.code).not.toBe(0)
    expect(badInterval.stderr.join('\n')).toMatch(/--sync-interval takes a number/)
    for (const c of [badFlag, noData, unknown, badInterval]) expect(c.exit?.signal).toBeNull()
  })
})
