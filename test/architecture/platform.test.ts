/**
 * Platform seams (issue 12): the library runs in browsers, so no module of `src/` or of the
 * adapters a browser app can load names a Node-only global (`setImmediate`, `process`, `Buffer`,
 * `__dirname`, `require`, …) or imports a Node built-in. What differs between platforms goes
 * through `src/platform/` (scheduler.ts, env.ts). The exceptions are listed with their reason.
 */
import { readdirSync, readFileSync, statSync } from 'node:fs'
import { dirname, join, relative, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { describe, expect, it } from 'vitest'

const root = resolve(dirname(fileURLToPath(import.meta.url)), '../..')

function files(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name)
    return statSync(path).isDirectory() ? files(path) : path.endsWith('.ts') ? [path] : []
  })
}

/** The browser-facing code: all of src/ and every adapter but the conformance suites (vitest, Node). */
const scanned = [...files(join(root, 'src')), ...files(join(root, 'adapters'))]
  .map((f) => relative(root, f))
  .filter((f) => !/^adapters\/(storage|network)\/conformance\.ts$/.test(f))

/** Files allowed to touch a Node-only name, and why. */
const EXCEPTIONS: Record<string, { globals?: readonly string[]; imports?: readonly string[]; why: string }> = {
  'src/platform/env.ts': { globals: ['process'], why: 'the platform seam: process.env.NODE_ENV for bundlers, guarded' },
  'src/core/crypto/index.ts': { imports: ['node:crypto'], why: 'a type only; the module comes from process.getBuiltinModule where it exists' },
  'src/core/crypto/nodeCrypto.ts': { globals: ['Buffer'], imports: ['node:crypto'], why: 'used only with node:crypto in hand (so in Node); the import is a type' }
}

const NODE_GLOBALS = ['setImmediate', 'clearImmediate', 'process', 'Buffer', '__dirname', '__filename', 'require', 'global']
const BUILTINS = new Set(['assert', 'buffer', 'child_process', 'crypto', 'dns', 'events', 'fs', 'fs/promises', 'http', 'https', 'module', 'net', 'os', 'path', 'perf_hooks', 'stream', 'timers', 'tls', 'url', 'util', 'worker_threads', 'zlib'])

/** The code without comments and string contents (specifiers are read separately). */
function code(source: string): string {
  return source
    .replace(/\/\*[\s\S]*?\*\//g, ' ')
    .replace(/(^|[^:])\/\/.*$/gm, '$1')
    .replace(/'(?:[^'\\\n]|\\.)*'|"(?:[^"\\\n]|\\.)*"|`(?:[^`\\]|\\.)*`/g, "''")
}

/** Identifiers used as values: not a property (`x.process`), not a key or type member (`process?:`). */
export function nodeGlobalsIn(source: string): string[] {
  const found = new Set<string>()
  const text = code(source)
  for (const name of NODE_GLOBALS) {
    const re = new RegExp(`(?<![.\\w$])${name}(?![\\w$])(?!\\s*\\??:)`, 'g')
    if (re.test(text)) found.add(name)
  }
  return [...found]
}

/** Module specifiers of static and dynamic imports and re-exports (comments removed). */
export function nodeImportsIn(source: string): string[] {
  const text = source.replace(/\/\*[\s\S]*?\*\//g, ' ').replace(/^\s*\/\/.*$/gm, '')
  const out: string[] = []
  for (const m of text.matchAll(/(?:import|export)\s[^'"]*?from\s+['"]([^'"]+)['"]|import\(\s*['"]([^'"]+)['"]\s*\)|import\s+['"]([^'"]+)['"]|require\(\s*['"]([^'"]+)['"]\s*\)/g)) {
    const spec = (m[1] ?? m[2] ?? m[3] ?? m[4]) as string
    if (spec.startsWith('node:') || BUILTINS.has(spec)) out.push(spec)
  }
  return out
}

describe('platform seams: browser-facing code names no Node-only global and imports no Node built-in', () => {
  it('scans src/ and the adapters', () => {
    expect(scanned.length).toBeGreaterThan(60)
    expect(scanned).toContain('adapters/network/memory.ts')
    expect(scanned).toContain('src/engine/threadEngine.ts')
  })

  it('the scanner finds what it looks for (and not properties, keys or comments)', () => {
    expect(nodeGlobalsIn('setImmediate(() => 1)')).toEqual(['setImmediate'])
    expect(nodeGlobalsIn('const x = typeof setImmediate === "function"')).toEqual(['setImmediate'])
    expect(nodeGlobalsIn('if (process.env.X) Buffer.from(a)')).toEqual(['process', 'Buffer'])
    expect(nodeGlobalsIn('const a = __dirname + 1; const r = require("x")')).toEqual(['__dirname', 'require'])
    expect(nodeGlobalsIn('globalThis.process; a.setImmediate(); type T = { process?: 1; Buffer: 2 } // setImmediate(x)\n/* Buffer */ const s = "process"')).toEqual([])
    expect(nodeImportsIn("import { a } from 'node:fs'\nimport b from 'path'\nconst c = await import('node:crypto')\nimport 'x'")).toEqual(['node:fs', 'path', 'node:crypto'])
  })

  it('no Node-only global outside the platform seams', () => {
    const wrong: string[] = []
    for (const file of scanned) {
      const allowed = EXCEPTIONS[file]?.globals ?? []
      for (const name of nodeGlobalsIn(readFileSync(join(root, file), 'utf8'))) if (!allowed.includes(name)) wrong.push(`${file}: ${name}`)
    }
    expect(wrong).toEqual([])
  })

  it('no Node built-in imported (node:crypto only as a type, where it is found at run time)', () => {
    const wrong: string[] = []
    for (const file of scanned) {
      const allowed = EXCEPTIONS[file]?.imports ?? []
      for (const spec of nodeImportsIn(readFileSync(join(root, file), 'utf8'))) if (!allowed.includes(spec)) wrong.push(`${file}: ${spec}`)
    }
    expect(wrong).toEqual([])
  })

  it('node:crypto is reached only through process.getBuiltinModule, and only where it exists', () => {
    const source = readFileSync(join(root, 'src/core/crypto/index.ts'), 'utf8')
    expect(source).toMatch(/\(globalThis as [^)]*\)\.process/)
    expect(source).toMatch(/getBuiltinModule\?\.\(/)
    // Type positions only: `typeof import('node:crypto')`, never a value import.
    for (const file of ['src/core/crypto/index.ts', 'src/core/crypto/nodeCrypto.ts']) {
      const text = readFileSync(join(root, file), 'utf8')
      expect(text, file).not.toMatch(/^import\s+(?!type\b)[^'"]*from\s+['"]node:/m)
      for (const m of text.matchAll(/import\(\s*['"]node:crypto['"]\s*\)/g)) expect(text.slice(Math.max(0, (m.index ?? 0) - 7), m.index), file).toBe('typeof ')
    }
  })

  it('every exception is still needed (a stale one would hide a regression)', () => {
    for (const [file, { globals = [], imports = [] }] of Object.entries(EXCEPTIONS)) {
      const source = readFileSync(join(root, file), 'utf8')
      for (const g of globals) expect(nodeGlobalsIn(source), `${file}: ${g}`).toContain(g)
      for (const i of imports) expect(source, `${file}: ${i}`).toContain(i)
    }
  })
})
