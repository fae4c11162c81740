/**
 * Chaos (DESIGN.md sections 4 and 6): five peers write random commands (a todo list and a
 * non-commutative ledger) over a memory hub that drops, duplicates, reorders and delays messages
 * and is split by random partitions. Once the network heals and the faults stop, explicit sync
 * rounds must bring every peer to the same state: the same hash of the thread's slices, every
 * command applied once, the same heads, and each store equal to its engine's projection.
 *
 * `npx tsx scripts/chaos.ts 500` runs many more seeds.
 */
import { describe, expect, it } from 'vitest'
import { runChaos, type ChaosResult } from './chaosScenario.js'

/** Refusals honest peers may report of each other: none, whatever the faults. Duplicated, reordered
 * or lost handshake messages are never misbehaviour (version 2 of the protocol), and no honest
 * record is ever refused. */
const EXPECTED_REFUSALS = new Set<string>()

function check(r: ChaosResult): void {
  expect(r.problem, `seed ${r.seed}: ${r.problem ?? ''}`).toBeUndefined()
  expect(r.converged).toBe(true)
  expect(new Set(r.hashes).size).toBe(1)
  expect(r.events).toEqual(r.hashes.map(() => r.commands))
  expect(r.storeMismatches).toBe(0)
  expect(r.commands).toBeGreaterThan(20)
  for (const name of Object.keys(r.rejected)) expect(EXPECTED_REFUSALS.has(name), `seed ${r.seed}: ${name}`).toBe(true)
}

describe('chaos: five peers, faults and partitions, then convergence', () => {
  const seeds = Array.from({ length: 20 }, (_, i) => 1000 + i * 7919)
  const results: ChaosResult[] = []

  it.each(seeds)('seed %i converges', async (seed) => {
    const r = await runChaos(seed)
    results.push(r)
    check(r)
  })

  it('the faults and partitions really happened', () => {
    expect(results).toHaveLength(seeds.length)
    const total = (k: 'dropped' | 'duplicated' | 'delivered'): number => results.reduce((n, r) => n + r.hub[k], 0)
    expect(total('dropped')).toBeGreaterThan(50)
    expect(total('duplicated')).toBeGreaterThan(50)
    expect(results.reduce((n, r) => n + r.partitions, 0)).toBeGreaterThan(seeds.length)
  })

  // Connections that stay open through heavy loss: a lost pull or page is asked again only
  // once older than the pull timeout, so convergence takes rounds spaced in (virtual) time.
  it.each([11, 12, 13, 14, 15])('seed %i converges with heavy loss on long-lived connections', async (seed) => {
    const r = await runChaos(seed, {
      faults: { drop: 0.2, duplicate: 0.1, reorder: 0.2, delay: 0.2, maxDelay: 5 },
      steps: 80,
      partitionRate: 0,
      maxRounds: 20
    })
    check(r)
    expect(r.partitions).toBe(0)
  })

  // The transport keeps its contract (no faults), with partitions and reconnects: honest peers
  // refuse nothing of each other (no strike, no ban), and converge in one round.
  it.each([21, 22, 23, 24, 25, 26])('seed %i converges in one round without faults, and no peer strikes another', async (seed) => {
    const r = await runChaos(seed, { faults: {}, steps: 80, partitionRate: 0.1 })
    check(r)
    expect(r.partitions).toBeGreaterThan(0)
    expect(r.rejected).toEqual({})
    expect(r.rounds).toBe(1)
  })
})
