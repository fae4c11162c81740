/**
 * One chaos run (shared by `chaos.test.ts` and `scripts/chaos.ts`): five peers of one thread on
 * a memory hub that drops, duplicates, reorders and delays messages, split by random partitions
 * while they write random commands (a todo list and a non-commutative ledger). Then the network
 * heals, faults stop, and explicit sync rounds run until every peer holds the same state, or a
 * bound is hit. Everything random comes from the seed (the hub's faults and the script); peers
 * run no timers (`syncIntervalMs: 0`), so only the rounds the script asks for happen.
 */
import { createHash } from 'node:crypto'
import { configureStore, type PayloadAction } from '@reduxjs/toolkit'
import { createMemoryHub, settle, type Faults } from '../../adapters/network/memory.js'
import { memoryStorage } from '../../adapters/storage/memory.js'
import { todos } from '../../examples/todo/todoSlice.js'
import { createPeer, type Peer } from '../../src/redux/createPeer.js'
import { createThreadSlice } from '../../src/redux/createThreadSlice.js'
import { engineOf } from '../../src/redux/threadHandle.js'
import type { ThreadEngine } from '../../src/engine/threadEngine.js'
import type { SliceStates } from '../../src/redux/projection.js'
import { seededRandom } from '../support/random.js'

export interface Ledger {
  balance: number
  refused: number
  /** The last entries, in order: appending is order-sensitive. */
  entries: string[]
}

/** A non-commutative slice: withdrawals depend on the balance at their position in the order. */
export const ledger = createThreadSlice({
  name: 'ledger',
  initialState: { balance: 0, refused: 0, entries: [] } as Ledger,
  reducers: {
    deposit(state, action: PayloadAction<number>) {
      state.balance += action.payload
      state.entries.push(`+${action.payload}`)
    },
    withdraw(state, action: PayloadAction<number>) {
      if (state.balance >= action.payload) {
        state.balance -= action.payload
        state.entries.push(`-${action.payload}`)
      } else state.refused++
    },
    stamp(state, action: PayloadAction<string>) {
      state.entries.push(action.payload)
      if (state.entries.length > 40) state.entries.shift()
    }
  }
})

function makeStore(peer: Peer) {
  return configureStore({
    reducer: { [peer.reducerPath]: peer.reducer, todos: todos.reducer, ledger: ledger.reducer },
    middleware: (d) => d({ immutableCheck: false, serializableCheck: false }).concat(peer.middleware)
  })
}

type Store = ReturnType<typeof makeStore>

/** A seeded generator: the same seed, the same run. */
export const rng = seededRandom

export interface ChaosOptions {
  readonly peers?: number
  readonly steps?: number
  readonly faults?: Faults
  /** Share of steps that repartition the peers (default 0.08; as much again heals). */
  readonly partitionRate?: number
  /** Sync rounds (syncNow on every peer, then settle) allowed after healing. */
  readonly maxRounds?: number
  /**
   * Virtual time between two of those rounds (ms; default 10,000, the default sync interval).
   * A pull lost on an open connection is asked again only once it is older than the pull
   * timeout (5 s), as it would be by the periodic round of a running peer: `Date.now` is skewed
   * by this much before each round (and restored after the run), so no test sleeps.
   */
  readonly roundSpacingMs?: number
}

export interface ChaosResult {
  readonly seed: number
  readonly converged: boolean
  /** Rounds it took (or `maxRounds` when it did not converge). */
  readonly rounds: number
  /** Commands issued (each one event). */
  readonly commands: number
  readonly partitions: number
  /** Virtual milliseconds the rounds after healing took (see `roundSpacingMs`). */
  readonly virtualMs: number
  /** State hash per peer after the last round. */
  readonly hashes: readonly string[]
  /** Events in each peer's timeline after the last round. */
  readonly events: readonly number[]
  /** Peers whose Redux state differs from their engine's projection (must be none). */
  readonly storeMismatches: number
  /** Refusals reported on the peers' threads, by error name (auth races from duplicated or reordered messages, …). */
  readonly rejected: Readonly<Record<string, number>>
  readonly hub: { readonly delivered: number; readonly dropped: number; readonly duplicated: number }
  readonly ms: number
  /** Why it failed, if it did. */
  readonly problem?: string
}

export const DEFAULT_FAULTS: Faults = { drop: 0.05, duplicate: 0.05, reorder: 0.1, delay: 0.15, maxDelay: 4 }

const hash = (value: unknown): string => createHash('sha256').update(JSON.stringify(value)).digest('hex')

interface Member {
  readonly peer: Peer
  /** This peer's ID (it is started). */
  readonly id: string
  readonly store: Store
  /** The engine of the thread (`engineOf(peer.thread(threadId))`). */
  readonly engine: ThreadEngine<SliceStates>
  readonly threadId: string
}

function threadState(m: Member): { todos: unknown; ledger: unknown } {
  const s = m.store.getState()
  return { todos: s.todos, ledger: s.ledger }
}

export async function runChaos(seed: number, options: ChaosOptions = {}): Promise<ChaosResult> {
  const started = Date.now()
  const n = options.peers ?? 5
  const random = rng(seed)
  const int = (k: number): number => Math.floor(random() * k)
  const hub = createMemoryHub({ seed, faults: options.faults ?? DEFAULT_FAULTS })
  const members: Member[] = []
  const rejected: Record<string, number> = {}
  const peers = (): Peer[] => members.map((m) => m.peer)
  const realNow = Date.now
  let skew = 0
  Date.now = () => realNow() + skew
  try {
    for (let i = 0; i < n; i++) {
      const peer = createPeer({ storage: memoryStorage(), network: hub.network(), syncIntervalMs: 0 })
      const store = makeStore(peer)
      await peer.start()
      const id = peer.id as string
      const first = members[0]
      const slices = [todos, ledger]
      let threadId: string
      if (first === undefined) threadId = (await store.dispatch(peer.thunks.createThread({ slices })).unwrap()).threadId
      else {
        const invite = await first.store.dispatch(first.peer.thunks.invite({ threadId: first.threadId, role: 'write', ...(random() < 0.5 ? { to: id } : {}) })).unwrap()
        // The hub drops messages: join returns at once (as before) rather than wait to catch up.
        threadId = (await store.dispatch(peer.thunks.joinThread({ invite, slices, waitForSyncMs: 0 })).unwrap()).threadId
      }
      const engine = engineOf(peer.thread(threadId) as NonNullable<ReturnType<Peer['thread']>>)
      engine.events.on('rejected', (e) => {
        rejected[e.name] = (rejected[e.name] ?? 0) + 1
      })
      members.push({ peer, id, store, engine, threadId })
    }

    let commands = 0
    let partitions = 0
    const command = (m: Member): void => {
      const list = m.store.getState().todos
      const pick = list.length === 0 ? undefined : list[int(list.length)]
      const r = random()
      if (r < 0.3 || pick === undefined) m.store.dispatch(todos.actions.added(`t${seed}-${commands}`))
      else if (r < 0.42) m.store.dispatch(todos.actions.toggled(pick.id))
      else if (r < 0.52) m.store.dispatch(todos.actions.renamed({ id: pick.id, text: `r${commands}` }))
      else if (r < 0.6) m.store.dispatch(todos.actions.removed(pick.id))
      else if (r < 0.75) m.store.dispatch(ledger.actions.deposit(1 + int(20)))
      else if (r < 0.9) m.store.dispatch(ledger.actions.withdraw(1 + int(30)))
      else m.store.dispatch(ledger.actions.stamp(`s${commands}`))
      commands++
    }

    const steps = options.steps ?? 60
    const pr = options.partitionRate ?? 0.08
    for (let s = 0; s < steps; s++) {
      // Commands 60%, partition pr, heal pr, a peer's sync round 12%, settle the rest.
      const r = random()
      const m = members[int(n)] as Member
      if (r < 0.6) {
        // A burst of one to three commands in one turn.
        for (let k = 1 + int(3); k > 0; k--) command(m)
      } else if (r < 0.6 + pr) {
        const groups: string[][] = [[], [], []]
        for (const p of members) (groups[int(1 + int(3))] as string[]).push(p.id)
        hub.partition(...groups.filter((g) => g.length > 0))
        partitions++
      } else if (r < 0.6 + 2 * pr) {
        hub.heal()
      } else if (r < 0.72 + 2 * pr) {
        await m.store.dispatch(m.peer.thunks.syncNow()).unwrap()
      } else {
        await settle(hub, peers())
      }
    }

    hub.heal()
    hub.setFaults({})
    await settle(hub, peers())
    const maxRounds = options.maxRounds ?? 12
    const spacing = options.roundSpacingMs ?? 10_000
    let rounds = 0
    let hashes: string[] = []
    let events: number[] = []
    let converged = false
    while (rounds < maxRounds) {
      rounds++
      if (rounds > 1) skew += spacing
      await Promise.all(members.map((m) => m.store.dispatch(m.peer.thunks.syncNow()).unwrap()))
      await settle(hub, peers())
      hashes = members.map((m) => hash(threadState(m)))
      events = members.map((m) => m.engine.timeline.length)
      if (new Set(hashes).size === 1 && events.every((e) => e === commands)) {
        converged = true
        break
      }
    }
    const storeMismatches = members.filter((m) => hash(threadState(m)) !== hash(m.engine.state)).length
    const heads = members.map((m) => JSON.stringify([...m.engine.heads()].map(([log, h]) => [log, h.seq]).sort()))
    let problem: string | undefined
    if (!converged) problem = `not converged after ${maxRounds} rounds: events ${events.join(',')} of ${commands}; ${new Set(hashes).size} distinct states`
    else if (storeMismatches > 0) problem = `${storeMismatches} peers' Redux state differs from their projection`
    else if (new Set(heads).size !== 1) problem = 'same state but different heads'
    return {
      seed,
      converged: problem === undefined,
      rounds,
      commands,
      partitions,
      virtualMs: skew,
      hashes,
      events,
      storeMismatches,
      rejected,
      hub: { ...hub.stats },
      ms: realNow() - started,
      ...(problem === undefined ? {} : { problem })
    }
  } finally {
    for (const m of members) await m.peer.close()
    Date.now = realNow
  }
}
