/**
 * The peer's start and close around the engine split (docs/PACKAGING.md, "The split"), from a fresh
 * review as a web developer: a failed start is retried, not remembered forever; a part that fails
 * to load is a named LoadFailedError; close refuses commands at once, is one operation however
 * often it is called, and a close during start never reports `ready`.
 */
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { configureStore } from '@reduxjs/toolkit'
import { afterEach, describe, expect, it } from 'vitest'
import { levelStorage } from '../../adapters/storage/level.js'
import { memoryStorage } from '../../adapters/storage/memory.js'
import { ClosedError, createPeer, LoadFailedError, StorageLockedError, type Peer, type PeerPhase } from '../../src/index.js'
import { loadPart } from '../../src/engine/loadPart.js'
import { todos, type Todo } from '../../examples/todo/todoSlice.js'

function makeStore(peer: Peer) {
  return configureStore({
    reducer: { [peer.reducerPath]: peer.reducer, todos: todos.reducer },
    middleware: (gDM) => gDM({ immutableCheck: false, serializableCheck: false }).concat(peer.middleware)
  })
}

const dirs: string[] = []
afterEach(async () => {
  for (const d of dirs.splice(0)) await rm(d, { recursive: true, force: true })
})

describe('a failed start is retried (issue 12 review)', () => {
  it('StorageLockedError while another peer holds the LevelDB directory; once it closes, the same peer starts', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'rt-lifecycle-'))
    dirs.push(dir)
    const holder = createPeer({ storage: levelStorage(dir) })
    await holder.start()
    const late = createPeer({ storage: levelStorage(dir) })
    const store = makeStore(late)
    await expect(late.start()).rejects.toBeInstanceOf(StorageLockedError)
    expect(store.getState().threads.phase).toBe('failed')
    await holder.close()
    await late.start()
    expect(store.getState().threads.phase).toBe('ready')
    expect(late.id).toBe(holder.id)
    const { threadId } = await store.dispatch(late.thunks.createThread({ slices: [todos] })).unwrap()
    await store.dispatch(todos.actions.added('after retry')).unwrap()
    expect(late.thread(threadId)?.heads().size).toBe(1)
    await late.close()
  })

  it('a part that fails to load is a LoadFailedError with its cause, and the next call loads it again', async () => {
    let calls = 0
    const flaky = (): Promise<{ value: number }> => {
      calls += 1
      return calls === 1 ? Promise.reject(new TypeError('Failed to fetch dynamically imported module: /assets/engineParts.js')) : Promise.resolve({ value: 42 })
    }
    const first = await loadPart('the engine', flaky).catch((e: unknown) => e)
    expect(first).toBeInstanceOf(LoadFailedError)
    expect((first as LoadFailedError).message).toMatch(/^the engine could not be loaded: Failed to fetch .*the next call tries again/)
    expect((first as LoadFailedError).cause).toBeInstanceOf(TypeError)
    expect(await loadPart('the engine', flaky)).toEqual({ value: 42 })
    expect(calls).toBe(2)
    // This library's own errors pass through unwrapped.
    await expect(loadPart('x', () => Promise.reject(new ClosedError('closed')))).rejects.toBeInstanceOf(ClosedError)
  })
})

describe('close (issue 12 review)', () => {
  it('refuses thread commands at dispatch with ClosedError from the moment it is called, and forgets thread handles', async () => {
    const peer = createPeer({ storage: memoryStorage() })
    const store = makeStore(peer)
    const { threadId } = await store.dispatch(peer.thunks.createThread({ slices: [todos] })).unwrap()
    await store.dispatch(todos.actions.added('kept')).unwrap()
    const closing = peer.close()
    expect(() => store.dispatch(todos.actions.added('late'))).toThrow(ClosedError)
    await closing
    expect(() => store.dispatch(todos.actions.added('later'))).toThrow(ClosedError)
    expect(store.getState().todos.map((t: Todo) => t.text)).toEqual(['kept'])
    expect(peer.thread(threadId)).toBeUndefined()
    // Other actions still pass through the store.
    expect(store.dispatch({ type: 'ui/anything' })).toEqual({ type: 'ui/anything' })
  })

  it('two calls are one close: each resolves after the storage is closed and the phase is closed', async () => {
    const storage = memoryStorage()
    const peer = createPeer({ storage })
    const store = makeStore(peer)
    await store.dispatch(peer.thunks.createThread({ slices: [todos] })).unwrap()
    const seen: string[] = []
    const a = peer.close().then(() => seen.push(`a:${store.getState().threads.phase}`))
    const b = peer.close().then(() => seen.push(`b:${store.getState().threads.phase}`))
    await Promise.all([a, b])
    expect(seen).toEqual(['a:closed', 'b:closed'])
    expect(peer.close()).toBe(peer.close())
    // The storage was released: another peer takes it.
    const next = createPeer({ storage })
    await next.start()
    await next.close()
  })

  it('a close during start: the start thunk rejects with ClosedError, and the phase never goes back to ready', async () => {
    const peer = createPeer({ storage: memoryStorage() })
    const store = makeStore(peer)
    const phases: PeerPhase[] = []
    store.subscribe(() => {
      const p = store.getState().threads.phase
      if (phases.at(-1) !== p) phases.push(p)
    })
    const started = store.dispatch(peer.thunks.createThread({ slices: [todos] })).unwrap()
    await peer.close()
    await expect(started).rejects.toMatchObject({ name: 'ClosedError' })
    expect(phases).toEqual(['idle', 'starting', 'closing', 'closed'])
  })
})
