/**
 * A thread slice that only counts events and hashes their (log, seq) order: the slice of the
 * Node network benches (bench/network.ts), so browser figures measure the library and not an
 * application's reducer (a todo list copies and freezes its whole array on every event).
 */
import type { PayloadAction } from '@reduxjs/toolkit'
import { createThreadSlice } from '../../../src/redux/createThreadSlice.js'
import type { EventMeta } from '../../../src/engine/threadEvent.js'

function logHash(logId: string): number {
  let h = 0x811c9dc5
  for (let i = 0; i < logId.length; i++) h = Math.imul(h ^ logId.charCodeAt(i), 0x01000193)
  return h >>> 0
}

export const tally = createThreadSlice({
  name: 'tally',
  initialState: { count: 0, hash: 0 },
  reducers: {
    added: (state, action: PayloadAction<{ n: number }>) => {
      const e = (action as { meta?: { event?: EventMeta } }).meta?.event
      state.count++
      state.hash = Math.imul(Math.imul(state.hash ^ (e === undefined ? 0 : logHash(e.logId)), 0x01000193) ^ (e?.seq ?? 0), 0x01000193) >>> 0
    }
  }
})
