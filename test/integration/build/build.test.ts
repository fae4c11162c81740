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

  it('loads as CommonJS and works: a record made through require() verifies', () => {
    const require = createRequire(import.meta.url)
    const lib = require(join(dist, 'index.cjs')) as typeof import('../../../src/index.js')
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
    const dts = readFileSync(join(dist, 'index.d.ts'), 'utf8')
    for (const name of ['createThreadSlice', 'createPeer', 'ThreadId', 'StorageAdapter', 'NetworkAdapter']) expect(dts).toContain(name)
    // No `any` in the public types (comments aside).
    const code = dts.replace(/\/\*[\s\S]*?\*\//g, '').replace(/\/\/.*$/gm, '')
    expect(code).not.toMatch(/[:<,|(]\s*any\b/)
  })

  it('ships an executable CLI', () => {
    expect(readFileSync(join(dist, 'cli.js'), 'utf8').startsWith('#!/usr/bin/env node')).toBe(true)
  })
})
