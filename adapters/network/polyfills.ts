/**
 * The two runtime features libp2p 3 expects that Node 20 lacks. The libp2p adapter installs them
 * itself before it creates a node, so applications need no setup step.
 *
 * Browsers (and Node 22+) already have both, where this is a no-op.
 *
 * @packageDocumentation
 */

import { isNode } from '../../src/platform/env.js'
import { loadOptional } from '../optional.js'

let installing: Promise<void> | undefined

/**
 * Install the polyfills libp2p needs on Node 20. Idempotent: the first call does the work, later
 * calls return the same promise.
 *
 * - `Promise.withResolvers` (ES2024, Node 22): libp2p, yamux, it-queue and mortice call it while
 *   streams are read and written, so without it the first stream operation throws.
 * - `globalThis.WebSocket` (Node 22): `@libp2p/websockets` dials with `new WebSocket(url)`, so a
 *   Node 20 peer could listen on `/ws` but not dial one. The `ws` package provides a compatible
 *   class.
 */
export function installNodePolyfills(): Promise<void> {
  installing ??= install()
  return installing
}

async function install(): Promise<void> {
  installPromiseWithResolvers()
  if (globalThis.WebSocket === undefined && isNode()) {
    // A dynamic import with a computed specifier: bundlers targeting browsers neither follow nor
    // bundle it (browsers have a WebSocket, so this line never runs there), and CommonJS builds
    // keep working because `import()` is available in both module systems.
    const specifier = 'ws'
    const ws = await loadOptional('redux-p2p-threads/libp2p (WebSocket dialing on Node 20)', ['ws'], () => import(/* @vite-ignore */ /* webpackIgnore: true */ specifier) as Promise<typeof import('ws')>)
    // Checked again: another module may have installed one while the import was loading.
    if (globalThis.WebSocket === undefined) {
      Object.defineProperty(globalThis, 'WebSocket', {
        value: ws.WebSocket ?? ws.default,
        writable: true,
        configurable: true,
        enumerable: false
      })
    }
  }
}

/** Synchronous part, also usable on its own: `Promise.withResolvers` per the ES2024 spec. */
export function installPromiseWithResolvers(): void {
  // Typed by hand: the project's `lib` (ES2023) does not declare the ES2024 method.
  if (typeof (Promise as { withResolvers?: unknown }).withResolvers === 'function') return
  Object.defineProperty(Promise, 'withResolvers', {
    value: function withResolvers<T>(this: PromiseConstructor): Resolvers<T> {
      let resolve!: (value: T | PromiseLike<T>) => void
      let reject!: (reason?: unknown) => void
      // `this` is the constructor the method was called on, as the spec asks (subclasses work).
      const promise = new this<T>((res, rej) => {
        resolve = res
        reject = rej
      })
      return { promise, resolve, reject }
    },
    writable: true,
    configurable: true,
    enumerable: false
  })
}

interface Resolvers<T> {
  promise: Promise<T>
  resolve: (value: T | PromiseLike<T>) => void
  reject: (reason?: unknown) => void
}

