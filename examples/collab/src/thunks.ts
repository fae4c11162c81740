/**
 * The app's commands as thunks: start from IndexedDB, create a document, join from an invite
 * link, share, go offline and back. Each is a few dispatches of the peer's own thunks.
 */
import { createAsyncThunk } from '@reduxjs/toolkit'
import { makeLwwSet } from '../../../src/db/crdt/index.js'
import { docs } from './docsSlice.js'
import { network, peer, store, userName, type AppDispatch, type RootState } from './store.js'
import { session } from './sessionSlice.js'
import { dialRelay, fetchRelay, followOnRelay } from './relay.js'

const thunk = createAsyncThunk.withTypes<{ state: RootState; dispatch: AppDispatch }>()

/** Open every stored document (no network needed), reach the relay, and join the invite in the URL. */
export const boot = thunk('collab/boot', async (_: void, { dispatch }) => {
  await peer.start()
  for (const threadId of await peer.storedThreads()) {
    await dispatch(peer.thunks.openThread({ threadId, slices: [docs] })).unwrap()
    dispatch(session.actions.selected(threadId))
  }
  const relay = await fetchRelay().catch(() => undefined)
  dispatch(session.actions.relayFound(relay))
  if (relay !== undefined) {
    await dialRelay(relay).catch(() => undefined)
    // A relay that restarted without its data follows our documents again (a no-op otherwise).
    for (const threadId of await peer.storedThreads()) void follow(threadId, relay.peerId).catch(() => undefined)
  }
  dispatch(session.actions.ready())
  const invite = new URLSearchParams(location.hash.slice(1)).get('invite')
  if (invite !== null) {
    history.replaceState(null, '', location.pathname + location.search)
    await dispatch(joinDoc(invite)).unwrap()
  }
})

async function follow(threadId: string, relayId: string): Promise<void> {
  const invite = await store.dispatch(peer.thunks.invite({ threadId, role: 'follow', to: relayId })).unwrap()
  await followOnRelay(invite)
}

/** A new document: a new thread, followed by the relay (which gets a follow invite: it reads nothing). */
export const createDoc = thunk('collab/createDoc', async (title: string, { dispatch, getState }) => {
  const { threadId } = await dispatch(peer.thunks.createThread({ slices: [docs] })).unwrap()
  const doc = docs.forThread(threadId).actions
  dispatch(doc.titled(makeLwwSet(title)))
  dispatch(doc.named({ name: userName }))
  dispatch(session.actions.selected(threadId))
  const relay = getState().session.relay
  if (relay !== undefined) await follow(threadId, relay.peerId)
  return threadId
})

/** Join from an invite link: the document opens at once and fills as it syncs (the progress bar). */
export const joinDoc = thunk('collab/joinDoc', async (invite: string, { dispatch, getState }) => {
  let threadId: string
  try {
    ;({ threadId } = await dispatch(peer.thunks.joinThread({ invite, slices: [docs], waitForSyncMs: 0 })).unwrap())
  } catch (e) {
    // A link to a document this peer already has: show it.
    const open = /thread (\S+) is already open/.exec((e as Error).message)?.[1]
    if (open === undefined) throw e
    threadId = open
  }
  dispatch(session.actions.selected(threadId))
  const doc = docs.forThread(threadId)
  if (doc.selectors.members(getState())[peer.id ?? ''] !== userName) dispatch(doc.actions.named({ name: userName }))
  return threadId
})

/** A link that joins the document: a bearer write invite in the URL's fragment (never sent to a server). */
export const shareLink = thunk('collab/shareLink', async (threadId: string, { dispatch }) => {
  const invite = await dispatch(peer.thunks.invite({ threadId, role: 'write' })).unwrap()
  return `${location.origin}${location.pathname}#invite=${encodeURIComponent(invite)}`
})

/** Offline: refuse every dial and hang up; online: dial the relay and sync every document now. */
export const setOffline = thunk('collab/setOffline', async (offline: boolean, { dispatch, getState }) => {
  network.offline = offline
  dispatch(session.actions.offlineSet(offline))
  const net = peer.network
  if (net === undefined) return
  if (offline) {
    await Promise.all(net.connectedPeers().map((p) => net.hangUp(p)))
    return
  }
  // The relay's address, asked again if it was unreachable when the page started.
  const relay = getState().session.relay ?? (await fetchRelay().catch(() => undefined))
  dispatch(session.actions.relayFound(relay))
  if (relay !== undefined) await dialRelay(relay)
  await dispatch(peer.thunks.syncNow()).unwrap()
})
