/** What is local to this tab (not shared): the open document, the relay, online or not, errors. */
import { createSlice, type PayloadAction } from '@reduxjs/toolkit'

export interface SessionState {
  /** The thread ID of the document on screen. */
  readonly selected: string | undefined
  /** Everything stored is open and the relay was dialed once. */
  readonly ready: boolean
  readonly offline: boolean
  readonly relay: { readonly peerId: string; readonly addrs: readonly string[] } | undefined
  readonly error: string | undefined
}

const initialState: SessionState = { selected: undefined, ready: false, offline: false, relay: undefined, error: undefined }

export const session = createSlice({
  name: 'session',
  initialState,
  reducers: {
    selected(state, action: PayloadAction<string | undefined>) {
      state.selected = action.payload
    },
    ready(state) {
      state.ready = true
    },
    offlineSet(state, action: PayloadAction<boolean>) {
      state.offline = action.payload
    },
    relayFound(state, action: PayloadAction<SessionState['relay']>) {
      return { ...state, relay: action.payload }
    },
    failed(state, action: PayloadAction<string | undefined>) {
      state.error = action.payload
    }
  }
})
