import { describe, expect, it } from 'vitest'
import { peerIdFromString } from '@libp2p/peer-id'
import { base58btc } from 'multiformats/bases/base58'
import { base36 } from 'multiformats/bases/base36'
import { CID } from 'multiformats/cid'
import * as Digest from 'multiformats/hashes/digest'
import { ed25519FromPeerId, ed25519PeerId, isPeerId } from '../../src/core/peerId.js'

function libp2pAccepts(id: string): boolean {
  try {
    peerIdFromString(id)
    return true
  } catch {
    return false
  }
}

describe('review: peerId', () => {
  it('ed25519 round-trip agrees with @libp2p/peer-id (held)', () => {
    for (let n = 0; n < 50; n++) {
      const key = crypto.getRandomValues(new Uint8Array(32))
      if (n === 0) key.fill(0)
      const id = ed25519PeerId(key)
      const p = peerIdFromString(id)
      expect(p.type).toBe('Ed25519')
      expect(p.toString()).toBe(id)
      expect(ed25519FromPeerId(id)).toEqual(key)
      expect(isPeerId(id)).toBe(true)
    }
  })

  it('rejects non-canonical / wrong-length / other-type forms (held)', () => {
    const id = ed25519PeerId(new Uint8Array(32).fill(7))
    expect(ed25519FromPeerId('1' + id)).toBeUndefined()
    expect(ed25519FromPeerId(id.slice(0, -1))).toBeUndefined()
    expect(ed25519FromPeerId(id + '1')).toBeUndefined()
    expect(ed25519FromPeerId('0OIl' + id.slice(4))).toBeUndefined()
    expect(ed25519FromPeerId('1'.repeat(10_000))).toBeUndefined()
    expect(ed25519FromPeerId(undefined as unknown as string)).toBeUndefined()
    // CID spelling of the same key: not the standard form
    const cid = CID.createV1(0x72, Digest.decode(base58btc.baseDecode(id)))
    expect(ed25519FromPeerId(cid.toString())).toBeUndefined()
    expect(ed25519FromPeerId(cid.toString(base36))).toBeUndefined()
    expect(isPeerId(cid.toString())).toBe(true)
    expect(isPeerId(cid.toString(base36))).toBe(true)
    // protobuf with a second field appended (non-canonical key encoding) inside identity mh
    const pb = Uint8Array.of(0x08, 0x01, 0x12, 0x20, ...new Uint8Array(32).fill(7), 0x08, 0x01)
    const mh = Uint8Array.of(0x00, pb.length, ...pb)
    expect(ed25519FromPeerId(base58btc.baseEncode(mh))).toBeUndefined()
    // huge inputs are cheap
    const t = performance.now()
    expect(isPeerId('Q'.repeat(100_000))).toBe(false)
    expect(isPeerId('1'.repeat(512))).toBe(false)
    expect(performance.now() - t).toBeLessThan(200)
    // sha256 of wrong length / trailing bytes
    expect(isPeerId(base58btc.baseEncode(Uint8Array.of(0x12, 0x1f, ...new Uint8Array(31))))).toBe(false)
    expect(isPeerId(base58btc.baseEncode(Uint8Array.of(0x12, 0x20, ...new Uint8Array(33))))).toBe(false)
    // CIDv1 of another codec
    expect(isPeerId(CID.createV1(0x55, Digest.decode(base58btc.baseDecode(id))).toString())).toBe(false)
  })

  it('FINDING: isPeerId accepts identity multihashes that are no public key (libp2p refuses them)', () => {
    const garbage = [
      Uint8Array.of(0x00, 0x01, 0x00), // 1-byte identity digest
      Uint8Array.of(0x00, 0x05, 0xff, 0xff, 0xff, 0xff, 0xff),
      Uint8Array.of(0x00, 0x24, 0x08, 0x09, 0x12, 0x20, ...new Uint8Array(32)) // key type 9
    ]
    for (const mh of garbage) {
      const id = base58btc.baseEncode(mh)
      expect({ id, isPeerId: isPeerId(id) }).toEqual({ id, isPeerId: libp2pAccepts(id) })
    }
  })
})
