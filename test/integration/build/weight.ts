/**
 * The weight of typical browser use (issue 12): createPeer + createThreadSlice with the
 * localforage storage adapter and RTK's configureStore, bundled from the built package by esbuild
 * for the browser (minified, code splitting on, as a web app is built), every dependency included,
 * each output file gzipped on its own as a server sends it.
 *
 * Three figures:
 * - **entry**: the app's entry file and every chunk it imports statically: what a page loads
 *   before the store module runs. The target (50 KiB gzip) is checked on this.
 * - **started**: entry plus what loads when the peer starts (the engine half, engineParts.ts, and
 *   localforage): what a page has loaded once it holds a thread. A ceiling that only ratchets down.
 * - **all**: every file of the build, including what loads only on demand (the sync service with a
 *   network, invites, CAR export and import). Reported.
 *
 * Run by build.test.ts once dist/ is built (a file of its own would race with that build).
 */
import { join } from 'node:path'
import { gzipSync } from 'node:zlib'
import { build, type Metafile } from 'esbuild'
import { expect } from 'vitest'

const root = join(import.meta.dirname, '..', '..', '..')

/** The target, for the entry. */
export const TARGET_KIB = 50
/** What the started peer's files may not exceed today: lower it as the weight comes down, never raise it. */
export const STARTED_CEILING_KIB = 100

const APP = `
import { configureStore } from '@reduxjs/toolkit'
import { createPeer, createThreadSlice } from './dist/index.js'
import { localforageStorage } from './dist/localforage.js'

const todos = createThreadSlice({ name: 'todos', initialState: [], reducers: { added: (s, a) => void s.push(a.payload) } })
const peer = createPeer({ storage: localforageStorage({ name: 'app' }) })
export const store = configureStore({ reducer: { [peer.reducerPath]: peer.reducer, todos: todos.reducer }, middleware: (g) => g().concat(peer.middleware) })
export const added = todos.actions.added
`

type Output = Metafile['outputs'][string]

/** Files reached from `start` by static imports only (what loads before `start` runs). */
function staticClosure(outputs: Readonly<Record<string, Output>>, start: readonly string[]): Set<string> {
  const seen = new Set<string>()
  const queue = [...start]
  for (let file = queue.pop(); file !== undefined; file = queue.pop()) {
    if (seen.has(file)) continue
    seen.add(file)
    for (const i of outputs[file]?.imports ?? []) if (i.kind === 'import-statement') queue.push(i.path)
  }
  return seen
}

/** Bytes of minified output per package (or per file of ours), over some output files. */
function byPackage(outputs: Readonly<Record<string, Output>>, files: Iterable<string>): Array<[string, number]> {
  const sizes = new Map<string, number>()
  for (const file of files) {
    for (const [input, { bytesInOutput }] of Object.entries(outputs[file]?.inputs ?? {})) {
      const m = /node_modules\/((?:@[^/]+\/)?[^/]+)\//.exec(input)
      const key = m ? (m[1] as string) : input.startsWith('dist/') ? 'redux-p2p-threads (dist)' : input
      sizes.set(key, (sizes.get(key) ?? 0) + bytesInOutput)
    }
  }
  return [...sizes].sort((a, b) => b[1] - a[1])
}

/** The three figures, in gzip KiB, with the minified breakdown of the entry and the started peer. */
export interface BundleWeight {
  readonly entryKiB: number
  readonly startedKiB: number
  readonly allKiB: number
  readonly files: number
}

/** An app bundled for the browser as a web app is built: minified, code splitting on, in memory. */
function bundle(app: string) {
  return build({
    stdin: { contents: app, resolveDir: root, sourcefile: 'app.js', loader: 'js' },
    bundle: true,
    splitting: true,
    outdir: join(root, '.weight-out'),
    minify: true,
    format: 'esm',
    platform: 'browser',
    target: 'es2022',
    write: false,
    metafile: true,
    logLevel: 'silent',
    define: { 'process.env.NODE_ENV': '"production"' }
  })
}

/** No package bundled from two directories; returns how many packages there are. */
function expectOneCopyEach(inputs: readonly string[]): number {
  const dirs = new Map<string, Set<string>>()
  for (const file of inputs) {
    const m = /^(.*node_modules\/((?:@[^/]+\/)?[^/]+))\//.exec(file)
    if (m) dirs.set(m[2] as string, (dirs.get(m[2] as string) ?? new Set()).add(m[1] as string))
  }
  expect([...dirs].filter(([, d]) => d.size > 1).map(([name, d]) => `${name}: ${[...d].join(', ')}`)).toEqual([])
  return dirs.size
}

/** Bundle, measure, report and check. */
export async function checkBrowserBundle(): Promise<BundleWeight> {
  const result = await bundle(APP)
  const outputs = result.metafile.outputs
  // Metafile paths are relative to the working directory; output files carry absolute paths.
  const gzipOf = new Map<string, number>()
  for (const f of result.outputFiles) {
    const key = Object.keys(outputs).find((k) => join(process.cwd(), k) === f.path)
    if (key !== undefined && !key.endsWith('.map')) gzipOf.set(key, gzipSync(f.contents).length)
  }
  const entry = Object.keys(outputs).find((k) => outputs[k]?.entryPoint !== undefined)
  expect(entry).toBeDefined()
  const entryFiles = staticClosure(outputs, [entry as string])
  // The chunks the entry loads with import() when the peer starts: the engine half and localforage
  // (the sync service, invites and CAR files load only when used).
  const onStart = (outputs[entry as string]?.imports ?? [])
    .filter((i) => i.kind === 'dynamic-import' && !/syncParts|inviteParts|car/.test(i.path))
    .map((i) => i.path)
  const startedFiles = staticClosure(outputs, [entry as string, ...onStart])
  const kib = (files: Iterable<string>): number => [...files].reduce((n, f) => n + (gzipOf.get(f) ?? 0), 0) / 1024
  const weight: BundleWeight = { entryKiB: kib(entryFiles), startedKiB: kib(startedFiles), allKiB: kib(gzipOf.keys()), files: gzipOf.size }
  const fmt = (n: number): string => n.toFixed(1)
  const top = (files: Iterable<string>): string =>
    byPackage(outputs, files)
      .slice(0, 12)
      .map(([name, bytes]) => `  ${fmt(bytes / 1024).padStart(6)} KiB  ${name}`)
      .join('\n')
  console.log(
    `browser bundle, gzip: entry ${fmt(weight.entryKiB)} KiB (target ${TARGET_KIB}), started peer ${fmt(weight.startedKiB)} KiB (ceiling ${STARTED_CEILING_KIB}), all ${weight.files} files ${fmt(weight.allKiB)} KiB\n` +
      `entry, minified:\n${top(entryFiles)}\nstarted peer, minified:\n${top(startedFiles)}`
  )
  expect(weight.entryKiB).toBeLessThanOrEqual(TARGET_KIB)
  expect(weight.startedKiB).toBeLessThanOrEqual(STARTED_CEILING_KIB)
  // The engine half really is out of the entry: no crypto, codec or engine module in it.
  const entryInputs = [...entryFiles].flatMap((f) => Object.keys(outputs[f]?.inputs ?? {}))
  expect(entryInputs.filter((f) => /@noble|cborg|multiformats|@ipld|localforage\/dist/.test(f))).toEqual([])

  // One copy of each package: no package bundled from two directories.
  const inputs = Object.keys(result.metafile.inputs)
  expectOneCopyEach(inputs)

  // Nothing of Node's: no built-in reached the bundle, and none of the Node-only adapters' packages.
  expect(inputs.filter((f) => /^node:|node_modules\/(level|classic-level|ws|@libp2p\/tcp|libp2p)\//.test(f))).toEqual([])
  return weight
}

const NETWORK_APP = `
import { createPeer } from './dist/index.js'
import { localforageStorage } from './dist/localforage.js'
import { libp2pNetwork } from './dist/libp2p.js'
export const peer = createPeer({ storage: localforageStorage({ name: 'app' }), network: libp2pNetwork() })
`

/**
 * The same app with the libp2p network, for the browser: one copy of each package across the
 * libp2p stack (the issue counted three of multiformats, six of protons-runtime and seven of
 * uint8arraylist), and no Node-only transport. Returns the gzip KiB of all files.
 */
export async function checkNetworkBundle(): Promise<number> {
  const result = await bundle(NETWORK_APP)
  const inputs = Object.keys(result.metafile.inputs)
  const packages = expectOneCopyEach(inputs)
  expect(inputs.filter((f) => /^node:|node_modules\/(level|classic-level|@libp2p\/tcp)\//.test(f))).toEqual([])
  const kib = result.outputFiles.reduce((n, f) => n + gzipSync(f.contents).length, 0) / 1024
  console.log(`browser bundle with the libp2p network, gzip: all ${result.outputFiles.length} files ${kib.toFixed(1)} KiB; ${packages} packages, one copy each`)
  return kib
}
