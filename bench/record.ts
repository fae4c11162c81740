/**
 * Records created, verified and opened per second: the whole core pipeline for a 50-byte
 * command, against the raw limits of `raw.ts` measured in the same run.
 */

import { equals } from 'uint8arrays/equals'
import { encodeCommand } from '../src/core/command.js'
import { getCrypto } from '../src/core/crypto/index.js'
import { openEvent, recordBlocks, verifyChain, verifyRecord, type LogHead, type LogRecord, type RecordBlocks, type RecordContext } from '../src/core/record.js'
import { ACTION, ACTION_BYTES, BODY, ChainWriter } from './fixtures.js'
import { once, sig, target, time, type Bench, type Limit } from './harness.js'
import { rawCreateLimit, rawVerifyLimit, rawWorkLimit } from './raw.js'

/** Records in the pre-created chain the verify benches read. */
const CHAIN = 10_000
/** Records per `verifyChain` call in the run-of-1,000 figure. */
const RUN = 1_000

interface Fixture {
  /** Thread, log and service key: what verifying a record of the chain needs. */
  readonly at: RecordContext
  readonly read: Uint8Array
  readonly records: readonly LogRecord[]
  readonly blocks: readonly RecordBlocks[]
  /** The head before record `i` (undefined for the first). */
  readonly before: ReadonlyArray<LogHead | undefined>
  readonly runs: ReadonlyArray<readonly RecordBlocks[]>
}

/** The chain every verify bench reads, created once, outside every timed region. */
const fixture = once(async (): Promise<Fixture> => {
  const writer = new ChainWriter()
  const records = writer.take(CHAIN)
  const blocks = records.map(recordBlocks)
  const before = records.map((r, i) => (i === 0 ? undefined : { id: (records[i - 1] as LogRecord).id, seq: r.seq - 1 }))
  const runs: RecordBlocks[][] = []
  for (let i = 0; i < CHAIN; i += RUN) runs.push(blocks.slice(i, i + RUN))
  // Sanity: the fixture opens to the bench action.
  const opened = openEvent(writer.threadKey.read, records[CHAIN - 1] as LogRecord)
  if (!equals(opened.body, BODY)) throw new Error('bench fixture does not open to its command')
  return { at: { thread: writer.thread, logId: writer.logKey.id, serviceKey: writer.threadKey.service }, read: writer.threadKey.read, records, blocks, before, runs }
})

function workLimitFields(limit: Limit, opsPerSec: number): Record<string, unknown> {
  return { work_limit: { name: limit.name, value: Math.round(limit.value) }, work_ratio: sig(opsPerSec / limit.value, 3) }
}

/** Verify `n` records one by one from `start`, each against the head before it. */
function verifyOneByOne(f: Fixture, start: number, n: number, open: boolean): void {
  let after = f.before[start]
  for (let i = start; i < start + n; i++) {
    const record = verifyRecord(f.at, f.blocks[i] as RecordBlocks, after === undefined ? {} : { after })
    if (open) openEvent(f.read, record)
    after = { id: record.id, seq: record.seq }
  }
}

const VERIFY_N = 2_000

export const recordBenches: Bench[] = [
  {
    name: 'record.create',
    async run(r) {
      const limit = await rawCreateLimit()
      const writer = new ChainWriter()
      // The whole pipeline from the action: encode the command, then build the chained record.
      const whole = await time({ n: 3_000 }, (_, n) => {
        for (let i = 0; i < n; i++) writer.next(encodeCommand(ACTION))
      })
      r.rate('record.create', 'records/s', whole, {
        limit,
        target: (_, ratio) => target('creation >= 70% of raw create limit', 'min', 0.7, ratio ?? 0, 'ratio'),
        command_bytes: ACTION_BYTES,
        note: 'encodeCommand + createRecord, chained to prev',
        provider: getCrypto().name
      })
      const preencoded = await time({ n: 3_000 }, (_, n) => {
        for (let i = 0; i < n; i++) writer.next(BODY)
      })
      r.rate('record.create.preencoded', 'records/s', preencoded, {
        limit,
        command_bytes: ACTION_BYTES,
        note: 'createRecord alone (body encoded once)'
      })
    }
  },
  {
    name: 'record.verify',
    async run(r) {
      const f = await fixture()
      const timing = await time({ n: VERIFY_N, setup: (run) => (run * VERIFY_N) % CHAIN }, (start, n) => verifyOneByOne(f, start, n, false))
      r.rate('record.verify', 'records/s', timing, {
        limit: await rawVerifyLimit(),
        ...workLimitFields(await rawWorkLimit(1), timing.opsPerSec),
        note: 'verifyRecord one by one, after = prev'
      })
    }
  },
  {
    name: 'record.verify_chain.1000',
    async run(r) {
      const f = await fixture()
      const timing = await time({ n: CHAIN }, () => {
        let after: LogHead | undefined
        for (const run of f.runs) {
          const out = verifyChain(f.at, run, after === undefined ? {} : { after })
          const last = out[out.length - 1] as LogRecord
          after = { id: last.id, seq: last.seq }
        }
      })
      r.rate('record.verify_chain.1000', 'records/s', timing, {
        limit: await rawVerifyLimit(),
        ...workLimitFields(await rawWorkLimit(1 / RUN), timing.opsPerSec),
        target: (value) => target('chain-verified >= 20,000 records/s', 'min', 20_000, value),
        note: `verifyChain over ${CHAIN / RUN} runs of ${RUN}`
      })
    }
  },
  {
    name: 'record.verify_chain.10000',
    async run(r) {
      const f = await fixture()
      const timing = await time({ n: CHAIN }, () => verifyChain(f.at, f.blocks))
      r.rate('record.verify_chain.10000', 'records/s', timing, {
        limit: await rawVerifyLimit(),
        ...workLimitFields(await rawWorkLimit(1 / CHAIN), timing.opsPerSec),
        target: (value) => target('chain-verified >= 20,000 records/s', 'min', 20_000, value),
        note: `one verifyChain call over ${CHAIN} records`
      })
    }
  },
  {
    name: 'record.verify_open',
    async run(r) {
      const f = await fixture()
      const timing = await time({ n: VERIFY_N, setup: (run) => (run * VERIFY_N) % CHAIN }, (start, n) => verifyOneByOne(f, start, n, true))
      r.rate('record.verify_open', 'records/s', timing, {
        limit: await rawVerifyLimit(),
        note: 'verifyRecord (after = prev) + openEvent, one by one'
      })
    }
  }
]
