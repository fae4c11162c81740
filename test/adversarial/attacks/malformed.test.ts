/**
 * Attacks with malformed ACL events and founding attempts: random payloads of every ACL type from
 * an admin (the ACL's own author may sign anything), a non-owner's init with the owner's salt, a
 * second init, ACL events before the init. The fold stays total, and peers that take the events
 * in different orders (or reopen from storage) hold the same ACL and app state.
 */
import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { createAclThreadId, type AclState } from '../../../src/acl/aclProjection.js'
import type { Command } from '../../../src/core/command.js'
import { generateLogKey } from '../../../src/core/keys.js'
import type { LogHead } from '../../../src/core/record.js'
import { ACL, aclWorld, headOf, type Sent } from './fixture.js'

const PROTO = new Set(['__proto__', 'constructor', 'toString', 'hasOwnProperty', 'valueOf', 'isPrototypeOf', 'propertyIsEnumerable', 'toLocaleString', '__defineGetter__', '__defineSetter__', '__lookupGetter__', '__lookupSetter__'])
/** Anything dag-cbor carries, but no prototype keys (those are prototypeKeys.test.ts). */
const value = fc.anything({ maxDepth: 3, withNullPrototype: false, withBigInt: false, withTypedArray: true, key: fc.string({ maxLength: 6 }).filter((k) => !PROTO.has(k)) }).filter((v) => v !== undefined && !(typeof v === 'number' && (Number.isNaN(v) || !Number.isFinite(v))))
const strings = fc.oneof(fc.string({ maxLength: 4 }).filter((s) => !PROTO.has(s)), fc.constant('PEER'))
const payload = fc.oneof(
  value,
  fc.record(
    {
      peer: fc.oneof(strings, value),
      roles: fc.oneof(fc.array(fc.constantFrom('no-access', 'follow', 'read', 'write', 'delete', 'admin', ''), { maxLength: 7 }), value),
      scope: fc.oneof(fc.constantFrom('thread', 'admin', undefined), fc.record({ entity: fc.oneof(strings, value) }), value),
      lastSeq: fc.oneof(fc.integer({ min: -3, max: 5 }), value),
      fromSeq: fc.oneof(fc.integer({ min: -3, max: 5 }), value),
      event: fc.oneof(strings, value),
      rotate: fc.oneof(value, fc.record({ read: fc.oneof(value, fc.record({ epoch: fc.oneof(fc.integer({ min: 0, max: 3 }), value), sealed: value })) }))
    },
    { requiredKeys: [] }
  )
)
const kind = fc.constantFrom('init', 'grant', 'revoke', 'default', 'delete', 'bogus', '')

/** Replace the placeholder 'PEER' (deeply) by a real peer ID, so grants can name the writer. */
function withPeer(v: unknown, peer: string): unknown {
  if (v === 'PEER') return peer
  if (Array.isArray(v)) return v.map((x) => withPeer(x, peer))
  if (v !== null && typeof v === 'object' && !(v instanceof Uint8Array) && Object.getPrototypeOf(v) === Object.prototype) {
    return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, withPeer(x, peer)]))
  }
  return v
}

describe('malformed ACL events', () => {
  it('random ACL payloads from the owner and a writer never throw out of a fold, and every order agrees', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(fc.record({ kind, payload, by: fc.nat(1), app: fc.boolean() }), { minLength: 1, maxLength: 12 }), fc.integer(), async (steps, seed) => {
        const w = await aclWorld(2)
        const [owner, writer] = w.keys
        // The writer may write and is an admin: its ACL events fold too.
        w.cmd(0, `${ACL}grant`, { peer: writer!.id, roles: ['write', 'delete'] })
        w.cmd(0, `${ACL}grant`, { peer: writer!.id, roles: ['write'], scope: 'admin' })
        const heads: Array<LogHead | undefined> = [headOf(w.peers[0]!, owner!.id), undefined]
        const list: Sent[] = [...w.sent]
        for (const [i, s] of steps.entries()) {
          const key = s.by === 0 ? owner! : writer!
          const command: Command = s.app ? { type: 'test/added', payload: `e${i}` } : { type: `${ACL}${s.kind}`, payload: withPeer(s.payload, writer!.id) }
          let f
          try {
            f = w.forge(key, heads[s.by], command, 10 + ((seed + i * 7) % 13))
          } catch {
            continue // dag-cbor could not encode it: nobody can send it either
          }
          heads[s.by] = f.head
          list.push(f.sent)
        }
        const a = await w.open()
        const b = await w.open()
        for (const s of list) await a.engine.ingest(s.logId, [s.blocks])
        const rev = [...list].reverse()
        for (const s of rev) await b.engine.ingest(s.logId, [s.blocks])
        expect(b.engine.state).toEqual(a.engine.state)
        expect(JSON.stringify(b.engine.system)).toEqual(JSON.stringify(a.engine.system))
        await a.engine.flush()
        const again = await w.open({ storage: a.storage })
        expect(again.engine.state).toEqual(a.engine.state)
      }),
      { numRuns: 40, seed: 1010 }
    )
  })

  it('only the owner founds the ACL: another log replaying its salt, a second init, ACL events before the init are ignored by every peer', async () => {
    const w = await aclWorld(3)
    const [owner, mallory] = w.keys
    // Before the owner's init in the order (low clocks), from Mallory's log: her own init with the
    // owner's salt, then a grant to herself.
    const init = w.forge(mallory!, undefined, { type: `${ACL}init`, payload: { salt: w.salt } }, 0)
    const grant = w.forge(mallory!, init.head, { type: `${ACL}grant`, payload: { peer: mallory!.id, roles: ['write'], scope: 'admin' } }, 0)
    // The owner founds again with another salt, and with the same one.
    const other = createAclThreadId(owner!.id)
    for (const salt of [other.salt, w.salt]) expect(() => w.cmd(0, `${ACL}init`, { salt })).toThrow(expect.objectContaining({ name: 'AccessDeniedError' }))
    const second = w.forge(owner!, headOf(w.peers[0]!, owner!.id), { type: `${ACL}init`, payload: { salt: w.salt } }, 100)
    const m1 = w.forge(mallory!, grant.head, { type: 'test/added', payload: 'by mallory' }, 200)
    const all = [init.sent, grant.sent, ...w.sent, second.sent, m1.sent]
    for (const order of [all, [...all].reverse()]) {
      const p = await w.open()
      for (const s of order) await p.engine.ingest(s.logId, [s.blocks])
      const acl = p.engine.system as AclState
      expect(acl.owner).toBe(owner!.id)
      expect(acl.admin.peers[mallory!.id]).toBeUndefined()
      expect(p.engine.state).toEqual([])
    }
    expect(generateLogKey()).toBeDefined()
  })
})
