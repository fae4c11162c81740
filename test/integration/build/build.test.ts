import { execFile } from 'node:child_process'
import { cpSync, existsSync, mkdirSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs'
import { mkdtemp } from 'node:fs/promises'
import { createRequire } from 'node:module'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { pathToFileURL } from 'node:url'
import { promisify } from 'node:util'
import { beforeAll, describe, expect, it } from 'vitest'
import { STARTED_CEILING_KIB, checkBrowserBundle, checkNetworkBundle, TARGET_KIB } from './weight.js'

const run = promisify(execFile)
const root = join(import.meta.dirname, '..', '..', '..')
const dist = join(root, 'dist')
type Conditions = string | { readonly [condition: string]: Conditions }
const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { name: string; exports: Record<string, Conditions> }
const pkgName = pkg.name
/** Every file a conditional export names. */
const targets = (c: Conditions): string[] => (typeof c === 'string' ? [c] : Object.values(c).flatMap(targets))

// The published package is what users get: build it once (every describe of this file waits for
// the same build), then load every entry as they would.
let building: Promise<unknown> | undefined
function build(): Promise<unknown> {
  building ??= run(process.execPath, [join(root, 'node_modules', 'rollup', 'dist', 'bin', 'rollup'), '-c'], { cwd: root })
  return building
}

describe('the rollup build', () => {
  beforeAll(async () => {
    await build()
  }, 180_000)

  it('writes every file package.json exports', () => {
    for (const [subpath, target] of Object.entries(pkg.exports)) {
      for (const file of targets(target)) expect(existsSync(join(root, file)), `${subpath} → ${file}`).toBe(true)
    }
  })

  it('loads as CommonJS and works: a record made through require() verifies (advanced entry)', () => {
    const require = createRequire(import.meta.url)
    const lib = require(join(dist, 'advanced.cjs')) as typeof import('../../../src/advanced.js')
    const key = lib.generateLogKey()
    const threadKey = lib.createThreadKey()
    const thread = lib.ThreadId.create()
    const record = lib.createRecord({ logKey: key, threadKey, thread, body: lib.encodeCommand({ type: 't/x', payload: 1 }), clock: 1, time: 0 })
    const again = lib.verifyRecord({ thread, logId: key.id, serviceKey: threadKey.service }, lib.recordBlocks(record))
    expect(again.id.toString()).toBe(record.id.toString())
    expect(again.cid.toString()).toBe(record.cid.toString())
    // Signed into its thread: another thread's context does not verify it.
    expect(() => lib.verifyRecord({ thread: lib.ThreadId.create(), logId: key.id, serviceKey: threadKey.service }, lib.recordBlocks(record))).toThrow(/signature/)
    expect(typeof (require(join(dist, 'level.cjs')) as { levelStorage: unknown }).levelStorage).toBe('function')
  })

  it('loads the root entry as CommonJS and works: a synchronous store module, a thread, a durable command', async () => {
    const require = createRequire(import.meta.url)
    const lib = require(join(dist, 'index.cjs')) as typeof import('../../../src/index.js')
    const { configureStore } = await import('@reduxjs/toolkit')
    const counter = lib.createThreadSlice({ name: 'counter', initialState: { n: 0 }, reducers: { add: (s, a: { type: string; payload: number }) => void (s.n += a.payload) } })
    const peer = lib.createPeer()
    const store = configureStore({ reducer: { [peer.reducerPath]: peer.reducer, counter: counter.reducer }, middleware: (d) => d().concat(peer.middleware) })
    try {
      const { threadId } = await store.dispatch(peer.thunks.createThread({ slices: [counter] })).unwrap()
      expect(await store.dispatch(counter.actions.add(2)).unwrap()).toMatchObject({ threadId, seq: 1, local: true })
      expect(store.getState().counter).toEqual({ n: 2 })
      // The same error classes by name, whichever build threw them.
      expect(() => store.dispatch(lib.createThreadSlice({ name: 'other', initialState: 0, reducers: { x: (s) => s + 1 } }).actions.x())).toThrow(
        expect.objectContaining({ name: 'MisuseError' })
      )
    } finally {
      await peer.close()
    }
  })

  it('the ESM and CJS builds in one process work together: a slice from one, a peer from the other', async () => {
    const require = createRequire(import.meta.url)
    const cjs = require(join(dist, 'index.cjs')) as typeof import('../../../src/index.js')
    const esm = (await import(join(dist, 'index.js'))) as typeof import('../../../src/index.js')
    const { configureStore, createListenerMiddleware } = await import('@reduxjs/toolkit')
    const notes = esm.createThreadSlice({ name: 'notes', initialState: [] as string[], reducers: { added: (s, a: { type: string; payload: string }) => void s.push(a.payload) } })
    expect(cjs.isThreadSlice(notes)).toBe(true)
    const peer = cjs.createPeer()
    const heard: Array<string | undefined> = []
    const listener = createListenerMiddleware()
    listener.startListening({ actionCreator: notes.actions.added, effect: (action) => void heard.push(esm.eventOf(action)?.threadId) })
    const store = configureStore({
      reducer: { [peer.reducerPath]: peer.reducer, notes: notes.reducer },
      middleware: (d) => d().concat(peer.middleware, listener.middleware)
    })
    try {
      const { threadId } = await store.dispatch(peer.thunks.createThread({ slices: [notes] })).unwrap()
      await store.dispatch(notes.actions.added('from esm')).unwrap()
      expect(store.getState().notes).toEqual(['from esm'])
      expect(heard).toEqual([threadId])
      // The applied action of one build matches the other's action creator.
      expect(esm.threadApplied.type).toBe(cjs.threadApplied.type)
    } finally {
      await peer.close()
    }
  })

  it('starts a real libp2p node from the CommonJS build (ESM-only libp2p is loaded with import())', async () => {
    const require = createRequire(import.meta.url)
    const { libp2pNetwork } = require(join(dist, 'libp2p.cjs')) as typeof import('../../../adapters/network/libp2p.js')
    const { generateLogKey } = require(join(dist, 'advanced.cjs')) as typeof import('../../../src/advanced.js')
    const identity = generateLogKey()
    const net = libp2pNetwork({ listen: ['/ip4/127.0.0.1/tcp/0'] })({ identity })
    await net.start()
    try {
      expect(net.peerId).toBe(identity.id)
      expect(net.addresses().some((a) => a.startsWith('/ip4/127.0.0.1/tcp/'))).toBe(true)
    } finally {
      await net.stop()
    }
  })

  it('loads as ESM, with declarations for the public API', async () => {
    const lib = (await import(join(dist, 'index.js'))) as typeof import('../../../src/index.js')
    expect(lib.Variant.AccessControlled).toBe(0x70)
    // The root is the small public set; the internals are under the advanced subpath.
    expect(Object.keys(lib).length).toBeLessThanOrEqual(40)
    expect('createRecord' in lib).toBe(false)
    const advanced = (await import(join(dist, 'advanced.js'))) as typeof import('../../../src/advanced.js')
    expect(typeof advanced.engineOf).toBe('function')
    expect(typeof advanced.createRecord).toBe('function')
    expect(advanced.ThreadId.parse('bafkxd5bjgi6k4zivuoyxo4ua4mzyy').random.length).toBe(16)
    for (const [entry, names] of [
      ['index.d.ts', ['createThreadSlice', 'createPeer', 'ThreadId', 'StorageAdapter', 'NetworkAdapter', 'KeyedThreadSlice', 'PeerThunks', 'threadApplied']],
      ['advanced.d.ts', ['engineOf', 'ThreadEngine', 'createRecord', 'SyncService']]
    ] as const) {
      const dts = readFileSync(join(dist, entry), 'utf8')
      for (const name of names) expect(dts, `${entry}: ${name}`).toContain(name)
      // No `any` in the public types (comments aside).
      const code = dts.replace(/\/\*[\s\S]*?\*\//g, '').replace(/\/\/.*$/gm, '')
      expect(code, entry).not.toMatch(/[:<,|(]\s*any\b/)
    }
  })

  it('ships an executable CLI', () => {
    expect(readFileSync(join(dist, 'cli.js'), 'utf8').startsWith('#!/usr/bin/env node')).toBe(true)
  })
})

/** Run a command; its exit code and output, whether or not it failed. */
async function attempt(file: string, args: readonly string[], cwd = root): Promise<{ code: number; out: string }> {
  try {
    const { stdout, stderr } = await run(file, [...args], { cwd, maxBuffer: 64 * 1024 * 1024 })
    return { code: 0, out: stdout + stderr }
  } catch (e) {
    const { code, stdout, stderr } = e as { code?: number; stdout?: string; stderr?: string }
    return { code: typeof code === 'number' ? code : 1, out: `${stdout ?? ''}${stderr ?? ''}` }
  }
}

const cjsSubpaths = Object.entries(pkg.exports).filter(([, c]) => typeof c === 'object' && 'require' in c)

describe('declarations: per format, and nothing a strict consumer cannot check', () => {
  beforeAll(async () => {
    await build()
  }, 180_000)

  it('each CommonJS entry has .d.cts types under "require", and .d.ts under "import"', () => {
    expect(cjsSubpaths.map(([s]) => s)).toEqual(['.', './advanced', './db', './memory', './level', './localforage', './memory-network', './libp2p'])
    for (const [subpath, c] of cjsSubpaths) {
      const conditions = c as { import: { types: string; default: string }; require: { types: string; default: string } }
      expect(conditions.import.types, subpath).toMatch(/\.d\.ts$/)
      expect(conditions.import.default, subpath).toMatch(/\.js$/)
      expect(conditions.require.types, subpath).toMatch(/\.d\.cts$/)
      expect(conditions.require.default, subpath).toMatch(/\.cjs$/)
      // Relative imports of a .d.cts stay among the .d.cts files.
      const dcts = readFileSync(join(root, conditions.require.types), 'utf8')
      expect(dcts, subpath).not.toMatch(/from '\.{1,2}\/[^']*\.js'/)
    }
  })

  it('no declaration imports a Node built-in or names a global type of an optional peer (LocalForage)', () => {
    const files = [...readdirSync(dist), ...readdirSync(join(dist, 'chunks')).map((f) => `chunks/${f}`)].filter((f) => /\.d\.c?ts$/.test(f))
    expect(files.length).toBeGreaterThan(20)
    for (const f of files) {
      const code = readFileSync(join(dist, f), 'utf8').replace(/\/\*[\s\S]*?\*\//g, '')
      expect(code, f).not.toMatch(/from ['"]node:|import\(['"]node:|NodeJS\.|\bBuffer\b/)
      expect(code, f).not.toMatch(/\bLocalForage\b/)
    }
  })

  // A consumer directory whose node_modules links this package (as an install would) and the few
  // packages the fixtures import themselves; everything else resolves from this package's own.
  it('a strict consumer (strict, skipLibCheck false) type-checks every entry: ESM and CJS, node16, bundler and node10', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'rpt-consumer-'))
    try {
      cpSync(join(import.meta.dirname, 'consumer'), dir, { recursive: true })
      mkdirSync(join(dir, 'node_modules'))
      symlinkSync(root, join(dir, 'node_modules', pkgName))
      for (const scope of ['@reduxjs', '@types']) symlinkSync(join(root, 'node_modules', scope), join(dir, 'node_modules', scope))
      const tsc = join(root, 'node_modules', 'typescript', 'bin', 'tsc')
      const configs = readdirSync(dir).filter((f) => /^tsconfig\..+\.json$/.test(f))
      expect(configs.sort()).toEqual(['tsconfig.browser-bundler.json', 'tsconfig.browser-node10.json', 'tsconfig.browser-node16.json', 'tsconfig.node-bundler.json', 'tsconfig.node-node16.json'])
      const results = await Promise.all(configs.map(async (c) => ({ c, ...(await attempt(process.execPath, [tsc, '-p', c], dir)) })))
      for (const { c, code, out } of results) expect({ c, code, out }).toEqual({ c, code: 0, out: '' })
    } finally {
      rmSync(dir, { recursive: true, force: true })
    }
  }, 180_000)
})

describe('the packed package', () => {
  let tarball = ''
  let packDir = ''
  beforeAll(async () => {
    await build()
    packDir = await mkdtemp(join(tmpdir(), 'rpt-pack-'))
    // --ignore-scripts: prepack would build again (the build above is the same one).
    const { stdout } = await run('npm', ['pack', '--ignore-scripts', '--json', '--pack-destination', packDir], { cwd: root })
    const [info] = JSON.parse(stdout) as Array<{ filename: string; files: Array<{ path: string }> }>
    tarball = join(packDir, (info as { filename: string }).filename)
    packed = (info as { files: Array<{ path: string }> }).files.map((f) => f.path)
  }, 180_000)
  let packed: string[] = []

  it('is named redux-p2p-threads, builds on prepack, and ships dist/ (no sources or tests)', () => {
    const meta = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { name: string; scripts: Record<string, string>; bin: Record<string, string> }
    expect(meta.name).toBe('redux-p2p-threads')
    expect(meta.scripts.prepack).toBe('npm run build')
    expect(meta.bin).toEqual({ 'redux-p2p-threads': './dist/cli.js' })
    for (const file of Object.values(pkg.exports).flatMap(targets)) expect(packed, file).toContain(file.replace(/^\.\//, ''))
    expect(packed).toContain('dist/cli.js')
    expect(packed.filter((f) => !/^(dist\/|package\.json$|README\.md$|CHANGELOG\.md$|LICENSE$)/.test(f))).toEqual([])
    expect(packed.filter((f) => f.endsWith('.map') || f.endsWith('.tgz'))).toEqual([])
  })

  it('attw: no problem under node10, node16 (CJS and ESM) and bundler, but the ESM-only conformance suites', async () => {
    const report = join(packDir, 'attw.json')
    const attw = join(root, 'node_modules', '@arethetypeswrong', 'cli', 'dist', 'index.js')
    // To a file: piped, the CLI exits before a large report is flushed.
    await attempt('sh', ['-c', `"${process.execPath}" "${attw}" "${tarball}" --format json > "${report}"`])
    const { problems } = JSON.parse(readFileSync(report, 'utf8')) as { problems: Record<string, Array<{ kind: string; entrypoint: string; resolutionKind: string }>> }
    const all = Object.values(problems).flat()
    expect(all.filter((p) => !(p.kind === 'CJSResolvesToESM' && /conformance$/.test(p.entrypoint)))).toEqual([])
  }, 120_000)
})

describe('the CLI as installed', () => {
  beforeAll(async () => {
    await build()
  }, 180_000)

  it('answers --version, --help and follower --help through a bin symlink (as node_modules/.bin has it)', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'rpt-bin-'))
    try {
      const bin = join(dir, 'redux-p2p-threads')
      symlinkSync(join(dist, 'cli.js'), bin)
      const { version } = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { version: string }
      const [v, help, sub, unknown] = await Promise.all([
        attempt(process.execPath, [bin, '--version']),
        attempt(process.execPath, [bin, '--help']),
        attempt(process.execPath, [bin, 'follower', '--help']),
        attempt(process.execPath, [bin, 'follower', '--nope'])
      ])
      expect(v).toEqual({ code: 0, out: `${version}\n` })
      expect(help.code).toBe(0)
      expect(help.out).toMatch(/^usage:\n {2}redux-p2p-threads follower --data <dir>/)
      expect(sub.code).toBe(0)
      expect(sub.out).toMatch(/^usage: redux-p2p-threads follower --data <dir>/)
      expect(unknown.code).toBe(1)
      expect(unknown.out).toContain("Unknown option '--nope'")
      expect(unknown.out).toContain('redux-p2p-threads follower --help')
    } finally {
      rmSync(dir, { recursive: true, force: true })
    }
  }, 60_000)
})

/** The adapters' optional peer dependencies, by entry. */
const OPTIONAL: Record<string, readonly string[]> = {
  level: ['level'],
  localforage: ['localforage'],
  libp2p: ['libp2p', '@libp2p/tcp', '@libp2p/websockets', '@libp2p/noise', '@libp2p/yamux', '@libp2p/identify', '@libp2p/gossipsub', 'ws']
}

describe('optional peer dependencies', () => {
  beforeAll(async () => {
    await build()
  }, 180_000)

  it('each adapter package is an optional peer (and a dev dependency for our tests), never a dependency', () => {
    const meta = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as Record<string, Record<string, unknown>>
    for (const name of Object.values(OPTIONAL).flat()) {
      expect(meta.dependencies, name).not.toHaveProperty([name])
      expect(meta.peerDependencies, name).toHaveProperty([name])
      expect(meta.peerDependenciesMeta, name).toHaveProperty([name], { optional: true })
      expect(meta.devDependencies?.[name], name).toBe(meta.peerDependencies?.[name])
    }
  })

  it('no built module imports one statically (a browser app without them bundles and loads)', () => {
    const files = [...readdirSync(dist), ...readdirSync(join(dist, 'chunks')).map((f) => `chunks/${f}`)].filter((f) => /\.c?js$/.test(f) && f !== 'cli.js')
    for (const f of files) {
      const code = readFileSync(join(dist, f), 'utf8')
      for (const name of Object.values(OPTIONAL).flat()) {
        const q = name.replace(/[/.]/g, (c) => `\\${c}`)
        // A top-level import or require; the adapters' lazy ones (inside a function) are the point.
        expect(code, `${f}: ${name}`).not.toMatch(new RegExp(`^import[^;]*from ['"]${q}['"]|^(var|const|let) \\w+ = require\\(['"]${q}['"]\\)`, 'm'))
      }
      // Node-only transports are not even named to bundlers.
      expect(code, f).not.toMatch(/import\(['"](@libp2p\/tcp|ws)['"]\)/)
    }
  })

  it('an adapter whose package is missing says which to install (ESM and CJS builds)', async () => {
    // Control: with the packages there, the CommonJS build loads level through require().
    const lib = createRequire(import.meta.url)(join(dist, 'level.cjs')) as typeof import('../../../adapters/storage/level.js')
    const control = lib.levelStorage(await mkdtemp(join(tmpdir(), 'rpt-level-')))
    await control.acquire?.()
    await control.close()
    const dir = await mkdtemp(join(tmpdir(), 'rpt-missing-'))
    try {
      // Resolution hooks hide the optional peers, as in an app that did not install them.
      const hidden = Object.values(OPTIONAL).flat()
      writeFileSync(
        join(dir, 'hooks.mjs'),
        `const hidden = ${JSON.stringify(hidden)}
export async function resolve(specifier, context, next) {
  if (hidden.includes(specifier)) {
    const e = new Error(\`Cannot find package '\${specifier}' imported from \${context.parentURL}\`)
    e.code = 'ERR_MODULE_NOT_FOUND'
    throw e
  }
  return next(specifier, context)
}
`
      )
      writeFileSync(join(dir, 'register.mjs'), `import { register } from 'node:module'\nregister(${JSON.stringify(pathToFileURL(join(dir, 'hooks.mjs')).href)})\n`)
      // The CommonJS build require()s the CommonJS peers (level, localforage): hidden from require too.
      writeFileSync(
        join(dir, 'hide.cjs'),
        `const Module = require('node:module')
const hidden = ${JSON.stringify(hidden)}
const resolve = Module._resolveFilename
Module._resolveFilename = function (request, ...rest) {
  if (hidden.includes(request)) {
    const e = new Error(\`Cannot find module '\${request}'\`)
    e.code = 'MODULE_NOT_FOUND'
    throw e
  }
  return resolve.call(this, request, ...rest)
}
`
      )
      const probe = (entry: string, body: string): Promise<{ code: number; out: string }> =>
        attempt(process.execPath, ['--require', join(dir, 'hide.cjs'), '--import', join(dir, 'register.mjs'), '--input-type=module', '-e', `const m = await import(${JSON.stringify(join(dist, entry))})\ntry { ${body}; console.log('no error') } catch (e) { console.log(e.name + ': ' + e.message) }`])
      const results = await Promise.all([
        probe('level.js', `await m.levelStorage(${JSON.stringify(join(dir, 'db'))}).acquire()`),
        probe('level.cjs', `await m.levelStorage(${JSON.stringify(join(dir, 'db2'))}).acquire()`),
        probe('localforage.js', `await m.localforageStorage().acquire()`),
        probe('localforage.cjs', `await m.localforageStorage().acquire()`),
        probe('libp2p.js', `const idx = await import(${JSON.stringify(join(dist, 'advanced.js'))}); await m.libp2pNetwork()({ identity: idx.generateLogKey() }).start()`)
      ])
      expect(results.map((r) => r.out.trim())).toEqual([
        'MissingDependencyError: redux-p2p-threads/level needs level, an optional peer dependency: npm install level',
        'MissingDependencyError: redux-p2p-threads/level needs level, an optional peer dependency: npm install level',
        'MissingDependencyError: redux-p2p-threads/localforage needs localforage, an optional peer dependency: npm install localforage',
        'MissingDependencyError: redux-p2p-threads/localforage needs localforage, an optional peer dependency: npm install localforage',
        expect.stringMatching(/^MissingDependencyError: redux-p2p-threads\/libp2p needs libp2p, @libp2p\/websockets, .*: npm install libp2p @libp2p\/websockets /)
      ])
    } finally {
      rmSync(dir, { recursive: true, force: true })
    }
  }, 60_000)
})

describe('browser bundle weight (./weight.ts)', () => {
  beforeAll(async () => {
    await build()
  }, 180_000)

  it(`typical use, minified and gzipped: entry at most ${TARGET_KIB} KiB, started peer under ${STARTED_CEILING_KIB} KiB, one copy of each package, no Node built-in`, async () => {
    const w = await checkBrowserBundle()
    // What loads on demand is a small part: the split does not hide weight in lazy chunks.
    expect(w.allKiB - w.startedKiB).toBeLessThan(40)
  }, 120_000)

  it('with the libp2p network: one copy of each package across the libp2p stack, no Node-only transport', async () => {
    expect(await checkNetworkBundle()).toBeGreaterThan(0)
  }, 120_000)
})
