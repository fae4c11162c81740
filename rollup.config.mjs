// ESM + CJS with esbuild, one .d.ts per entry with rollup-plugin-dts.
// (@rollup/plugin-typescript needs TypeScript's JS API; esbuild keeps us independent of it.)
import esbuild from 'rollup-plugin-esbuild'
import dts from 'rollup-plugin-dts'
import { readFileSync } from 'node:fs'

const pkg = JSON.parse(readFileSync(new URL('./package.json', import.meta.url), 'utf8'))
const deps = [...Object.keys(pkg.dependencies ?? {}), ...Object.keys(pkg.peerDependencies ?? {})]
// Every dependency (and its subpaths) and every node: builtin stays external.
const external = (id) => id.startsWith('node:') || deps.some((d) => id === d || id.startsWith(`${d}/`))

// The conformance suites import vitest, which is ESM-only, and the CLI is an ES module bin:
// those entries are ESM only. Every other entry also gets a CommonJS build.
const esmOnly = new Set(['conformance', 'network-conformance', 'cli'])

const entries = {
  index: 'src/index.ts',
  advanced: 'src/advanced.ts',
  db: 'src/db/index.ts',
  memory: 'adapters/storage/memory.ts',
  level: 'adapters/storage/level.ts',
  localforage: 'adapters/storage/localforage.ts',
  conformance: 'adapters/storage/conformance.ts',
  'memory-network': 'adapters/network/memory.ts',
  libp2p: 'adapters/network/libp2p.ts',
  'network-conformance': 'adapters/network/conformance.ts',
  cli: 'bin/redux-threads.ts'
}

const cjsEntries = Object.fromEntries(Object.entries(entries).filter(([name]) => !esmOnly.has(name)))

export default [
  {
    input: entries,
    external: (id) => external(id) || id === 'vitest',
    plugins: [esbuild({ target: 'es2022' })],
    output: {
      dir: 'dist',
      format: 'es',
      entryFileNames: '[name].js',
      chunkFileNames: 'chunks/[name]-[hash].js',
      banner: (chunk) => (chunk.name === 'cli' ? '#!/usr/bin/env node' : '')
    }
  },
  {
    input: cjsEntries,
    external: (id) => external(id) || id === 'vitest',
    plugins: [esbuild({ target: 'es2022' })],
    // Keep import() as import(): it is how CommonJS loads the ESM-only libp2p and @ipld/car.
    output: { dir: 'dist', format: 'cjs', entryFileNames: '[name].cjs', chunkFileNames: 'chunks/[name]-[hash].cjs', exports: 'named', dynamicImportInCjs: true }
  },
  {
    input: entries,
    external: (id) => external(id) || id === 'vitest',
    plugins: [dts({ tsconfig: './tsconfig.build.json' })],
    output: { dir: 'dist', format: 'es', entryFileNames: '[name].d.ts', chunkFileNames: 'chunks/[name]-[hash].d.ts' }
  }
]
