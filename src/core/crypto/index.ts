import type { CryptoProvider } from './cryptoProvider.js'
import { createNodeCrypto, type NodeCryptoModule } from './nodeCrypto.js'
import { nobleCrypto } from './nobleCrypto.js'

export type { CryptoProvider, SigningKey, VerifyingKey } from './cryptoProvider.js'
export { nobleCrypto } from './nobleCrypto.js'
export { createNodeCrypto } from './nodeCrypto.js'
export type { NodeCryptoModule } from './nodeCrypto.js'

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
