import { describe, it, expect } from 'vitest'
import { multiaddr } from '@multiformats/multiaddr'
import { varint } from 'multiformats'
import { base16 } from 'multiformats/bases/base16'
import { base32 } from 'multiformats/bases/base32'
import { base58btc } from 'multiformats/bases/base58'
import { base64 } from 'multiformats/bases/base64'
import { InvalidThreadIdError } from '../../../src/core/errors.js'
import { generateLogKey } from '../../../src/core/keys.js'
import { parseThreadAddr, threadAddr, THREAD_PROTOCOL_CODE } from '../../../src/core/threadAddr.js'
import { MAX_RANDOM_BYTES, MIN_RANDOM_BYTES, ThreadId, Variant } from '../../../src/core/threadId.js'
import { catchTyped, hex } from './fixtures.js'

// The two example IDs of the paper, section 3.2.1.
const PAPER_RAW = 'bafkxd5bjgi6k4zivuoyxo4ua4mzyy'
const PAPER_ACL = 'bafyoiobghzefwlidfrwkqmzz2ka66zgmdmgeobw2mimktr5jivsavya'

function idBytes(version: number, variant: number, random: number): Uint8Array {
  const head = [...varint.encodeTo(version, new Uint8Array(varint.encodingLength(version)))]
  const v = [...varint.encodeTo(variant, new Uint8Array(varint.encodingLength(variant)))]
  return Uint8Array.from([...head, ...v, ...Array.from({ length: random }, (_, i) => (i * 37 + 11) & 0xff)])
}

describe('ThreadId: the paper vectors', () => {
  it('parses the Raw example: version 1, variant 0x55, 16 random bytes', () => {
    const id = ThreadId.parse(PAPER_RAW)
    expect(id.version).toBe(1)
    expect(id.variant).toBe(Variant.Raw)
    expect(id.variant).toBe(0x55)
    expect(id.random.length).toBe(16)
    expect(id.bytes.length).toBe(18)
    expect(hex(id.bytes.subarray(0, 2))).toBe('0155')
    expect(id.toString()).toBe(PAPER_RAW)
    expect(id.toJSON()).toBe(PAPER_RAW)
  })

  it('parses the AccessControlled example: version 1, variant 0x70, 32 random bytes', () => {
    const id = ThreadId.parse(PAPER_ACL)
    expect(id.version).toBe(1)
    expect(id.variant).toBe(Variant.AccessControlled)
    expect(id.variant).toBe(0x70)
    expect(id.random.length).toBe(32)
    expect(id.bytes.length).toBe(34)
    expect(hex(id.bytes.subarray(0, 2))).toBe('0170')
    expect(id.toString()).toBe(PAPER_ACL)
  })

  it('round trips the paper vectors through bytes', () => {
    for (const text of [PAPER_RAW, PAPER_ACL]) {
      const id = ThreadId.parse(text)
      const again = ThreadId.fromBytes(id.bytes)
      expect(again.equals(id)).toBe(true)
      expect(again.toString()).toBe(text)
      expect(hex(base32.decode(text))).toBe(hex(id.bytes))
    }
  })
})

describe('ThreadId.create', () => {
  it('creates Raw IDs that print as bafk… with 32 random bytes by default', () => {
    const id = ThreadId.create(Variant.Raw)
    expect(id.toString().startsWith('bafk')).toBe(true)
    expect(id.variant).toBe(Variant.Raw)
    expect(id.version).toBe(1)
    expect(id.random.length).toBe(32)
    expect(id.bytes.length).toBe(34)
  })

  it('creates AccessControlled IDs that print as bafy…', () => {
    const id = ThreadId.create(Variant.AccessControlled)
    expect(id.toString().startsWith('bafy')).toBe(true)
    expect(id.variant).toBe(Variant.AccessControlled)
  })

  it('defaults to Raw and makes a different ID every time', () => {
    const a = ThreadId.create()
    const b = ThreadId.create()
    expect(a.variant).toBe(Variant.Raw)
    expect(a.equals(b)).toBe(false)
    expect(a.toString()).not.toBe(b.toString())
  })

  it('accepts 16 to 64 random bytes and refuses anything else', () => {
    expect(ThreadId.create(Variant.Raw, MIN_RANDOM_BYTES).random.length).toBe(16)
    expect(ThreadId.create(Variant.Raw, MAX_RANDOM_BYTES).random.length).toBe(64)
    catchTyped(() => ThreadId.create(Variant.Raw, 15), InvalidThreadIdError)
    catchTyped(() => ThreadId.create(Variant.Raw, 65), InvalidThreadIdError)
  })

  it('round trips string and bytes for both variants and every length', () => {
    for (const variant of [Variant.Raw, Variant.AccessControlled]) {
      for (const n of [16, 17, 32, 63, 64]) {
        const id = ThreadId.create(variant, n)
        const fromText = ThreadId.parse(id.toString())
        const fromBytes = ThreadId.fromBytes(id.bytes)
        expect(fromText.equals(id)).toBe(true)
        expect(hex(fromText.bytes)).toBe(hex(id.bytes))
        expect(hex(fromBytes.random)).toBe(hex(id.random))
        expect(fromBytes.variant).toBe(variant)
        expect(ThreadId.from(id)).toBe(id)
        expect(ThreadId.from(id.toString()).equals(id)).toBe(true)
        expect(ThreadId.from(id.bytes).equals(id)).toBe(true)
      }
    }
  })

  it('copies the input bytes: changing them later does not change the ID', () => {
    const id = ThreadId.create()
    const bytes = Uint8Array.from(id.bytes)
    const parsed = ThreadId.fromBytes(bytes)
    bytes[5] = (bytes[5] as number) ^ 0xff
    expect(parsed.equals(id)).toBe(true)
  })
})

describe('ThreadId.parse: any multibase', () => {
  it.each([
    ['base58btc', 'z', (b: Uint8Array) => base58btc.encode(b)],
    ['base64', 'm', (b: Uint8Array) => base64.encode(b)],
    ['base16', 'f', (b: Uint8Array) => base16.encode(b)]
  ])('parses %s (%s…) to the same ID as base32', (_name, prefix, encode) => {
    for (const text of [PAPER_RAW, PAPER_ACL, ThreadId.create().toString()]) {
      const id = ThreadId.parse(text)
      const other = encode(id.bytes)
      expect(other.startsWith(prefix)).toBe(true)
      const parsed = ThreadId.parse(other)
      expect(parsed.equals(id)).toBe(true)
      expect(parsed.toString()).toBe(text)
    }
  })
})

describe('ThreadId.parse: the encodings nobody writes a key in', () => {
  it('refuses base2, base8, base10, identity and base256emoji with InvalidThreadIdError (their decoders are not bundled)', () => {
    const id = ThreadId.create()
    const bits = '0' + [...id.bytes].map((b) => b.toString(2).padStart(8, '0')).join('')
    for (const text of [bits, '7' + '0'.repeat(10), '9' + '1234567890', '\u0000' + 'abc', '🚀' + '🪐☄']) {
      catchTyped(() => ThreadId.parse(text), InvalidThreadIdError)
    }
  })
})

describe('ThreadId: rejects', () => {
  it('a wrong version', () => {
    for (const version of [0, 2, 0x55, 300]) {
      const bytes = idBytes(version, Variant.Raw, 16)
      const e = catchTyped(() => ThreadId.fromBytes(bytes), InvalidThreadIdError)
      expect(e.message).toContain(`version ${version}`)
      catchTyped(() => ThreadId.parse(base32.encode(bytes)), InvalidThreadIdError)
    }
  })

  it('an unknown variant', () => {
    for (const variant of [0x00, 0x54, 0x56, 0x71, 0x300]) {
      const bytes = idBytes(1, variant, 32)
      const e = catchTyped(() => ThreadId.fromBytes(bytes), InvalidThreadIdError)
      expect(e.message).toContain('variant')
      catchTyped(() => ThreadId.parse(base32.encode(bytes)), InvalidThreadIdError)
    }
  })

  it('a random part shorter than 16 bytes', () => {
    for (const n of [0, 1, 15]) {
      const e = catchTyped(() => ThreadId.fromBytes(idBytes(1, Variant.Raw, n)), InvalidThreadIdError)
      expect(e.message).toContain(`got ${n}`)
    }
    // The paper's Raw example with its last byte cut off has 15 random bytes.
    catchTyped(() => ThreadId.fromBytes(ThreadId.parse(PAPER_RAW).bytes.subarray(0, 17)), InvalidThreadIdError)
  })

  it('a random part longer than 64 bytes', () => {
    for (const n of [65, 200]) {
      catchTyped(() => ThreadId.fromBytes(idBytes(1, Variant.AccessControlled, n)), InvalidThreadIdError)
      catchTyped(() => ThreadId.parse(base32.encode(idBytes(1, Variant.AccessControlled, n))), InvalidThreadIdError)
    }
  })

  it('a header that is not two uvarints', () => {
    catchTyped(() => ThreadId.fromBytes(new Uint8Array(0)), InvalidThreadIdError)
    catchTyped(() => ThreadId.fromBytes(Uint8Array.of(0x80)), InvalidThreadIdError)
    catchTyped(() => ThreadId.fromBytes(Uint8Array.of(0x01, 0xff)), InvalidThreadIdError)
  })

  it('garbage strings', () => {
    for (const text of ['not a thread id', 'b!!!!!!!!', 'bafk', 'x' + PAPER_RAW, PAPER_RAW.slice(0, -3), 'z0OIl', '\u0000abc', 'b' + 'a'.repeat(300)]) {
      const e = catchTyped(() => ThreadId.parse(text), InvalidThreadIdError)
      expect(e).toBeInstanceOf(Error)
    }
  })

  it('the empty string and non-strings', () => {
    catchTyped(() => ThreadId.parse(''), InvalidThreadIdError)
    catchTyped(() => ThreadId.parse('b'), InvalidThreadIdError)
    catchTyped(() => ThreadId.parse(42 as unknown as string), InvalidThreadIdError)
  })
})

describe('thread multiaddr', () => {
  it('uses protocol code 406', () => {
    expect(THREAD_PROTOCOL_CODE).toBe(406)
    expect(THREAD_PROTOCOL_CODE).toBe(0x0196)
  })

  it('round trips /ip4/…/tcp/4006/p2p/<peer>/thread/<tid> as a string', () => {
    const peer = generateLogKey().id
    expect(peer.startsWith('12D3KooW')).toBe(true)
    for (const tid of [ThreadId.parse(PAPER_ACL), ThreadId.parse(PAPER_RAW), ThreadId.create()]) {
      const peerAddr = `/ip4/1.2.3.4/tcp/4006/p2p/${peer}`
      const text = `${peerAddr}/thread/${tid.toString()}`
      const ma = threadAddr(peerAddr, tid)
      expect(ma.toString()).toBe(text)
      const parsed = parseThreadAddr(text)
      expect(parsed.threadId.equals(tid)).toBe(true)
      expect(parsed.peerAddr.toString()).toBe(peerAddr)
      const fromMa = parseThreadAddr(ma)
      expect(fromMa.threadId.equals(tid)).toBe(true)
    }
  })

  it('round trips through bytes; the last component is code 406 with the thread ID bytes as value', () => {
    const peer = generateLogKey().id
    const tid = ThreadId.parse(PAPER_ACL)
    const ma = threadAddr(`/ip4/1.2.3.4/tcp/4006/p2p/${peer}`, tid)
    const again = multiaddr(ma.bytes)
    expect(again.toString()).toBe(ma.toString())
    expect(parseThreadAddr(again).threadId.equals(tid)).toBe(true)

    const components = ma.getComponents()
    const last = components[components.length - 1]
    expect(last?.code).toBe(406)
    expect(last?.name).toBe('thread')
    expect(last?.value).toBe(PAPER_ACL)

    // Binary: … ‖ uvarint(406) ‖ uvarint(len) ‖ thread ID bytes, at the very end.
    const tail = Uint8Array.from([...varint.encodeTo(406, new Uint8Array(2)), tid.bytes.length, ...tid.bytes])
    expect(hex(tail.subarray(0, 2))).toBe('9603')
    expect(hex(ma.bytes.subarray(ma.bytes.length - tail.length))).toBe(hex(tail))
  })

  it('refuses an address without a trailing /thread component', () => {
    const peer = generateLogKey().id
    catchTyped(() => parseThreadAddr(`/ip4/1.2.3.4/tcp/4006/p2p/${peer}`), InvalidThreadIdError)
    catchTyped(() => parseThreadAddr(`/ip4/1.2.3.4/tcp/4006/thread/${PAPER_RAW}/tcp/5`), InvalidThreadIdError)
  })

  it('refuses a /thread value that is not a thread ID', () => {
    const bad = base32.encode(idBytes(1, 0x71, 32))
    expect(() => parseThreadAddr(`/ip4/1.2.3.4/tcp/4006/thread/${bad}`)).toThrow(InvalidThreadIdError)
  })
})
