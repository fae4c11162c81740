// The ESM-only entries (they import vitest).
import { runStorageAdapterTests } from 'redux-p2p-threads/conformance'
import { memoryStorage } from 'redux-p2p-threads/memory'
import * as network from 'redux-p2p-threads/network-conformance'

runStorageAdapterTests('memory', async () => ({ adapter: memoryStorage() }))
export const suites = network
