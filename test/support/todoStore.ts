import { configureStore } from '@reduxjs/toolkit'
import { todos } from '../../examples/todo/todoSlice.js'
import type { Peer } from '../../src/redux/createPeer.js'

/**
 * A store with the peer's reducer (its status, at `peer.reducerPath`) and the todo slice, for
 * network tests. RTK's development checks walk the whole state on every dispatch (quadratic over
 * thousands of todos) and test nothing of the network: they are off here (the Redux tests keep
 * them on).
 */
export function todoStore(peer: Peer) {
  return configureStore({
    reducer: { [peer.reducerPath]: peer.reducer, todos: todos.reducer },
    middleware: (d) => d({ immutableCheck: false, serializableCheck: false }).concat(peer.middleware)
  })
}

export type TodoStore = ReturnType<typeof todoStore>
