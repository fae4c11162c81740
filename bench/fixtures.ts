/**
 * Shared inputs of the benches: a Redux action whose command encoding is exactly 50 bytes,
 * and chains of real signed, encrypted records built from it.
 */

import { encodeCommand, type Command } from '../src/core/command.js'
import { createThreadKey, generateLogKey, type LogKey, type ThreadKey } from '../src/core/keys.js'
import { createRecord, type LogHead, type LogRecord } from '../src/core/record.js'
import { ThreadId } from '../src/core/threadId.js'

/** Encoded size of the benchmark action. */
export const ACTION_BYTES = 50

/** A plausible action (`todos/added`) padded so that `encodeCommand` gives {@link ACTION_BYTES} bytes. */
export function action50(): Command {
  for (let pad = 0; pad < ACTION_BYTES; pad++) {
    const action: Command = { type: 'todos/added', payload: { id: 'k7f3q9', text: 'milk'.padEnd(pad, '.') } }
    if (encodeCommand(action).length === ACTION_BYTES) return action
  }
  throw new Error(`no padding of the bench action encodes to ${ACTION_BYTES} bytes`)
}

export const ACTION = action50()
export const BODY = encodeCommand(ACTION)

/** A thread, a log key and thread key, and the chain of records written so far under them. */
export class ChainWriter {
  readonly logKey: LogKey
  readonly threadKey: Required<ThreadKey>
  /** The thread the records are signed into (format 2 binds it into every signature). */
  readonly thread: ThreadId
  #head: LogHead | undefined
  #clock = 0

  constructor(logKey: LogKey = generateLogKey(), threadKey: Required<ThreadKey> = createThreadKey(), thread: ThreadId = ThreadId.create()) {
    this.logKey = logKey
    this.threadKey = threadKey
    this.thread = thread
  }

  get head(): LogHead | undefined {
    return this.#head
  }

  /** The next record of the chain, linked to the current head. */
  next(body: Uint8Array = BODY): LogRecord {
    const record = createRecord({
      logKey: this.logKey,
      threadKey: this.threadKey,
      thread: this.thread,
      body,
      clock: ++this.#clock,
      time: 1_700_000_000_000 + this.#clock,
      ...(this.#head === undefined ? {} : { prev: this.#head })
    })
    this.#head = { id: record.id, seq: record.seq }
    return record
  }

  /** The next `count` records of the chain. */
  take(count: number): LogRecord[] {
    const out: LogRecord[] = new Array(count)
    for (let i = 0; i < count; i++) out[i] = this.next()
    return out
  }
}
