/**
 * Invites and joins (DESIGN.md section 6, paper section 3.2.3): bearer links and invites sealed
 * to the invitee; follow / read / write roles over a memory hub, and a follower that stores every
 * log without ever holding (or storing) a byte of plaintext.
 */
import * as dagCbor from '@ipld/dag-cbor'
import { base32 } from 'multiformats/bases/base32'
import { afterEach, describe, expect, it } from 'vitest'
import { createMemoryHub, settle } from '../../../adapters/network/memory.js'
import { INVITE_PREFIX, MAX_INVITE_CHARS, createInvite, encodeInviteString, openInvite, type Role } from '../../../src/acl/invite.js'
import { encodeCommand } from '../../../src/core/command.js'
import { createThreadKey, generateLogKey, sealTo, publicKeyFromLogId, threadKeyToBytes } from '../../../src/core/keys.js'
import { ThreadId } from '../../../src/core/threadId.js'
import type { Peer } from '../../../src/redux/createPeer.js'
import { indexOfBytes, makePeer, status, storageContaining, todos } from './helpers.js'

const threadId = ThreadId.create()
const key = createThreadKey()
const inviter = generateLogKey()
const invitee = generateLogKey()
const addrs = [`/memory/${inviter.id}/p2p/${inviter.id}`, `/ip4/127.0.0.1/tcp/4001/p2p/${inviter.id}`]

function expectInvalid(fn: () => unknown, why?: RegExp): void {
  let caught: unknown
  try {
    fn()
  } catch (e) {
    caught = e
  }
  expect(caught, 'should throw InvalidInviteError').toBeInstanceOf(Error)
  expect((caught as Error).name).toBe('InvalidInviteError')
  if (why !== undefined) expect((caught as Error).message).toMatch(why)
}

/** An invite string (current format, valid checksum) around a hand-made body. */
const craft = (body: unknown): string => encodeInviteString(dagCbor.encode(body))
/** A version 1 invite string: a bare dag-cbor map, no version byte, no checksum. */
const craftV1 = (body: unknown): string => INVITE_PREFIX + base32.encode(dagCbor.encode(body))

describe('createInvite / openInvite', () => {
  it.each<Role>(['follow', 'read', 'write'])('a %s bearer link round-trips', (role) => {
    const text = createInvite({ threadId, key, role, addrs, from: inviter.id })
    expect(text.startsWith(INVITE_PREFIX)).toBe(true)
    // A bearer link opens with or without an identity.
    for (const opened of [openInvite(text), openInvite(text, invitee)]) {
      expect(opened.threadId.equals(threadId)).toBe(true)
      expect(opened.role).toBe(role)
      expect(opened.key.service).toEqual(key.service)
      if (role === 'follow') expect(opened.key.read).toBeUndefined()
      else expect(opened.key.read).toEqual(key.read)
      expect(opened.addrs).toEqual(addrs)
      expect(opened.from).toBe(inviter.id)
    }
  })

  it('a follow link carries no read key at all, not even hidden in the bytes', () => {
    const text = createInvite({ threadId, key, role: 'follow', addrs, from: inviter.id })
    const raw = base32.decode(text.slice(INVITE_PREFIX.length))
    expect(indexOfBytes(raw, key.read)).toBe(-1)
    expect(indexOfBytes(raw, key.service)).toBeGreaterThanOrEqual(0)
  })

  it('a sealed invite opens only for its `to` peer', () => {
    const text = createInvite({ threadId, key, role: 'write', addrs, from: inviter.id, to: invitee.id })
    const raw = base32.decode(text.slice(INVITE_PREFIX.length))
    expect(indexOfBytes(raw, key.service)).toBe(-1)
    expect(indexOfBytes(raw, key.read)).toBe(-1)
    const opened = openInvite(text, invitee)
    expect(opened.role).toBe('write')
    expect(opened.key).toEqual(key)
    expectInvalid(() => openInvite(text), /sealed to/)
    expectInvalid(() => openInvite(text, generateLogKey()), /sealed to/)
    expectInvalid(() => openInvite(text, inviter), /sealed to/)
    // The right ID with another peer's secret cannot open the box.
    expectInvalid(() => openInvite(text, { id: invitee.id, seed: generateLogKey().seed }), /cannot be opened/)
  })

  it('refuses a wrong prefix, an oversized string and non-strings', () => {
    const text = createInvite({ threadId, key, role: 'read', addrs, from: inviter.id })
    expectInvalid(() => openInvite(text.slice(INVITE_PREFIX.length)), /starting with/)
    expectInvalid(() => openInvite(`thread:${text.slice(INVITE_PREFIX.length)}`), /starting with/)
    expectInvalid(() => openInvite(`THREADS:${text.slice(INVITE_PREFIX.length)}`), /starting with/)
    expectInvalid(() => openInvite(INVITE_PREFIX + 'b' + 'a'.repeat(MAX_INVITE_CHARS)), /MAX_INVITE_CHARS/)
    expectInvalid(() => openInvite(42 as unknown as string))
    expectInvalid(() => openInvite(undefined as unknown as string))
  })

  it('refuses damaged strings: truncated, not base32, or any changed character', () => {
    const text = createInvite({ threadId, key, role: 'write', addrs, from: inviter.id, to: invitee.id })
    expectInvalid(() => openInvite(INVITE_PREFIX), /damaged/)
    expectInvalid(() => openInvite(text.slice(0, text.length - 7), invitee), /damaged/)
    expectInvalid(() => openInvite(`${text}!`, invitee), /damaged/)
    expectInvalid(() => openInvite(INVITE_PREFIX + 'z' + text.slice(INVITE_PREFIX.length + 1), invitee))
    // The checksum refuses every single-character change (test/adversarial/invites.test.ts
    // tries them all, with insertions and deletions, on bearer and sealed links).
    const alphabet = 'abcdefghijklmnopqrstuvwxyz234567'
    let refused = 0
    let tried = 0
    for (let i = INVITE_PREFIX.length + 1; i < text.length; i += 3) {
      tried++
      const c = alphabet[(alphabet.indexOf(text[i] as string) + 1 + (i % 31)) % 32] as string
      const damaged = text.slice(0, i) + c + text.slice(i + 1)
      try {
        openInvite(damaged, invitee)
      } catch (e) {
        expect((e as Error).name).toBe('InvalidInviteError')
        refused++
      }
    }
    expect(refused).toBe(tried)
  })

  it('refuses well-encoded bodies that are not invites', () => {
    const keys = dagCbor.encode({ role: 'write', key: threadKeyToBytes(key) })
    const body = { thread: threadId.bytes, addrs, from: inviter.id, keys }
    expect(openInvite(craft(body)).role).toBe('write')
    // Version 1 (no version byte, no checksum) is refused by name; so is any other version.
    expectInvalid(() => openInvite(craftV1({ v: 1, ...body })), /version 1 invite/)
    expectInvalid(() => openInvite(craftV1({ v: 3, ...body })), /unsupported invite version/)
    expectInvalid(() => openInvite(craft(null)), /not a map/)
    expectInvalid(() => openInvite(craft([1])), /not a map/)
    expectInvalid(() => openInvite(craft({ ...body, v: 2 })), /unknown fields/)
    expectInvalid(() => openInvite(craft({ ...body, thread: new Uint8Array(3) })), /thread/)
    expectInvalid(() => openInvite(craft({ ...body, addrs: [1] })), /address 0/)
    expectInvalid(() => openInvite(craft({ ...body, addrs: 'x' })), /addrs/)
    expectInvalid(() => openInvite(craft({ ...body, from: 5 })), /from/)
    expectInvalid(() => openInvite(craft({ thread: threadId.bytes, addrs, from: inviter.id })), /no keys/)
    expectInvalid(() => openInvite(craft({ ...body, keys: dagCbor.encode({ role: 'admin', key: threadKeyToBytes(key) }) })), /role/)
    expectInvalid(() => openInvite(craft({ ...body, keys: dagCbor.encode({ role: 'write' }) })), /no key/)
    expectInvalid(() => openInvite(craft({ ...body, keys: dagCbor.encode({ role: 'read', key: threadKeyToBytes({ service: key.service }) }) })), /read key/)
    expectInvalid(() => openInvite(craft({ ...body, keys: Uint8Array.of(0xff) })))
    // A sealed body whose `to` is a map with its own toString: still only InvalidInviteError.
    const sealed = sealTo(publicKeyFromLogId(invitee.id), keys)
    expectInvalid(() => openInvite(craft({ to: { toString: 1 }, sealed }), invitee), /`to`/)
    // A follow key set that carries the read key anyway: the opened invite drops it.
    const generous = openInvite(craft({ ...body, keys: dagCbor.encode({ role: 'follow', key: threadKeyToBytes(key) }) }))
    expect(generous.role).toBe('follow')
    expect(generous.key.read).toBeUndefined()
  })

  it('cannot grant read or write without holding the read key', () => {
    const followOnly = { service: key.service }
    expectInvalid(() => createInvite({ threadId, key: followOnly, role: 'read', addrs, from: inviter.id }), /read key/)
    expectInvalid(() => createInvite({ threadId, key: followOnly, role: 'write', addrs, from: inviter.id }), /read key/)
    expect(openInvite(createInvite({ threadId, key: followOnly, role: 'follow', addrs, from: inviter.id })).role).toBe('follow')
  })
})

const CANARY = 'PLAINTEXT-CANARY'

describe('joinThread over a memory hub', () => {
  const open: Peer[] = []
  afterEach(async () => {
    for (const p of open.splice(0)) await p.close()
  })

  it('write, read and follow roles: who writes, who reads, and a follower that sees only ciphertext', async () => {
    const hub = createMemoryHub({ seed: 21 })
    const a = await makePeer(hub)
    const w = await makePeer(hub)
    const r = await makePeer(hub)
    const f = await makePeer(hub)
    const all = [a, w, r, f].map((p) => p.peer)
    open.push(...all)
    const tA = await a.createThread({ slices: [todos] })
    a.store.dispatch(todos.actions.added(`${CANARY} from the owner`))

    const tW = await w.joinThread(await tA.invite({ role: 'write', to: w.id }), { slices: [todos] })
    const tR = await r.joinThread(await tA.invite({ role: 'read' }), { slices: [todos] })
    const tF = await f.joinThread(await tA.invite({ role: 'follow' }))
    await settle(hub, all)

    expect([tW.role, tR.role, tF.role]).toEqual(['write', 'read', 'follow'])
    expect(tW.engine.logKey?.id).toBe(w.id)
    expect(tR.engine.logKey).toBeUndefined()
    expect(tF.engine.logKey).toBeUndefined()
    expect(tR.key.read).toEqual(tA.key.read)
    expect(tF.key.read).toBeUndefined()
    expect(tF.key.service).toEqual(tA.key.service)

    // The writer writes; everyone who can read sees it.
    w.store.dispatch(todos.actions.added(`${CANARY} from the writer`))
    await settle(hub, all)
    const texts = [`${CANARY} from the owner`, `${CANARY} from the writer`]
    for (const p of [a, w, r]) expect(p.store.getState().todos.map((t) => t.text).sort()).toEqual(texts)
    expect(r.store.getState().todos.find((t) => t.text.endsWith('writer'))?.by).toBe(w.id)

    // The reader cannot write: the command is refused before anything is signed or stored.
    const before = r.store.getState()
    let refused: unknown
    try {
      r.store.dispatch(todos.actions.added('reader tries to write'))
    } catch (e) {
      refused = e
    }
    expect((refused as Error | undefined)?.name).toBe('NotWriterError')
    expect((refused as Error).message).toMatch(/cannot write/)
    expect(r.store.getState()).toBe(before)
    await settle(hub, all)
    expect(a.store.getState().todos).toHaveLength(2)
    expect([...tR.engine.heads().keys()].sort()).toEqual([a.id, w.id].sort())
    expect([...tA.engine.heads().keys()]).not.toContain(r.id)

    // The follower stores every log, as far as every writer has written it, and folds nothing.
    const headsOf = (t: typeof tA): Record<string, number> => Object.fromEntries([...t.engine.heads()].map(([log, h]) => [log, h.seq]))
    expect(headsOf(tF)).toEqual({ [a.id]: 1, [w.id]: 1 })
    expect(headsOf(tF)).toEqual(headsOf(tA))
    expect(tF.engine.timeline.length).toBe(0)
    expect((await status(tF)).logs.map((l) => l.logId).sort()).toEqual([a.id, w.id].sort())
    expect(() => tF.engine.command({ type: todos.actions.added.type, payload: { id: 'x', text: 'x' } })).toThrow(/cannot write/)
    // A follower holds no read key: an invite granting reading is refused (the thunk rejects).
    await expect(tF.invite({ role: 'read' })).rejects.toMatchObject({ name: 'InvalidInviteError' })
    expect(openInvite(await tF.invite({ role: 'follow' })).key.read).toBeUndefined()

    // No stored byte anywhere is plaintext: not at the follower, not even at the writers.
    expect(indexOfBytes(encodeCommand({ type: 'todos/added', payload: { text: CANARY } }), new TextEncoder().encode(CANARY))).toBeGreaterThan(0)
    for (const p of [f, a, w, r]) {
      await p.peer.idle()
      const scan = await storageContaining(p.storage, CANARY)
      expect(scan.entries).toBeGreaterThan(3)
      expect(scan.hits).toEqual([])
    }
    // A snapshot (sealed with the read key) does not leak it either.
    await tA.snapshot()
    expect((await storageContaining(a.storage, CANARY)).hits).toEqual([])
    expect(JSON.stringify(a.store.getState())).toContain(CANARY)
  })

  it('refuses an invite sealed to another peer, and stores nothing', async () => {
    const hub = createMemoryHub({ seed: 22 })
    const a = await makePeer(hub)
    const b = await makePeer(hub)
    open.push(a.peer, b.peer)
    const tA = await a.createThread({ slices: [todos] })
    const forSomeoneElse = await tA.invite({ role: 'write', to: generateLogKey().id })
    await expect(b.joinThread(forSomeoneElse, { slices: [todos] })).rejects.toMatchObject({ name: 'InvalidInviteError' })
    await expect(b.joinThread('threads:garbage', { slices: [todos] })).rejects.toMatchObject({ name: 'InvalidInviteError' })
    expect(await b.peer.storedThreads()).toEqual([])
    expect(b.peer.thread(tA.id.toString())).toBeUndefined()
  })
})
