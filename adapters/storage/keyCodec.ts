/** The key encoding shared by the storage adapters (see `src/store/memory/keyCodec.ts`). */
export * from '../../src/store/memory/keyCodec.js'
