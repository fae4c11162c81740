/**
 * Access control enforced in the order (issue 10, DESIGN.md sections 4 and 6), against a
 * reference model: a plain function, written apart from the engine, that sorts the events a peer
 * holds and computes the ACL and the admitted events from them. Four writers (one owner) make
 * random grants, revocations (with strong remove), default changes, deletes and writes; records
 * travel in random order with duplicates and partitions. After every delivery, every peer's
 * state equals the model's over the events it holds, and in the end every peer holds the same.
 *
 * The owner rotates keys as its peer does after each change (`planRotation`): a new read key
 * when a key holder lost read, a new service key when one lost follow. Records are then sealed
 * under several read and service epochs and delivered in any order; a peer that lost a role is
 * locked out of what follows (it is checked against the model over what it could open), and
 * every peer that kept its roles ends with the same state.
 */
import fc from 'fast-check'
import { createHash } from 'node:crypto'
import { describe, expect, it } from 'vitest'
import { createAclThreadId, aclProjection, type AclState } from '../../src/acl/aclProjection.js'
import { planRotation } from '../../src/acl/rotation.js'
import { createThreadKey, generateLogKey, publicKeyFromLogId, type LogKey } from '../../src/core/keys.js'
import { recordBlocks, type RecordBlocks } from '../../src/core/record.js'
import { compareOrder, type ThreadEvent } from '../../src/engine/threadEvent.js'
import { openEngine, type TestEngine } from '../support/engines.js'
import { rng, shuffle } from '../unit/redux/fixtures.js'

type Roles = string[]

/** The model: every rule written out again, plainly, over the sorted events. */
function model(events: readonly ThreadEvent[], threadRandom: Uint8Array): { app: string[]; roles: Record<string, Roles> } {
  const sorted = [...events].sort((a, b) => compareOrder(a.meta, b.meta))
  let owner: string | null = null
  const peers: Record<string, Roles> = {}
  const admins: Record<string, Roles> = {}
  let dflt: Roles = ['no-access']
  const cuts: Record<string, number> = {}
  const admitted: ThreadEvent[] = []
  const deleted = new Set<string>()
  const has = (roles: Roles, r: string): boolean => roles.includes(r) || (r === 'read' && roles.includes('write')) || (r === 'follow' && roles.some((x) => x !== 'no-access'))
  const rolesOf = (p: string): Roles => peers[p] ?? dflt
  for (const e of sorted) {
    const author = e.meta.author
    const cut = cuts[author] !== undefined && e.meta.seq > (cuts[author] as number)
    const p = (e.command.payload ?? {}) as Record<string, unknown>
    const type = e.command.type
    if (type === 'redux-threads/acl/init') {
      if (owner !== null) continue
      const salt = p.salt as Uint8Array
      const digest = createHash('sha256').update(Buffer.from('redux-threads/acl-owner/v1')).update(publicKeyFromLogId(author)).update(salt).digest()
      if (!digest.equals(Buffer.from(threadRandom))) continue
      owner = author
      peers[author] = ['write', 'delete']
      admins[author] = ['write']
      continue
    }
    if (owner === null || cut) continue
    if (type === 'redux-threads/acl/delete') {
      if (has(rolesOf(author), 'delete')) deleted.add(p.event as string)
      continue
    }
    if (type.startsWith('redux-threads/acl/')) {
      if (!has(admins[author] ?? ['no-access'], 'write')) continue
      if (type === 'redux-threads/acl/default') dflt = p.roles as Roles
      if (type === 'redux-threads/acl/grant') peers[p.peer as string] = p.roles as Roles
      if (type === 'redux-threads/acl/revoke') {
        const who = p.peer as string
        const had = rolesOf(who)
        peers[who] = ['no-access']
        if (has(had, 'write')) cuts[who] = Math.min(cuts[who] ?? Infinity, p.lastSeq as number)
      }
      continue
    }
    if (has(rolesOf(author), 'write')) admitted.push(e)
  }
  // Strong remove: a revoked writer's records past the last one its revoker had applied are gone
  // wherever they sort, even before the revocation.
  const removed = (e: ThreadEvent): boolean => cuts[e.meta.author] !== undefined && e.meta.seq > (cuts[e.meta.author] as number)
  return { app: admitted.filter((e) => !deleted.has(e.meta.id) && !removed(e)).map((e) => String(e.command.payload)), roles: { ...peers } }
}

const step = fc.oneof(
  { weight: 4, arbitrary: fc.record({ kind: fc.constant('write' as const), who: fc.nat(3) }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('grant' as const), peer: fc.integer({ min: 1, max: 3 }), role: fc.constantFrom('write', 'read', 'follow') }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('revoke' as const), peer: fc.integer({ min: 1, max: 3 }) }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('default' as const), role: fc.constantFrom('no-access', 'write') }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('delete' as const), who: fc.nat(3) }) },
  { weight: 3, arbitrary: fc.record({ kind: fc.constant('deliver' as const), to: fc.nat(3), seed: fc.nat() }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('partition' as const), cut: fc.nat(3) }) }
)

const stats = { runs: 0, events: 0, others: 0, serviceRotations: 0, sealedUnderRotatedKeys: 0 }

describe('access control in the order (property against a reference model, issue 10)', () => {
  it('every peer computes the model’s state over the events it holds, after every delivery, and all end equal', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(step, { minLength: 5, maxLength: 40 }), fc.nat(), async (steps, seed) => {
        const random = rng(seed)
        const keys: LogKey[] = [generateLogKey(), generateLogKey(), generateLogKey(), generateLogKey()]
        const owner = keys[0] as LogKey
        const { threadId, salt } = createAclThreadId(owner.id)
        const thread = { threadId, key: createThreadKey() }
        const peers: TestEngine[] = []
        for (const k of keys) peers.push(await openEngine(thread, { logKey: k, engine: { system: aclProjection() } }))
        const outbox: Array<{ logId: string; blocks: RecordBlocks }> = []
        const write = (i: number, type: string, payload: unknown): void => {
          try {
            const { record } = (peers[i] as TestEngine).engine.command({ type, payload })
            outbox.push({ logId: (keys[i] as LogKey).id, blocks: recordBlocks(record) })
          } catch (e) {
            // Refused before signing: the local check agrees with what peers would do.
            expect((e as Error).name).toBe('AccessDeniedError')
          }
        }
        write(0, 'redux-threads/acl/init', { salt })
        // Peers some rotation did not seal its key to (they lost a role, or never had one): they
        // miss what is sealed under it. (No invite hands them the keys in this property.)
        const lockedOut = new Set<number>()
        const rotate = async (): Promise<void> => {
          const owner = (peers[0] as TestEngine).engine
          const acl = owner.system as AclState
          const plan = planRotation(acl, owner.serviceKeys().newest().key)
          if (plan === undefined) return
          const recipients = [...(plan.payload.rotate.service?.peers ?? []), ...Object.keys(plan.payload.rotate.read?.sealed ?? {})]
          keys.forEach((k, i) => {
            if ((plan.payload.rotate.service !== undefined && !plan.payload.rotate.service.peers.includes(k.id)) || (plan.payload.rotate.read !== undefined && !Object.hasOwn(plan.payload.rotate.read.sealed, k.id))) lockedOut.add(i)
          })
          expect(recipients).toContain(keys[0]!.id)
          const { record } = owner.command({ type: 'redux-threads/acl/rotate', payload: plan.payload }, undefined, plan.service === undefined ? {} : { service: plan.service.box })
          outbox.push({ logId: owner.logKey!.id, blocks: recordBlocks(record) })
          if (plan.read !== undefined) await (peers[0] as TestEngine).store.logstore.addReadKey(threadId, plan.read.epoch, plan.read.key)
          if (plan.service !== undefined) {
            await owner.addServiceKey(plan.service.epoch, plan.service.key)
            stats.serviceRotations++
          }
        }
        let counter = 0
        let cut = -1
        const check = (p: TestEngine): void => {
          const held = p.engine.timeline.events
          const m = model(held, threadId.random)
          expect(p.engine.state).toEqual(m.app)
        }
        for (const s of steps) {
          if (s.kind === 'write') write(s.who, 'test/added', `w${s.who}-${counter++}`)
          else if (s.kind === 'grant') {
            write(0, 'redux-threads/acl/grant', { peer: (keys[s.peer] as LogKey).id, roles: [s.role] })
            await rotate()
          } else if (s.kind === 'revoke') {
            const who = (keys[s.peer] as LogKey).id
            write(0, 'redux-threads/acl/revoke', { peer: who, roles: ['follow'], lastSeq: (peers[0] as TestEngine).engine.heads().get(who)?.seq ?? 0 })
            await rotate()
          } else if (s.kind === 'default') {
            write(0, 'redux-threads/acl/default', { roles: [s.role] })
            await rotate()
          }
          else if (s.kind === 'delete') {
            const target = (peers[s.who] as TestEngine).engine.timeline.events.filter((e) => e.command.type === 'test/added').at(-1)
            if (target !== undefined) write(s.who, 'redux-threads/acl/delete', { event: target.meta.id, log: target.meta.logId, seq: target.meta.seq })
          } else if (s.kind === 'partition') cut = cut === s.cut ? -1 : s.cut
          else {
            if (s.to === cut) continue
            const mixed = shuffle([...outbox, ...outbox.filter(() => random() < 0.2)], random).filter(() => random() < 0.7)
            for (const { logId, blocks } of mixed) await (peers[s.to] as TestEngine).engine.ingest(logId, [blocks])
            check(peers[s.to] as TestEngine)
          }
        }
        // Heal: everything reaches everyone, in sync rounds: a record sealed under a service key
        // the peer did not hold yet is refused (never held) and comes again in a later round,
        // as the network's rounds pull it again.
        for (let round = 0, stored = 1; stored > 0 && round < 40; round++) {
          stored = 0
          for (const p of peers) {
            for (const { logId, blocks } of shuffle([...outbox], random)) stored += (await p.engine.ingest(logId, [blocks])).stored
            check(p)
          }
        }
        // Every peer that kept its roles holds and folds the same; those locked out were checked above.
        const kept = peers.filter((_, i) => !lockedOut.has(i))
        const states = kept.map((p) => p.engine.state)
        for (const st of states) expect(st).toEqual(states[0])
        const acls = kept.map((p) => (p.engine.system as AclState).thread)
        for (const a of acls) expect(a).toEqual(acls[0])
        for (const p of kept) expect(p.engine.serviceKeys().newest().epoch).toBe((peers[0] as TestEngine).engine.serviceKeys().newest().epoch)
        stats.sealedUnderRotatedKeys += outbox.filter(({ blocks }) => blocks.record[0] === 0x82).length
        stats.runs++
        stats.events += (states[0] as readonly string[]).length
        stats.others += (states[0] as readonly string[]).filter((x) => !x.startsWith('w0-')).length
      }),
      { numRuns: Number(process.env.ACL_RUNS ?? 30), seed: Number(process.env.ACL_SEED ?? 17) }
    )
    // The runs did exercise the rules: events were admitted, including from non-owners.
    expect(stats.events).toBeGreaterThan(stats.runs / 2)
    expect(stats.others).toBeGreaterThan(0)
    // And rotations happened, with records sealed under rotated service keys.
    expect(stats.serviceRotations).toBeGreaterThan(0)
    expect(stats.sealedUnderRotatedKeys).toBeGreaterThan(0)
  }, 120_000)
})
