/**
 * Types of `createKeyValueStore` (checked by `vitest --typecheck`, never run): the value type
 * flows from the `validate` type guard or from `withTypes`, the name stays a literal, actions
 * and selectors are typed, and `keyed: true` gives per-thread views.
 */
import { configureStore, type UnknownAction } from '@reduxjs/toolkit'
import { describe, expectTypeOf, it } from 'vitest'
import { createPeer, type DurableCommand, type ThreadSliceLike } from '../../src/index.js'
import { createKeyValueStore, type KeyValueEntry, type KeyValueState, type KeyValueStore, type KeyedKeyValueStore } from '../../src/db/index.js'

interface Contact {
  name: string
}
const isContact = (v: unknown): v is Contact => typeof v === 'object' && v !== null && typeof (v as Contact).name === 'string'

const contacts = createKeyValueStore({ name: 'contacts', validate: isContact })
const prefs = createKeyValueStore.withTypes<{ value: string | number }>()({ name: 'prefs', version: 2 })
const anything = createKeyValueStore({ name: 'anything' })
const rooms = createKeyValueStore({ name: 'rooms', keyed: true, validate: isContact })

describe('createKeyValueStore types', () => {
  it('infers the value type from `validate` and keeps the name literal', () => {
    expectTypeOf(contacts).toEqualTypeOf<KeyValueStore<Contact, 'contacts'>>()
    expectTypeOf(contacts.name).toEqualTypeOf<'contacts'>()
    expectTypeOf(contacts.getInitialState()).toEqualTypeOf<KeyValueState<Contact>>()
    expectTypeOf(contacts).toExtend<ThreadSliceLike>()
    expectTypeOf(anything).toEqualTypeOf<KeyValueStore<unknown, 'anything'>>()
  })

  it('binds the value type with withTypes', () => {
    expectTypeOf(prefs).toEqualTypeOf<KeyValueStore<string | number, 'prefs'>>()
    expectTypeOf(prefs.actions.put).parameter(0).toEqualTypeOf<{ readonly key: string; readonly value: string | number }>()
  })

  it('types put and del as RTK action creators whose commands unwrap', () => {
    expectTypeOf(contacts.actions.put.type).toEqualTypeOf<'contacts/put'>()
    expectTypeOf(contacts.actions.del.type).toEqualTypeOf<'contacts/del'>()
    expectTypeOf(contacts.actions.del).parameter(0).toEqualTypeOf<string>()
    expectTypeOf(contacts.actions.put({ key: 'a', value: { name: 'A' } })).toExtend<UnknownAction & DurableCommand>()
    // @ts-expect-error the value must be a Contact
    contacts.actions.put({ key: 'a', value: 42 })
    // @ts-expect-error a key is a string
    contacts.actions.del(1)
  })

  it('types selectors over a root state with other slices', () => {
    const peer = createPeer()
    const store = configureStore({
      reducer: { [peer.reducerPath]: peer.reducer, contacts: contacts.reducer, prefs: prefs.reducer },
      middleware: (d) => d().concat(peer.middleware)
    })
    const root = store.getState()
    expectTypeOf(contacts.selectors.get(root, 'a')).toEqualTypeOf<Contact | undefined>()
    expectTypeOf(contacts.selectors.has(root, 'a')).toEqualTypeOf<boolean>()
    expectTypeOf(contacts.selectors.keys(root)).toEqualTypeOf<readonly string[]>()
    expectTypeOf(contacts.selectors.entries(root)).toEqualTypeOf<ReadonlyArray<readonly [string, Contact]>>()
    expectTypeOf(contacts.selectors.entry(root, 'a')).toEqualTypeOf<KeyValueEntry<Contact> | undefined>()
    expectTypeOf(prefs.selectors.get(root, 'theme')).toEqualTypeOf<string | number | undefined>()
  })

  it('keyed: true gives a KeyedKeyValueStore with typed per-thread views', () => {
    expectTypeOf(rooms).toEqualTypeOf<KeyedKeyValueStore<Contact, 'rooms'>>()
    const view = rooms.forThread('bafk…')
    expectTypeOf(view.actions.put).parameter(0).toEqualTypeOf<{ readonly key: string; readonly value: Contact }>()
    expectTypeOf(view.selectors.get).toEqualTypeOf<(root: unknown, key: string) => Contact | undefined>()
    expectTypeOf(rooms.reducer).returns.toEqualTypeOf<Readonly<Record<string, KeyValueState<Contact>>>>()
  })
})
