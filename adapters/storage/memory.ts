/**
 * `redux-p2p-threads/memory`: the in-memory storage adapter. It lives in `src/store/memory` (it is
 * the peer's default storage, and `src/` never imports `adapters/`); this entry re-exports it.
 *
 * @packageDocumentation
 */
export { memoryStorage } from '../../src/store/memory/memoryStorage.js'
