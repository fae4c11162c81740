/**
 * FINDING (high, cost): the document map and the key-value store spread entries over a fixed
 * number of buckets by FNV-1a of the id/key (src/db/docs/ids.ts:41 `bucketOf`, 512 buckets;
 * src/db/kv/keyValueStore.ts:32 `keyValueBucket`, 256), and a write copies its whole bucket
 * (documents.ts:30-39 `withEntry`; Immer's copy of the bucket object in kv). Ids are chosen by the
 * writer, and FNV-1a is not keyed: one id in 512 lands in any chosen bucket, so a writer can put
 * all its documents in one bucket. Every write into it then copies all n of them: n creates cost
 * O(n²) on every peer, at every refold and restart. Measured here: 20,000 creates took 0.4 s with
 * ordinary ids and 107 s with ids of one bucket (280×); 10,000 kv puts 4 s against 50 s. The
 * documented bound "512 + n/512 slots a write" holds only for ids nobody chose.
 * A keyed hash does not help (every writer holds the thread key). Fix: a layout whose write cost
 * does not depend on the ids: e.g. the documents in sorted pages of ≤ 512 by `_id` (as the
 * indexes already are: O(log n + 512) a write), or a HAMT over a cryptographic hash of the id.
 */
import { describe, expect, it } from 'vitest'
import { createCollection, createKeyValueStore } from '../../../src/db/index.js'
import { bucketOf, keyValueBucket } from './support.js'

function ids(n: number, inBucket?: (id: string) => boolean): string[] {
  const out: string[] = []
  for (let i = 0; out.length < n; i++) {
    const id = `k${i}`
    if (inBucket === undefined || inBucket(id)) out.push(id)
  }
  return out
}

function ms(fn: () => void): number {
  const t = performance.now()
  fn()
  return performance.now() - t
}

describe('writes cost the same whatever ids a writer picks', () => {
  it('6,000 document creates with ids of one bucket cost at most 3× ordinary ids', () => {
    const c = createCollection<{ _id: string; v: number }>({ name: 'flood' })
    const run = (list: string[]) => () => {
      let s: unknown
      for (const id of list) s = c.fold(s as never, { type: 'flood/create', payload: { _id: id, v: 1 } })
    }
    const ordinary = ms(run(ids(6_000)))
    const flooded = ms(run(ids(6_000, (id) => bucketOf(id) === 7)))
    expect(flooded).toBeLessThan(3 * ordinary + 200)
  }, 120_000)

  it('4,000 key-value puts with keys of one bucket cost at most 3× ordinary keys', () => {
    const kv = createKeyValueStore({ name: 'floodkv' })
    const fold = (kv as unknown as { fold: (s: unknown, a: unknown) => unknown }).fold
    const run = (list: string[]) => () => {
      let s: unknown
      let seq = 0
      for (const key of list) {
        seq++
        s = fold(s, { type: 'floodkv/put', payload: { key, value: 1 }, meta: { event: { threadId: 't', author: 'w', logId: 'w', seq, clock: seq, time: 0, id: `e${seq}`, local: false } } })
      }
    }
    const ordinary = ms(run(ids(4_000)))
    const flooded = ms(run(ids(4_000, (k) => keyValueBucket(k) === '7')))
    expect(flooded).toBeLessThan(3 * ordinary + 200)
  }, 120_000)
})
