/** The sorted key set shared by the storage adapters (see `src/store/memory/sortedKeySet.ts`). */
export * from '../../src/store/memory/sortedKeySet.js'
