import { it } from 'vitest'
import { createThreadKey, generateLogKey } from '../../../../src/core/keys.js'
import { ThreadId } from '../../../../src/core/threadId.js'
import { encodeStoredRecord, decodeStoredRecord, checkStored } from '../../../../src/core/storedRecord.js'
import { makeRecords } from '../storeHelpers.js'
it('dbg', () => {
  const t = ThreadId.create(); const k = createThreadKey(); const l = generateLogKey()
  const rs = makeRecords(t, l, k, 3)
  const b = encodeStoredRecord(rs[2]!)
  const d0 = decodeStoredRecord(b, {})
  console.log(b.length, d0.headerBox.length, d0.bodyBox.length)
  b[5] ^= 0x5a
  const d = decodeStoredRecord(b, {})
  checkStored(d, { thread: t, logId: l.id, seq: 3, prev: rs[1]!.id })
  console.log('ok')
})
