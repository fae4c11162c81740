import { subtleCrypto } from '../../platform/env.js'
import type { CryptoProvider } from './cryptoProvider.js'
import { createNodeCrypto, type NodeCryptoModule } from './nodeCrypto.js'
import { nobleCrypto } from './nobleCrypto.js'
import { prefetchDecrypts, type DecryptJob, type Prefetched } from './webCryptoPrefetch.js'

export type { CryptoProvider, SigningKey, VerifyingKey } from './cryptoProvider.js'
export { nobleCrypto } from './nobleCrypto.js'
export { createNodeCrypto } from './nodeCrypto.js'
export type { NodeCryptoModule } from './nodeCrypto.js'
export type { DecryptJob, Prefetched } from './webCryptoPrefetch.js'

type GetBuiltin = (id: 'node:crypto') => NodeCryptoModule | undefined

function detect(): CryptoProvider {
  // process.getBuiltinModule (Node >= 20.16) loads node:crypto without a static import,
  // so browser bundles never see one and get the noble implementation instead.
  const proc = (globalThis as { process?: { getBuiltinModule?: GetBuiltin } }).process
  const nodeModule = proc?.getBuiltinModule?.('node:crypto')
  return nodeModule === undefined ? nobleCrypto : createNodeCrypto(nodeModule)
}

let current: CryptoProvider | undefined

/** The crypto provider in use: node:crypto in Node, noble elsewhere. */
export function getCrypto(): CryptoProvider {
  current ??= detect()
  return current
}

/**
 * Replace the crypto provider (tests, or a platform with its own fast primitives).
 *
 * @example
 * ```ts
 * import { setCrypto, nobleCrypto } from 'redux-p2p-threads'
 * setCrypto(nobleCrypto) // force the pure-JS path, as in a browser
 * ```
 */
export function setCrypto(provider: CryptoProvider): void {
  current = provider
}

const NO_PREFETCH: Prefetched = { plains: [], release: () => undefined }

/** True when {@link prefetchDecrypt} does anything: the provider is the pure-JS one and WebCrypto exists. */
export function prefetchActive(): boolean {
  return getCrypto() === nobleCrypto && subtleCrypto() !== undefined
}

/**
 * Open these boxes ahead through WebCrypto when {@link prefetchActive} (browsers), so the
 * provider's synchronous `aesGcmDecrypt` finds them done (webCryptoPrefetch.ts); otherwise
 * nothing. Never rejects; `release()` after the batch.
 */
export function prefetchDecrypt(jobs: readonly DecryptJob[]): Promise<Prefetched> {
  return prefetchActive() ? prefetchDecrypts(jobs) : Promise.resolve(NO_PREFETCH)
}
