import * as dagCbor from '@ipld/dag-cbor'
import type { CID } from 'multiformats/cid'
import { isRecordLink } from './block.js'
import { BadSignatureError, MalformedRecordError, TooLargeError } from './errors.js'
import { publicKeyFromLogId } from './keys.js'
import type { LogRecord } from './record.js'
import { isRecordId, recordIdOf, sameId, verifyStatement } from './recordId.js'
import type { ThreadId } from './threadId.js'

/** A record's signed statement with its signature: all a fork proof needs of a record. */
export interface SignedStatement {
  readonly seq: number
  /** CID of the event block. */
  readonly event: CID
  /** Identity of the record before it; absent for seq 1. */
  readonly prev: CID | undefined
  readonly sig: Uint8Array
}

/**
 * Proof that a log's writer forked its log (DESIGN.md section 3, "Equivocation"): two statements,
 * both signed by the log key, that disagree about the record at one `seq`. Either both are
 * records at that `seq` with different identities, or `a` is the record at `seq` and `b` the
 * record after it whose `prev` names another identity. Anyone can check it with the log ID and
 * the thread ID alone; every peer that holds it freezes the log before that `seq`.
 */
export interface ForkProof {
  readonly logId: string
  readonly a: SignedStatement
  readonly b: SignedStatement
}

/** Largest encoded fork proof accepted: two statements of a few hundred bytes. */
export const MAX_FORK_PROOF_BYTES = 1024

/** The statement and signature of a record. */
export function signedStatementOf(record: Pick<LogRecord, 'seq' | 'eventCid' | 'prev' | 'sig'>): SignedStatement {
  return { seq: record.seq, event: record.eventCid, prev: record.prev, sig: record.sig }
}

function idOf(thread: ThreadId, s: SignedStatement): CID {
  return recordIdOf({ thread: thread.bytes, seq: s.seq, event: s.event, prev: s.prev })
}

/**
 * The first `seq` at which the proof's two statements disagree, or `undefined` when they do
 * not prove a fork (signatures are not checked here: see {@link checkForkProof}).
 */
export function forkSeqOf(thread: ThreadId, proof: ForkProof): number | undefined {
  const { a, b } = proof
  if (a.seq === b.seq) return sameId(idOf(thread, a), idOf(thread, b)) ? undefined : a.seq
  if (b.seq === a.seq + 1) return b.prev !== undefined && !sameId(b.prev, idOf(thread, a)) ? a.seq : undefined
  return undefined
}

/**
 * Check a fork proof: both signatures by the log key, over statements of this thread, that
 * disagree about one `seq`. Returns that `seq`: the log is frozen at `seq - 1`.
 *
 * @throws {@link BadSignatureError} when a statement is not signed by the log key,
 * {@link MalformedRecordError} when the statements do not prove a fork.
 *
 * @example
 * ```ts
 * const seq = checkForkProof(threadId, proof) // records of proof.logId from `seq` on are ignored
 * ```
 */
export function checkForkProof(thread: ThreadId, proof: ForkProof): number {
  const ctx = { threadId: thread.toString(), logId: proof.logId, seq: proof.a.seq }
  publicKeyFromLogId(proof.logId)
  const seq = forkSeqOf(thread, proof)
  if (seq === undefined) throw new MalformedRecordError('the two statements do not disagree about a seq: not a fork proof', ctx)
  for (const s of [proof.a, proof.b]) {
    if (!verifyStatement(proof.logId, { thread: thread.bytes, seq: s.seq, event: s.event, prev: s.prev }, s.sig)) {
      throw new BadSignatureError('a statement of the fork proof is not signed by the log key', ctx)
    }
  }
  return seq
}

/** A proof from the record this peer kept and a conflicting one, both signed (checked by the caller). */
export function forkProofOf(logId: string, kept: SignedStatement, other: SignedStatement): ForkProof {
  return kept.seq <= other.seq ? { logId, a: kept, b: other } : { logId, a: other, b: kept }
}

function toWire(s: SignedStatement): Record<string, unknown> {
  return s.prev === undefined ? { seq: s.seq, event: s.event, sig: s.sig } : { seq: s.seq, event: s.event, prev: s.prev, sig: s.sig }
}

/** dag-cbor bytes of a fork proof: `{ log, a, b }`, each statement `{ seq, event, prev?, sig }`. */
export function encodeForkProof(proof: ForkProof): Uint8Array {
  return dagCbor.encode(forkProofToValue(proof))
}

function statementFrom(v: unknown): SignedStatement {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) throw new MalformedRecordError('a fork proof statement is a map')
  const m = v as Record<string, unknown>
  const { seq, event, prev, sig } = m
  if (typeof seq !== 'number' || !Number.isSafeInteger(seq) || seq < 1) throw new MalformedRecordError('statement `seq` is a positive integer')
  if (!isRecordLink(event)) throw new MalformedRecordError('statement `event` is a dag-cbor sha2-256 CID')
  if (prev !== undefined && !isRecordId(prev)) throw new MalformedRecordError('statement `prev` is a record identity')
  if ((seq === 1) !== (prev === undefined)) throw new MalformedRecordError('only seq 1 has no `prev`')
  if (!(sig instanceof Uint8Array) || sig.length !== 64) throw new MalformedRecordError('statement `sig` is 64 bytes')
  if (Object.keys(m).length !== (prev === undefined ? 3 : 4)) throw new MalformedRecordError('statement has unknown fields')
  return { seq, event, prev, sig }
}

/**
 * Decode a fork proof from the network. Checks its shape only: {@link checkForkProof} checks
 * what it proves.
 *
 * @throws {@link TooLargeError} or {@link MalformedRecordError}, nothing else.
 */
export function decodeForkProof(bytes: Uint8Array): ForkProof {
  if (!(bytes instanceof Uint8Array)) throw new MalformedRecordError('a fork proof is bytes')
  if (bytes.length > MAX_FORK_PROOF_BYTES) throw new TooLargeError(`a fork proof has at most ${MAX_FORK_PROOF_BYTES} bytes`)
  let v: unknown
  try {
    v = dagCbor.decode(bytes)
  } catch (cause) {
    throw new MalformedRecordError('a fork proof is not dag-cbor', {}, { cause })
  }
  return forkProofFromValue(v)
}

/** A fork proof from an already decoded dag-cbor value (a field of a sync message). */
export function forkProofFromValue(v: unknown): ForkProof {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) throw new MalformedRecordError('a fork proof is a map')
  const m = v as Record<string, unknown>
  if (typeof m.log !== 'string' || m.log.length > 100) throw new MalformedRecordError('fork proof `log` is a log ID')
  return { logId: m.log, a: statementFrom(m.a), b: statementFrom(m.b) }
}

/** The wire value of a fork proof, to embed in a sync message. */
export function forkProofToValue(proof: ForkProof): Record<string, unknown> {
  return { log: proof.logId, a: toWire(proof.a), b: toWire(proof.b) }
}
