import { BadSignatureError, BrokenChainError, ThreadsError, TooLargeError } from '../core/errors.js'
import { forkProofOf, signedStatementOf, type ForkProof } from '../core/forkProof.js'
import { prefetchActive, prefetchDecrypt, type DecryptJob } from '../core/crypto/index.js'
import { linksHead, MAX_NODE_BYTES, signatureHolds, verifyRecord, type LogHead, type LogRecord, type RecordBlocks } from '../core/record.js'
import { sameId } from '../core/recordId.js'
import type { ThreadId } from '../core/threadId.js'
import { keyForRecordBlock, serviceKeyring, type ServiceKeyring } from '../core/serviceKey.js'
import type { EventStore } from '../store/eventStore.js'
import type { ThreadInfo } from '../store/logstore/logstore.js'
import type { Forks } from './forks.js'
import type { HeldRecords } from './heldRecords.js'
import type { SeenRecords } from './seenRecords.js'

/** What the intake reports back as it goes. */
export interface IntakeSink {
  /** A record refused: the sender's fault (or, for EquivocationError, the writer's). */
  readonly reject: (e: ThreadsError) => void
  /** A fork proof found: the engine freezes the log. */
  readonly fork: (proof: ForkProof) => Promise<void>
  /** This peer's stored copy of a record is damaged: the engine repairs the log from `seq`. */
  readonly damaged: (logId: string, seq: number, e: ThreadsError) => Promise<void>
}

/**
 * The first half of ingest (DESIGN.md section 3): from blocks of one log, in any order, with
 * duplicates, to the verified run that continues the log's head. Exact copies cost two hashes;
 * other copies are compared by identity; two signed identities for one seq become a fork proof
 * wherever they meet (in one batch, against a held record, against what is stored, or as a
 * `prev` that names another identity); what lies beyond a gap is held if its own signature
 * holds. Never throws for bad input: every refusal goes to the sink.
 */
export class RecordIntake {
  readonly #thread: ThreadInfo
  readonly #store: EventStore
  readonly #forks: Forks
  readonly #held: HeldRecords
  readonly #seen: SeenRecords

  constructor(parts: { thread: ThreadInfo; store: EventStore; forks: Forks; held: HeldRecords; seen: SeenRecords }) {
    this.#thread = parts.thread
    this.#store = parts.store
    this.#forks = parts.forks
    this.#held = parts.held
    this.#seen = parts.seen
  }

  get #id(): ThreadId {
    return this.#thread.id
  }

  /** Verify and order what arrived; returns the run to store and apply (signatures checked). */
  async take(logId: string, blocks: readonly RecordBlocks[], now: number, sink: IntakeSink): Promise<LogRecord[]> {
    const at = { thread: this.#id, logId, serviceKey: serviceKeyring(this.#thread.key.service, this.#thread.serviceKeys) }
    // Shape and CIDs first, signatures later: one per contiguous run.
    const fresh = new Map<number, LogRecord>()
    // The same four blocks as a record stored lately (a duplicate push, gossip or pull): two
    // hashes, no decryption.
    const seens = blocks.map((b) => this.#seen.check(b))
    // Still stored? A repair may have lowered the head below it since.
    const duplicate = (seen: (typeof seens)[number]): boolean =>
      seen.duplicate && seen.logId === logId && (seen.seq ?? 0) <= (this.#store.logstore.head(this.#id, logId)?.seq ?? 0)
    // In a browser, WebCrypto opens the record blocks ahead, all at once (webCryptoPrefetch.ts).
    const prefetched = prefetchActive() ? await prefetchDecrypt(recordBoxes(at.serviceKey, blocks.filter((_, i) => !duplicate(seens[i] as (typeof seens)[number])))) : undefined
    try {
      for (let i = 0; i < blocks.length; i++) {
        const b = blocks[i] as RecordBlocks
        const seen = seens[i] as (typeof seens)[number]
        if (duplicate(seen)) continue
        let r: LogRecord
        try {
          r = verifyRecord(at, b, { skipSignature: true, ...(seen.recordDigest === undefined ? {} : { recordDigest: seen.recordDigest }) })
        } catch (e) {
          sink.reject(asThreadsError(e))
          continue
        }
        const other = fresh.get(r.seq)
        if (other !== undefined && !sameId(other.id, r.id)) await this.#conflict(logId, other, r, sink)
        else fresh.set(r.seq, r)
      }
    } finally {
      prefetched?.release()
    }
    const frozen = (): number => this.#forks.seqOf(logId) ?? Number.POSITIVE_INFINITY
    const head = (): LogHead | undefined => this.#store.logstore.head(this.#id, logId)
    // Records at seqs this peer has: the same identity is a duplicate (however it was sealed);
    // another one, if its writer signed it, proves a fork.
    for (const [seq, r] of [...fresh]) {
      const h = head()
      if (seq >= frozen() || (h !== undefined && seq <= h.seq)) fresh.delete(seq)
      if (seq >= frozen() || h === undefined || seq > h.seq) continue
      const keptId = seq === h.seq ? h.id : await this.#store.idAt(this.#id, logId, seq)
      if (keptId === undefined || sameId(keptId, r.id)) continue
      await this.#conflictWithStored(logId, seq, r, sink, false)
    }
    // The run that continues the head: this batch's records first, then those held from before.
    const run: LogRecord[] = []
    let tip = head()
    for (;;) {
      const seq = (tip?.seq ?? 0) + 1
      if (seq >= frozen()) break
      const held = this.#held.take(logId, seq)
      const arrived = fresh.get(seq)
      if (held !== undefined && arrived !== undefined && !sameId(held.id, arrived.id)) {
        // One version held from before, another just arrived: if both are signed, a fork.
        await this.#conflict(logId, held, arrived, sink)
        break
      }
      const next = arrived ?? held
      if (next === undefined) break
      fresh.delete(seq)
      if (!linksHead(next, tip)) {
        // Signed by its writer, a record that does not link the one before proves a fork at the
        // seq before it (two identities claimed for it).
        const before = run.at(-1)
        if (tip !== undefined && before === undefined) await this.#conflictWithStored(logId, tip.seq, next, sink, true)
        else if (before !== undefined && signatureHolds(this.#id, before) && signatureHolds(this.#id, next)) {
          await sink.fork({ logId, a: signedStatementOf(before), b: signedStatementOf(next) })
        } else sink.reject(new BrokenChainError('record does not link the record before it: an equivocation or a forgery', { threadId: this.#id.toString(), logId, seq, cid: next.id.toString() }))
        break
      }
      run.push(next)
      tip = { id: next.id, seq: next.seq }
    }
    // What is left lies beyond a gap: hold it, if its own signature holds (bounded room, and only
    // records a writer signed may take it).
    for (const r of fresh.values()) {
      if (r.seq >= frozen()) continue
      if (!signatureHolds(this.#id, r)) {
        sink.reject(forged(this.#id, r))
        continue
      }
      const held = this.#held.get(logId, r.seq)
      if (held !== undefined && !sameId(held.id, r.id)) {
        await sink.fork(forkProofOf(logId, signedStatementOf(held), signedStatementOf(r)))
        continue
      }
      if (!this.#held.hold(r, now)) sink.reject(new TooLargeError('too many out-of-order records held for this thread', { threadId: this.#id.toString(), logId, seq: r.seq }))
    }
    // A fork found on the way freezes the log: nothing from the disputed seq on is stored.
    return this.#verifyRun(run.filter((r) => r.seq < frozen()), sink)
  }

  /** Check signatures of an identity-linked run: the newest signs for all; on failure, find the valid prefix. */
  #verifyRun(run: LogRecord[], sink: IntakeSink): LogRecord[] {
    if (run.length === 0) return run
    if (signatureHolds(this.#id, run[run.length - 1] as LogRecord)) return run
    const ok: LogRecord[] = []
    for (const r of run) {
      if (!signatureHolds(this.#id, r)) {
        sink.reject(forged(this.#id, r))
        break
      }
      ok.push(r)
    }
    return ok
  }

  /** Two records claim one seq: if both are signed, the writer forked its log. */
  async #conflict(logId: string, a: LogRecord, b: LogRecord, sink: IntakeSink): Promise<void> {
    for (const r of [a, b]) if (!signatureHolds(this.#id, r)) return sink.reject(forged(this.#id, r))
    await sink.fork(forkProofOf(logId, signedStatementOf(a), signedStatementOf(b)))
  }

  /**
   * A record disagrees with the record this peer stored at `seq` (a different identity there, or,
   * with `next`, a `prev` that names another identity). Signed by the writer, it proves a fork;
   * not signed, it is a forgery by whoever sent it.
   */
  async #conflictWithStored(logId: string, seq: number, r: LogRecord, sink: IntakeSink, next: boolean): Promise<void> {
    if (!signatureHolds(this.#id, r)) return sink.reject(forged(this.#id, r))
    let kept: LogRecord | undefined
    try {
      kept = await this.#store.record(this.#id, logId, seq)
    } catch (e) {
      // This peer's own copy is damaged: the record that arrived may well be the right one.
      const err = asThreadsError(e)
      return sink.damaged(logId, err.seq ?? seq, err)
    }
    if (kept === undefined) return
    const statement = signedStatementOf(r)
    await sink.fork(next ? { logId, a: signedStatementOf(kept), b: statement } : forkProofOf(logId, signedStatementOf(kept), statement))
  }
}

/** The boxes of the record blocks that look like one (the rest fail verification as before). */
function recordBoxes(keys: ServiceKeyring, blocks: readonly RecordBlocks[]): DecryptJob[] {
  const jobs: DecryptJob[] = []
  for (const b of blocks) {
    const bytes = (b as Partial<RecordBlocks> | null | undefined)?.record
    if (!(bytes instanceof Uint8Array) || bytes.length > MAX_NODE_BYTES) continue
    try {
      // The key the block names (the first, or a rotated one): an unknown one is left to verifyRecord.
      const { key, box } = keyForRecordBlock(keys, bytes, {})
      jobs.push({ key: key.key, box })
    } catch {
      // Malformed: verifyRecord names it.
    }
  }
  return jobs
}

function asThreadsError(e: unknown): ThreadsError {
  return e instanceof ThreadsError ? e : new ThreadsError(`unexpected failure: ${String(e)}`)
}

/** The error for a record whose signature does not hold: whoever sent it forged it. */
function forged(thread: ThreadId, r: LogRecord): ThreadsError {
  return new BadSignatureError('record signature does not verify with the log key (forged writer?)', { threadId: thread.toString(), logId: r.logId, seq: r.seq, cid: r.id.toString() })
}
