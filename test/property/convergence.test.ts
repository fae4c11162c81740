/**
 * Convergence (DESIGN.md section 4): 2 to 5 writers of one thread issue commands at random,
 * exchange some records along the way (so their clocks genuinely differ), then every record
 * reaches every peer in random order, in random chunks, with duplicates. Every peer must end with
 * the same thread state: the fold of every event in the order (clock, log ID, seq), whatever the
 * delivery order. Every event reaches every store exactly once as its own action (local ones as
 * commands, remote ones as they arrive), and non-thread slices see each exactly once.
 */
import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import type { RecordBlocks } from '../../src/core/record.js'
import { compareOrder, type EventMeta } from '../../src/engine/threadEvent.js'
import { bank, issue, list, makeGroup, rng, shuffle, type Bank, type TestPeer } from '../unit/redux/fixtures.js'

type Op = 'push' | 'deposit' | 'withdraw'

interface Issued {
  readonly meta: EventMeta
  readonly op: Op
  readonly payload: string | number
}

const scenarioArb = fc.integer({ min: 2, max: 5 }).chain((n) =>
  fc.record({
    n: fc.constant(n),
    seed: fc.nat(),
    steps: fc.array(
      fc.oneof(
        {
          weight: 3,
          arbitrary: fc.record({
            kind: fc.constant('cmd' as const),
            writer: fc.nat(n - 1),
            op: fc.constantFrom<Op>('push', 'deposit', 'withdraw'),
            value: fc.integer({ min: 1, max: 30 })
          })
        },
        {
          weight: 1,
          arbitrary: fc.record({
            kind: fc.constant('sync' as const),
            from: fc.nat(n - 1),
            to: fc.nat(n - 1),
            keep: fc.double({ min: 0, max: 1, noNaN: true }),
            seed: fc.nat()
          })
        }
      ),
      { minLength: 1, maxLength: 30 }
    )
  })
)

/** Split blocks into shuffled chunks with some duplicates. */
function scramble(blocks: readonly RecordBlocks[], random: () => number): RecordBlocks[][] {
  const withDups = [...blocks]
  for (const b of blocks) if (random() < 0.3) withDups.push(b)
  const mixed = shuffle(withDups, random)
  const chunks: RecordBlocks[][] = []
  let i = 0
  while (i < mixed.length) {
    const size = 1 + Math.floor(random() * 4)
    chunks.push(mixed.slice(i, i + size))
    i += size
  }
  return chunks
}

/** The reference: fold every event in (clock, log ID, seq) order with plain code. */
function referenceState(issued: readonly Issued[]): { list: string[]; bank: Bank } {
  const ordered = [...issued].sort((a, b) => compareOrder(a.meta, b.meta))
  const out = { list: [] as string[], bank: { balance: 0, refused: 0 } }
  for (const e of ordered) {
    if (e.op === 'push') out.list.push(e.payload as string)
    else if (e.op === 'deposit') out.bank.balance += e.payload as number
    else if (out.bank.balance >= (e.payload as number)) out.bank.balance -= e.payload as number
    else out.bank.refused++
  }
  return out
}

function command(p: TestPeer, op: Op, value: number, label: string): Issued {
  const action =
    op === 'push' ? list.actions.pushed(label) : op === 'deposit' ? bank.actions.deposit(value) : bank.actions.withdraw(value)
  return { meta: issue(p, action), op, payload: op === 'push' ? label : value }
}

describe('convergence', () => {
  it('every peer ends with the fold of all events in the total order, whatever the delivery', async () => {
    let runs = 0
    let lateRuns = 0
    await fc.assert(
      fc.asyncProperty(scenarioArb, async ({ n, seed, steps }) => {
        runs++
        const peers = await makeGroup(n)
        try {
          const issued: Issued[] = []
          const localCount = new Array<number>(n).fill(0)
          const rejected: unknown[] = []
          let replayed = false
          for (const [k, step] of steps.entries()) {
            if (step.kind === 'cmd') {
              const p = peers[step.writer] as TestPeer
              issued.push(command(p, step.op, step.value, `w${step.writer}#${k}`))
              localCount[step.writer] = (localCount[step.writer] as number) + 1
              continue
            }
            if (step.from === step.to) continue
            // A partial exchange: a random subset of what `from` holds (any log but the
            // receiver's own), scrambled. Gaps stay open: the receiver holds what follows them.
            const from = peers[step.from] as TestPeer
            const to = peers[step.to] as TestPeer
            const random = rng(step.seed)
            for (const { logId, blocks } of await from.thread.recordsSince(new Map())) {
              if (logId === to.id) continue
              const some = blocks.filter(() => random() < step.keep)
              for (const chunk of scramble(some, random)) {
                const r = await to.thread.ingest(logId, chunk)
                rejected.push(...r.rejected)
                replayed ||= r.replayed
              }
            }
          }
          // Full delivery: every peer's own log to every other peer, all chunks of all pairs in
          // one random order.
          const random = rng(seed)
          const deliveries: Array<{ to: TestPeer; logId: string; chunk: RecordBlocks[] }> = []
          for (const from of peers) {
            const blocks = (await from.thread.recordsSince(new Map())).find((l) => l.logId === from.id)?.blocks ?? []
            for (const to of peers) {
              if (to === from) continue
              for (const chunk of scramble(blocks, random)) deliveries.push({ to, logId: from.id, chunk })
            }
          }
          for (const { to, logId, chunk } of shuffle(deliveries, random)) {
            const r = await to.thread.ingest(logId, chunk)
            rejected.push(...r.rejected)
            replayed ||= r.replayed
          }
          if (replayed) lateRuns++

          const expected = referenceState(issued)
          const order = (p: TestPeer): string[] => p.engine.timeline.events.map((e) => `${e.meta.logId}:${e.meta.seq}`)
          const expectedOrder = [...issued].sort((a, b) => compareOrder(a.meta, b.meta)).map((e) => `${e.meta.logId}:${e.meta.seq}`)
          expect(rejected).toEqual([])
          for (const [i, p] of peers.entries()) {
            const state = p.store.getState()
            expect(state.list).toEqual(expected.list)
            expect(state.bank).toEqual(expected.bank)
            // The store holds exactly the engine's projection.
            expect(p.engine.state).toEqual({ list: state.list, bank: state.bank })
            expect(order(p)).toEqual(expectedOrder)
            expect(p.engine.held).toBe(0)
            // The UI slice saw each of this peer's own commands once as a command, and every other
            // peer's event once as a remote action.
            expect(state.ui.commands).toBe(localCount[i])
            expect(state.ui.remoteEvents).toBe(issued.length - (localCount[i] as number))
            // The store saw every event once, as its own action: this peer's local, the others' not.
            const m = new Map<string, number>()
            for (const e of p.events) {
              const k = `${e.logId}:${e.seq}`
              m.set(k, (m.get(k) ?? 0) + 1)
              expect(e.local).toBe(e.logId === p.id)
            }
            expect(m.size).toBe(issued.length)
            for (const count of m.values()) expect(count).toBe(1)
          }
        } finally {
          for (const p of peers) await p.peer.close()
        }
      }),
      { numRuns: 100 }
    )
    expect(runs).toBeGreaterThanOrEqual(100)
    // The scenarios exercise the late-event path, not only appends at the tip.
    expect(lateRuns).toBeGreaterThan(5)
  })

  it('clocks differ: a writer that has seen others writes after them, one that has not writes early', async () => {
    const [a, b, c] = (await makeGroup(3)) as [TestPeer, TestPeer, TestPeer]
    try {
      for (let i = 0; i < 5; i++) command(a, 'push', 0, `a${i}`)
      const b0 = command(b, 'deposit', 10, '')
      // b catches up with a, then writes: its clock jumps past a's.
      await b.thread.ingest(a.id, (await a.thread.recordsSince(new Map())).find((l) => l.logId === a.id)?.blocks ?? [])
      const b1 = command(b, 'withdraw', 7, '')
      const c0 = command(c, 'withdraw', 7, '')
      expect(b0.meta.clock).toBe(1)
      expect(b1.meta.clock).toBe(6)
      expect(c0.meta.clock).toBe(1)
      for (const from of [a, b, c]) for (const to of [a, b, c]) if (from !== to) {
        const blocks = (await from.thread.recordsSince(new Map())).find((l) => l.logId === from.id)?.blocks ?? []
        await to.thread.ingest(from.id, [...blocks].reverse())
      }
      const states = [a, b, c].map((p) => p.store.getState())
      for (const s of states) {
        expect(s.list).toEqual(['a0', 'a1', 'a2', 'a3', 'a4'])
        expect(s.bank).toEqual(states[0]?.bank)
      }
      // Whichever of b's deposit and c's withdrawal (both clock 1) sorts first by log ID, one
      // withdrawal of 7 out of 10 is refused.
      expect(states[0]?.bank).toEqual({ balance: 3, refused: 1 })
    } finally {
      for (const p of [a, b, c]) await p.peer.close()
    }
  })
})
