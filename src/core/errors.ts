/**
 * Named error classes, one per condition. Callers branch on `.name` (it survives
 * `miniSerializeError` and structured clone); every message names the thread, log or CID
 * concerned where there is one.
 */

/** What an error is about, where known. Kept as strings so errors serialise cleanly. */
export interface ErrorContext {
  readonly threadId?: string
  readonly logId?: string
  /** A CID or its string: stringified only when an error is made, never on the happy path. */
  readonly cid?: string | { toString(): string }
  readonly seq?: number
}

function where(ctx: ErrorContext): string {
  const parts: string[] = []
  if (ctx.threadId !== undefined) parts.push(`thread ${ctx.threadId}`)
  if (ctx.logId !== undefined) parts.push(`log ${ctx.logId}`)
  if (ctx.seq !== undefined) parts.push(`seq ${ctx.seq}`)
  if (ctx.cid !== undefined) parts.push(`block ${ctx.cid.toString()}`)
  return parts.length === 0 ? '' : ` (${parts.join(', ')})`
}

/** The base of every error this library throws on purpose. */
export class ThreadsError extends Error {
  static readonly NAME: string = 'ThreadsError'
  readonly threadId?: string
  readonly logId?: string
  readonly cid?: string
  readonly seq?: number

  constructor(message: string, ctx: ErrorContext = {}, options?: { cause?: unknown }) {
    super(message + where(ctx), options)
    this.name = (new.target as typeof ThreadsError).NAME
    if (ctx.threadId !== undefined) this.threadId = ctx.threadId
    if (ctx.logId !== undefined) this.logId = ctx.logId
    if (ctx.cid !== undefined) this.cid = ctx.cid.toString()
    if (ctx.seq !== undefined) this.seq = ctx.seq
  }
}

/** A thread ID string or byte array that is not a valid thread ID. */
export class InvalidThreadIdError extends ThreadsError {
  static override readonly NAME = 'InvalidThreadIdError'
}

/** A key (log key, thread key, sealed key set) of the wrong form or length. */
export class InvalidKeyError extends ThreadsError {
  static override readonly NAME = 'InvalidKeyError'
}

/** Bytes that do not decode to the expected structure (bad CBOR, wrong fields or types). */
export class MalformedRecordError extends ThreadsError {
  static override readonly NAME = 'MalformedRecordError'
}

/** A block whose bytes do not hash to the CID that names it. */
export class CidMismatchError extends ThreadsError {
  static override readonly NAME = 'CidMismatchError'
}

/** A record whose signature does not verify against its log's public key (a forged writer). */
export class BadSignatureError extends ThreadsError {
  static override readonly NAME = 'BadSignatureError'
}

/** A record that does not continue its log: wrong `seq`, wrong or missing `prev`. */
export class BrokenChainError extends ThreadsError {
  static override readonly NAME = 'BrokenChainError'
}

/** A second, different record with a `seq` the log already has. The first one is kept. */
export class EquivocationError extends ThreadsError {
  static override readonly NAME = 'EquivocationError'
}

/** Ciphertext that fails authentication under the key given (wrong key or tampered bytes). */
export class DecryptionError extends ThreadsError {
  static override readonly NAME = 'DecryptionError'
}

/**
 * A record block names a service key this peer does not hold (DESIGN.md section 6, service key
 * rotation): a rotation it has not received yet, or one that was not sealed to it (a revoked
 * follower). The record is refused, not held; it is nobody's fault, and a later sync round takes
 * it again once the key came.
 */
export class UnknownServiceKeyError extends ThreadsError {
  static override readonly NAME = 'UnknownServiceKeyError'
}

/** An input larger than the limit for its kind. */
export class TooLargeError extends ThreadsError {
  static override readonly NAME = 'TooLargeError'
}

/** A thread, log or block that this peer does not have. */
export class NotFoundError extends ThreadsError {
  static override readonly NAME = 'NotFoundError'
}

/** A stored value that cannot be read back: the store was damaged outside this library. */
export class CorruptStoreError extends ThreadsError {
  static override readonly NAME = 'CorruptStoreError'
}

/** A network message that does not decode to a known message of the sync protocol. */
export class MalformedMessageError extends ThreadsError {
  static override readonly NAME = 'MalformedMessageError'
}

/** A peer that did not prove it holds the thread's service key, or asked before proving it. */
export class UnauthorizedError extends ThreadsError {
  static override readonly NAME = 'UnauthorizedError'
}

/** A command on a thread where this peer has no log of its own (it reads or follows). */
export class NotWriterError extends ThreadsError {
  static override readonly NAME = 'NotWriterError'
}

/** An invite that cannot be read: wrong form, not for this peer, or damaged. */
export class InvalidInviteError extends ThreadsError {
  static override readonly NAME = 'InvalidInviteError'
}

/**
 * Bytes in a format version this peer does not speak: a record of another format, a stored
 * entry written by another version of the library, an invite of another version.
 */
export class UnsupportedFormatError extends ThreadsError {
  static override readonly NAME = 'UnsupportedFormatError'
}

/**
 * Proof that a log's writer signed two different records for one position (DESIGN.md
 * section 3): the log is frozen at its last record before the fork, on every peer.
 */
export class ForkedLogError extends ThreadsError {
  static override readonly NAME = 'ForkedLogError'
}

/**
 * A reducer threw on an event (an older reducer meeting a newer payload, a bug). Every peer
 * skips that event identically (DESIGN.md section 4, "Deterministic in failure too"); the
 * error names the event's thread, log and seq, and keeps the reducer's error as `cause`.
 */
export class ReducerError extends ThreadsError {
  static override readonly NAME = 'ReducerError'
}

/**
 * Storage refused a write. Nothing that was not stored is sent; the state goes back to what is
 * stored, and commands are refused with this error until storage takes writes again.
 */
export class StorageFailedError extends ThreadsError {
  static override readonly NAME = 'StorageFailedError'
}

/** A thread's state cannot be snapshotted (a value dag-cbor cannot hold): the path is named. */
export class SnapshotError extends ThreadsError {
  static override readonly NAME = 'SnapshotError'
}

/** The thread was deleted from this peer: it takes no commands and syncs no more. */
export class ThreadDeletedError extends ThreadsError {
  static override readonly NAME = 'ThreadDeletedError'
}

/**
 * An adapter was used without the package it runs on: its dependencies are optional peer
 * dependencies (a browser app does not install LevelDB or TCP). The message names what to install.
 */
export class MissingDependencyError extends ThreadsError {
  static override readonly NAME = 'MissingDependencyError'
}

/** Another peer (another tab, process or instance) holds this storage: one peer per storage. */
export class StorageLockedError extends ThreadsError {
  static override readonly NAME = 'StorageLockedError'
}

/**
 * The library used in a way that cannot work (a command before its thread is open, a slice bound
 * twice, a store given two peers). The message names the option or call, and the fix.
 */
export class MisuseError extends ThreadsError {
  static override readonly NAME = 'MisuseError'
}

/** The peer (or a thread on it) is closed: nothing more is taken. */
export class ClosedError extends ThreadsError {
  static override readonly NAME = 'ClosedError'
}

/**
 * A part of the library loaded on demand could not be loaded: the engine when a peer starts, the
 * sync service, invites, the CAR codec (see docs/PACKAGING.md, "The split"). In a browser, a
 * bundle chunk failed to download (offline, or a deploy removed it); in Node's CommonJS build, a
 * Node without `require(esm)` (before 20.19 / 22.12). The cause is attached; the next call tries
 * again.
 */
export class LoadFailedError extends ThreadsError {
  static override readonly NAME = 'LoadFailedError'
}

/**
 * An event its author may not make at its position in an access-controlled thread: every peer
 * ignores it (or, for a local command, it is refused before it is signed).
 */
export class AccessDeniedError extends ThreadsError {
  static override readonly NAME = 'AccessDeniedError'
}

const NAMES = new Set<string>()

/**
 * True when `e` is one of this library's errors. It matches by `name` as well as by class, so
 * an error from another copy of the library (its ESM and CJS builds in one process, a linked
 * workspace) is recognised too.
 */
export function isThreadsError(e: unknown): e is ThreadsError {
  if (e instanceof ThreadsError) return true
  if (NAMES.size === 0) for (const c of ERROR_CLASSES) NAMES.add(c.NAME)
  return e instanceof Error && NAMES.has(e.name)
}

const ERROR_CLASSES: ReadonlyArray<{ readonly NAME: string }> = [
  ThreadsError, InvalidThreadIdError, InvalidKeyError, MalformedRecordError, CidMismatchError, BadSignatureError,
  BrokenChainError, EquivocationError, DecryptionError, TooLargeError, NotFoundError, CorruptStoreError,
  MalformedMessageError, UnauthorizedError, NotWriterError, InvalidInviteError, UnsupportedFormatError,
  ForkedLogError, ReducerError, StorageFailedError, SnapshotError, ThreadDeletedError, StorageLockedError, MisuseError, ClosedError, AccessDeniedError,
  LoadFailedError, MissingDependencyError, UnknownServiceKeyError
]

/**
 * A peer went past a bound on what it may make this peer do: too many queued pulls, too many
 * unproven messages or unmatched auth tags, or pages asked faster than they are served.
 */
export class RateLimitedError extends ThreadsError {
  static override readonly NAME = 'RateLimitedError'
}

/**
 * A peer that does not take what is sent to it: the bytes waiting for it passed their bound, so it
 * was hung up (a slow or stalled reader must not make this peer hold unbounded memory).
 */
export class SlowPeerError extends ThreadsError {
  static override readonly NAME = 'SlowPeerError'
}
