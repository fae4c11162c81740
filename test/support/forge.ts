/**
 * Records made by hand with a log key: what a malicious writer signs when it forks its own log
 * (two different records for one seq), outside any engine.
 */
import { encodeCommand } from '../../src/core/command.js'
import type { LogKey, ThreadKey } from '../../src/core/keys.js'
import { createRecord, recordBlocks, type LogHead, type RecordBlocks } from '../../src/core/record.js'
import type { ThreadId } from '../../src/core/threadId.js'

export interface Forged {
  readonly blocks: RecordBlocks
  readonly head: LogHead
}

/** One record of `logKey`'s log after `prev`, with the payload as a `test/added` command. */
export function forge(logKey: LogKey, thread: { threadId: ThreadId; key: ThreadKey }, prev: LogHead | undefined, payload: string, clock: number): Forged {
  const record = createRecord({
    logKey,
    threadKey: thread.key,
    thread: thread.threadId,
    body: encodeCommand({ type: 'test/added', payload }),
    clock,
    time: 0,
    ...(prev === undefined ? {} : { prev })
  })
  return { blocks: recordBlocks(record), head: { id: record.id, seq: record.seq } }
}

/** A chain of records continuing `prev`, one per payload, clocks counting up from `clock`. */
export function forgeChain(logKey: LogKey, thread: { threadId: ThreadId; key: ThreadKey }, prev: LogHead | undefined, payloads: readonly string[], clock = 1): Forged[] {
  const out: Forged[] = []
  let at = prev
  for (const [i, p] of payloads.entries()) {
    const f = forge(logKey, thread, at, p, clock + i)
    out.push(f)
    at = f.head
  }
  return out
}
