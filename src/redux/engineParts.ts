/**
 * The engine half of a peer, loaded by `PeerRuntime.start()` with a dynamic `import()`.
 *
 * Why a split: `createPeer`, `createThreadSlice`, the reducer, the middleware and the selectors
 * are what a store module needs at import time, and they are small. Everything that runs once the
 * peer starts (storage, the thread engine, the record format, crypto, dag-cbor, CIDs, ACLs,
 * invites) is most of the weight; a bundler puts it in a chunk of its own, which a page loads
 * while it renders its first state instead of before. Nothing here may be imported for its
 * values from the facade modules (createPeer, runtime, thunks, middleware, createThreadSlice):
 * test/integration/build/weight.ts checks the entry chunk's size.
 */
export { EventStore } from '../store/eventStore.js'
export { generateLogKey } from '../core/keys.js'
export { memoryStorage } from '../store/memory/memoryStorage.js'
export { ThreadLifecycle } from './threads.js'
export { ThreadHandle } from './threadHandle.js'
export { accessOf } from './access.js'
