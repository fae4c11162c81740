/**
 * Fixtures for the attack tests: an access-controlled thread with n peers (peer 0 the owner),
 * every peer a writer engine with the ACL system projection, and hand-built records of any
 * command, clock and epoch (what a malicious member signs outside any engine).
 */
import { aclProjection, createAclThreadId } from '../../../src/acl/aclProjection.js'
import { encodeCommand, type Command } from '../../../src/core/command.js'
import { createThreadKey, generateLogKey, type LogKey } from '../../../src/core/keys.js'
import { createRecord, recordBlocks, type LogHead, type RecordBlocks } from '../../../src/core/record.js'
import type { ThreadId } from '../../../src/core/threadId.js'
import type { ThreadEngineOptions } from '../../../src/engine/threadEngine.js'
import { openEngine, type TestEngine } from '../../support/engines.js'

export const ACL = 'redux-threads/acl/'

export interface Sent {
  readonly logId: string
  readonly blocks: RecordBlocks
}

export interface World {
  readonly keys: LogKey[]
  readonly thread: { threadId: ThreadId; key: { service: Uint8Array; read: Uint8Array } }
  readonly peers: TestEngine[]
  readonly sent: Sent[]
  readonly salt: Uint8Array
  /** Peer i runs a command through its engine; its record is kept in `sent`. */
  cmd(i: number, type: string, payload?: unknown, meta?: unknown): Sent & { id: string; seq: number }
  /** Deliver `list` (default: everything sent) to peer `to`, one record per ingest, in order. */
  deliver(to: number | TestEngine, list?: readonly Sent[]): Promise<void>
  /** A record built by hand on `logKey`'s log. */
  forge(logKey: LogKey, prev: LogHead | undefined, command: Command, clock: number, epoch?: number, read?: Uint8Array): { sent: Sent; head: LogHead; id: string }
  /** Open another engine of the thread (a fresh peer, or `storage` again). */
  open(options?: Parameters<typeof openEngine>[1]): Promise<TestEngine>
}

export async function aclWorld(n: number, engine: Partial<ThreadEngineOptions<readonly string[]>> = {}): Promise<World> {
  const keys: LogKey[] = Array.from({ length: n }, () => generateLogKey())
  const owner = keys[0] as LogKey
  const { threadId, salt } = createAclThreadId(owner.id)
  const thread = { threadId, key: createThreadKey() as { service: Uint8Array; read: Uint8Array } }
  const open = (options: Parameters<typeof openEngine>[1] = {}): Promise<TestEngine> =>
    openEngine(thread, { ...options, engine: { system: aclProjection(), ...engine, ...options.engine } })
  const peers: TestEngine[] = []
  for (const k of keys) peers.push(await open({ logKey: k }))
  const sent: Sent[] = []
  const cmd = (i: number, type: string, payload?: unknown, meta?: unknown): Sent & { id: string; seq: number } => {
    const { record } = (peers[i] as TestEngine).engine.command({ type, ...(payload === undefined ? {} : { payload }), ...(meta === undefined ? {} : { meta }) })
    const s = { logId: (keys[i] as LogKey).id, blocks: recordBlocks(record), id: record.id.toString(), seq: record.seq }
    sent.push(s)
    return s
  }
  const deliver = async (to: number | TestEngine, list: readonly Sent[] = sent): Promise<void> => {
    const t = typeof to === 'number' ? (peers[to] as TestEngine) : to
    for (const { logId, blocks } of list) await t.engine.ingest(logId, [blocks])
  }
  const forge = (logKey: LogKey, prev: LogHead | undefined, command: Command, clock: number, epoch = 0, read: Uint8Array = thread.key.read) => {
    const record = createRecord({
      logKey,
      threadKey: { service: thread.key.service, read },
      thread: threadId,
      body: encodeCommand(command),
      clock,
      time: 0,
      epoch,
      ...(prev === undefined ? {} : { prev })
    })
    return { sent: { logId: logKey.id, blocks: recordBlocks(record) }, head: { id: record.id, seq: record.seq }, id: record.id.toString() }
  }
  cmd(0, `${ACL}init`, { salt })
  return { keys, thread, peers, sent, salt, cmd, deliver, forge, open }
}

/** The head of `logId` as peer `t` holds it. */
export function headOf(t: TestEngine, logId: string): LogHead | undefined {
  return t.engine.heads().get(logId)
}
