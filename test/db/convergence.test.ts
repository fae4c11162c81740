/**
 * Convergence of the db modules (paper sections 5.3 and 5.4): 2 to 4 peers of one thread make
 * concurrent edits of a counter, a register, an OR-set, a list, a text, a JSON document and a
 * key-value store, each decided on the state the peer sees (anchors, observed tags, visible
 * ranges); records move between peers in partial exchanges along the way, then everything
 * reaches everyone in random order, in random chunks, with duplicates. Every peer must end with
 * the same state, and that state must be what the rules say of the events in the total order:
 * no increment, field or insert lost, add wins, delete wins over a concurrent edit.
 */
import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import type { RecordBlocks } from '../../src/core/record.js'
import {
  insertedIds,
  listIdAt,
  listIds,
  makeDeleteRange,
  makeIncrement,
  makeInsertTextAt,
  makeJsonPatch,
  makeListDelete,
  makeListInsertAt,
  makeListSet,
  makeLwwSet,
  makeOrSetAdd,
  makeOrSetRemove,
  orSetKey,
  orSetValues,
  textToString,
  type JsonObject,
  type ListInsert,
  type OrSetAdd,
  type OrSetRemove
} from '../../src/db/crdt/index.js'
import { compareOrder, type EventMeta } from '../../src/engine/threadEvent.js'
import { rng, shuffle } from '../unit/redux/fixtures.js'
import { board, closeAll, issue, kv, makeDbGroup, type DbPeer } from './support.js'

const KINDS = ['like', 'title', 'tag', 'untag', 'listInsert', 'listDelete', 'listSet', 'type', 'erase', 'save', 'put', 'del'] as const
type Kind = (typeof KINDS)[number]
/**
 * Two writers at once on one thing, neither having seen the other's: one deletes a list element
 * while the other edits it (`race`), or one removes a tag while the other adds it (`tagRace`).
 */
const RACES = ['race', 'tagRace'] as const
const FIELDS = ['title', 'body', 'owner', 'size'] as const

const scenarioArb = fc.integer({ min: 2, max: 4 }).chain((n) =>
  fc.record({
    n: fc.constant(n),
    seed: fc.nat(),
    steps: fc.array(
      fc.oneof(
        { weight: 4, arbitrary: fc.record({ kind: fc.constantFrom(...KINDS), writer: fc.nat(n - 1), pick: fc.nat(), value: fc.nat(9) }) },
        { weight: 1, arbitrary: fc.record({ kind: fc.constantFrom(...RACES), writer: fc.nat(n - 1), pick: fc.nat(), value: fc.nat(9) }) },
        { weight: 1, arbitrary: fc.record({ kind: fc.constant('sync' as const), from: fc.nat(n - 1), to: fc.nat(n - 1), keep: fc.double({ min: 0, max: 1, noNaN: true }), seed: fc.nat() }) }
      ),
      { minLength: 10, maxLength: 40 }
    )
  })
)

interface Issued {
  readonly meta: EventMeta
  readonly kind: Kind
  readonly payload: unknown
}

function scramble(blocks: readonly RecordBlocks[], random: () => number): RecordBlocks[][] {
  const withDups = [...blocks]
  for (const b of blocks) if (random() < 0.3) withDups.push(b)
  const mixed = shuffle(withDups, random)
  const chunks: RecordBlocks[][] = []
  for (let i = 0; i < mixed.length; ) {
    const size = 1 + Math.floor(random() * 4)
    chunks.push(mixed.slice(i, i + size))
    i += size
  }
  return chunks
}

/** A command of `kind` decided on what `p` sees now, or undefined when there is nothing to act on. */
function command(p: DbPeer, kind: Kind, pick: number, value: number, label: string): { action: Parameters<DbPeer['store']['dispatch']>[0] & { type: string }; payload: unknown } | undefined {
  const s = p.store.getState().board
  const live = listIds(s.items)
  const text = textToString(s.body)
  switch (kind) {
    case 'like':
      return wrap(board.actions.liked(makeIncrement(value + 1)))
    case 'title':
      return wrap(board.actions.titled(makeLwwSet(label)))
    case 'tag':
      return wrap(board.actions.tagged(makeOrSetAdd(`t${value % 3}`)))
    case 'untag':
      return wrap(board.actions.tagged(makeOrSetRemove(s.tags, `t${value % 3}`)))
    case 'listInsert':
      return wrap(board.actions.listed(makeListInsertAt(s.items, pick % (live.length + 1), [label])))
    case 'listDelete':
      return live.length === 0 ? undefined : wrap(board.actions.listed(makeListDelete([listIdAt(s.items, pick % live.length) as string])))
    case 'listSet':
      return live.length === 0 ? undefined : wrap(board.actions.listed(makeListSet(listIdAt(s.items, pick % live.length) as string, `${label}*`)))
    case 'type':
      return wrap(board.actions.typed(makeInsertTextAt(s.body, pick % (text.length + 1), `${label.slice(0, 2)}${value}`)))
    case 'erase': {
      if (text.length === 0) return undefined
      const from = pick % text.length
      return wrap(board.actions.typed(makeDeleteRange(s.body, from, Math.min(text.length, from + 1 + (value % 3)))))
    }
    case 'save': {
      // One field of the document, as this peer sees it: set, or removed when value is 0.
      const field = FIELDS[pick % FIELDS.length] as string
      const after: JsonObject = { ...s.doc }
      if (value === 0) delete after[field]
      else after[field] = label
      return wrap(board.actions.saved(makeJsonPatch(s.doc, after)))
    }
    case 'put':
      return wrap(kv.actions.put({ key: `k${pick % 3}`, value: label }))
    case 'del':
      return wrap(kv.actions.del(`k${pick % 3}`))
  }
}

function wrap<A extends { type: string; payload: unknown }>(action: A): { action: A; payload: unknown } {
  return { action, payload: action.payload }
}

describe('db convergence', () => {
  it('every peer ends equal, and with what the rules say of all events in the total order', async () => {
    let runs = 0
    await fc.assert(
      fc.asyncProperty(scenarioArb, async ({ n, seed, steps }) => {
        runs++
        const peers = await makeDbGroup(n)
        try {
          const issued: Issued[] = []
          const rejected: unknown[] = []
          for (const [k, step] of steps.entries()) {
            if (step.kind === 'race' || step.kind === 'tagRace') {
              // p makes the thing and q receives it; then each acts without seeing the other.
              const [p, q] = [peers[step.writer] as DbPeer, peers[(step.writer + 1) % n] as DbPeer]
              const setup = step.kind === 'race' ? command(p, 'listInsert', step.pick, 0, `r${k}`) : command(p, 'tag', 0, step.value, '')
              if (setup !== undefined) issued.push({ meta: issue(p, setup.action), kind: step.kind === 'race' ? 'listInsert' : 'tag', payload: setup.payload })
              // Everything p holds, so q holds what p's insert is anchored on too.
              for (const { logId, blocks } of await p.thread.recordsSince(new Map())) if (logId !== q.id) rejected.push(...(await q.thread.ingest(logId, blocks)).rejected)
              const target = step.kind === 'race' ? insertedIds(setup?.payload as ListInsert<string>)[0] as string : ''
              const pair: Array<[DbPeer, Kind, ReturnType<typeof command>]> =
                step.kind === 'tagRace'
                  ? [[p, 'untag', command(p, 'untag', 0, step.value, '')], [q, 'tag', command(q, 'tag', 0, step.value, '')]]
                  : [[p, 'listDelete', wrap(board.actions.listed(makeListDelete([target])))], [q, 'listSet', wrap(board.actions.listed(makeListSet(target, `race${k}`)))]]
              for (const [who, kind, made] of step.value % 2 === 0 ? pair : pair.reverse()) {
                if (made !== undefined) issued.push({ meta: issue(who, made.action), kind, payload: made.payload })
              }
              continue
            }
            if (step.kind !== 'sync') {
              const p = peers[step.writer] as DbPeer
              const made = command(p, step.kind, step.pick, step.value, `w${step.writer}s${k}`)
              if (made !== undefined) issued.push({ meta: issue(p, made.action), kind: step.kind, payload: made.payload })
              continue
            }
            if (step.from === step.to) continue
            const from = peers[step.from] as DbPeer
            const to = peers[step.to] as DbPeer
            const random = rng(step.seed)
            for (const { logId, blocks } of await from.thread.recordsSince(new Map())) {
              if (logId === to.id) continue
              for (const chunk of scramble(blocks.filter(() => random() < step.keep), random)) {
                const r = await to.thread.ingest(logId, chunk)
                rejected.push(...r.rejected)
                if (r.replayed) stats.replayed++
              }
            }
          }
          const random = rng(seed)
          const deliveries: Array<{ to: DbPeer; logId: string; chunk: RecordBlocks[] }> = []
          for (const from of peers) {
            const blocks = (await from.thread.recordsSince(new Map())).find((l) => l.logId === from.id)?.blocks ?? []
            for (const to of peers) if (to !== from) for (const chunk of scramble(blocks, random)) deliveries.push({ to, logId: from.id, chunk })
          }
          for (const { to, logId, chunk } of shuffle(deliveries, random)) {
            const r = await to.thread.ingest(logId, chunk)
            rejected.push(...r.rejected)
            if (r.replayed) stats.replayed++
          }
          expect(rejected).toEqual([])

          // Every peer ends equal.
          const first = (peers[0] as DbPeer).store.getState()
          for (const p of peers) {
            expect(p.store.getState().board).toEqual(first.board)
            expect(p.store.getState().kv).toEqual(first.kv)
          }
          checkRules(first.board, first.kv, [...issued].sort((a, b) => compareOrder(a.meta, b.meta)))
        } finally {
          await closeAll(peers)
        }
      }),
      { numRuns: 60 }
    )
    expect(runs).toBe(60)
    // The runs met late events, edits of elements deleted before them, and adds a remove had not seen.
    expect(stats.replayed).toBeGreaterThan(10)
    expect(stats.editsAfterDelete).toBeGreaterThan(0)
    expect(stats.concurrentAdds).toBeGreaterThan(0)
    expect(stats.wholeRuns).toBeGreaterThan(0)
  })
})

type BoardState = ReturnType<DbPeer['store']['getState']>['board']
type KvState = ReturnType<DbPeer['store']['getState']>['kv']

/** How often the runs met the cases the rules are about (so the property is not vacuous). */
const stats = { editsAfterDelete: 0, concurrentAdds: 0, replayed: 0, wholeRuns: 0 }

/** What the rules say of the events, in the total order, checked against the state. */
function checkRules(state: BoardState, kvState: KvState, ordered: readonly Issued[]): void {
  const of = <P>(kind: Kind) => ordered.filter((e) => e.kind === kind).map((e) => ({ meta: e.meta, payload: e.payload as P }))
  // No increment lost.
  expect(state.likes).toBe(of<{ add: number }>('like').reduce((sum, e) => sum + e.payload.add, 0))
  // The last write in the total order.
  expect(state.title.value).toBe(of<{ value: string }>('title').at(-1)?.payload.value ?? '')
  // Add wins: a member is in the set iff some add's tag was never named by a remove.
  const removedTags = new Set(of<OrSetRemove>('untag').flatMap((e) => e.payload.tags))
  for (const r of of<OrSetRemove>('untag')) if (of<OrSetAdd<string>>('tag').some((a) => compareOrder(a.meta, r.meta) < 0 && orSetKey(a.payload.value) === r.payload.key && !r.payload.tags.includes(a.payload.tag))) stats.concurrentAdds++
  const members = new Set(of<OrSetAdd<string>>('tag').filter((e) => !removedTags.has(e.payload.tag)).map((e) => orSetKey(e.payload.value)))
  expect(new Set(orSetValues(state.tags).map(orSetKey))).toEqual(members)
  // No insert lost; deleted elements are tombstones; delete wins over any edit; a live element
  // holds the last edit in the total order.
  const deleted = new Set(ordered.filter((e) => e.kind === 'listDelete').flatMap((e) => (e.payload as { ids: string[] }).ids))
  const inserted = of<ListInsert<string>>('listInsert').flatMap((e) => insertedIds(e.payload).map((id, k) => ({ id, value: e.payload.values[k] as string })))
  expect(state.items.map((e) => e.id).sort()).toEqual(inserted.map((e) => e.id).sort())
  for (const el of inserted) {
    const found = state.items.find((e) => e.id === el.id)
    expect(found?.deleted !== undefined).toBe(deleted.has(el.id))
    // The edits before the element's first delete count; any after it are ignored.
    const firstDelete = ordered.findIndex((e) => e.kind === 'listDelete' && (e.payload as { ids: string[] }).ids.includes(el.id))
    const edits = ordered.filter((e, i) => e.kind === 'listSet' && (e.payload as { id: string }).id === el.id && (firstDelete < 0 || i < firstDelete))
    if (firstDelete >= 0 && ordered.some((e, i) => i > firstDelete && e.kind === 'listSet' && (e.payload as { id: string }).id === el.id)) stats.editsAfterDelete++
    expect(found?.value).toBe((edits.at(-1)?.payload as { value: string } | undefined)?.value ?? el.value)
  }
  // Text: every character typed is there, live unless erased, and each insert's run is contiguous in the text.
  const erased = new Set(ordered.filter((e) => e.kind === 'erase').flatMap((e) => (e.payload as { ids: string[] }).ids))
  const typed = of<ListInsert<string>>('type')
  expect(state.body).toHaveLength(typed.reduce((n, e) => n + e.payload.values.length, 0))
  const position = new Map(state.body.map((e, i) => [e.id, i]))
  const anchors = new Set(typed.map((e) => e.payload.after))
  for (const e of typed) {
    const ids = insertedIds(e.payload)
    const at = ids.map((id) => position.get(id))
    // A run stays whole unless an insert was anchored inside it (an edit there, not a concurrent one).
    if (!ids.slice(0, -1).some((id) => anchors.has(id))) {
      expect(at).toEqual(at.map((_, k) => (at[0] as number) + k))
      if (ids.length > 1) stats.wholeRuns++
    }
    for (const id of ids) expect(state.body[position.get(id) as number]?.deleted !== undefined).toBe(erased.has(id))
  }
  // JSON: each field holds the last save in the total order that touched it.
  for (const field of FIELDS) {
    const last = of<{ patch: JsonObject }>('save').filter((e) => Object.hasOwn(e.payload.patch, field)).at(-1)
    const expected = last === undefined || last.payload.patch[field] === null ? undefined : last.payload.patch[field]
    expect(state.doc[field]).toEqual(expected)
  }
  // Key-value store: the last put or delete of each key in the total order (a delete of a key
  // holding nothing changes nothing).
  for (const key of ['k0', 'k1', 'k2']) {
    let value: unknown
    for (const e of ordered) {
      if (e.kind === 'put' && (e.payload as { key: string }).key === key) value = (e.payload as { value: unknown }).value
      if (e.kind === 'del' && e.payload === key) value = undefined
    }
    expect(kv.selectors.get({ kv: kvState }, key)).toEqual(value)
  }
}
