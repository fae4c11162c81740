import { describe, expect, it } from 'vitest'
import { mergePatch } from '../../src/core/mergePatch.js'
import { aclProjection, INITIAL_ACL, rolesIn } from '../../src/acl/aclProjection.js'

describe('review: mergePatch', () => {
  it('__proto__ / constructor / prototype members become own data members, no pollution (held)', () => {
    const patch = JSON.parse('{"__proto__":{"polluted":1},"constructor":{"prototype":{"x":1}},"a":{"__proto__":{"y":2}}}')
    const out = mergePatch({}, patch) as Record<string, unknown>
    expect(Object.getPrototypeOf(out)).toBe(Object.prototype)
    expect(Object.hasOwn(out, '__proto__')).toBe(true)
    expect(out['__proto__']).toEqual(JSON.parse('{"polluted":1}'))
    expect(({} as Record<string, unknown>).polluted).toBeUndefined()
    expect(({} as Record<string, unknown>).x).toBeUndefined()
    expect(Object.keys(out)).toEqual(['__proto__', 'constructor', 'a'])
    // removal of __proto__ removes only the own member
    const out2 = mergePatch(out, JSON.parse('{"__proto__":null}')) as Record<string, unknown>
    expect(Object.hasOwn(out2, '__proto__')).toBe(false)
    expect(Object.getPrototypeOf(out2)).toBe(Object.prototype)
    // target with own __proto__ survives the spread copy
    const out3 = mergePatch(out, { b: 1 }) as Record<string, unknown>
    expect(Object.hasOwn(out3, '__proto__')).toBe(true)
    expect(Object.getPrototypeOf(out3)).toBe(Object.prototype)
  })

  it('does not read inherited members of the target for a patched key (held)', () => {
    const out = mergePatch({}, { toString: { a: 1 }, hasOwnProperty: 1 }) as Record<string, unknown>
    expect(out.toString).toEqual({ a: 1 })
    expect(out.hasOwnProperty).toBe(1)
  })

  it('keeps untouched parts by identity and does not mutate inputs (held)', () => {
    const peers = { p1: ['read'] }
    const deep = { x: { y: 1 } }
    const target = { default: ['no-access'], peers, deep }
    const frozen = structuredClone(target)
    const out = mergePatch(target, { default: ['read'] }) as typeof target
    expect(out.peers).toBe(peers)
    expect(out.deep).toBe(deep)
    expect(target).toEqual(frozen)
    const out2 = mergePatch(target, { deep: { z: 2 } }) as typeof target
    expect((out2.deep as Record<string, unknown>).x).toBe(deep.x)
    expect(mergePatch(target, { peers: { p2: ['write'] } })).toEqual(mergePatch(target, { peers: { p2: ['write'] } }))
  })
})

function event(author: string, seq: number, type: string, payload: unknown, threadId = 'x') {
  return {
    command: { type: `redux-threads/acl/${type}`, payload },
    meta: { author, logId: author, seq, threadId, id: `${author}-${seq}` }
  } as never
}

describe('review: ACL documents keyed by hostile peer names', () => {
  it('grant/revoke to __proto__, constructor, hasOwnProperty stay own members and never reach Object.prototype (held)', () => {
    const proj = aclProjection()
    const owner = 'OWNER'
    // skip init (needs a real thread ID): start from an owned state
    let s = { ...INITIAL_ACL, owner, admin: { default: ['no-access'], peers: { [owner]: ['write'] } } } as typeof INITIAL_ACL
    for (const peer of ['__proto__', 'constructor', 'hasOwnProperty', 'toString', 'valueOf']) {
      s = proj.fold(s, event(owner, 1, 'grant', { peer, roles: ['write'] }))
      expect(Object.hasOwn(s.thread.peers, peer)).toBe(true)
      expect(rolesIn(s.thread, peer)).toEqual(['follow', 'read', 'write'].filter((r) => rolesIn(s.thread, peer).includes(r as never)))
      expect(Object.getPrototypeOf(s.thread.peers)).toBe(Object.prototype)
    }
    expect(rolesIn(s.thread, '__proto__')).toContain('write')
    s = proj.fold(s, event(owner, 2, 'revoke', { peer: '__proto__', roles: ['follow'] }))
    expect(rolesIn(s.thread, '__proto__')).not.toContain('write')
    expect(Object.hasOwn(s.cuts, '__proto__')).toBe(true)
    expect(Object.getPrototypeOf(s.cuts)).toBe(Object.prototype)
    // entity scope named __proto__
    s = proj.fold(s, event(owner, 3, 'grant', { scope: { entity: '__proto__' }, peer: 'p', roles: ['write'] }))
    expect(Object.hasOwn(s.entities, '__proto__')).toBe(true)
    expect(Object.getPrototypeOf(s.entities)).toBe(Object.prototype)
    expect(({} as Record<string, unknown>).write).toBeUndefined()
  })

  it('fold is deterministic: same events, same JSON (held)', () => {
    const proj = aclProjection()
    const run = () => {
      let s = { ...INITIAL_ACL, owner: 'O', admin: { default: ['no-access'], peers: { O: ['write'] } } } as typeof INITIAL_ACL
      const peers = ['__proto__', '10', 'b', '2', 'a', 'constructor']
      peers.forEach((peer, i) => (s = proj.fold(s, event('O', i + 1, 'grant', { peer, roles: ['read'] }))))
      return JSON.stringify(s)
    }
    expect(run()).toBe(run())
  })
})
