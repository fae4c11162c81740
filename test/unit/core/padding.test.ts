import { describe, it, expect } from 'vitest'
import fc from 'fast-check'
import { MAX_COMMAND_BYTES } from '../../../src/core/command.js'
import { MalformedRecordError, ThreadsError } from '../../../src/core/errors.js'
import { MIN_PADDED_BYTES, pad, paddedLength, POWER_OF_TWO_UP_TO, unpad } from '../../../src/core/padding.js'
import { MAX_BODY_BYTES } from '../../../src/core/record.js'
import { catchTyped, hex } from './fixtures.js'

const SEED = 7816

/** Padmé by its definition (Nikitin et al., PETS 2019, algorithm 1), for lengths above 4 KiB. */
function padme(n: number): number {
  const e = Math.floor(Math.log2(n))
  const s = Math.floor(Math.log2(e)) + 1
  const lastBits = e - s
  const mask = 2 ** lastBits - 1
  return (n + mask) & ~mask
}

describe('paddedLength', () => {
  it.each([
    [0, 64],
    [1, 64],
    [51, 64],
    [63, 64],
    [64, 64],
    [65, 128],
    [127, 128],
    [128, 128],
    [129, 256],
    [600, 1024],
    [1024, 1024],
    [1025, 2048],
    [4095, 4096],
    [4096, 4096],
    [4097, 4352],
    [5085, 5120],
    [8192, 8192],
    [8193, 8704],
    [65_537, 67_584],
    [1_000_000, 1_015_808],
    [MAX_COMMAND_BYTES + 1, 1_032_192]
  ])('pads %d bytes to %d', (n, expected) => {
    expect(paddedLength(n)).toBe(expected)
  })

  it('has its constants', () => {
    expect(MIN_PADDED_BYTES).toBe(64)
    expect(POWER_OF_TWO_UP_TO).toBe(4096)
  })

  it('is Padmé above 4 KiB, a power of two from 64 bytes to 4 KiB, and 64 below', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 1 << 22 }), (n) => {
        const p = paddedLength(n)
        expect(p).toBeGreaterThanOrEqual(n)
        expect(p).toBeGreaterThanOrEqual(64)
        if (n <= 64) expect(p).toBe(64)
        else if (n <= 4096) {
          expect(Number.isInteger(Math.log2(p))).toBe(true)
          expect(p).toBeLessThan(2 * n)
        } else {
          expect(p).toBe(padme(n))
          // Padmé's bound: at most 1/2^(s+1) ≤ 6.25% over for n ≥ 4 KiB, well under 12%.
          expect((p - n) / n).toBeLessThan(0.12)
        }
      }),
      { numRuns: 2000, seed: SEED }
    )
  })

  it('is monotonic and idempotent: a padded length pads to itself', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 1 << 21 }), fc.integer({ min: 0, max: 5000 }), (n, d) => {
        expect(paddedLength(n + d)).toBeGreaterThanOrEqual(paddedLength(n))
        expect(paddedLength(paddedLength(n))).toBe(paddedLength(n))
      }),
      { numRuns: 2000, seed: SEED }
    )
  })

  it('has few buckets: at most 12 up to 4 KiB', () => {
    const buckets = new Set<number>()
    for (let n = 0; n <= 4096; n++) buckets.add(paddedLength(n))
    expect([...buckets].sort((a, b) => a - b)).toEqual([64, 128, 256, 512, 1024, 2048, 4096])
  })

  it('keeps the largest command, padded and encrypted, inside a body block', () => {
    // The body box: nonce(12) ‖ padded ‖ tag(16), in a CBOR byte string with a 5-byte head.
    expect(5 + 12 + paddedLength(MAX_COMMAND_BYTES + 1) + 16).toBeLessThanOrEqual(MAX_BODY_BYTES)
  })
})

describe('pad / unpad', () => {
  it('writes the plaintext, a 0x80 marker, then zeros, to the bucket of length + 1', () => {
    expect(hex(pad(Uint8Array.of(1, 2, 3)))).toBe('01020380' + '00'.repeat(60))
    expect(hex(pad(new Uint8Array(0)))).toBe('80' + '00'.repeat(63))
    const full = new Uint8Array(63).fill(0xaa)
    expect(hex(pad(full))).toBe('aa'.repeat(63) + '80')
    // 64 bytes need 65 with the marker: the next bucket.
    const sixtyFour = pad(new Uint8Array(64).fill(0xbb))
    expect(sixtyFour.length).toBe(128)
    expect(sixtyFour[64]).toBe(0x80)
    expect(pad(new Uint8Array(50)).length).toBe(64)
    expect(pad(new Uint8Array(599)).length).toBe(1024)
    expect(pad(new Uint8Array(5084)).length).toBe(5120)
    expect(pad(new Uint8Array(4095)).length).toBe(4096)
    expect(pad(new Uint8Array(4096)).length).toBe(4352)
  })

  it('does not change its input', () => {
    const plain = Uint8Array.of(9, 8, 7)
    pad(plain)
    expect(hex(plain)).toBe('090807')
  })

  it('round trips any bytes, including bytes that end in 0x80 or zeros', () => {
    for (const plain of [new Uint8Array(0), Uint8Array.of(0x80), Uint8Array.of(0), Uint8Array.of(0x80, 0), new Uint8Array(63).fill(0x80), new Uint8Array(64), new Uint8Array(4096).fill(0x80)]) {
      expect(hex(unpad(pad(plain)))).toBe(hex(plain))
    }
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 9000 }), (plain) => {
        const padded = pad(plain)
        expect(padded.length).toBe(paddedLength(plain.length + 1))
        expect(hex(unpad(padded))).toBe(hex(plain))
      }),
      { numRuns: 500, seed: SEED }
    )
  })

  it('unpad accepts any marker position (the minimum length is for pad to keep, not unpad to check)', () => {
    expect(hex(unpad(Uint8Array.of(0x80)))).toBe('')
    expect(hex(unpad(Uint8Array.of(5, 0x80, 0, 0)))).toBe('05')
  })

  it('unpad refuses bad padding: MalformedRecordError', () => {
    const bad: [string, Uint8Array][] = [
      ['empty', new Uint8Array(0)],
      ['all zeros', new Uint8Array(64)],
      ['no marker (ends in data)', Uint8Array.of(1, 2, 3)],
      ['0x81 as marker', Uint8Array.of(1, 0x81, 0, 0)],
      ['0x01 before the zeros', Uint8Array.of(0x80, 1, 0, 0)],
      ['0x7f as marker', Uint8Array.of(0x7f, 0)],
      ['0xff', Uint8Array.of(0xff)]
    ]
    for (const [what, bytes] of bad) {
      const e = catchTyped(() => unpad(bytes), MalformedRecordError)
      expect([what, e.message]).toEqual([what, expect.stringContaining('padding')])
    }
  })

  it('unpad keeps the error context', () => {
    const e = catchTyped(() => unpad(new Uint8Array(8), { logId: 'log-1', seq: 3 }), MalformedRecordError)
    expect(e.logId).toBe('log-1')
    expect(e.seq).toBe(3)
  })

  it('unpad throws only MalformedRecordError on arbitrary bytes, and what it accepts pads back to a prefix', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 300 }), (bytes) => {
        let plain: Uint8Array
        try {
          plain = unpad(bytes)
        } catch (e) {
          expect(e).toBeInstanceOf(MalformedRecordError)
          expect(e).toBeInstanceOf(ThreadsError)
          return
        }
        // Accepted: the bytes are the plaintext, the marker, then zeros.
        expect(hex(bytes.subarray(0, plain.length))).toBe(hex(plain))
        expect(bytes[plain.length]).toBe(0x80)
        expect(bytes.subarray(plain.length + 1).every((b) => b === 0)).toBe(true)
      }),
      { numRuns: 1000, seed: SEED }
    )
  })

  it('a single flipped byte of a padded body never unpads to the same plaintext', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 200 }), fc.nat(), fc.integer({ min: 1, max: 255 }), (plain, at, mask) => {
        const padded = Uint8Array.from(pad(plain))
        const i = at % padded.length
        padded[i] = (padded[i] as number) ^ mask
        let out: Uint8Array
        try {
          out = unpad(padded)
        } catch (e) {
          expect(e).toBeInstanceOf(MalformedRecordError)
          return
        }
        expect(hex(out)).not.toBe(hex(plain))
      }),
      { numRuns: 1000, seed: SEED }
    )
  })
})
