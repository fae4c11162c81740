import type { CID } from 'multiformats/cid'
import type { ThreadEvent } from './threadEvent.js'

/** The command type of the record that commits a transaction (it changes no state). */
export const TXN_COMMIT = 'redux-threads/commit'
/** Most commands in one transaction: a larger one is refused when made, and skipped when received. */
export const MAX_TXN_RECORDS = 1000
/** Most bytes of commands in one transaction (16 MiB), for the same reason. */
export const MAX_TXN_BYTES = 16 << 20

/** A record of a log after it was opened: its event (when readable), and its transaction marker. */
export interface Opened {
  readonly seq: number
  readonly id: CID
  /** Effective clock. */
  readonly clock: number
  /** The event, or `undefined` when the record cannot be read (it is skipped). */
  readonly event: ThreadEvent | undefined
  /** First seq of the transaction the record belongs to (header `txn`), if any. */
  readonly txn: number | undefined
  /** Bytes of its command. */
  readonly bytes: number
}

/** The last record of a log that the projection has taken in (applied, or skipped for good). */
export interface Settled {
  readonly seq: number
  readonly id: CID
  readonly clock: number
}

interface Open {
  readonly from: number
  readonly items: Opened[]
  bytes: number
}

/**
 * Transactions applied whole (paper section 4.1.3, issue 8 §11). The records of a transaction
 * carry its first seq in their header, and a commit record (type {@link TXN_COMMIT}) follows
 * them in the writer's log. However the records travel (pull pages, pushes, gossip, a CAR), a
 * peer applies a transaction's events only when its commit record is there, all at once. A
 * transaction that is abandoned (the log goes on without its commit) or too large is skipped
 * whole, by a rule of its content alone, so every peer decides alike. Each log's records are
 * fed in seq order; events past an open transaction wait behind it.
 */
export class TxnGate {
  readonly #open = new Map<string, Open>()

  /** Records of a log held in an open transaction. */
  pending(logId: string): number {
    return this.#open.get(logId)?.items.length ?? 0
  }

  /** Forget a log's open transaction (its log was rebuilt or frozen). */
  clear(logId?: string): void {
    if (logId === undefined) this.#open.clear()
    else this.#open.delete(logId)
  }

  /**
   * Feed the next records of one log, in seq order. Returns the events to apply, in log order,
   * and the last record settled (everything up to it applied or skipped for good), if it moved.
   */
  pass(logId: string, items: readonly Opened[]): { apply: ThreadEvent[]; settled: Settled | undefined } {
    const apply: ThreadEvent[] = []
    let settled: Settled | undefined
    const settle = (o: Opened): void => {
      settled = { seq: o.seq, id: o.id, clock: o.clock }
    }
    for (const item of items) {
      const open = this.#open.get(logId)
      if (open !== undefined) {
        if (item.txn === open.from) {
          if (item.event?.command.type === TXN_COMMIT) {
            // Committed: the transaction applies whole (unless it broke the size rule).
            this.#open.delete(logId)
            if (open.items.length <= MAX_TXN_RECORDS && open.bytes <= MAX_TXN_BYTES) {
              for (const o of open.items) if (o.event !== undefined) apply.push(o.event)
            }
            settle(item)
            continue
          }
          open.items.push(item)
          open.bytes += item.bytes
          continue
        }
        // The log went on without committing: the transaction is abandoned, skipped whole.
        this.#open.delete(logId)
        const last = open.items[open.items.length - 1]
        if (last !== undefined) settle(last)
      }
      if (item.txn !== undefined) {
        if (item.txn === item.seq && item.event?.command.type !== TXN_COMMIT) {
          this.#open.set(logId, { from: item.seq, items: [item], bytes: item.bytes })
          continue
        }
        // A member or commit of a transaction whose start this peer skipped: skipped with it.
        settle(item)
        continue
      }
      if (item.event !== undefined && item.event.command.type !== TXN_COMMIT) apply.push(item.event)
      settle(item)
    }
    return { apply, settled }
  }
}
