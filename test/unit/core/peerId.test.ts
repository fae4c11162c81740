/**
 * src/core/peerId.ts against @libp2p/peer-id (which the core used before): the same log ID for
 * every Ed25519 key, the same keys back, and the same verdict on which strings are peer IDs.
 */
import { generateKeyPair } from '@libp2p/crypto/keys'
import { peerIdFromPrivateKey, peerIdFromString } from '@libp2p/peer-id'
import { describe, expect, it } from 'vitest'
import { ed25519FromPeerId, ed25519PeerId, isPeerId } from '../../../src/core/peerId.js'

describe('core peer IDs agree with @libp2p/peer-id', () => {
  it('Ed25519: the same string for the same key, and the key back from it', async () => {
    for (let i = 0; i < 50; i++) {
      const key = await generateKeyPair('Ed25519')
      const theirs = peerIdFromPrivateKey(key).toString()
      expect(ed25519PeerId(key.publicKey.raw)).toBe(theirs)
      expect(ed25519FromPeerId(theirs)).toEqual(key.publicKey.raw)
      expect(isPeerId(theirs)).toBe(true)
    }
  })

  it('other key types and spellings are peer IDs, but not Ed25519 log IDs', async () => {
    const ed = peerIdFromPrivateKey(await generateKeyPair('Ed25519'))
    const secp = peerIdFromPrivateKey(await generateKeyPair('secp256k1')).toString()
    const rsa = 'QmYyQSo1c1Ym7orWxLYvCrM2EmxFTANf8wXmmE7DWjhx5N'
    const cid32 = ed.toCID().toString()
    for (const id of [secp, rsa, cid32]) {
      expect(() => peerIdFromString(id), id).not.toThrow()
      expect(isPeerId(id), id).toBe(true)
      expect(ed25519FromPeerId(id), id).toBeUndefined()
    }
  })

  it('garbage is no peer ID for either', () => {
    const ed = '12D3KooWD3eckifWpRn9wQpMG9R9hX3sD158z7EqHWmweQAJU5SA'
    for (const id of ['', 'garbage', '12D3KooW', ed.slice(0, -2), `1${ed}`, 'bafkxd5bjgi6k4zivuoyxo4ua4mzyy', 'Qm', '0OIl', 'x'.repeat(600)]) {
      let theirs = true
      try {
        peerIdFromString(id)
      } catch {
        theirs = false
      }
      expect(isPeerId(id), id).toBe(theirs)
      expect(ed25519FromPeerId(id), id).toBeUndefined()
    }
  })
})
