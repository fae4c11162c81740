import { nanoid, type PayloadAction } from '@reduxjs/toolkit'
import { createThreadSlice } from '../../src/index.js'

export interface Todo {
  readonly id: string
  readonly text: string
  readonly done: boolean
  /** Log ID of the peer that added it. */
  readonly by: string
}

/**
 * A shared todo list. Ids are made in `prepare`, so they travel in the event and every peer's
 * reducer sees the same one; the author comes from the signed event (`meta.event.author`).
 */
export const todos = createThreadSlice({
  name: 'todos',
  initialState: [] as Todo[],
  reducers: {
    added: {
      reducer(state, action: PayloadAction<{ id: string; text: string }, string, { event?: { author: string } }>) {
        state.push({ id: action.payload.id, text: action.payload.text, done: false, by: action.meta.event?.author ?? 'local' })
      },
      prepare: (text: string) => ({ payload: { id: nanoid(8), text }, meta: {} })
    },
    toggled(state, action: PayloadAction<string>) {
      const todo = state.find((t) => t.id === action.payload)
      if (todo !== undefined) todo.done = !todo.done
    },
    renamed(state, action: PayloadAction<{ id: string; text: string }>) {
      const todo = state.find((t) => t.id === action.payload.id)
      if (todo !== undefined) todo.text = action.payload.text
    },
    removed(state, action: PayloadAction<string>) {
      return state.filter((t) => t.id !== action.payload)
    }
  }
})
