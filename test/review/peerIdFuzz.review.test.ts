import { expect, it } from 'vitest'
import { peerIdFromString } from '@libp2p/peer-id'
import { base58btc } from 'multiformats/bases/base58'
import { base36 } from 'multiformats/bases/base36'
import { CID } from 'multiformats/cid'
import * as Digest from 'multiformats/hashes/digest'
import { ed25519FromPeerId, ed25519PeerId, isPeerId } from '../../src/core/peerId.js'

const accepts = (id: string) => { try { peerIdFromString(id); return true } catch { return false } }
const ALPHA = '123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz'

it('differential fuzz: isPeerId / ed25519FromPeerId vs @libp2p/peer-id on mutated IDs', () => {
  let seed = 42
  const rnd = (n: number) => ((seed = (seed * 1103515245 + 12345) >>> 0) % n)
  const bases: string[] = []
  for (let i = 0; i < 5; i++) {
    const id = ed25519PeerId(crypto.getRandomValues(new Uint8Array(32)))
    bases.push(id)
    const cid = CID.createV1(0x72, Digest.decode(base58btc.baseDecode(id)))
    bases.push(cid.toString(), cid.toString(base36))
    bases.push(base58btc.baseEncode(Uint8Array.of(0x12, 0x20, ...crypto.getRandomValues(new Uint8Array(32)))))
  }
  const disagreeOnlyStrictlyLooser: string[] = []
  const ed25519Wrong: string[] = []
  for (let i = 0; i < 4000; i++) {
    let s = bases[rnd(bases.length)] as string
    const op = rnd(4)
    const at = rnd(s.length)
    if (op === 0) s = s.slice(0, at) + ALPHA[rnd(58)] + s.slice(at + 1)
    else if (op === 1) s = s.slice(0, at) + s.slice(at + 1)
    else if (op === 2) s = s.slice(0, at) + ALPHA[rnd(58)] + s.slice(at)
    const ours = isPeerId(s)
    const theirs = accepts(s)
    if (ours !== theirs) disagreeOnlyStrictlyLooser.push(`${s} ours=${ours} libp2p=${theirs}`)
    const key = ed25519FromPeerId(s)
    if (key !== undefined) {
      const p = peerIdFromString(s)
      if (p.type !== 'Ed25519' || p.toString() !== s) ed25519Wrong.push(s)
    }
  }
  expect(ed25519Wrong).toEqual([])
  expect(disagreeOnlyStrictlyLooser.slice(0, 5)).toEqual([])
})
