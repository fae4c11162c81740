/**
 * Attacks on invites (issue 7, section 8; DESIGN.md section 6; Threads paper section 3.2.3).
 * An invite string is untrusted input: whoever hands it over may have crafted or damaged it.
 * Each attack below must end in InvalidInviteError (and nothing else), before anything is stored.
 */
import * as dagCbor from '@ipld/dag-cbor'
import { peerIdFromString } from '@libp2p/peer-id'
import { multiaddr } from '@multiformats/multiaddr'
import { base32 } from 'multiformats/bases/base32'
import { afterEach, describe, expect, it } from 'vitest'
import { createMemoryHub } from '../../adapters/network/memory.js'
import { memoryStorage } from '../../adapters/storage/memory.js'
import {
  INVITE_CHECKSUM_BYTES,
  INVITE_PREFIX,
  INVITE_VERSION,
  MAX_INVITE_ADDRS,
  MAX_INVITE_ADDR_CHARS,
  MAX_INVITE_CHARS,
  createInvite,
  decodeInviteString,
  encodeInviteString,
  openInvite,
  type Invite,
  type Role
} from '../../src/acl/invite.js'
import { getCrypto } from '../../src/core/crypto/index.js'
import {
  createThreadKey,
  logKeyFromSeed,
  publicKeyFromLogId,
  sealTo,
  threadKeyToBytes,
  type LogKey,
  type ThreadKey
} from '../../src/core/keys.js'
import { ThreadId } from '../../src/core/threadId.js'
import { createPeer, type Peer } from '../../src/redux/createPeer.js'
import { netStore } from '../unit/net/helpers.js'
import { seededRandom } from '../support/random.js'

// Fixed identities and keys: the bearer links below are the same bytes on every run.
const seedOf = (n: number): Uint8Array => new Uint8Array(32).fill(n)
const inviter = logKeyFromSeed(seedOf(1))
const invitee = logKeyFromSeed(seedOf(2))
const relay = logKeyFromSeed(seedOf(3))
const threadId = ThreadId.fromBytes(Uint8Array.of(1, 0x55, ...new Uint8Array(32).fill(7)))
const key: Required<ThreadKey> = { service: new Uint8Array(32).fill(8), read: new Uint8Array(32).fill(9) }
const addrs = [
  `/memory/${inviter.id}/p2p/${inviter.id}`,
  `/ip4/127.0.0.1/tcp/4001/p2p/${inviter.id}`,
  `/dns4/relay.example.com/tcp/443/wss/p2p/${relay.id}/p2p-circuit/p2p/${inviter.id}`
]
/** An RSA peer ID (a public bootstrap node): a valid peer ID, but not an Ed25519 log ID. */
const RSA_PEER = 'QmYyQSo1c1Ym7orWxLYvCrM2EmxFTANf8wXmmE7DWjhx5N'
/** The inviter's ID in CID form: the same key, not the canonical spelling. */
const CID_FORM = peerIdFromString(inviter.id).toCID().toString()
const BASE32 = 'abcdefghijklmnopqrstuvwxyz234567'

const keysOf = (role: Role, k: ThreadKey = key): Uint8Array => dagCbor.encode({ role, key: threadKeyToBytes(k) })
/** A well-formed inner body (bearer body, or what a sealed box holds), with fields to override. */
const innerBody = (over: Record<string, unknown> = {}): Record<string, unknown> => ({ thread: threadId.bytes, addrs, from: inviter.id, keys: keysOf('write'), ...over })
/** A bearer link around a hand-made body (current framing, valid checksum). */
const bearer = (body: unknown): string => encodeInviteString(dagCbor.encode(body))
/** A sealed invite to `to` around a hand-made inner body. */
const sealed = (inner: unknown, to: LogKey = invitee): string => bearer({ to: to.id, sealed: sealTo(publicKeyFromLogId(to.id), dagCbor.encode(inner)) })

function refusal(fn: () => unknown): Error {
  try {
    fn()
  } catch (e) {
    return e as Error
  }
  throw new Error('expected InvalidInviteError, but the call succeeded')
}

function expectRefused(fn: () => unknown, why?: RegExp): void {
  const e = refusal(fn)
  expect(e.name, e.message).toBe('InvalidInviteError')
  if (why !== undefined) expect(e.message).toMatch(why)
}

/** The contents of an opened invite, comparable with toEqual. */
const contents = (i: Invite): unknown => ({ thread: i.threadId.toString(), role: i.role, service: i.key.service, read: i.key.read, addrs: [...i.addrs], from: i.from })

/** What every opened invite must satisfy, whatever its string was. */
function expectWellFormed(i: Invite): void {
  expect(i.addrs.length).toBeLessThanOrEqual(MAX_INVITE_ADDRS)
  for (const a of i.addrs) {
    expect(a.length).toBeLessThanOrEqual(MAX_INVITE_ADDR_CHARS)
    const peers = multiaddr(a)
      .getComponents()
      .filter((c) => c.name === 'p2p')
    expect(publicKeyFromLogId(peers.at(-1)?.value ?? '')).toHaveLength(32)
  }
  expect(publicKeyFromLogId(i.from)).toHaveLength(32)
  expect(['follow', 'read', 'write']).toContain(i.role)
  expect(i.key.service).toHaveLength(32)
  if (i.role === 'follow') expect(i.key.read).toBeUndefined()
  else expect(i.key.read).toHaveLength(32)
}

/** A valid address of exactly `n` characters. */
function addrOfLength(n: number, peer: string = inviter.id): string {
  const tail = `/tcp/443/wss/p2p/${peer}`
  return `/dns4/${'a'.repeat(n - '/dns4/'.length - tail.length)}${tail}`
}

describe('the invite wire format (version 2)', () => {
  it('is "threads:" ‖ "b" ‖ base32(0x02 ‖ dag-cbor body ‖ first 4 bytes of sha256(0x02 ‖ body))', () => {
    const text = createInvite({ threadId, key, role: 'write', addrs, from: inviter.id })
    expect(text.startsWith(`${INVITE_PREFIX}b`)).toBe(true)
    const payload = base32.decode(text.slice(INVITE_PREFIX.length))
    expect(payload[0]).toBe(INVITE_VERSION)
    const end = payload.length - INVITE_CHECKSUM_BYTES
    expect(payload.subarray(end)).toEqual(getCrypto().sha256(payload.subarray(0, end)).subarray(0, INVITE_CHECKSUM_BYTES))
    expect(dagCbor.decode(payload.subarray(1, end))).toEqual(innerBody())
    expect(decodeInviteString(text)).toEqual(payload.subarray(1, end))
    // The same inputs give the same bearer link: the format has no randomness of its own.
    expect(createInvite({ threadId, key, role: 'write', addrs, from: inviter.id })).toBe(text)
  })

  it('refuses version 1 strings by name, and any other version', () => {
    const v1 = INVITE_PREFIX + base32.encode(dagCbor.encode({ v: 1, ...innerBody() }))
    expectRefused(() => openInvite(v1), /version 1 invite.*no longer accepted/)
    const v1Sealed = INVITE_PREFIX + base32.encode(dagCbor.encode({ v: 1, to: invitee.id, sealed: new Uint8Array(80) }))
    expectRefused(() => openInvite(v1Sealed, invitee), /version 1 invite/)
    const body = dagCbor.encode(innerBody())
    for (const version of [0, 1, 3, 0x7f, 0xa4]) {
      const payload = Uint8Array.of(version, ...body)
      const check = getCrypto().sha256(payload).subarray(0, INVITE_CHECKSUM_BYTES)
      expectRefused(() => openInvite(INVITE_PREFIX + base32.encode(Uint8Array.of(...payload, ...check))), /unsupported invite version/)
    }
  })
})

describe('attack 1: malformed contents are refused by openInvite, whole, with InvalidInviteError', () => {
  const badAddrs: Array<[string, unknown, RegExp]> = [
    ['an IPv4 address out of range (the reported ValidationError)', `/ip4/999.1.1.1/tcp/4001/p2p/${inviter.id}`, /not a multiaddr/],
    ['not a multiaddr at all', 'hello', /not a multiaddr/],
    ['an empty string', '', /printable ASCII/],
    ['no /p2p/ component', '/ip4/1.2.3.4/tcp/4001', /no \/p2p\//],
    ['a /p2p/ value that is no peer ID', '/ip4/1.2.3.4/tcp/4001/p2p/garbage', /not an Ed25519 peer ID/],
    ['an RSA peer ID (not a log ID)', `/ip4/1.2.3.4/tcp/4001/p2p/${RSA_PEER}`, /not an Ed25519 peer ID/],
    ['the peer ID in CID form', `/ip4/1.2.3.4/tcp/4001/p2p/${CID_FORM}`, /must be written as|canonical form|is not a log ID|peer ID/],
    ['a relay that is no peer ID', `/ip4/1.2.3.4/tcp/1/p2p/garbage/p2p-circuit/p2p/${inviter.id}`, /relay/],
    ['a relay address whose target is not Ed25519', `/ip4/1.2.3.4/tcp/1/p2p/${relay.id}/p2p-circuit/p2p/${RSA_PEER}`, /not an Ed25519/],
    ['non-ASCII', `/dns4/é.example/tcp/1/p2p/${inviter.id}`, /printable ASCII/],
    ['a space', `/dns4/a b/tcp/1/p2p/${inviter.id}`, /printable ASCII/],
    ['too long', addrOfLength(MAX_INVITE_ADDR_CHARS + 1), /MAX_INVITE_ADDR_CHARS \(512\)/],
    ['not a string', 42, /not a string/],
    ['bytes', new Uint8Array(4), /not a string/]
  ]

  it.each(badAddrs)('an address with %s, in a bearer link and sealed', (_, bad, why) => {
    const withBad = innerBody({ addrs: [addrs[0], bad] })
    expectRefused(() => openInvite(bearer(withBad)), why)
    expectRefused(() => openInvite(sealed(withBad), invitee), why)
    // Wherever it sits in the list.
    expectRefused(() => openInvite(bearer(innerBody({ addrs: [bad, ...addrs] }))), why)
  })

  it('a relay address whose relay has another key type is fine: only the target must be a log ID', () => {
    const viaRsaRelay = `/ip4/1.2.3.4/tcp/1/p2p/${RSA_PEER}/p2p-circuit/p2p/${inviter.id}`
    expect(openInvite(bearer(innerBody({ addrs: [viaRsaRelay] }))).addrs).toEqual([viaRsaRelay])
    expect(openInvite(bearer(innerBody({ addrs: [] }))).addrs).toEqual([])
  })

  it('bounds the number and length of addresses, and the whole string, when opening', () => {
    const many = Array.from({ length: MAX_INVITE_ADDRS + 1 }, () => addrs[1])
    expectRefused(() => openInvite(bearer(innerBody({ addrs: many }))), /MAX_INVITE_ADDRS \(16\)/)
    expectRefused(() => openInvite(sealed(innerBody({ addrs: many })), invitee), /MAX_INVITE_ADDRS/)
    expectRefused(() => openInvite(bearer(innerBody({ addrs: 'x' }))), /array/)
    // At every limit at once, it still opens.
    const longest = Array.from({ length: MAX_INVITE_ADDRS }, () => addrOfLength(MAX_INVITE_ADDR_CHARS))
    expect(openInvite(bearer(innerBody({ addrs: longest }))).addrs).toEqual(longest)
    // Anything longer than MAX_INVITE_CHARS is refused before it is decoded.
    expectRefused(() => openInvite(INVITE_PREFIX + 'b' + 'a'.repeat(MAX_INVITE_CHARS)), /MAX_INVITE_CHARS \(16384\)/)
  })

  const badPeers: Array<[string, unknown]> = [
    ['garbage', 'garbage'],
    ['an RSA peer ID', RSA_PEER],
    ['the CID form', CID_FORM],
    ['a number', 5],
    ['bytes', inviter.publicKey],
    ['an empty string', '']
  ]

  it.each(badPeers)('`from` that is %s', (_, from) => {
    expectRefused(() => openInvite(bearer(innerBody({ from }))), /from/)
    expectRefused(() => openInvite(sealed(innerBody({ from })), invitee), /from/)
  })

  it.each(badPeers)('`to` that is %s', (_, to) => {
    const box = sealTo(invitee.publicKey, dagCbor.encode(innerBody()))
    expectRefused(() => openInvite(bearer({ to, sealed: box }), invitee), /`to`/)
  })

  it('the role and the key set', () => {
    const cases: Array<[unknown, RegExp]> = [
      [keysOf('admin' as Role), /role/],
      [dagCbor.encode({ role: 'write' }), /no key/],
      [dagCbor.encode({ key: threadKeyToBytes(key) }), /no role/],
      [dagCbor.encode({ role: 'write', key: threadKeyToBytes(key), extra: 1 }), /unknown fields/],
      [dagCbor.encode({ role: 'write', key: new Uint8Array(48) }), /32 or 64 bytes/],
      [dagCbor.encode({ role: 'write', key: 'k' }), /32 or 64 bytes/],
      [keysOf('read', { service: key.service }), /read key/],
      [keysOf('write', { service: key.service }), /read key/],
      [dagCbor.encode(['write', threadKeyToBytes(key)]), /not a map/],
      [Uint8Array.of(0xff), /not dag-cbor/],
      ['not bytes', /not bytes/]
    ]
    for (const [keys, why] of cases) {
      expectRefused(() => openInvite(bearer(innerBody({ keys }))), why)
      expectRefused(() => openInvite(sealed(innerBody({ keys })), invitee), why)
    }
  })

  it('the thread ID and the shape of the body', () => {
    expectRefused(() => openInvite(bearer(innerBody({ thread: new Uint8Array(3) }))), /thread/)
    expectRefused(() => openInvite(bearer(innerBody({ thread: threadId.toString() }))), /thread/)
    expectRefused(() => openInvite(bearer(innerBody({ extra: true }))), /unknown fields/)
    expectRefused(() => openInvite(bearer({ thread: threadId.bytes, addrs, from: inviter.id })), /no keys/)
    expectRefused(() => openInvite(bearer({ ...innerBody(), to: invitee.id })), /unknown fields/)
    expectRefused(() => openInvite(bearer({ to: invitee.id, sealed: 'box' }), invitee), /not bytes/)
    expectRefused(() => openInvite(bearer({ to: invitee.id, sealed: new Uint8Array(100), more: 1 }), invitee), /unknown fields/)
    expectRefused(() => openInvite(bearer({ to: invitee.id, sealed: new Uint8Array(100) }), invitee), /cannot be opened/)
    expectRefused(() => openInvite(sealed('a string'), invitee), /not a map/)
    for (const body of [null, 1, 'x', [innerBody()], new Uint8Array(8)]) expectRefused(() => openInvite(bearer(body)), /not a map/)
  })
})

describe('attack 2: every one-character change to a link is detected', () => {
  /**
   * At every position (prefix included): the deletion, substitutions by 4 other base32
   * characters and insertions of 4 (rotating, so that every position meets varied characters and
   * every character meets many positions). Each altered string must be refused, or open to
   * exactly the original contents (which the one-spelling rule makes impossible, so none do).
   */
  function alterAll(text: string, identity?: LogKey): { tried: number; refused: number; unchanged: number; altered: string[]; errors: Set<string> } {
    const original = JSON.stringify(contents(openInvite(text, identity)))
    const result = { tried: 0, refused: 0, unchanged: 0, altered: [] as string[], errors: new Set<string>() }
    const attempt = (damaged: string): void => {
      if (damaged === text) return
      result.tried++
      let opened: Invite
      try {
        opened = openInvite(damaged, identity)
      } catch (e) {
        result.errors.add((e as Error).name)
        result.refused++
        return
      }
      if (JSON.stringify(contents(opened)) === original) result.unchanged++
      else result.altered.push(damaged)
    }
    const PER_POSITION = 4
    for (let i = 0; i <= text.length; i++) {
      const at = BASE32.indexOf(text[i] ?? 'a')
      for (let k = 1; k <= PER_POSITION; k++) {
        // k-th other character, rotating with i: never the character already there.
        const c = BASE32[(Math.max(at, 0) + k + ((i * PER_POSITION) % 27)) % 32] as string
        if (i < text.length && c !== text[i]) attempt(text.slice(0, i) + c + text.slice(i + 1))
        attempt(text.slice(0, i) + c + text.slice(i))
      }
      if (i < text.length) attempt(text.slice(0, i) + text.slice(i + 1))
    }
    return result
  }

  it('a bearer link: at every position, substitutions, the deletion and insertions are all refused', () => {
    const text = createInvite({ threadId, key, role: 'write', addrs, from: inviter.id })
    const r = alterAll(text)
    expect(r.altered).toEqual([])
    expect(r.unchanged).toBe(0)
    expect(r.refused).toBe(r.tried)
    expect([...r.errors]).toEqual(['InvalidInviteError'])
    expect(r.tried).toBeGreaterThan(8 * text.length)
  })

  it('a sealed link: at every position, substitutions, the deletion and insertions are all refused (the envelope too)', () => {
    const text = createInvite({ threadId, key, role: 'read', addrs, from: inviter.id, to: invitee.id })
    const r = alterAll(text, invitee)
    expect(r.altered).toEqual([])
    expect(r.unchanged).toBe(0)
    expect(r.refused).toBe(r.tried)
    expect([...r.errors]).toEqual(['InvalidInviteError'])
    expect(r.tried).toBeGreaterThan(8 * text.length)
  })

  it('other spellings of the same payload (padding, capitals, whitespace) are refused too', () => {
    const text = createInvite({ threadId, key, role: 'follow', addrs, from: inviter.id })
    const tail = text.slice(INVITE_PREFIX.length)
    for (const variant of [`${text}=`, `${text}====`, INVITE_PREFIX + tail.toUpperCase(), INVITE_PREFIX + 'B' + tail.slice(1).toUpperCase(), `${text} `, ` ${text}`, `${text}\n`]) {
      expectRefused(() => openInvite(variant))
    }
  })
})

describe('attack 3: createInvite bounds what it makes', () => {
  it('refuses too many or too long addresses, naming the limit', () => {
    const many = Array.from({ length: MAX_INVITE_ADDRS + 1 }, () => addrs[1] as string)
    expectRefused(() => createInvite({ threadId, key, role: 'write', addrs: many, from: inviter.id }), /MAX_INVITE_ADDRS \(16\)/)
    const long = [addrOfLength(MAX_INVITE_ADDR_CHARS + 1)]
    expectRefused(() => createInvite({ threadId, key, role: 'write', addrs: long, from: inviter.id, to: invitee.id }), /MAX_INVITE_ADDR_CHARS \(512\)/)
  })

  it('refuses what openInvite would refuse: bad addresses, `from`, `to`', () => {
    for (const bad of ['/ip4/999.1.1.1/tcp/1', '/ip4/1.2.3.4/tcp/1', `/ip4/1.2.3.4/tcp/1/p2p/${RSA_PEER}`]) {
      expectRefused(() => createInvite({ threadId, key, role: 'write', addrs: [bad], from: inviter.id }), /address 0/)
    }
    expectRefused(() => createInvite({ threadId, key, role: 'write', addrs, from: CID_FORM }), /from/)
    expectRefused(() => createInvite({ threadId, key, role: 'write', addrs, from: inviter.id, to: 'garbage' }), /`to`/)
    expectRefused(() => createInvite({ threadId, key, role: 'owner' as Role, addrs, from: inviter.id }), /role/)
  })

  it('the largest invite it makes (every limit at once, sealed) fits MAX_INVITE_CHARS and opens', () => {
    const bigThread = ThreadId.create(undefined, 64)
    const longest = Array.from({ length: MAX_INVITE_ADDRS }, () => addrOfLength(MAX_INVITE_ADDR_CHARS))
    for (const to of [undefined, invitee.id]) {
      const text = createInvite({ threadId: bigThread, key, role: 'write', addrs: longest, from: inviter.id, ...(to === undefined ? {} : { to }) })
      expect(text.length).toBeLessThanOrEqual(MAX_INVITE_CHARS)
      expect(openInvite(text, invitee).addrs).toEqual(longest)
    }
  })
})

describe('only InvalidInviteError escapes openInvite (seeded fuzz)', () => {
  const random = seededRandom(0x1_7a7e)
  const int = (n: number): number => Math.floor(random() * n)
  const pick = <T>(xs: readonly T[]): T => xs[int(xs.length)] as T
  const BASE32_CHARS = [...BASE32]
  // Lone surrogate halves included: the string is split by UTF-16 unit on purpose.
  const ANY_CHARS = `${BASE32}ABCXYZ0189=:/ !é\u0000\u{1f600}`.split('')

  function mutate(text: string, edits: number): string {
    let s = text
    for (let k = 0; k < edits; k++) {
      const i = int(s.length + 1)
      const op = int(4)
      if (op === 0) s = s.slice(0, i) + pick(BASE32_CHARS) + s.slice(i + 1)
      else if (op === 1) s = s.slice(0, i) + pick(ANY_CHARS) + s.slice(i)
      else if (op === 2) s = s.slice(0, i) + s.slice(i + 1)
      else {
        const n = 2 + int(40)
        s = s.slice(0, i) + s.slice(i, i + n).split('').reverse().join('') + s.slice(i + n)
      }
    }
    return s
  }

  /** Open, and check the outcome: a refusal of the right type, or a well-formed invite. */
  function tryOpen(text: string, identity?: LogKey): 'refused' | 'opened' {
    try {
      expectWellFormed(openInvite(text, identity))
      return 'opened'
    } catch (e) {
      if ((e as Error).name !== 'InvalidInviteError') throw new Error(`openInvite threw ${(e as Error).name} for ${JSON.stringify(text.slice(0, 120))}: ${(e as Error).message}`)
      return 'refused'
    }
  }

  /** A body whose every field is drawn from good and bad values, framed with a valid checksum. */
  function randomBody(): Record<string, unknown> {
    const peer = (): unknown => pick([inviter.id, invitee.id, RSA_PEER, CID_FORM, 'garbage', '', 7, null, inviter.publicKey])
    const addr = (): unknown =>
      pick([addrs[0], addrs[1], addrs[2], `/ip4/999.1.1.1/tcp/1/p2p/${inviter.id}`, '/p2p/x', 'hello', '', 3, `/ip4/1.2.3.4/tcp/1/p2p/${String(peer())}`, addrOfLength(MAX_INVITE_ADDR_CHARS + int(2))])
    const fields: Record<string, () => unknown> = {
      thread: () => pick([threadId.bytes, new Uint8Array(int(40)), threadId.toString(), Uint8Array.of(1, 0x70, ...new Uint8Array(16 + int(60)))]),
      addrs: () => pick([addrs, [], Array.from({ length: int(MAX_INVITE_ADDRS + 3) }, addr), 'x', [[addrs[0]]]]),
      from: peer,
      keys: () =>
        pick([
          keysOf(pick<Role>(['follow', 'read', 'write'])),
          keysOf(pick<Role>(['follow', 'read', 'write']), { service: key.service }),
          dagCbor.encode({ role: pick(['read', 'admin', 1]), key: new Uint8Array(pick([0, 31, 32, 33, 64, 65])) }),
          dagCbor.encode({ role: 'write', key: threadKeyToBytes(key), x: 1 }),
          Uint8Array.of(int(256)),
          'keys'
        ])
    }
    const body: Record<string, unknown> = {}
    for (const [name, make] of Object.entries(fields)) if (random() < 0.93) body[name] = make()
    if (random() < 0.05) body.extra = 1
    return body
  }

  it('random strings, random edits of valid links, and random bodies with valid checksums: 6,000 cases, all typed', () => {
    const links = [
      { text: createInvite({ threadId, key, role: 'write', addrs, from: inviter.id }), identity: undefined },
      { text: createInvite({ threadId, key, role: 'follow', addrs, from: inviter.id, to: invitee.id }), identity: invitee }
    ]
    const outcomes = { refused: 0, opened: 0 }
    // 1. Random strings: plain, or past the prefix, or past the prefix in base32.
    for (let n = 0; n < 1500; n++) {
      const len = int(300)
      const body = Array.from({ length: len }, () => pick(n % 3 === 2 ? BASE32_CHARS : ANY_CHARS)).join('')
      const text = n % 3 === 0 ? body : n % 3 === 1 ? INVITE_PREFIX + body : `${INVITE_PREFIX}b${body}`
      outcomes[tryOpen(text, invitee)]++
    }
    // 2. One to five random edits of a valid bearer or sealed link.
    for (let n = 0; n < 2500; n++) {
      const { text, identity } = pick(links)
      const damaged = mutate(text, 1 + int(5))
      if (damaged === text) continue
      expect(tryOpen(damaged, identity)).toBe('refused')
      outcomes.refused++
    }
    // 3. Valid framing around damaged or random bodies: the validator, not the checksum, decides.
    const bodies = links.map(({ text }) => decodeInviteString(text))
    // Sealed bodies here cost an X25519 agreement each (about 3 ms), so they are 1 in 10.
    for (let n = 0; n < 1000; n++) {
      const which = n % 10 === 0 ? 1 : 0
      const bytes = Uint8Array.from(bodies[which] as Uint8Array)
      for (let k = 0; k <= int(3); k++) bytes[int(bytes.length)] = int(256)
      const text = encodeInviteString(bytes)
      outcomes[tryOpen(text, which === 1 ? invitee : undefined)]++
    }
    for (let n = 0; n < 1000; n++) {
      const body = randomBody()
      outcomes[tryOpen(n % 20 === 0 ? sealed(body) : bearer(body), invitee)]++
    }
    expect(outcomes.refused + outcomes.opened).toBeGreaterThan(5900)
    // Both outcomes occur: the random bodies reach the validator, which accepts the good ones.
    expect(outcomes.opened).toBeGreaterThan(0)
    expect(outcomes.refused).toBeGreaterThan(outcomes.opened)
  })
})

describe('joinThread through a real peer', () => {
  const open: Peer[] = []
  afterEach(async () => {
    for (const p of open.splice(0)) await p.close()
  })

  it('refuses every invalid invite with InvalidInviteError and stores no thread', async () => {
    const hub = createMemoryHub({ seed: 71 })
    const peer = createPeer({ storage: memoryStorage(), network: hub.network(), syncIntervalMs: 0 })
    const store = netStore(peer)
    open.push(peer)
    await peer.start()
    const me = publicKeyFromLogId(peer.id as string)
    const join = (invite: string) => store.dispatch(peer.thunks.joinThread({ invite, waitForSyncMs: 0 })).unwrap()
    const malformed = `/ip4/999.1.1.1/tcp/4001/p2p/${inviter.id}`
    const inner = (over: Record<string, unknown>): Uint8Array => dagCbor.encode(innerBody({ keys: keysOf('read'), ...over }))
    const bad: Array<[string, string]> = [
      ['a malformed address (bearer)', bearer(innerBody({ keys: keysOf('read'), addrs: [addrs[1], malformed] }))],
      ['a malformed address (sealed to this peer)', bearer({ to: peer.id, sealed: sealTo(me, inner({ addrs: [malformed] })) })],
      ['an address without /p2p/', bearer(innerBody({ keys: keysOf('read'), addrs: ['/ip4/1.2.3.4/tcp/4001'] }))],
      ['a /p2p/ that is no peer ID', bearer(innerBody({ keys: keysOf('read'), addrs: ['/ip4/1.2.3.4/tcp/4001/p2p/garbage'] }))],
      ['too many addresses', bearer(innerBody({ keys: keysOf('read'), addrs: Array.from({ length: MAX_INVITE_ADDRS + 1 }, () => addrs[1]) }))],
      ['a bad `from`', bearer(innerBody({ keys: keysOf('read'), from: 'garbage' }))],
      ['a version 1 invite with a malformed address', INVITE_PREFIX + base32.encode(dagCbor.encode({ v: 1, ...innerBody({ addrs: [malformed] }) }))],
      ['a damaged link', mutate1(createInvite({ threadId, key, role: 'read', addrs, from: inviter.id }))]
    ]
    for (const [why, text] of bad) {
      await expect(join(text), why).rejects.toMatchObject({ name: 'InvalidInviteError' })
      expect(await peer.storedThreads(), why).toEqual([])
      expect(peer.thread(threadId.toString()), why).toBeUndefined()
    }

    // The peer is not wedged: a valid invite (a relay address among them) joins and stores one thread.
    // (Its addresses lead nowhere on this hub: the join returns at once instead of waiting to catch up.)
    await join(createInvite({ threadId, key, role: 'read', addrs, from: inviter.id }))
    expect(await peer.storedThreads()).toEqual([threadId.toString()])
    expect(peer.thread(threadId.toString())?.role).toBe('read')
  })
})

/** The link with one character in the middle of its payload changed. */
function mutate1(text: string): string {
  const i = Math.floor(text.length / 2)
  const c = text[i] === 'a' ? 'b' : 'a'
  return text.slice(0, i) + c + text.slice(i + 1)
}
