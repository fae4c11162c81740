/**
 * The layers of DESIGN.md section 2, checked on the code itself: every relative import of every
 * file in `src/` is parsed, and a lower layer never imports a higher one; `src/` never imports
 * `adapters/`; `core` does no I/O (no Node built-ins, no storage or network). ARCHITECTURE.md's
 * layer drawing cannot drift from the code while this passes.
 */
import { readdirSync, readFileSync, statSync } from 'node:fs'
import { dirname, join, relative, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { describe, expect, it } from 'vitest'

const root = resolve(dirname(fileURLToPath(import.meta.url)), '../..')
const src = join(root, 'src')

/** What each layer may import (besides itself). */
const ALLOWED: Record<string, readonly string[]> = {
  platform: [],
  core: ['platform'],
  store: ['core', 'platform'],
  engine: ['core', 'store', 'platform'],
  acl: ['core', 'store', 'engine', 'platform'],
  rx: ['core', 'store', 'engine', 'platform'],
  net: ['core', 'store', 'engine', 'platform'],
  redux: ['core', 'store', 'engine', 'acl', 'rx', 'net', 'platform'],
  // The database modules are thread slices: they sit on the Redux bindings (REVIEW.md part 3, move 3).
  db: ['core', 'engine', 'redux', 'platform'],
  '.': ['core', 'store', 'engine', 'acl', 'rx', 'net', 'redux', 'db', 'platform']
}

function files(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name)
    return statSync(path).isDirectory() ? files(path) : path.endsWith('.ts') ? [path] : []
  })
}

function layerOf(path: string): string {
  const rel = relative(src, path)
  const first = rel.split('/')[0] as string
  return rel.includes('/') ? first : '.'
}

/** Every module specifier of a file's static and dynamic imports and re-exports (not those in comments). */
function importsOf(source: string): string[] {
  const code = source.replace(/\/\*[\s\S]*?\*\//g, '').replace(/^\s*\/\/.*$/gm, '')
  const out: string[] = []
  for (const m of code.matchAll(/(?:import|export)\s[^'"]*?from\s+['"]([^'"]+)['"]|import\(\s*['"]([^'"]+)['"]\s*\)|import\s+['"]([^'"]+)['"]/g)) {
    out.push((m[1] ?? m[2] ?? m[3]) as string)
  }
  return out
}

describe('layers (DESIGN.md section 2)', () => {
  const all = files(src)

  it('finds the source files', () => {
    expect(all.length).toBeGreaterThan(50)
  })

  it('a lower layer never imports a higher one, and src/ never imports adapters/', () => {
    const wrong: string[] = []
    for (const file of all) {
      const from = layerOf(file)
      for (const spec of importsOf(readFileSync(file, 'utf8'))) {
        if (!spec.startsWith('.')) continue
        const target = resolve(dirname(file), spec)
        if (!target.startsWith(src)) {
          wrong.push(`${relative(root, file)} imports ${spec} (outside src/)`)
          continue
        }
        const to = layerOf(target.replace(/\.js$/, '.ts'))
        if (to !== from && !(ALLOWED[from] ?? []).includes(to)) wrong.push(`${relative(root, file)} (${from}) imports ${spec} (${to})`)
      }
    }
    expect(wrong).toEqual([])
  })

  it('core does no I/O: no Node built-ins (but node:crypto, found at run time), no storage, network or Redux packages', () => {
    const io = /^(node:(?!crypto)|fs|net|http|path|os|level|classic-level|localforage|libp2p|@libp2p\/(tcp|websockets)|ws|@reduxjs|redux|rxjs)/
    const wrong: string[] = []
    for (const file of all.filter((f) => layerOf(f) === 'core')) {
      for (const spec of importsOf(readFileSync(file, 'utf8'))) if (io.test(spec)) wrong.push(`${relative(root, file)} imports ${spec}`)
    }
    expect(wrong).toEqual([])
  })

  it('no Node-only global in src/ (a browser has neither setImmediate nor process)', () => {
    const wrong: string[] = []
    for (const file of all) {
      const code = readFileSync(file, 'utf8').replace(/\/\*[\s\S]*?\*\/|\/\/.*$/gm, '')
      // Allowed only behind a typeof guard or in the platform layer.
      if (layerOf(file) !== 'platform' && /(?<![.\w])setImmediate\(/.test(code) && !/typeof setImmediate/.test(code)) wrong.push(`${relative(root, file)} calls setImmediate`)
      if (layerOf(file) !== 'platform' && /(?<![.\w'"])process\.env/.test(code)) wrong.push(`${relative(root, file)} reads process.env`)
    }
    expect(wrong).toEqual([])
  })
})
