/**
 * Forks under any delivery (issue 7 §2, DESIGN.md section 3): honest writers and one writer that
 * forks its log at a random seq. Every record reaches every honest peer in random order and
 * random chunks, with duplicates, while the peers keep writing; the proofs their engines find go
 * to the others in random order. However they learn it, every honest peer must end with the same
 * state, report the fork at the same seq, and hold none of the forking writer's events from that
 * seq on, and every honest command must be present everywhere.
 */
import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { generateLogKey } from '../../src/core/keys.js'
import type { ForkProof } from '../../src/core/forkProof.js'
import type { RecordBlocks } from '../../src/core/record.js'
import { newThread, openWriter, type TestEngine } from '../support/engines.js'
import { forge, forgeChain } from '../support/forge.js'
import { rng, shuffle } from '../unit/redux/fixtures.js'

type Delivery = { kind: 'records'; to: number; logId: string; blocks: RecordBlocks[] } | { kind: 'proof'; to: number; proof: ForkProof }

const scenario = fc.record({
  peers: fc.integer({ min: 2, max: 4 }),
  forkAt: fc.integer({ min: 1, max: 4 }),
  branchA: fc.integer({ min: 1, max: 4 }),
  branchB: fc.integer({ min: 1, max: 4 }),
  writes: fc.integer({ min: 1, max: 6 }),
  seed: fc.nat()
})

type Scenario = { peers: number; forkAt: number; branchA: number; branchB: number; writes: number; seed: number }

/** One scenario; `trace` prints every delivery (call it from a scratch test to debug a counterexample). */
async function run({ peers: n, forkAt, branchA, branchB, writes, seed }: Scenario, trace?: (line: string) => void): Promise<void> {
        const random = rng(seed)
        const thread = newThread()
        const w = generateLogKey()
        // The forking writer: a common prefix, then two branches from seq `forkAt`.
        const prefix = forgeChain(w, thread, undefined, Array.from({ length: forkAt - 1 }, (_, i) => `w${i + 1}`))
        const base = prefix.at(-1)?.head
        const a = forgeChain(w, thread, base, Array.from({ length: branchA }, (_, i) => `A${i + forkAt}`), forkAt)
        const b = [forge(w, thread, base, `B${forkAt}`, forkAt + 7)]
        for (let i = 1; i < branchB; i++) b.push(forge(w, thread, b[i - 1]!.head, `B${forkAt + i}`, forkAt + 7 + i))
        const wBlocks = [...prefix, ...a, ...b].map((f) => f.blocks)

        const honest: TestEngine[] = []
        for (let i = 0; i < n; i++) honest.push(await openWriter(thread))
        const queue: Delivery[] = []
        const issued: string[] = []
        honest.forEach((t, i) => {
          t.engine.events.on('fork', (f) => {
            for (let j = 0; j < n; j++) if (j !== i) queue.push({ kind: 'proof', to: j, proof: f.proof })
          })
          t.engine.events.on('recorded', ({ records }) => {
            const blocks = records.map((r) => ({ record: r.blocks.record.bytes, event: r.blocks.event.bytes, header: r.blocks.header.bytes, body: r.blocks.body.bytes }))
            for (let j = 0; j < n; j++) if (j !== i) queue.push({ kind: 'records', to: j, logId: t.logKey!.id, blocks })
          })
        })
        // The forking writer's records reach everyone, in chunks, shuffled, some twice.
        for (let j = 0; j < n; j++) {
          const mixed = shuffle([...wBlocks, ...wBlocks.filter(() => random() < 0.3)], random)
          for (let k = 0; k < mixed.length; k += 1 + Math.floor(random() * 3)) queue.push({ kind: 'records', to: j, logId: w.id, blocks: mixed.slice(k, k + 3) })
        }
        let written = 0
        // Records are sent once stored: settle the writers' appends before deciding the queue is empty.
        const settle = async (): Promise<boolean> => {
          await Promise.all(honest.map((t) => t.engine.flush()))
          return queue.length > 0
        }
        while (queue.length > 0 || written < writes * n || (await settle())) {
          if (written < writes * n && (queue.length === 0 || random() < 0.3)) {
            const who = written % n
            const payload = `h${who}-${written}`
            issued.push(payload)
            honest[who]!.engine.command({ type: 'test/added', payload })
            written++
            continue
          }
          const i = Math.floor(random() * queue.length)
          const [d] = queue.splice(i, 1)
          if (d === undefined) continue
          const target = honest[d.to]!.engine
          if (d.kind === 'proof') await target.addForkProof(d.proof)
          else {
            const r = await target.ingest(d.logId, d.blocks)
            trace?.(`to ${d.to} ${d.logId === w.id ? 'W' : 'h'} [${d.blocks.length}] stored ${r.stored} held ${r.held} rejected ${r.rejected.map((e) => e.name).join(',')} forks ${r.forks.length} state ${target.state.join(' ')}`)
          }
          // A duplicate now and then.
          if (random() < 0.1) queue.push(d)
        }
        const states = honest.map((t) => t.engine.state)
        for (const s of states) expect(s).toEqual(states[0])
        for (const t of honest) expect(t.engine.forks().map((f) => [f.logId, f.seq])).toEqual([[w.id, forkAt]])
        const expectedW = prefix.map((_, i) => `w${i + 1}`)
        const got = states[0]!
        expect(got.filter((p) => p.startsWith('w') || p.startsWith('A') || p.startsWith('B'))).toEqual(expectedW)
        expect([...got.filter((p) => p.startsWith('h'))].sort()).toEqual([...issued].sort())
}

describe('forks converge (property, issue 7 §2)', () => {
  it('all honest peers end with the same state and report the same fork, whatever the delivery', async () => {
    await fc.assert(fc.asyncProperty(scenario, (s) => run(s)), { numRuns: Number(process.env.FORK_RUNS ?? 40), seed: Number(process.env.FORK_SEED ?? 7) })
  })
})
