/**
 * Invites (DESIGN.md section 6, Threads paper section 3.2.3): how a thread's keys and addresses
 * reach a new member, as a bearer link or sealed to the invitee's public key.
 *
 * An invite string is untrusted input: it may arrive through a chat, a QR code or a hostile
 * peer. {@link openInvite} therefore checks everything it returns before anyone acts on it, so
 * that a join can store the thread knowing nothing about the invite can fail afterwards.
 */
import * as dagCbor from '@ipld/dag-cbor'
import { isPeerId } from '../core/peerId.js'
import { multiaddr } from '@multiformats/multiaddr'
import { base32 } from 'multiformats/bases/base32'
import { getCrypto } from '../core/crypto/index.js'
import { InvalidInviteError } from '../core/errors.js'
import {
  KEY_BYTES,
  logIdFromPublicKey,
  openSealed,
  publicKeyFromLogId,
  sealTo,
  threadKeyFromBytes,
  threadKeyToBytes,
  type LogKey,
  type ThreadKey
} from '../core/keys.js'
import { ThreadId } from '../core/threadId.js'
import { MAX_SERVICE_EPOCHS } from '../core/serviceRotation.js'

/**
 * What an invite grants (paper sections 3.1.3 and 5.5.2):
 * - `follow`: the service key only: verify, store and serve the thread's logs, read nothing;
 * - `read`: service and read keys: read everything, write nothing (no log of its own);
 * - `write`: both keys, and the invitee opens a log of its own.
 */
export type Role = 'follow' | 'read' | 'write'

/** An invite, opened. Every field has been validated (see {@link openInvite}). */
export interface Invite {
  readonly threadId: ThreadId
  readonly role: Role
  /** The key set the role grants (the read key is absent for `follow`). */
  readonly key: ThreadKey
  /** Where to reach the thread: multiaddrs with `/p2p/<peer>` of the inviter and others. */
  readonly addrs: readonly string[]
  /** The inviter's peer ID. */
  readonly from: string
  /**
   * Read keys of later epochs (an ACL thread whose read key was rotated, DESIGN.md section 6):
   * `[epoch, key]`, epochs ascending, at most {@link MAX_INVITE_EPOCHS}. Empty for `follow`.
   */
  readonly epochs: ReadonlyArray<readonly [number, Uint8Array]>
  /**
   * Service keys of later epochs (an ACL thread whose service key was rotated because a member
   * lost `follow`): `[epoch, key]`, ascending, at most {@link MAX_INVITE_SERVICE_EPOCHS}. Every
   * role gets them: followers need them to verify and serve what was sealed since. They are
   * candidates for opening records only: a peer that folds the ACL seals under, and proves, only
   * a key whose ID its fold admitted (the owner's rotate event names it), so an inviter cannot
   * make the invitee seal under a key nobody else accepts. A follower (no ACL) proves the newest
   * key it holds: a hostile inviter can cost a follower invitee its sessions (availability only).
   * Epochs are at most `MAX_SERVICE_EPOCHS`.
   */
  readonly services: ReadonlyArray<readonly [number, Uint8Array]>
}

/**
 * Most rotated service keys one invite carries (the newest). A thread whose service key was
 * rotated more often than that gives a new member the last 16; a log with a record sealed under
 * an older rotated key stops there for it (`UnknownServiceKeyError`), a documented bound.
 */
export const MAX_INVITE_SERVICE_EPOCHS = 16

/**
 * Most rotated read keys one invite carries (count): the newest ones. 32 keep an invite at every
 * other limit within {@link MAX_INVITE_CHARS}; a thread rotated more often than that gives a new
 * reader the last 32 epochs, and older records under earlier keys stay closed to it.
 *
 * @example
 * ```ts
 * createInvite({ ...options, epochs: held.slice(-MAX_INVITE_EPOCHS) })
 * ```
 */
export const MAX_INVITE_EPOCHS = 32

/**
 * The prefix of every invite string (paper section 3.2.3): `threads:`, then the multibase
 * base32 payload described at {@link INVITE_VERSION}. Compared case-sensitively.
 *
 * @example
 * ```ts
 * import { INVITE_PREFIX } from 'redux-p2p-threads'
 * link.startsWith(INVITE_PREFIX) // true for every invite string
 * ```
 */
export const INVITE_PREFIX = 'threads:'

/**
 * The invite format version, the first byte of the payload (paper section 3.2.3). The wire
 * format of version 2, byte by byte:
 *
 * ```text
 * string   = "threads:" ‖ "b" ‖ base32(payload)       RFC 4648 lowercase, no padding
 * payload  = 0x02 ‖ body ‖ checksum
 * checksum = sha256(0x02 ‖ body)[0..INVITE_CHECKSUM_BYTES)
 * body     = dag-cbor { thread, addrs, from, keys }    a bearer link
 *          | dag-cbor { to, sealed }                   sealed to `to`
 * sealed   = sealTo(to, dag-cbor { thread, addrs, from, keys })
 * keys     = dag-cbor { role, key, epochs?, services? } key = service ‖ read (64) or service (32)
 * epochs   = [[epoch, read key (32)], …]               rotated read keys, ascending, at most 32
 * services = [[epoch, service key (32)], …]            rotated service keys, ascending, at most 16
 * ```
 *
 * The version sits in front, outside the body and ahead of the checksum, so that any later
 * format (a byte below 0x80) can be told apart before its checksum or body is understood, and
 * so that a version 1 string (which began with a CBOR map header, 0xa0 to 0xbf) is recognised
 * and refused by name. Version 1 had no checksum: most one-character typos in a bearer link
 * opened to other, valid-looking contents.
 *
 * @example
 * ```ts
 * const payload = base32.decode(link.slice(INVITE_PREFIX.length))
 * payload[0] === INVITE_VERSION // true for every invite this version makes
 * ```
 */
export const INVITE_VERSION = 2

/**
 * Bytes of sha256 kept as the checksum at the end of the payload (4, as in Base58Check): a
 * random change (a typo, a truncated copy, a mangled QR scan) passes unnoticed with odds of
 * 2^-32. It detects corruption, not forgery: anyone can recompute it, so a bearer link is only
 * as trustworthy as the channel it came through. Sealed invites are authenticated by their AEAD
 * box besides.
 *
 * @example
 * ```ts
 * INVITE_CHECKSUM_BYTES // 4: the last 4 payload bytes
 * ```
 */
export const INVITE_CHECKSUM_BYTES = 4

/**
 * Most addresses in one invite (count). Enough for a peer's listeners over IPv4 and IPv6, TCP
 * and WebSockets, plus relays; small enough that an invite cannot make the invitee store or
 * dial an unbounded list (DESIGN.md section 6: nothing unbounded on the word of an outsider).
 * {@link createInvite} refuses more rather than dropping some silently.
 *
 * @example
 * ```ts
 * createInvite({ ...options, addrs: peer.addresses().slice(0, MAX_INVITE_ADDRS) })
 * ```
 */
export const MAX_INVITE_ADDRS = 16

/**
 * Most characters in one invite address (printable ASCII, so also bytes). Real addresses are
 * far shorter; 512 leaves room for the longest ordinary ones: a DNS name with WebTransport
 * certificate hashes, reached through a relay (`/p2p/<relay>/p2p-circuit/p2p/<peer>`), at
 * about 300.
 *
 * @example
 * ```ts
 * '/ip4/127.0.0.1/tcp/4001/p2p/12D3KooW…'.length <= MAX_INVITE_ADDR_CHARS // true
 * ```
 */
export const MAX_INVITE_ADDR_CHARS = 512

/**
 * Most characters in an invite string, prefix included. Checked first when opening, before any
 * decoding, so a huge string costs nothing. An invite at the other limits
 * ({@link MAX_INVITE_ADDRS} addresses of {@link MAX_INVITE_ADDR_CHARS}, a 64-byte random thread ID,
 * sealed) is 13,777 characters, so every invite {@link createInvite} accepts fits; a usual one
 * (one address) is under 500.
 *
 * @example
 * ```ts
 * createInvite(options).length <= MAX_INVITE_CHARS // always
 * ```
 */
export const MAX_INVITE_CHARS = 16 * 1024

/** The version byte (a uvarint below 0x80), kept as bytes for hashing. */
const VERSION_BYTE = Uint8Array.of(INVITE_VERSION)
/** `b` then lowercase RFC 4648 base32: exactly one spelling per payload (no padding, no case). */
const PAYLOAD_CHARS = /^b[a-z2-7]*$/
/** Printable ASCII without space: multiaddr text puts anything else in percent or punycode form. */
const ADDR_CHARS = /^[\x21-\x7e]+$/

interface KeySet {
  role: Role
  key: Uint8Array
  epochs?: Array<[number, Uint8Array]>
  services?: Array<[number, Uint8Array]>
}

function fail(message: string, cause?: unknown): never {
  throw new InvalidInviteError(message, {}, cause === undefined ? undefined : { cause })
}

/** Describe a value from the invite in an error message without echoing much of it. */
function show(value: unknown): string {
  if (typeof value === 'string') return JSON.stringify(value.length > 80 ? `${value.slice(0, 80)}…` : value)
  if (value instanceof Uint8Array) return `${value.length} bytes`
  if (Array.isArray(value)) return 'an array'
  return value === null ? 'null' : typeof value
}

function checksum(versionAndBody: Uint8Array): Uint8Array {
  return getCrypto().sha256(versionAndBody).subarray(0, INVITE_CHECKSUM_BYTES)
}

function bytesEqual(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false
  let diff = 0
  for (let i = 0; i < a.length; i++) diff |= (a[i] as number) ^ (b[i] as number)
  return diff === 0
}

/**
 * Frame an invite body as an invite string: prefix, version byte, body, checksum, in base32
 * (the layout at {@link INVITE_VERSION}; paper section 3.2.3). {@link createInvite} uses it;
 * it is exported for tools and tests that build invites by hand. It does not look inside
 * `body`, so it can frame bodies {@link openInvite} will refuse.
 *
 * @param body - the dag-cbor bytes of an invite body.
 * @example
 * ```ts
 * import * as dagCbor from '@ipld/dag-cbor'
 * const text = encodeInviteString(dagCbor.encode({ thread, addrs, from, keys }))
 * decodeInviteString(text) // the same body bytes
 * ```
 */
export function encodeInviteString(body: Uint8Array): string {
  const payload = new Uint8Array(1 + body.length + INVITE_CHECKSUM_BYTES)
  payload.set(VERSION_BYTE)
  payload.set(body, 1)
  payload.set(checksum(payload.subarray(0, 1 + body.length)), 1 + body.length)
  return INVITE_PREFIX + base32.encode(payload)
}

/** The field `v` of a version 1 invite (a bare dag-cbor map), or undefined. */
function legacyVersion(payload: Uint8Array): unknown {
  try {
    const old: unknown = dagCbor.decode(payload)
    return typeof old === 'object' && old !== null && !Array.isArray(old) ? (old as Record<string, unknown>).v : undefined
  } catch {
    return undefined
  }
}

/**
 * Unframe an invite string: check the prefix, the size, the base32 spelling, the version and the
 * checksum, and return the body bytes (paper section 3.2.3; layout at {@link INVITE_VERSION}).
 * The body is not decoded here: {@link openInvite} does that.
 *
 * @returns the dag-cbor bytes of the body.
 * @throws {@link InvalidInviteError} when the string is not an invite, is longer than
 *   {@link MAX_INVITE_CHARS}, is damaged (bad base32 or checksum), or has another version; a
 *   version 1 string is named as such.
 * @example
 * ```ts
 * const body = decodeInviteString(link) // Uint8Array
 * decodeInviteString(link.slice(0, -1)) // throws InvalidInviteError: the invite is damaged …
 * ```
 */
export function decodeInviteString(text: string): Uint8Array {
  if (typeof text !== 'string' || !text.startsWith(INVITE_PREFIX)) fail(`an invite is a string starting with "${INVITE_PREFIX}"`)
  if (text.length > MAX_INVITE_CHARS) fail(`the invite has ${text.length} characters; the limit is MAX_INVITE_CHARS (${MAX_INVITE_CHARS})`)
  const encoded = text.slice(INVITE_PREFIX.length)
  // One spelling per payload: padding, capitals and stray characters are damage, not variants.
  if (!PAYLOAD_CHARS.test(encoded)) fail('the invite is damaged (not lowercase multibase base32 after the prefix)')
  let payload: Uint8Array
  try {
    payload = base32.decode(encoded)
  } catch (cause) {
    fail('the invite is damaged (not base32)', cause)
  }
  const version = payload[0]
  if (version === undefined) fail('the invite is damaged (empty)')
  if (version !== INVITE_VERSION) {
    // Version 1 had no version byte: its payload was a dag-cbor map holding `v: 1`.
    if (version >= 0xa0 && version <= 0xbf && legacyVersion(payload) === 1) {
      fail(`this is a version 1 invite, which is no longer accepted (it had no checksum); ask the inviter for a new one (version ${INVITE_VERSION})`)
    }
    fail(`unsupported invite version ${version} (or a damaged invite): this peer reads version ${INVITE_VERSION}`)
  }
  if (payload.length < 1 + INVITE_CHECKSUM_BYTES + 1) fail('the invite is damaged (too short)')
  const end = payload.length - INVITE_CHECKSUM_BYTES
  if (!bytesEqual(checksum(payload.subarray(0, end)), payload.subarray(end))) {
    fail('the invite is damaged (checksum mismatch): was it copied completely and unchanged?')
  }
  return payload.slice(1, end)
}

/** A dag-cbor map with exactly `fields` (no more, no fewer), as a record. */
function fieldsOf(value: unknown, fields: readonly string[], what: string): Record<string, unknown> {
  if (typeof value !== 'object' || value === null || Array.isArray(value) || value instanceof Uint8Array) fail(`${what} is not a map`)
  const proto: unknown = Object.getPrototypeOf(value)
  if (proto !== Object.prototype && proto !== null) fail(`${what} is not a map`)
  const keys = Object.keys(value)
  const extra = keys.filter((k) => !fields.includes(k))
  const missing = fields.filter((f) => !keys.includes(f))
  if (missing.length > 0) fail(`${what} has no ${missing.join(', ')}`)
  if (extra.length > 0) fail(`${what} has unknown fields ${extra.map((k) => show(k)).join(', ')}`)
  return value as Record<string, unknown>
}

function decodeCbor(bytes: unknown, what: string): unknown {
  if (!(bytes instanceof Uint8Array)) fail(`${what} is not bytes (got ${show(bytes)})`)
  try {
    return dagCbor.decode(bytes)
  } catch (cause) {
    fail(`${what} is not dag-cbor`, cause)
  }
}

function checkRole(role: unknown): Role {
  if (role !== 'follow' && role !== 'read' && role !== 'write') fail(`invite role must be follow, read or write, not ${show(role)}`)
  return role
}

/**
 * An Ed25519 peer ID (a log ID) in its canonical string form. Other spellings of the same key
 * (the CID form) are refused rather than rewritten: the address book and the sealed box's `to`
 * are compared as strings.
 */
function checkPeerId(value: unknown, what: string): string {
  if (typeof value !== 'string') fail(`${what} must be a peer ID string, not ${show(value)}`)
  let canonical: string
  try {
    canonical = logIdFromPublicKey(publicKeyFromLogId(value))
  } catch (cause) {
    fail(`${what} is not an Ed25519 peer ID: ${show(value)}`, cause)
  }
  if (canonical !== value) fail(`${what} must be written as ${canonical}, not ${show(value)}`)
  return value
}

/**
 * One address: printable ASCII of at most {@link MAX_INVITE_ADDR_CHARS}, a multiaddr, whose last
 * `/p2p/` component (the peer it reaches) is an Ed25519 peer ID; earlier `/p2p/` components
 * (relays, which need not be thread peers) must be peer IDs of any key type.
 */
function checkAddr(addr: unknown, i: number): string {
  const what = `invite address ${i}`
  if (typeof addr !== 'string') fail(`${what} is not a string (got ${show(addr)})`)
  if (addr.length > MAX_INVITE_ADDR_CHARS) fail(`${what} has ${addr.length} characters; the limit is MAX_INVITE_ADDR_CHARS (${MAX_INVITE_ADDR_CHARS})`)
  if (!ADDR_CHARS.test(addr)) fail(`${what} is not printable ASCII: ${show(addr)}`)
  let peers: Array<string | undefined>
  try {
    peers = multiaddr(addr)
      .getComponents()
      .filter((c) => c.name === 'p2p')
      .map((c) => c.value)
  } catch (cause) {
    fail(`${what} is not a multiaddr: ${show(addr)}`, cause)
  }
  if (peers.length === 0) fail(`${what} has no /p2p/<peer ID> component: ${show(addr)}`)
  for (const relay of peers.slice(0, -1)) {
    if (!isPeerId(relay ?? '')) fail(`${what} names a relay that is not a peer ID: ${show(relay)}`)
  }
  checkPeerId(peers.at(-1), `the /p2p/ peer of ${what}`)
  return addr
}

function checkAddrs(addrs: unknown): string[] {
  if (!Array.isArray(addrs)) fail(`invite addrs must be an array of strings, not ${show(addrs)}`)
  if (addrs.length > MAX_INVITE_ADDRS) fail(`the invite has ${addrs.length} addresses; the limit is MAX_INVITE_ADDRS (${MAX_INVITE_ADDRS})`)
  return addrs.map((a: unknown, i) => checkAddr(a, i))
}

function checkThread(bytes: unknown): ThreadId {
  if (!(bytes instanceof Uint8Array)) fail(`invite thread must be thread ID bytes, not ${show(bytes)}`)
  try {
    return ThreadId.fromBytes(bytes)
  } catch (cause) {
    fail(`invite thread is not a thread ID: ${cause instanceof Error ? cause.message : String(cause)}`, cause)
  }
}

function keySetOf(role: Role, key: ThreadKey, epochs: ReadonlyArray<readonly [number, Uint8Array]>, services: ReadonlyArray<readonly [number, Uint8Array]> = []): KeySet {
  if (role !== 'follow' && key.read === undefined) fail(`a ${role} invite needs the read key, which this peer does not hold`)
  const set: KeySet = { role, key: threadKeyToBytes(role === 'follow' ? { service: key.service } : key) }
  // A follower reads nothing: it gets no read key of any epoch.
  if (role !== 'follow' && epochs.length > 0) set.epochs = checkEpochs(epochs.slice(-MAX_INVITE_EPOCHS))
  // Keys held past MAX_SERVICE_EPOCHS (from older storage) are not carried: no peer takes them.
  const carried = services.filter(([e]) => e <= MAX_SERVICE_EPOCHS)
  if (carried.length > 0) set.services = checkEpochs(carried.slice(-MAX_INVITE_SERVICE_EPOCHS), MAX_INVITE_SERVICE_EPOCHS, MAX_SERVICE_EPOCHS)
  return set
}

function checkEpochs(value: unknown, max = MAX_INVITE_EPOCHS, maxEpoch = 0xffffffff): Array<[number, Uint8Array]> {
  if (!Array.isArray(value) || value.length === 0) fail(`the invite's epochs must be a non-empty array, not ${show(value)}`)
  if (value.length > max) fail(`the invite has ${value.length} epochs; the limit is ${max}`)
  let last = 0
  return value.map((entry: unknown) => {
    if (!Array.isArray(entry) || entry.length !== 2) fail(`an invite epoch must be [epoch, key], not ${show(entry)}`)
    const [epoch, key] = entry as [unknown, unknown]
    if (typeof epoch !== 'number' || !Number.isSafeInteger(epoch) || epoch <= last || epoch > maxEpoch) fail(`invite epochs must be ascending integers from 1 to ${maxEpoch}, not ${show(epoch)}`)
    if (!(key instanceof Uint8Array) || key.length !== KEY_BYTES) fail(`an invite epoch key must be ${KEY_BYTES} bytes, not ${show(key)}`)
    last = epoch
    return [epoch, key] as [number, Uint8Array]
  })
}

function checkKeySet(bytes: unknown): { role: Role; key: ThreadKey; epochs: Array<[number, Uint8Array]>; services: Array<[number, Uint8Array]> } {
  const decoded = decodeCbor(bytes, 'the invite key set')
  const withEpochs = typeof decoded === 'object' && decoded !== null && 'epochs' in decoded
  const withServices = typeof decoded === 'object' && decoded !== null && 'services' in decoded
  const keySet = fieldsOf(decoded, ['role', 'key', ...(withEpochs ? ['epochs'] : []), ...(withServices ? ['services'] : [])], 'the invite key set')
  const role = checkRole(keySet.role)
  const raw = keySet.key
  if (!(raw instanceof Uint8Array) || (raw.length !== KEY_BYTES && raw.length !== 2 * KEY_BYTES)) {
    fail(`the invite key set's key must be ${KEY_BYTES} or ${2 * KEY_BYTES} bytes, not ${show(raw)}`)
  }
  const key = threadKeyFromBytes(raw)
  if (role !== 'follow' && key.read === undefined) fail(`a ${role} invite must carry the read key`)
  const epochs = withEpochs ? checkEpochs(keySet.epochs) : []
  if (role === 'follow' && epochs.length > 0) fail('a follow invite must not carry read keys')
  // A follow key set that carries the read key anyway: the invitee does not keep it.
  const services = withServices ? checkEpochs(keySet.services, MAX_INVITE_SERVICE_EPOCHS, MAX_SERVICE_EPOCHS) : []
  return { role, key: role === 'follow' ? { service: key.service } : key, epochs, services }
}

/** The fields of a bearer body, or of a sealed body's contents. */
const INNER_FIELDS = ['thread', 'addrs', 'from', 'keys'] as const
const SEALED_FIELDS = ['to', 'sealed'] as const

function checkInner(value: unknown, what: string): Invite {
  const inner = fieldsOf(value, INNER_FIELDS, what)
  const threadId = checkThread(inner.thread)
  const addrs = checkAddrs(inner.addrs)
  const from = checkPeerId(inner.from, 'invite `from`')
  const { role, key, epochs, services } = checkKeySet(inner.keys)
  return { threadId, role, key, addrs, from, epochs, services }
}

/**
 * Make an invite string (paper section 3.2.3; wire format at {@link INVITE_VERSION}). With `to`
 * (the invitee's peer ID), the key set, thread and addresses are sealed to that peer's public key
 * (X25519 derived from its Ed25519 key) and only it can open the invite. Without, the invite is
 * a bearer link: whoever holds the string holds the keys, so share it like one.
 *
 * Everything is checked as {@link openInvite} would check it, so an invite this function makes
 * always opens.
 *
 * @param options.addrs - at most {@link MAX_INVITE_ADDRS} multiaddrs, each of at most
 *   {@link MAX_INVITE_ADDR_CHARS} printable ASCII characters, ending in `/p2p/<Ed25519 peer ID>`.
 * @param options.from - the inviter's peer ID (canonical Ed25519 form).
 * @param options.to - the invitee's peer ID (canonical Ed25519 form), to seal the invite.
 * @param options.epochs - read keys of later epochs (after rotations); not given to followers.
 * @returns a string of at most {@link MAX_INVITE_CHARS} characters.
 * @throws {@link InvalidInviteError} naming the limit or field at fault: too many or too long
 *   addresses, an address or peer ID that is not valid, a `read` or `write` role without the read
 *   key.
 * @example
 * ```ts
 * import { createInvite } from 'redux-p2p-threads'
 * const link = createInvite({ threadId, key, role: 'write', addrs: peer.addresses(), from: peer.id })
 * const sealed = createInvite({ threadId, key, role: 'read', addrs, from: peer.id, to: bobPeerId })
 * ```
 */
export function createInvite(options: {
  threadId: ThreadId
  key: ThreadKey
  role: Role
  addrs: readonly string[]
  from: string
  to?: string
  /** Rotated read keys `[epoch, key]`, ascending; the newest {@link MAX_INVITE_EPOCHS} are kept. */
  epochs?: ReadonlyArray<readonly [number, Uint8Array]>
  /** Rotated service keys `[epoch, key]`, ascending; the newest {@link MAX_INVITE_SERVICE_EPOCHS} are kept. */
  services?: ReadonlyArray<readonly [number, Uint8Array]>
}): string {
  const inner = {
    thread: options.threadId.bytes,
    addrs: checkAddrs(options.addrs),
    from: checkPeerId(options.from, 'invite `from`'),
    keys: dagCbor.encode(keySetOf(checkRole(options.role), options.key, options.epochs ?? [], options.services ?? []))
  }
  // A sealed invite seals everything, not only the keys: its thread and addresses cannot be
  // changed on the way without the box failing to open.
  const body =
    options.to === undefined
      ? inner
      : { to: checkPeerId(options.to, 'invite `to`'), sealed: sealTo(publicKeyFromLogId(options.to), dagCbor.encode(inner)) }
  const text = encodeInviteString(dagCbor.encode(body))
  // Unreachable with the bounds above (see MAX_INVITE_CHARS); kept so no refusable invite is made.
  if (text.length > MAX_INVITE_CHARS) fail(`the invite would have ${text.length} characters; the limit is MAX_INVITE_CHARS (${MAX_INVITE_CHARS})`)
  return text
}

/**
 * Open an invite string (paper section 3.2.3). A sealed invite opens only with the invitee's
 * identity. The whole invite is validated before anything is returned: the string's framing
 * and checksum ({@link decodeInviteString}), the exact fields of the body, the thread ID, at most
 * {@link MAX_INVITE_ADDRS} addresses that each parse as a multiaddr ending in
 * `/p2p/<Ed25519 peer ID>`, the inviter's peer ID, the role and the key set. A caller can act on
 * the result (store the thread, import the addresses) with nothing left to fail on bad input.
 *
 * @param identity - this peer's log key; needed only for sealed invites.
 * @throws {@link InvalidInviteError} for anything but a well-formed invite this peer can open,
 *   and never any other error.
 * @example
 * ```ts
 * import { openInvite } from 'redux-p2p-threads'
 * const { threadId, role, key, addrs, from } = openInvite(link)
 * openInvite(sealedToBob, bob) // only Bob's log key opens it
 * ```
 */
export function openInvite(text: string, identity?: Pick<LogKey, 'id' | 'seed'>): Invite {
  try {
    const body = decodeCbor(decodeInviteString(text), 'the invite body')
    if (typeof body !== 'object' || body === null || !('sealed' in body)) return checkInner(body, 'the invite body')
    const outer = fieldsOf(body, SEALED_FIELDS, 'the sealed invite')
    const to = checkPeerId(outer.to, 'invite `to`')
    if (!(outer.sealed instanceof Uint8Array)) fail(`the sealed invite's box is not bytes (got ${show(outer.sealed)})`)
    if (identity === undefined || to !== identity.id) fail(`this invite is sealed to ${to}, not to this peer`)
    let opened: Uint8Array
    try {
      opened = openSealed(identity, outer.sealed)
    } catch (cause) {
      fail(`the invite cannot be opened with this peer's key: ${cause instanceof Error ? cause.message : String(cause)}`, cause)
    }
    return checkInner(decodeCbor(opened, 'the sealed invite'), 'the sealed invite')
  } catch (e) {
    if (e instanceof InvalidInviteError) throw e
    // Only InvalidInviteError leaves: a dependency's own error type must not reach the caller.
    throw new InvalidInviteError(`the invite cannot be opened: ${e instanceof Error ? e.message : String(e)}`, {}, { cause: e })
  }
}
