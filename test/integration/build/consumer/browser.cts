// The same as browser.ts, as CommonJS (a .cts file: the "require" condition, the .d.cts files), type-checked against the built declarations (build.test.ts): strict,
// skipLibCheck false, no @types/node. The package is imported by its own name (self-reference
// through package.json "exports", as a consumer resolves it).
import { configureStore, type PayloadAction } from '@reduxjs/toolkit'
import { createPeer, createThreadSlice, MissingDependencyError, type ThreadStatus } from 'redux-p2p-threads'
import { createRecord, setCrypto, nobleCrypto, type NodeCryptoModule } from 'redux-p2p-threads/advanced'
import * as db from 'redux-p2p-threads/db'
import { memoryStorage } from 'redux-p2p-threads/memory'
import { localforageStorage, type LocalforageInstance } from 'redux-p2p-threads/localforage'
import { createMemoryHub } from 'redux-p2p-threads/memory-network'

const todos = createThreadSlice({
  name: 'todos',
  initialState: [] as string[],
  reducers: { added: (state, action: PayloadAction<string>) => void state.push(action.payload) }
})
setCrypto(nobleCrypto)
const hub = createMemoryHub({ seed: 1 })
const instance: LocalforageInstance | undefined = undefined
export const peer = createPeer({ storage: instance === undefined ? memoryStorage() : localforageStorage({ instance }), network: hub.network() })
export const store = configureStore({
  reducer: { [peer.reducerPath]: peer.reducer, todos: todos.reducer },
  middleware: (getDefault) => getDefault().concat(peer.middleware)
})
export const added: { type: 'todos/added'; payload: string } = todos.actions.added('milk')
export const status = (id: string): ThreadStatus | undefined => peer.selectors.selectThreadStatus(store.getState(), id)
export const missing = (e: unknown): boolean => e instanceof MissingDependencyError
export const crypto: NodeCryptoModule | undefined = undefined
export const used = [createRecord, db]
