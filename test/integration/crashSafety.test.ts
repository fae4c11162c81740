/**
 * Crash safety, for real (DESIGN.md section 5): a child process appends to a LevelDB event store
 * in bursts and is killed with SIGKILL at a random point, many times over. After every kill the
 * store must open, hold every acknowledged record, and be a gapless, verifiable chain whose head
 * points at the last record.
 */
import { spawn, type ChildProcess } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { dirname, join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { afterAll, describe, expect, it } from 'vitest'
import { levelStorage } from '../../adapters/storage/level.js'
import { decodeCommand } from '../../src/core/command.js'
import { createThreadKey, logKeyFromSeed, threadKeyToBytes } from '../../src/core/keys.js'
import { openEvent, recordBlocks, verifyChain } from '../../src/core/record.js'
import { ThreadId } from '../../src/core/threadId.js'
import { EventStore } from '../../src/store/eventStore.js'
import { seededRandom } from '../support/random.js'

const here = dirname(fileURLToPath(import.meta.url))
const root = resolve(here, '../..')
const writer = join(here, 'fixtures', 'crashWriter.ts')

/** Kill-and-check rounds (25 in `npm test`; `npm run crash` runs 100). Each costs one child start (~0.5 s with tsx). */
const ROUNDS = Number(process.env.CRASH_ROUNDS ?? 25)
/** Assertions made per round (see the loop body); the test asserts the total. */
const ASSERTIONS_PER_ROUND = 12

const rng = seededRandom

interface RoundResult {
  /** The head the child found when it opened the store. */
  readonly ready: number
  /** The highest seq the child acknowledged (read before it died). */
  readonly lastAck: number
  /** Acknowledgements of records beyond `after`. */
  readonly newAcks: number
  readonly signal: NodeJS.Signals | null
}

/**
 * Run the child until it has acknowledged `1 + extra` bursts beyond seq `after`, then SIGKILL
 * it, either at once or (`midWrite`) when it reports its next burst in flight, so that the kill
 * lands while a batch is being written. Resolves once it has exited and its stdout is drained:
 * every ack it wrote is counted.
 */
function crashRound(child: ChildProcess, after: number, extra: number, midWrite: boolean): Promise<RoundResult> {
  return new Promise((resolveRound, reject) => {
    let buffer = ''
    let stderr = ''
    let ready = -1
    let lastAck = 0
    let newAcks = 0
    let killed = false
    child.stderr?.setEncoding('utf8').on('data', (d: string) => {
      stderr += d
    })
    child.stdout?.setEncoding('utf8').on('data', (d: string) => {
      buffer += d
      let nl: number
      while ((nl = buffer.indexOf('\n')) >= 0) {
        const line = buffer.slice(0, nl)
        buffer = buffer.slice(nl + 1)
        const m = /^(ready|sent|ack) (\d+)$/.exec(line)
        if (m === null) continue
        const seq = Number(m[2])
        if (m[1] === 'ready') {
          ready = seq
          continue
        }
        if (m[1] === 'ack') {
          lastAck = Math.max(lastAck, seq)
          if (seq > after) newAcks++
        }
        if (!killed && newAcks > extra && (m[1] === 'sent') === midWrite) {
          killed = true
          child.kill('SIGKILL')
        }
      }
    })
    child.on('error', reject)
    child.on('close', (code, signal) => {
      if (!killed) reject(new Error(`the writer exited by itself (code ${code}, signal ${signal}): ${stderr}`))
      else resolveRound({ ready, lastAck, newAcks, signal })
    })
  })
}

describe('crash safety (LevelDB, SIGKILL)', () => {
  const dirs: string[] = []
  afterAll(async () => {
    await Promise.all(dirs.map((d) => rm(d, { recursive: true, force: true })))
  })

  it(`keeps every acknowledged record through ${ROUNDS} kills at random points`, { timeout: 90_000 + ROUNDS * 3_000 }, async () => {
    expect.assertions(ROUNDS * ASSERTIONS_PER_ROUND)
    const dir = await mkdtemp(join(tmpdir(), 'redux-threads-crash-'))
    dirs.push(dir)
    const threadId = ThreadId.create()
    const threadKey = createThreadKey()
    const seed = randomBytes(32)
    const logKey = logKeyFromSeed(seed)
    const random = rng(0x5eed_c4a5)
    const args = [dir, threadId.toString(), Buffer.from(threadKeyToBytes(threadKey)).toString('hex'), seed.toString('hex')]

    let verified = 0
    const stats: { round: number; ms: number; midWrite: boolean; head: number; lastAck: number; unacked: number }[] = []
    for (let round = 0; round < ROUNDS; round++) {
      const started = performance.now()
      const extra = Math.floor(random() * 4)
      const midWrite = random() < 0.6
      const child = spawn(process.execPath, ['--import', 'tsx', writer, ...args, String(1000 + round)], {
        cwd: root,
        stdio: ['ignore', 'pipe', 'pipe']
      })
      const result = await crashRound(child, verified, extra, midWrite)

      // The child saw exactly what the parent verified last round, and made progress.
      expect(result.ready).toBe(verified)
      expect(result.signal).toBe('SIGKILL')
      expect(result.lastAck).toBeGreaterThan(verified)

      const store = await EventStore.open(levelStorage(dir))
      try {
        const head = store.logstore.head(threadId, logKey.id)
        expect(head?.seq ?? 0).toBeGreaterThanOrEqual(result.lastAck)
        if (head === undefined) throw new Error('no head')
        // Exactly seq 1..head, no gap.
        const records = await store.records(threadId, logKey.id)
        expect(records.map((r) => r.seq)).toEqual(Array.from({ length: head.seq }, (_, i) => i + 1))
        // The whole log re-verifies as one chain: CIDs, identities linked by prev, seq, one signature.
        const chain = verifyChain({ thread: threadId, logId: logKey.id, serviceKey: threadKey.service }, records.map(recordBlocks))
        expect(chain.map((r) => `${r.id.toString()} ${r.cid.toString()}`)).toEqual(records.map((r) => `${r.id.toString()} ${r.cid.toString()}`))
        // The head names the newest record by identity.
        expect(records[records.length - 1]?.id.equals(head.id)).toBe(true)
        // Every stored record checks against its stored identity and the chain (what replay reads).
        const events: string[] = []
        for await (const e of store.events(threadId, logKey.id)) events.push(`${e.seq} ${e.id.toString()}`)
        expect(events).toEqual(chain.map((r) => `${r.seq} ${r.id.toString()}`))
        // A batch lands whole on LevelDB: nothing is stored beyond the head.
        expect(await store.orphans(threadId, logKey.id)).toEqual([])
        // No head points at a missing record.
        const missing: string[] = []
        for (const [logId, h] of store.logstore.heads(threadId)) {
          if ((await store.getRecord(h.id)) === undefined) missing.push(logId)
        }
        expect(missing).toEqual([])
        // And the newest event still decrypts to the command that was written.
        const last = records[records.length - 1]
        expect(last === undefined ? undefined : decodeCommand(openEvent(threadKey.read, last).body).payload).toMatchObject({ seq: head.seq })
        expect(store.logstore.logs(threadId).map((l) => l.id)).toEqual([logKey.id])
        stats.push({ round, ms: Math.round(performance.now() - started), midWrite, head: head.seq, lastAck: result.lastAck, unacked: head.seq - result.lastAck })
        verified = head.seq
      } finally {
        await store.close()
      }
    }
    if (process.env.CRASH_STATS !== undefined) console.log(JSON.stringify(stats))
  })
})
