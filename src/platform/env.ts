/**
 * Environment checks that work on every platform: no bare `process` in library code (a browser
 * has none), and bundlers still replace `process.env.NODE_ENV` where it is written out.
 *
 * @packageDocumentation
 */

/**
 * True outside production: development-only checks (misuse messages, Redux's own checks) run.
 * Bundlers replace `process.env.NODE_ENV` statically; where `process` does not exist, this is a
 * development build.
 */
export function isDev(): boolean {
  try {
    return process.env.NODE_ENV !== 'production'
  } catch {
    return true
  }
}

/** True in Node (and runtimes that present themselves as Node), false in browsers and workers. */
export function isNode(): boolean {
  const proc = (globalThis as { process?: { versions?: { node?: unknown } } }).process
  return typeof proc?.versions?.node === 'string'
}

/** WebCrypto's `crypto.subtle` where the platform has it (browsers, workers, Node >= 19), else `undefined`. */
export function subtleCrypto(): SubtleCrypto | undefined {
  return (globalThis as { crypto?: { subtle?: SubtleCrypto } }).crypto?.subtle
}
