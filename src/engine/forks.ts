import { decodeForkProof, encodeForkProof, checkForkProof, type ForkProof } from '../core/forkProof.js'
import { CorruptStoreError, EquivocationError, ThreadsError } from '../core/errors.js'
import type { ThreadId } from '../core/threadId.js'
import type { MetadataBook } from '../store/logstore/metadataBook.js'

const PREFIX = 'fork:'

/** A log its writer forked: records from `seq` on are ignored by every peer. */
export interface ForkedLog {
  readonly logId: string
  /** The first seq the proof disputes: the log is frozen at `seq - 1`. */
  readonly seq: number
  readonly proof: ForkProof
}

/**
 * The fork proofs of one thread (DESIGN.md section 3, "Equivocation"), at most one per log: the
 * one that disputes the lowest `seq`. Every peer freezes a forked log at its last record before
 * that `seq`, whatever order it learns things in, so all peers that hold the same proofs fold
 * the same events; proofs travel to every peer of the thread, and the lowest one wins everywhere.
 * Kept in the thread's metadata, so a restart still ignores the forked branches.
 */
export class Forks {
  readonly #thread: ThreadId
  readonly #metadata: MetadataBook
  readonly #t: string
  readonly #byLog = new Map<string, ForkedLog>()

  private constructor(thread: ThreadId, metadata: MetadataBook, t: string) {
    this.#thread = thread
    this.#metadata = metadata
    this.#t = t
  }

  /**
   * Load the proofs stored for a thread. A stored proof that no longer checks out is damage:
   * it is reported in `damage` and ignored.
   */
  static async load(thread: ThreadId, metadata: MetadataBook, t: string): Promise<{ forks: Forks; damage: ThreadsError[] }> {
    const forks = new Forks(thread, metadata, t)
    const damage: ThreadsError[] = []
    for (const [name, bytes] of await metadata.entries(t, PREFIX)) {
      try {
        const proof = decodeForkProof(bytes)
        const seq = checkForkProof(thread, proof)
        forks.#byLog.set(proof.logId, { logId: proof.logId, seq, proof })
      } catch (cause) {
        damage.push(new CorruptStoreError(`a stored fork proof (${name}) does not check out`, { threadId: thread.toString() }, { cause }))
      }
    }
    return { forks, damage }
  }

  /** The first seq of a log that is disputed, or `undefined` when the log is not forked. */
  seqOf(logId: string): number | undefined {
    return this.#byLog.get(logId)?.seq
  }

  /** Every forked log. */
  all(): ForkedLog[] {
    return [...this.#byLog.values()]
  }

  get size(): number {
    return this.#byLog.size
  }

  /**
   * Check a proof and keep it if it disputes a lower seq of its log than any proof held.
   *
   * @returns the fork, when the proof is new and lowers the log's frozen point; `undefined` when a
   * proof as low is held already.
   * @throws {@link BadSignatureError} or {@link MalformedRecordError} for a proof that does not
   * check out (the sender's fault).
   */
  async add(proof: ForkProof): Promise<ForkedLog | undefined> {
    const seq = checkForkProof(this.#thread, proof)
    const held = this.#byLog.get(proof.logId)
    if (held !== undefined && held.seq <= seq) return undefined
    const fork: ForkedLog = { logId: proof.logId, seq, proof }
    this.#byLog.set(proof.logId, fork)
    await this.#metadata.put(this.#t, PREFIX + proof.logId, encodeForkProof(proof))
    return fork
  }

  /** The error that reports a fork on `status$`. */
  errorOf(fork: ForkedLog): EquivocationError {
    return new EquivocationError(`the writer signed two different histories at seq ${fork.seq}: its log is frozen at seq ${fork.seq - 1} on every peer`, {
      threadId: this.#thread.toString(),
      logId: fork.logId,
      seq: fork.seq
    })
  }
}
