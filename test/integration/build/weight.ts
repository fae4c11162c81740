/**
 * The weight of typical browser use (issue 12): createPeer + createThreadSlice with the memory
 * and localforage storage adapters and RTK's configureStore, bundled from the built package by
 * esbuild for the browser, minified, every dependency included. The target is 50 KiB gzip; the
 * build is at 114.6 KiB (docs/PACKAGING.md says what dominates and what it would take), so this
 * test holds a ceiling that only ratchets down, and reports the breakdown.
 *
 * Run by build.test.ts once dist/ is built (a file of its own would race with that build).
 */
import { join } from 'node:path'
import { gzipSync } from 'node:zlib'
import { build, type Metafile } from 'esbuild'
import { expect } from 'vitest'

const root = join(import.meta.dirname, '..', '..', '..')

/** The target. */
export const TARGET_KIB = 50
/** What the build may not exceed today: lower it as the weight comes down, never raise it. */
export const CEILING_KIB = 118

const APP = `
import { configureStore } from '@reduxjs/toolkit'
import { createPeer, createThreadSlice } from './dist/index.js'
import { memoryStorage } from './dist/memory.js'
import { localforageStorage } from './dist/localforage.js'

const todos = createThreadSlice({ name: 'todos', initialState: [], reducers: { added: (s, a) => void s.push(a.payload) } })
const peer = createPeer({ storage: globalThis.indexedDB === undefined ? memoryStorage() : localforageStorage({ name: 'app' }) })
export const store = configureStore({ reducer: { [peer.reducerPath]: peer.reducer, todos: todos.reducer }, middleware: (g) => g().concat(peer.middleware) })
export const added = todos.actions.added
`

/** Bytes of minified output per package (or per file of ours). */
function byPackage(meta: Metafile): Map<string, number> {
  const sizes = new Map<string, number>()
  for (const output of Object.values(meta.outputs)) {
    for (const [file, { bytesInOutput }] of Object.entries(output.inputs)) {
      const m = /node_modules\/((?:@[^/]+\/)?[^/]+)\//.exec(file)
      const key = m ? (m[1] as string) : file.startsWith('dist/') ? 'redux-p2p-threads (dist)' : file
      sizes.set(key, (sizes.get(key) ?? 0) + bytesInOutput)
    }
  }
  return sizes
}

/** Bundle, measure, report and check. */
export async function checkBrowserBundle(): Promise<void> {
  const result = await build({
    stdin: { contents: APP, resolveDir: root, sourcefile: 'app.js', loader: 'js' },
    bundle: true,
    minify: true,
    format: 'esm',
    platform: 'browser',
    target: 'es2022',
    write: false,
    metafile: true,
    logLevel: 'silent',
    define: { 'process.env.NODE_ENV': '"production"' }
  })
  const code = result.outputFiles[0]?.contents ?? new Uint8Array()
  const gzip = gzipSync(code).length
  const kib = (n: number): string => (n / 1024).toFixed(1)
  const parts = [...byPackage(result.metafile)].sort((a, b) => b[1] - a[1])
  console.log(
    `browser bundle: ${kib(code.length)} KiB minified, ${kib(gzip)} KiB gzip (target ${TARGET_KIB}, ceiling ${CEILING_KIB})\n` +
      parts
        .slice(0, 15)
        .map(([name, bytes]) => `  ${kib(bytes).padStart(6)} KiB  ${name}`)
        .join('\n')
  )
  expect(gzip / 1024).toBeLessThanOrEqual(CEILING_KIB)

  // One copy of each package: no package bundled from two directories.
  const inputs = Object.keys(result.metafile.inputs)
  const dirs = new Map<string, Set<string>>()
  for (const file of inputs) {
    const m = /^(.*node_modules\/((?:@[^/]+\/)?[^/]+))\//.exec(file)
    if (m) dirs.set(m[2] as string, (dirs.get(m[2] as string) ?? new Set()).add(m[1] as string))
  }
  expect([...dirs].filter(([, d]) => d.size > 1).map(([name, d]) => `${name}: ${[...d].join(', ')}`)).toEqual([])

  // Nothing of Node's: no built-in reached the bundle, and none of the Node-only adapters' packages.
  expect(inputs.filter((f) => /^node:|node_modules\/(level|classic-level|ws|@libp2p\/tcp|libp2p)\//.test(f))).toEqual([])
}
