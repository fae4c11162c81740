/**
 * One key, one log ID: a log ID that spells the same Ed25519 key with its protobuf fields in
 * another order (or repeated) parses as a valid Ed25519 peer ID whose toString() is itself, so the
 * "canonical form" check by round trip let it through, and a record signed for the key's log (the
 * signed statement does not name the log) would verify in that second log too. Found while
 * packaging (issue 12); refused now by publicKeyFromLogId and the sync messages' ID check.
 */
import { base58btc } from 'multiformats/bases/base58'
import { peerIdFromString } from '@libp2p/peer-id'
import { describe, expect, it } from 'vitest'
import { generateLogKey, logIdFromPublicKey, publicKeyFromLogId } from '../../../src/core/keys.js'
import { ThreadId } from '../../../src/core/threadId.js'
import { decodeMessage, encodeMessage } from '../../../src/net/protocol/messages.js'

function aliases(logId: string): string[] {
  const bytes = base58btc.baseDecode(logId)
  const key = bytes.slice(6)
  const spell = (pb: number[]): string => base58btc.baseEncode(Uint8Array.of(0x00, pb.length, ...pb))
  return [
    spell([0x12, 0x20, ...key, 0x08, 0x01]), // Data before Type
    spell([0x08, 0x01, 0x08, 0x01, 0x12, 0x20, ...key]), // Type twice
    spell([0x08, 0x00, 0x08, 0x01, 0x12, 0x20, ...key]) // a first Type overwritten by the second
  ]
}

describe('log IDs: one spelling per key', () => {
  it('the aliases are what the peer ID parser takes as Ed25519 IDs of the same key, each its own canonical form', () => {
    const { id, publicKey } = generateLogKey()
    for (const alias of aliases(id)) {
      const parsed = peerIdFromString(alias)
      expect(parsed.type).toBe('Ed25519')
      expect(parsed.toString()).toBe(alias)
      expect(alias).not.toBe(id)
      expect(Uint8Array.from(parsed.publicKey?.raw ?? [])).toEqual(publicKey)
    }
  })

  it('publicKeyFromLogId refuses them (InvalidKeyError); the standard one passes', () => {
    const { id, publicKey } = generateLogKey()
    expect(publicKeyFromLogId(id)).toEqual(publicKey)
    expect(logIdFromPublicKey(publicKey)).toBe(id)
    for (const alias of aliases(id)) expect(() => publicKeyFromLogId(alias)).toThrow(expect.objectContaining({ name: 'InvalidKeyError', message: expect.stringMatching(/canonical form/) }))
  })

  it('a sync message naming a log by an alias is malformed', () => {
    const { id } = generateLogKey()
    const thread = ThreadId.create().bytes
    const ok = encodeMessage({ t: 'pull', thread, log: id, from: 1, limit: 1 })
    expect(() => decodeMessage(ok)).not.toThrow()
    for (const alias of aliases(id)) {
      expect(() => decodeMessage(encodeMessage({ t: 'pull', thread, log: alias, from: 1, limit: 1 }))).toThrow(expect.objectContaining({ name: 'MalformedMessageError' }))
    }
  })
})
