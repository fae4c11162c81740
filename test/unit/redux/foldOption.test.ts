/**
 * createThreadSlice's `fold` option: the engine folds the given reducer (a slice written
 * without Immer for speed, as document collections are), and the thread state follows it.
 */
import { configureStore, type PayloadAction, type UnknownAction } from '@reduxjs/toolkit'
import { describe, expect, it } from 'vitest'
import { createPeer } from '../../../src/redux/createPeer.js'
import { createThreadSlice } from '../../../src/redux/createThreadSlice.js'

describe('createThreadSlice fold option', () => {
  it('is the reducer the engine folds, and the store shows its state', async () => {
    let direct = 0
    const counter = createThreadSlice({
      name: 'counter',
      initialState: { n: 0 },
      fold: (state: { n: number } = { n: 0 }, action: UnknownAction) => {
        if (action.type !== 'counter/added') return state
        direct++
        return Object.freeze({ n: state.n + (action.payload as number) })
      },
      reducers: {
        added(state, action: PayloadAction<number>) {
          state.n += action.payload
        }
      }
    })
    const peer = createPeer()
    const store = configureStore({ reducer: { [peer.reducerPath]: peer.reducer, counter: counter.reducer }, middleware: (d) => d().concat(peer.middleware) })
    await store.dispatch(peer.thunks.createThread({ slices: [counter] })).unwrap()
    await store.dispatch(counter.actions.added(2)).unwrap()
    await store.dispatch(counter.actions.added(3)).unwrap()
    expect(store.getState().counter).toEqual({ n: 5 })
    expect(direct).toBeGreaterThanOrEqual(2)
    await peer.close()
  })
})
