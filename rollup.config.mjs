// ESM + CJS with esbuild; declarations with rollup-plugin-dts, written twice: `.d.ts` (ESM, for the
// `import` condition) and `.d.cts` (CommonJS, for `require`), so TypeScript under node16 sees each
// format's types as that format (docs/PACKAGING.md).
// (@rollup/plugin-typescript needs TypeScript's JS API; esbuild keeps us independent of it.)
import esbuild from 'rollup-plugin-esbuild'
import dts from 'rollup-plugin-dts'
import { readFileSync, rmSync } from 'node:fs'

// A clean dist/ each build: nothing stale (an old entry, last build's chunk hashes) gets packed.
rmSync(new URL('./dist', import.meta.url), { recursive: true, force: true })

const pkg = JSON.parse(readFileSync(new URL('./package.json', import.meta.url), 'utf8'))
const deps = [...Object.keys(pkg.dependencies ?? {}), ...Object.keys(pkg.peerDependencies ?? {})]
// Every dependency (and its subpaths) and every node: builtin stays external.
const external = (id) => id.startsWith('node:') || deps.some((d) => id === d || id.startsWith(`${d}/`))

// The conformance suites import vitest, which is ESM-only, and the CLI is an ES module bin:
// those entries are ESM only. Every other entry also gets a CommonJS build.
const esmOnlyEntries = new Set(['conformance', 'network-conformance', 'cli'])

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
  cli: 'bin/redux-p2p-threads.ts'
}

/**
 * In the CommonJS build, the optional peers that are CommonJS themselves are loaded with require()
 * (lazily, as in the ESM build), not import(): CommonJS test runners without ESM support (Jest)
 * keep working with the level and localforage adapters. The ESM-only libp2p stack stays import().
 */
const REQUIRABLE = new Set(['level', 'localforage'])
function requireCommonJsPeers() {
  return {
    name: 'require-commonjs-peers',
    renderDynamicImport({ format, targetModuleId }) {
      if (format === 'cjs' && REQUIRABLE.has(targetModuleId)) return { left: 'Promise.resolve().then(() => require(', right: '))' }
      return null
    }
  }
}

const cjsEntries = Object.fromEntries(Object.entries(entries).filter(([name]) => !esmOnlyEntries.has(name)))
// The CLI is a program, not an API: no declarations.
const typedEntries = Object.fromEntries(Object.entries(entries).filter(([name]) => name !== 'cli'))

/**
 * True for a package CommonJS cannot require (ESM only: `"type": "module"` and no `require` or
 * `.cjs` target in its exports). A `.d.cts` names its types with `resolution-mode: import`
 * (TypeScript >= 5.3), or TypeScript refuses the import from a CommonJS file (TS1479).
 */
function esmOnly(specifier) {
  const name = specifier.startsWith('@') ? specifier.split('/').slice(0, 2).join('/') : specifier.split('/')[0]
  const meta = JSON.parse(readFileSync(new URL(`./node_modules/${name}/package.json`, import.meta.url), 'utf8'))
  const exported = JSON.stringify(meta.exports ?? {})
  return meta.type === 'module' && !exported.includes('"require"') && !exported.includes('.cjs"')
}

/**
 * Each emitted `.d.ts` again as `.d.cts`, its relative imports renamed `.js` → `.cjs` (TypeScript
 * resolves `./x.cjs` to `./x.d.cts`) and its imports of ESM-only packages marked as such: the
 * CommonJS entries' types, and the chunks they share.
 * ESM-only entries get none (their exports have no `require` condition).
 */
function commonJsDeclarations() {
  return {
    name: 'common-js-declarations',
    generateBundle(_options, bundle) {
      for (const file of Object.values(bundle)) {
        if (file.type !== 'chunk' || (file.isEntry && !(file.name in cjsEntries))) continue
        const code = file.code
          .replace(/((?:from|import)\s*['"])(\.{1,2}\/[^'"]+)\.js(['"])/g, '$1$2.cjs$3')
          .replace(/^import (\*\s+as\s+\w+|\{[^}]*\}) from '([^'.][^']*)';$/gm, (line, what, spec) =>
            esmOnly(spec) ? `import type ${what} from '${spec}' with { 'resolution-mode': 'import' };` : line
          )
        this.emitFile({ type: 'asset', fileName: file.fileName.replace(/\.d\.ts$/, '.d.cts'), source: code })
      }
    }
  }
}

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
    plugins: [esbuild({ target: 'es2022' }), requireCommonJsPeers()],
    // Keep import() as import(): it is how CommonJS loads the ESM-only libp2p and @ipld/car.
    output: { dir: 'dist', format: 'cjs', entryFileNames: '[name].cjs', chunkFileNames: 'chunks/[name]-[hash].cjs', exports: 'named', dynamicImportInCjs: true }
  },
  {
    input: typedEntries,
    external: (id) => external(id) || id === 'vitest',
    plugins: [dts({ tsconfig: './tsconfig.build.json' }), commonJsDeclarations()],
    output: { dir: 'dist', format: 'es', entryFileNames: '[name].d.ts', chunkFileNames: 'chunks/[name]-[hash].d.ts' }
  }
]
