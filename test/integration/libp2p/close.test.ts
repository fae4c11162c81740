/**
 * Closing a peer while its periodic sync round is under way: the round must not outlive the
 * storage as an unhandled rejection (found by the follower test, where a writer closed while its
 * timer round was reading the address book from LevelDB).
 */
import { afterEach, describe, expect, it } from 'vitest'
import { libp2pNetwork } from '../../../adapters/network/libp2p.js'
import { levelStorage } from '../../../adapters/storage/level.js'
import { createPeer } from '../../../src/redux/createPeer.js'
import type { StorageAdapter, StorageKey } from '../../../src/store/storageAdapter.js'
import { LOOPBACK, netStore, Resources, tempDir, todos } from './helpers.js'

const resources = new Resources()
afterEach(async () => {
  await resources.closeAll()
})

/**
 * `inner`, except that once armed, the next range over a thread's address book (`['a', t]`, what
 * a sync round reads to find peers to dial) waits for `release()`.
 */
function gatedStorage(inner: StorageAdapter) {
  let armed = false
  let reached!: () => void
  const hit = new Promise<void>((r) => (reached = r))
  let open!: () => void
  const gate = new Promise<void>((r) => (open = r))
  let finished!: (outcome: string) => void
  const done = new Promise<string>((r) => (finished = r))
  const storage: StorageAdapter = {
    ...inner,
    get: (key) => inner.get(key),
    batch: (ops) => inner.batch(ops),
    close: () => inner.close(),
    range(prefix: StorageKey, options) {
      if (!armed || prefix.length !== 2 || prefix[0] !== 'a') return inner.range(prefix, options)
      armed = false
      return (async function* () {
        reached()
        await gate
        try {
          yield* inner.range(prefix, options)
          finished('ok')
        } catch (e) {
          finished(`threw ${(e as { code?: string }).code ?? String(e)}`)
          throw e
        }
      })()
    }
  }
  return {
    storage,
    arm: () => {
      armed = true
    },
    hit,
    release: open,
    done
  }
}

describe('closing a peer during a sync round', () => {
  it('a timer round that reads storage after close leaves no unhandled rejection', async () => {
    const dir = await tempDir(resources, 'close')
    const gated = gatedStorage(levelStorage(dir))
    const unhandled: unknown[] = []
    const onUnhandled = (reason: unknown): void => {
      unhandled.push(reason)
    }
    // Ours first, so the failure is an assertion here rather than only vitest's report.
    process.prependListener('unhandledRejection', onUnhandled)
    resources.add(() => process.off('unhandledRejection', onUnhandled))

    const peer = createPeer({ storage: gated.storage, network: libp2pNetwork({ listen: LOOPBACK }), syncIntervalMs: 20 })
    const store = netStore(peer)
    let closed = false
    resources.add(() => (closed ? undefined : peer.close()))
    await store.dispatch(peer.thunks.createThread({ slices: [todos] })).unwrap()
    gated.arm()
    // The peer's own timer starts a round; it stops inside the address-book read.
    await gated.hit
    await peer.close()
    closed = true
    // The round goes on against a closed LevelDB.
    gated.release()
    const outcome = await gated.done
    expect(outcome).toMatch(/^threw|^ok$/)
    // Let a rejection of the round's promise surface (a few turns of the event loop; no timer).
    for (let i = 0; i < 5; i++) await new Promise((r) => setImmediate(r))
    expect(unhandled).toEqual([])
  })
})
