/**
 * One shared document per thread: a keyed thread slice (`keyed: true`), so the state is
 * `Record<threadId, Doc>` and `docs.forThread(id)` gives the actions and selectors of one document.
 * Every case reducer is a projection: the CRDT helpers merge concurrent edits in the thread's
 * total order, the same on every peer.
 */
import type { PayloadAction } from '@reduxjs/toolkit'
import { createThreadSlice, eventOf } from '../../../src/index.js'
import {
  applyList,
  applyLwwRegister,
  applyText,
  listValues,
  lwwRegister,
  stampOf,
  textToString,
  type ListOp,
  type ListState,
  type LwwRegister,
  type LwwSet,
  type TextOp,
  type TextState
} from '../../../src/db/crdt/index.js'

export interface Task {
  readonly text: string
  readonly done: boolean
}

export interface Doc {
  readonly title: LwwRegister<string>
  /** Who wrote in this document: author (peer ID) → the name they gave. */
  readonly members: Record<string, string>
  readonly tasks: ListState<Task>
  readonly body: TextState
}

const initialState: Doc = { title: lwwRegister('Untitled'), members: {}, tasks: [], body: [] }

export const docs = createThreadSlice({
  name: 'docs',
  keyed: true,
  initialState,
  reducers: {
    titled(state, action: PayloadAction<LwwSet<string>>) {
      state.title = applyLwwRegister(state.title, action.payload, stampOf(action))
    },
    /** The author of the event names themself (the author comes from the signed event, not the payload). */
    named(state, action: PayloadAction<{ name: string }>) {
      const author = eventOf(action)?.author
      if (author !== undefined) state.members[author] = String(action.payload.name).slice(0, 40)
    },
    tasksEdited(state, action: PayloadAction<ListOp<Task>>) {
      state.tasks = applyList(state.tasks, action.payload, stampOf(action))
    },
    typed(state, action: PayloadAction<TextOp>) {
      state.body = applyText(state.body, action.payload, stampOf(action))
    }
  },
  selectors: {
    title: (doc) => doc.title.value,
    members: (doc) => doc.members,
    tasks: (doc) => doc.tasks,
    taskValues: (doc) => listValues(doc.tasks),
    body: (doc) => doc.body,
    text: (doc) => textToString(doc.body)
  }
})
