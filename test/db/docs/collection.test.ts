/**
 * Create, save, delete and find (go-threads db's collection tests, on a thread): ids made when
 * the command is made, duplicates and schema violations refused before anything is stored,
 * saves that carry a merge patch of what changed, tombstones, setSchema replicated through the
 * thread, unique indexes.
 */
import { afterEach, describe, expect, it } from 'vitest'
import { closeAll, makeDocPeers, people, type DocPeer, type Person } from './helpers.js'

let peers: DocPeer[] = []
afterEach(async () => {
  await closeAll(peers)
  peers = []
})

async function one(): Promise<DocPeer> {
  peers = await makeDocPeers(1)
  return peers[0] as DocPeer
}

const seqOf = (p: DocPeer): number => p.thread.heads().get(p.id)?.seq ?? 0

describe('createCollection: create, save, delete, find', () => {
  it('create gives a monotonic ULID _id when the command is made, and the document is found by id', async () => {
    const p = await one()
    const a = p.store.dispatch(people.actions.create({ name: 'Ada', age: 36 }))
    const b = p.store.dispatch(people.actions.create({ name: 'Bob', age: 17 }))
    expect(a.payload._id).toMatch(/^[0-9A-HJKMNP-TV-Z]{26}$/)
    expect(b.payload._id > a.payload._id).toBe(true)
    const s = p.store.getState()
    expect(people.selectors.selectById(s, a.payload._id)).toEqual({ _id: a.payload._id, name: 'Ada', age: 36 })
    expect(people.selectors.selectHas(s, b.payload._id)).toBe(true)
    expect(people.selectors.selectHas(s, 'nope')).toBe(false)
    expect(people.selectors.selectCount(s)).toBe(2)
    expect(people.selectors.selectAll(s).map((d) => d.name)).toEqual(['Ada', 'Bob'])
    await expect(a.unwrap()).resolves.toMatchObject({ seq: 1, local: true })
    // An id of the caller's choice is kept.
    expect(p.store.dispatch(people.actions.create({ _id: 'ada@home', name: 'Ada', age: 36 })).payload._id).toBe('ada@home')
  })

  it('a duplicate id is refused before it is stored: dispatch throws, unwrap rejects, the log does not grow', async () => {
    const p = await one()
    p.store.dispatch(people.actions.create({ _id: 'x', name: 'Ada', age: 36 }))
    const before = seqOf(p)
    const dup = people.actions.create({ _id: 'x', name: 'Eve', age: 20 })
    expect(() => p.store.dispatch(dup)).toThrow(expect.objectContaining({ name: 'DuplicateDocumentError' }))
    await expect(dup.unwrap()).rejects.toMatchObject({ name: 'DuplicateDocumentError' })
    await p.peer.idle()
    expect(seqOf(p)).toBe(before)
    expect(people.selectors.selectById(p.store.getState(), 'x')?.name).toBe('Ada')
  })

  it('a write that violates the schema is refused with SchemaViolationError, naming the path', async () => {
    const p = await one()
    const bad = people.actions.create({ name: 'Ada', age: -1 })
    expect(() => p.store.dispatch(bad)).toThrow(expect.objectContaining({ name: 'SchemaViolationError', message: expect.stringContaining('/age') }))
    const { payload } = p.store.dispatch(people.actions.create({ name: 'Ada', age: 1 }))
    expect(() => p.store.dispatch(people.save({ ...payload, name: '' }))).toThrow(expect.objectContaining({ name: 'SchemaViolationError' }))
    expect(() => p.store.dispatch(people.actions.create({ name: 'No age' } as unknown as Person))).toThrow(expect.objectContaining({ name: 'SchemaViolationError' }))
    await p.peer.idle()
    expect(seqOf(p)).toBe(1)
  })

  it('save sends only what changed, as an RFC 7386 merge patch computed against the current state', async () => {
    const p = await one()
    const seen: unknown[] = []
    p.listener.startListening({ matcher: people.matchChanges({ action: 'save' }), effect: (action) => void seen.push(action.payload) })
    const { payload: ada } = p.store.dispatch(people.actions.create({ name: 'Ada', age: 36, address: { city: 'London', zip: 'N1' }, tags: ['math'] }))
    const saved = p.store.dispatch(people.save({ ...ada, age: 37, address: { city: 'London' }, tags: ['math', 'poetry'] }))
    await expect(saved.unwrap()).resolves.toMatchObject({ seq: 2 })
    expect(seen).toEqual([{ _id: ada._id, patch: { age: 37, address: { zip: null }, tags: ['math', 'poetry'] } }])
    expect(people.selectors.selectById(p.store.getState(), ada._id)).toEqual({ _id: ada._id, name: 'Ada', age: 37, address: { city: 'London' }, tags: ['math', 'poetry'] })
    // Nothing changed: nothing is sent.
    const same = p.store.dispatch(people.save(people.selectors.selectById(p.store.getState(), ada._id) as Person))
    await expect(same.unwrap()).resolves.toBeUndefined()
    // The action creator takes a patch directly; removing a member with null.
    p.store.dispatch(people.actions.save({ _id: ada._id, patch: { tags: null } }))
    expect(people.selectors.selectById(p.store.getState(), ada._id)?.tags).toBeUndefined()
    await p.peer.idle()
    expect(seqOf(p)).toBe(3)
  })

  it('save of a missing document, or one that changes _id, is refused', async () => {
    const p = await one()
    expect(() => p.store.dispatch(people.save({ _id: 'ghost', name: 'G', age: 1 }))).toThrow(expect.objectContaining({ name: 'DocumentNotFoundError' }))
    expect(() => p.store.dispatch(people.actions.save({ _id: 'ghost', patch: { age: 2 } }))).toThrow(expect.objectContaining({ name: 'DocumentNotFoundError' }))
    const { payload } = p.store.dispatch(people.actions.create({ name: 'Ada', age: 1 }))
    expect(() => p.store.dispatch(people.actions.save({ _id: payload._id, patch: { _id: 'other' } }))).toThrow(expect.objectContaining({ name: 'InvalidDocumentError' }))
  })

  it('delete leaves a tombstone: the id is gone, not reusable, and deleting a missing id does nothing', async () => {
    const p = await one()
    const { payload } = p.store.dispatch(people.actions.create({ _id: 'a', name: 'Ada', age: 36, email: 'ada@x' }))
    p.store.dispatch(people.actions.delete(payload._id))
    let s = p.store.getState()
    expect(people.selectors.selectHas(s, 'a')).toBe(false)
    expect(people.selectors.selectById(s, 'a')).toBeUndefined()
    expect(people.selectors.selectCount(s)).toBe(0)
    expect(people.selectors.selectFind(s, { filter: { age: 36 } })).toEqual([])
    expect(s.people.indexes.age).toEqual([])
    const before = s.people
    p.store.dispatch(people.actions.delete('a'))
    p.store.dispatch(people.actions.delete('never'))
    s = p.store.getState()
    expect(s.people).toBe(before)
    expect(() => p.store.dispatch(people.actions.create({ _id: 'a', name: 'Again', age: 1 }))).toThrow(expect.objectContaining({ name: 'DuplicateDocumentError', message: expect.stringContaining('deleted') }))
    // The save thunk refuses a deleted document; a save event that sorts after the delete (a
    // concurrent edit) changes nothing: delete wins, on every peer, with no error.
    expect(() => p.store.dispatch(people.save({ _id: 'a', name: 'Ada', age: 2 }))).toThrow(expect.objectContaining({ name: 'DocumentNotFoundError' }))
    await p.store.dispatch(people.actions.save({ _id: 'a', patch: { age: 2 } })).unwrap()
    expect(p.store.getState().people).toBe(before)
    // The unique value of a deleted document is free again.
    p.store.dispatch(people.actions.create({ name: 'Other', age: 3, email: 'ada@x' }))
  })

  it('a unique index refuses a second document with the same value, on create and on save', async () => {
    const p = await one()
    p.store.dispatch(people.actions.create({ name: 'Ada', age: 1, email: 'a@x' }))
    const { payload: bob } = p.store.dispatch(people.actions.create({ name: 'Bob', age: 2, email: 'b@x' }))
    expect(() => p.store.dispatch(people.actions.create({ name: 'Eve', age: 3, email: 'a@x' }))).toThrow(expect.objectContaining({ name: 'UniqueIndexError' }))
    expect(() => p.store.dispatch(people.save({ ...bob, email: 'a@x' }))).toThrow(expect.objectContaining({ name: 'UniqueIndexError' }))
    p.store.dispatch(people.save({ ...bob, email: 'b@x', age: 5 }))
    expect(people.selectors.selectCount(p.store.getState())).toBe(2)
  })

  it('the indexes are part of the slice version: other indexes, another fold (old snapshots unused)', () => {
    expect(people.version).toBe('1+indexes:age|address.city|email!')
    expect(people.commandTypes).toEqual(new Set(['people/create', 'people/save', 'people/delete', 'people/setSchema']))
  })

  it('the schema lives in the thread: setSchema is replicated and versioned, and an uncompilable one is refused', async () => {
    peers = await makeDocPeers(2)
    const [a, b] = peers as [DocPeer, DocPeer]
    expect(people.selectors.selectSchema(a.store.getState()).version).toBe(1)
    const stricter = { ...(people.initialThreadState().schema.schema as object), required: ['_id', 'name', 'age', 'email'] }
    a.store.dispatch(people.actions.setSchema(stricter))
    expect(() => a.store.dispatch(people.actions.create({ name: 'Ada', age: 1 }))).toThrow(expect.objectContaining({ name: 'SchemaViolationError' }))
    expect(() => a.store.dispatch(people.actions.setSchema({ type: 'no-such-type' }))).toThrow(expect.objectContaining({ name: 'InvalidSchemaError' }))
    const { deliver } = await import('./helpers.js')
    await deliver(a, b)
    expect(people.selectors.selectSchema(b.store.getState())).toEqual({ version: 2, schema: stricter })
    // B's own code still says version 1's schema, but B writes under the thread's.
    expect(() => b.store.dispatch(people.actions.create({ name: 'Bob', age: 2 }))).toThrow(expect.objectContaining({ name: 'SchemaViolationError' }))
    b.store.dispatch(people.actions.create({ name: 'Bob', age: 2, email: 'b@x' }))
  })
})
