/**
 * Types of `createPeer` (checked by `vitest --typecheck`, never run): a Peer is generic over its
 * literal reducerPath, mounting `{ [peer.reducerPath]: peer.reducer }` keeps RootState typed, the
 * lifecycle thunks unwrap to typed results and refuse wrong arguments, and the selectors (plain
 * and `withTypes`) return typed values.
 */
import { configureStore, createSelector, type Middleware, type Reducer, type UnknownAction } from '@reduxjs/toolkit'
import type { Observable } from 'rxjs'
import { describe, expectTypeOf, it } from 'vitest'
import {
  createPeer,
  createThreadSlice,
  type CreateThreadArgs,
  type JoinThreadArgs,
  type LogKey,
  type NetworkAdapter,
  type Peer,
  type PeerOptions,
  type PeerPhase,
  type PeerState,
  type Role,
  type AclChange,
  type AclRole,
  type ChangeAclArgs,
  type ThreadAccess,
  type ThreadEntry,
  type ThreadHandle,
  type ThreadKey,
  type ThreadResult
} from '../../src/index.js'
import { engineOf, type SliceStates, type ThreadEngine } from '../../src/advanced.js'

const todos = createThreadSlice({
  name: 'todos',
  initialState: [] as string[],
  reducers: { added: (state, action: { type: string; payload: string }) => void state.push(action.payload) }
})

const peer = createPeer()
const store = configureStore({
  reducer: { [peer.reducerPath]: peer.reducer, todos: todos.reducer },
  middleware: (gDM) => gDM().concat(peer.middleware)
})
type RootState = ReturnType<typeof store.getState>

describe('createPeer types', () => {
  it('returns a Peer whose reducerPath is a literal', () => {
    expectTypeOf(createPeer()).toEqualTypeOf<Peer<'threads'>>()
    expectTypeOf(peer).toEqualTypeOf<Peer>()
    expectTypeOf(peer.reducerPath).toEqualTypeOf<'threads'>()
    const custom = createPeer({ reducerPath: 'p2p' })
    expectTypeOf(custom).toEqualTypeOf<Peer<'p2p'>>()
    expectTypeOf(custom.reducerPath).toEqualTypeOf<'p2p'>()
    expectTypeOf(peer.reducer).toEqualTypeOf<Reducer<PeerState>>()
    expectTypeOf(peer.middleware).toEqualTypeOf<Middleware>()
    // Synchronous: no await before configureStore.
    expectTypeOf(createPeer).returns.not.toExtend<Promise<unknown>>()
    // @ts-expect-error: an unknown option
    createPeer({ storag: undefined })
  })

  it('{ [peer.reducerPath]: peer.reducer } keeps RootState typed, at the default path and at another', () => {
    expectTypeOf<RootState['threads']>().toEqualTypeOf<PeerState>()
    expectTypeOf<RootState['todos']>().toEqualTypeOf<string[]>()
    expectTypeOf<keyof RootState>().toEqualTypeOf<'threads' | 'todos'>()
    const p2p = createPeer({ reducerPath: 'p2p' })
    const other = configureStore({ reducer: { [p2p.reducerPath]: p2p.reducer, todos: todos.reducer }, middleware: (gDM) => gDM().concat(p2p.middleware) })
    type Other = ReturnType<typeof other.getState>
    expectTypeOf<Other['p2p']>().toEqualTypeOf<PeerState>()
    expectTypeOf<keyof Other>().toEqualTypeOf<'p2p' | 'todos'>()
    expectTypeOf<PeerState['phase']>().toEqualTypeOf<PeerPhase>()
    expectTypeOf<PeerState['threads']>().toEqualTypeOf<Readonly<Record<string, ThreadEntry>>>()
  })

  it("types the thunks' unwrap results", () => {
    const created = store.dispatch(peer.thunks.createThread({ slices: [todos] })).unwrap()
    expectTypeOf(created).resolves.toEqualTypeOf<ThreadResult>()
    expectTypeOf(created).resolves.toExtend<{ threadId: string; role: Role }>()
    expectTypeOf(created).resolves.toHaveProperty('threadId').toEqualTypeOf<string>()
    expectTypeOf(created).resolves.toHaveProperty('role').toEqualTypeOf<Role>()
    const opened = store.dispatch(peer.thunks.openThread({ threadId: 't', slices: [todos] })).unwrap()
    expectTypeOf(opened).resolves.toEqualTypeOf<ThreadResult>()
    const joined = store.dispatch(peer.thunks.joinThread({ invite: 'threads:…', slices: [todos], waitForSyncMs: 0 })).unwrap()
    expectTypeOf(joined).resolves.toEqualTypeOf<ThreadResult & { caughtUp: boolean }>()
    expectTypeOf(joined).resolves.toHaveProperty('caughtUp').toEqualTypeOf<boolean>()
    expectTypeOf(store.dispatch(peer.thunks.invite({ threadId: 't', role: 'read', to: 'peer' })).unwrap()).resolves.toEqualTypeOf<string>()
    expectTypeOf(store.dispatch(peer.thunks.leaveThread({ threadId: 't' })).unwrap()).resolves.toEqualTypeOf<{ threadId: string }>()
    expectTypeOf(store.dispatch(peer.thunks.deleteThread({ threadId: 't' })).unwrap()).resolves.toEqualTypeOf<{ threadId: string }>()
    expectTypeOf(store.dispatch(peer.thunks.syncNow()).unwrap()).resolves.toEqualTypeOf<void>()
    // Access control: one thunk for every ACL change; roles are the paper's five.
    expectTypeOf(store.dispatch(peer.thunks.changeAcl({ threadId: 't', change: { kind: 'revoke', peer: 'p', roles: ['write'] } })).unwrap()).resolves.toEqualTypeOf<ChangeAclArgs>()
    expectTypeOf<AclChange['kind']>().toEqualTypeOf<'grant' | 'revoke' | 'default' | 'delete'>()
    expectTypeOf<AclRole>().toEqualTypeOf<'no-access' | 'follow' | 'read' | 'write' | 'delete'>()
    // @ts-expect-error: not a role
    void store.dispatch(peer.thunks.changeAcl({ threadId: 't', change: { kind: 'grant', peer: 'p', roles: ['admin'] } }))
    // @ts-expect-error: a revocation names its peer
    void store.dispatch(peer.thunks.changeAcl({ threadId: 't', change: { kind: 'revoke', roles: ['read'] } }))
    expectTypeOf(peer.selectors.selectAccess(store.getState(), 't')).toEqualTypeOf<ThreadAccess | undefined>()
    expectTypeOf<ThreadEntry['access']>().toEqualTypeOf<ThreadAccess | undefined>()
    expectTypeOf(store.dispatch(peer.thunks.start()).unwrap()).resolves.toEqualTypeOf<{ peerId: string }>()
    // A transaction's result is not carried through the thunk's type (see the report).
    expectTypeOf(store.dispatch(peer.thunks.transaction({ threadId: 't', run: () => 42 })).unwrap()).resolves.toEqualTypeOf<unknown>()
    // Each thunk has RTK's pending / fulfilled / rejected action creators, for reducers and listeners.
    const a = { type: 'x' } as UnknownAction
    if (peer.thunks.createThread.fulfilled.match(a)) {
      expectTypeOf(a.payload).toEqualTypeOf<ThreadResult>()
      expectTypeOf(a.meta.arg).toEqualTypeOf<CreateThreadArgs>()
    }
    if (peer.thunks.joinThread.rejected.match(a)) expectTypeOf(a.error.name).toEqualTypeOf<string | undefined>()
    expectTypeOf(peer.thunks.invite.typePrefix).toEqualTypeOf<string>()
    expectTypeOf(peer.thunks.createThread).parameter(0).toEqualTypeOf<CreateThreadArgs>()
    expectTypeOf(peer.thunks.joinThread).parameter(0).toEqualTypeOf<JoinThreadArgs>()
  })

  it('refuses wrong thunk arguments', () => {
    // @ts-expect-error: slices are required
    peer.thunks.createThread({})
    // @ts-expect-error: a plain object is not a thread slice
    peer.thunks.createThread({ slices: [{ name: 'x' }] })
    // @ts-expect-error: openThread names its thread
    peer.thunks.openThread({ slices: [todos] })
    // @ts-expect-error: a thread ID is a string
    peer.thunks.openThread({ threadId: 42, slices: [todos] })
    // @ts-expect-error: openThread needs its slices
    peer.thunks.openThread({ threadId: 't' })
    // @ts-expect-error: joinThread takes an invite
    peer.thunks.joinThread({ slices: [todos] })
    // @ts-expect-error: 'admin' is not a Role
    peer.thunks.invite({ threadId: 't', role: 'admin' })
    // @ts-expect-error: invite names its thread
    peer.thunks.invite({ role: 'read' })
    // @ts-expect-error: a transaction runs a function
    peer.thunks.transaction({ threadId: 't', run: 42 })
    // @ts-expect-error: a thread key is not a string
    peer.thunks.openThread({ threadId: 't', slices: [todos], key: 'secret' })
    const key = null as unknown as ThreadKey
    peer.thunks.openThread({ threadId: 't', slices: [todos], key })
    expectTypeOf<Role>().toEqualTypeOf<'follow' | 'read' | 'write'>()
  })

  it("types the selectors' results, plain and bound with withTypes<RootState>()", () => {
    const state = store.getState()
    expectTypeOf(peer.selectors.selectPeer(state)).toEqualTypeOf<PeerState>()
    expectTypeOf(peer.selectors.selectPhase(state)).toEqualTypeOf<PeerPhase>()
    expectTypeOf(peer.selectors.selectThreads(state)).toEqualTypeOf<Readonly<Record<string, ThreadEntry>>>()
    expectTypeOf(peer.selectors.selectThreadStatus(state, 't')).toEqualTypeOf<ThreadEntry | undefined>()
    expectTypeOf(peer.selectors.selectIsCaughtUp(state, 't')).toEqualTypeOf<boolean>()
    expectTypeOf(peer.selectors.selectConnected(state)).toEqualTypeOf<readonly string[]>()
    // @ts-expect-error: selectThreadStatus needs the thread ID
    peer.selectors.selectThreadStatus(state)
    expectTypeOf<ThreadEntry['role']>().toEqualTypeOf<Role>()
    expectTypeOf<ThreadEntry['behind']>().toEqualTypeOf<number>()
    expectTypeOf<ThreadEntry['caughtUp']>().toEqualTypeOf<boolean>()

    const { selectors } = peer.withTypes<RootState>()
    expectTypeOf(selectors.selectThreadStatus).toEqualTypeOf<(root: RootState, threadId: string) => ThreadEntry | undefined>()
    expectTypeOf(selectors.selectPhase).parameter(0).toEqualTypeOf<RootState>()
    const behind = createSelector([selectors.selectThreads], (threads) => Object.values(threads).map((t) => t.behind))
    expectTypeOf(behind).returns.toEqualTypeOf<number[]>()
    expectTypeOf(behind).parameter(0).toEqualTypeOf<RootState>()
    // @ts-expect-error: bound selectors take the RootState
    selectors.selectPhase({ other: 1 })
  })

  it('types the rest of the peer: identity once started, handles, status$, lifecycle', () => {
    expectTypeOf(peer.id).toEqualTypeOf<string | undefined>()
    expectTypeOf(peer.identity).toEqualTypeOf<LogKey | undefined>()
    expectTypeOf(peer.network).toEqualTypeOf<NetworkAdapter | undefined>()
    expectTypeOf(peer.start()).toEqualTypeOf<Promise<void>>()
    expectTypeOf(peer.storedThreads()).toEqualTypeOf<Promise<string[]>>()
    expectTypeOf(peer.addresses()).toEqualTypeOf<string[]>()
    expectTypeOf(peer.status$('t')).toEqualTypeOf<Observable<ThreadEntry>>()
    expectTypeOf(peer.idle()).toEqualTypeOf<Promise<void>>()
    expectTypeOf(peer.close()).toEqualTypeOf<Promise<void>>()
    const handle = peer.thread('t')
    expectTypeOf(handle).toEqualTypeOf<ThreadHandle | undefined>()
    if (handle !== undefined) {
      expectTypeOf(handle.id).toEqualTypeOf<string>()
      expectTypeOf(handle.role).toEqualTypeOf<Role>()
      expectTypeOf(handle.key).toEqualTypeOf<ThreadKey>()
      expectTypeOf(handle.flush()).toEqualTypeOf<Promise<void>>()
      expectTypeOf(handle.compact()).toEqualTypeOf<number>()
      expectTypeOf(engineOf(handle)).toEqualTypeOf<ThreadEngine<SliceStates>>()
      // @ts-expect-error: the engine is reached only through engineOf (advanced)
      void handle.engine
    }
    expectTypeOf<PeerOptions['reducerPath']>().toEqualTypeOf<'threads' | undefined>()
    expectTypeOf<PeerOptions<'app'>['reducerPath']>().toEqualTypeOf<'app' | undefined>()
  })
})
