import { execFile } from 'node:child_process'
import { existsSync, readFileSync } from 'node:fs'
import { createRequire } from 'node:module'
import { join } from 'node:path'
import { promisify } from 'node:util'
import { beforeAll, describe, expect, it } from 'vitest'

const run = promisify(execFile)
const root = join(import.meta.dirname, '..', '..', '..')
const dist = join(root, 'dist')
const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { exports: Record<string, Record<string, string> | string> }

// The published package is what users get: build it once, then load every entry as they would.
describe('the rollup build', () => {
  beforeAll(async () => {
    await run(process.execPath, [join(root, 'node_modules', 'rollup', 'dist', 'bin', 'rollup'), '-c'], { cwd: root })
  }, 120_000)

  it('writes every file package.json exports', () => {
    for (const [subpath, target] of Object.entries(pkg.exports)) {
      if (typeof target === 'string') continue
      for (const file of Object.values(target)) expect(existsSync(join(root, file)), `${subpath} → ${file}`).toBe(true)
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
    const { generateLogKey } = require(join(dist, 'index.cjs')) as typeof import('../../../src/index.js')
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
    expect(lib.ThreadId.parse('bafkxd5bjgi6k4zivuoyxo4ua4mzyy').random.length).toBe(16)
    // The root is the small public set; the internals are under the advanced subpath.
    expect(Object.keys(lib).length).toBeLessThanOrEqual(40)
    expect('createRecord' in lib).toBe(false)
    const advanced = (await import(join(dist, 'advanced.js'))) as typeof import('../../../src/advanced.js')
    expect(typeof advanced.engineOf).toBe('function')
    expect(typeof advanced.createRecord).toBe('function')
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
