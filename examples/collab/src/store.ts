/**
 * The Redux store, built synchronously as every RTK store module is: the peer (IndexedDB storage
 * through localforage, libp2p over WebSockets, dialing out only), the keyed `docs` thread slice,
 * and a plain `session` slice for what is local to this tab.
 */
import { configureStore } from '@reduxjs/toolkit'
import { createPeer } from '../../../src/index.js'
import { localforageStorage } from '../../../adapters/storage/localforage.js'
import { libp2pNetwork } from '../../../adapters/network/libp2p.js'
import { docs } from './docsSlice.js'
import { session } from './sessionSlice.js'

/** Who this tab is: `?name=bob` (remembered), so two profiles can share one browser. */
export const userName = ((): string => {
  const asked = new URLSearchParams(location.search).get('name')
  if (asked !== null && asked !== '') localStorage.setItem('collab-name', asked)
  const known = localStorage.getItem('collab-name')
  if (known !== null) return known
  const made = `guest-${Math.random().toString(36).slice(2, 6)}`
  localStorage.setItem('collab-name', made)
  return made
})()

/**
 * Offline mode: while true, libp2p's connection gater refuses every dial (the peer's own redials
 * included), so the page works from IndexedDB alone until it is switched back.
 */
export const network = { offline: false }

export const peer = createPeer({
  // One IndexedDB database per user name: a second tab of the same user gets StorageLockedError.
  storage: localforageStorage({ name: `collab-${userName}` }),
  network: libp2pNetwork({
    libp2p: {
      connectionGater: {
        denyDialMultiaddr: async () => network.offline,
        denyDialPeer: async () => network.offline,
        denyInboundConnection: async () => network.offline
      }
    }
  }),
  syncIntervalMs: 2_000
})

export const store = configureStore({
  reducer: { [peer.reducerPath]: peer.reducer, [docs.reducerPath]: docs.reducer, session: session.reducer },
  // The peer's middleware turns thread-slice actions into signed events and applies remote ones.
  middleware: (gDM) => gDM({ serializableCheck: false, immutableCheck: false }).concat(peer.middleware)
})

export type RootState = ReturnType<typeof store.getState>
export type AppDispatch = typeof store.dispatch
