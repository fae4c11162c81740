/**
 * Rotated read keys in invites (issue 10): a reader added after a rotation gets the keys of later
 * epochs with its invite. The field is untrusted input like the rest: every malformed `epochs`
 * ends in InvalidInviteError, a follow invite never carries one, and an invite at every limit
 * (32 epochs included) still fits MAX_INVITE_CHARS.
 */
import * as dagCbor from '@ipld/dag-cbor'
import { describe, expect, it } from 'vitest'
import { MAX_INVITE_ADDRS, MAX_INVITE_ADDR_CHARS, MAX_INVITE_CHARS, MAX_INVITE_EPOCHS, createInvite, encodeInviteString, openInvite } from '../../src/acl/invite.js'
import { logKeyFromSeed, threadKeyToBytes, type ThreadKey } from '../../src/core/keys.js'
import { ThreadId } from '../../src/core/threadId.js'
import { seededRandom } from '../support/random.js'

const inviter = logKeyFromSeed(new Uint8Array(32).fill(1))
const invitee = logKeyFromSeed(new Uint8Array(32).fill(2))
const threadId = ThreadId.fromBytes(Uint8Array.of(1, 0x55, ...new Uint8Array(32).fill(7)))
const key: Required<ThreadKey> = { service: new Uint8Array(32).fill(8), read: new Uint8Array(32).fill(9) }
const addrs = [`/ip4/127.0.0.1/tcp/4001/p2p/${inviter.id}`]
const epochKey = (e: number): Uint8Array => new Uint8Array(32).fill(e)
const epochs = (n: number): Array<[number, Uint8Array]> => Array.from({ length: n }, (_, i) => [i + 1, epochKey(i + 1)])

/** A bearer invite whose key set is `keys` (any shape). */
const withKeys = (keys: unknown): string => encodeInviteString(dagCbor.encode({ thread: threadId.bytes, addrs, from: inviter.id, keys: dagCbor.encode(keys) }))
const keySet = (role: string, extra: Record<string, unknown> = {}): Record<string, unknown> => ({ role, key: threadKeyToBytes(role === 'follow' ? { service: key.service } : key), ...extra })

describe('rotated read keys in invites (issue 10)', () => {
  it('carry the keys of later epochs to readers and writers, sealed or not; none to followers', () => {
    for (const to of [undefined, invitee.id]) {
      const opened = openInvite(createInvite({ threadId, key, role: 'read', addrs, from: inviter.id, epochs: epochs(3), ...(to === undefined ? {} : { to }) }), invitee)
      expect(opened.epochs).toEqual(epochs(3))
    }
    expect(openInvite(createInvite({ threadId, key, role: 'follow', addrs, from: inviter.id, epochs: epochs(3) })).epochs).toEqual([])
    expect(openInvite(createInvite({ threadId, key, role: 'write', addrs, from: inviter.id })).epochs).toEqual([])
  })

  it('keep the newest MAX_INVITE_EPOCHS, and an invite at every limit still fits and opens', () => {
    const many = epochs(MAX_INVITE_EPOCHS + 8)
    const big = ThreadId.create(undefined, 64)
    const tail = `/tcp/443/wss/p2p/${inviter.id}`
    const longest = Array.from({ length: MAX_INVITE_ADDRS }, () => `/dns4/${'a'.repeat(MAX_INVITE_ADDR_CHARS - '/dns4/'.length - tail.length)}${tail}`)
    const text = createInvite({ threadId: big, key, role: 'write', addrs: longest, from: inviter.id, to: invitee.id, epochs: many })
    expect(text.length).toBeLessThanOrEqual(MAX_INVITE_CHARS)
    expect(openInvite(text, invitee).epochs).toEqual(many.slice(-MAX_INVITE_EPOCHS))
  })

  it('refuse every malformed epochs field with InvalidInviteError', () => {
    const bad: unknown[] = [
      [],
      'epochs',
      [[1]],
      [[1, epochKey(1), 3]],
      [[0, epochKey(1)]],
      [[-1, epochKey(1)]],
      [[1.5, epochKey(1)]],
      [[2 ** 32, epochKey(1)]],
      [[2, epochKey(2)], [1, epochKey(1)]],
      [[1, epochKey(1)], [1, epochKey(1)]],
      [[1, new Uint8Array(31)]],
      [[1, new Uint8Array(64)]],
      [[1, 'key']],
      epochs(MAX_INVITE_EPOCHS + 1)
    ]
    for (const e of bad) expect(() => openInvite(withKeys(keySet('read', { epochs: e })))).toThrow(expect.objectContaining({ name: 'InvalidInviteError' }))
    // A follow invite carrying read keys is refused, not quietly trimmed.
    expect(() => openInvite(withKeys(keySet('follow', { epochs: epochs(1) })))).toThrow(expect.objectContaining({ name: 'InvalidInviteError', message: expect.stringContaining('follow') }))
    expect(() => openInvite(withKeys(keySet('read', { epochs: epochs(1), extra: 1 })))).toThrow(expect.objectContaining({ name: 'InvalidInviteError' }))
  })

  it('random epochs fields: 2,000 cases, each opens or is refused by name', () => {
    const random = seededRandom(0xe90c)
    const int = (n: number): number => Math.floor(random() * n)
    const value = (depth: number): unknown => {
      switch (int(depth > 2 ? 4 : 6)) {
        case 0: return int(2 ** 33) - 2 ** 10
        case 1: return new Uint8Array(int(70))
        case 2: return random() < 0.5 ? 'x' : null
        case 3: return random() * 10
        case 4: return Array.from({ length: int(5) }, () => value(depth + 1))
        default: return Array.from({ length: int(40) }, (_, i) => (random() < 0.9 ? [i + int(2), epochKey(1)] : value(depth + 1)))
      }
    }
    let opened = 0
    for (let i = 0; i < 2000; i++) {
      try {
        openInvite(withKeys(keySet(random() < 0.2 ? 'follow' : 'read', { epochs: value(0) })))
        opened++
      } catch (e) {
        expect((e as Error).name).toBe('InvalidInviteError')
      }
    }
    expect(opened).toBeGreaterThan(0)
  })
})
