// ESM + CJS with esbuild, one .d.ts per entry with rollup-plugin-dts.
// (@rollup/plugin-typescript needs TypeScript's JS API; esbuild keeps us independent of it.)
import esbuild from 'rollup-plugin-esbuild'
import dts from 'rollup-plugin-dts'
import { readFileSync } from 'node:fs'

const pkg = JSON.parse(readFileSync(new URL('./package.json', import.meta.url), 'utf8'))
const deps = [...Object.keys(pkg.dependencies ?? {}), ...Object.keys(pkg.peerDependencies ?? {})]
// Every dependency (and its subpaths) and every node: builtin stays external.
const external = (id) => id.startsWith('node:') || deps.some((d) => id === d || id.startsWith(`${d}/`))

const entries = {
  index: 'src/index.ts',
  memory: 'adapters/storage/memory.ts',
  level: 'adapters/storage/level.ts',
  localforage: 'adapters/storage/localforage.ts',
  conformance: 'adapters/storage/conformance.ts',
  'memory-network': 'adapters/network/memory.ts',
  libp2p: 'adapters/network/libp2p.ts',
  'network-conformance': 'adapters/network/conformance.ts',
  cli: 'src/cli.ts'
}

export default [
  {
    input: entries,
    external: (id) => external(id) || id === 'vitest',
    plugins: [esbuild({ target: 'es2022' })],
    output: [
      { dir: 'dist', format: 'es', entryFileNames: '[name].js', chunkFileNames: 'chunks/[name]-[hash].js' },
      { dir: 'dist', format: 'cjs', entryFileNames: '[name].cjs', chunkFileNames: 'chunks/[name]-[hash].cjs', exports: 'named' }
    ]
  },
  {
    input: entries,
    external: (id) => external(id) || id === 'vitest',
    plugins: [dts({ tsconfig: './tsconfig.build.json' })],
    output: { dir: 'dist', format: 'es', entryFileNames: '[name].d.ts', chunkFileNames: 'chunks/[name]-[hash].d.ts' }
  }
]
