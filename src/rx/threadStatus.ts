import { Observable, Subject } from 'rxjs'
import type { ThreadsError } from '../core/errors.js'
import type { Progress, ThreadEngine } from '../engine/threadEngine.js'

/** A log of a thread as this peer has it. */
export interface LogStatus {
  readonly logId: string
  readonly seq: number
  /** Identity of the head record. */
  readonly id: string
}

/** A log its writer forked: frozen before `seq` on every peer. */
export interface ForkStatus {
  readonly logId: string
  readonly seq: number
}

/** A typed error as it travels on the status stream (plain data, like `miniSerializeError`). */
export interface StatusError {
  readonly name: string
  readonly message: string
  readonly logId?: string
  readonly seq?: number
  readonly cid?: string
}

/** The sync status of one thread. */
export interface ThreadStatus {
  readonly threadId: string
  /** Every log's head. */
  readonly logs: readonly LogStatus[]
  /** Events in the projection (since its snapshot base). */
  readonly events: number
  /** Records written and not yet durable. */
  readonly pending: number
  /** Records waiting for a gap in their log to close. */
  readonly held: number
  /** Bytes of those records. */
  readonly heldBytes: number
  /** Logs found forked by their writers (each reported once as an `EquivocationError`). */
  readonly forks: readonly ForkStatus[]
  /** Late events handled by rollback and replay, since open. */
  readonly replays: number
  /** Records refused since open. */
  readonly rejected: number
  /** The newest refusal or failure. */
  readonly lastError: StatusError | undefined
  /** Long work under way (load, replay, import, sync), or undefined. */
  readonly progress: Progress | undefined
  /** Connected peers that share the thread (filled by the network layer). */
  readonly peers: readonly string[]
}

export function toStatusError(e: ThreadsError): StatusError {
  return {
    name: e.name,
    message: e.message,
    ...(e.logId === undefined ? {} : { logId: e.logId }),
    ...(e.seq === undefined ? {} : { seq: e.seq }),
    ...(e.cid === undefined ? {} : { cid: e.cid })
  }
}

/** A thread's status stream and the handles that feed it. */
export interface StatusTracker {
  /** Emits the current status on subscribe, then every change. */
  readonly status$: Observable<ThreadStatus>
  /** The status now. */
  current(): ThreadStatus
  setPeers(peers: readonly string[]): void
  stop(): void
}

/**
 * Follow an engine's events as a status stream. A new subscriber gets the current status at
 * once and every change after it; with no subscriber, nothing is computed (status is built per
 * change, and a burst of 10,000 commands should not build it 10,000 times for nobody).
 */
export function trackStatus<S>(engine: ThreadEngine<S>): StatusTracker {
  let replays = 0
  let rejected = 0
  let lastError: StatusError | undefined
  let progress: Progress | undefined
  let peers: readonly string[] = []
  const snapshot = (): ThreadStatus => ({
    threadId: engine.id,
    logs: [...engine.heads()].map(([logId, h]) => ({ logId, seq: h.seq, id: h.id.toString() })).sort((a, b) => (a.logId < b.logId ? -1 : 1)),
    events: engine.timeline.length,
    pending: engine.pending,
    held: engine.held,
    heldBytes: engine.heldBytes,
    forks: engine.forks().map((f) => ({ logId: f.logId, seq: f.seq })).sort((a, b) => (a.logId < b.logId ? -1 : 1)),
    replays,
    rejected,
    lastError,
    progress,
    peers
  })
  const subject = new Subject<ThreadStatus>()
  const update = (): void => {
    if (subject.observed) subject.next(snapshot())
  }
  const offs = [
    engine.events.on('applied', (a) => {
      if (a.replayed) replays++
      update()
    }),
    engine.events.on('rejected', (e) => {
      rejected++
      lastError = toStatusError(e)
      update()
    }),
    engine.events.on('progress', (p) => {
      progress = p.done >= p.total ? undefined : p
      update()
    }),
    engine.events.on('durability', update),
    engine.events.on('held', update),
    engine.events.on('fork', update)
  ]
  return {
    status$: new Observable<ThreadStatus>((subscriber) => {
      subscriber.next(snapshot())
      return subject.subscribe(subscriber)
    }),
    current: snapshot,
    stop: () => {
      for (const off of offs) off()
      subject.complete()
    },
    setPeers: (p) => {
      peers = p
      update()
    }
  }
}

