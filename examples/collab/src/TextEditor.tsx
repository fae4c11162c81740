import { useLayoutEffect, useRef } from 'react'
import { useStore } from 'react-redux'
import { makeDeleteRange, makeInsertTextAt, type TextState } from '../../../src/db/crdt/index.js'
import { docs } from './docsSlice.js'
import { useAppDispatch, useAppSelector } from './hooks.js'
import { diff } from './textDiff.js'

/**
 * A plain <textarea> over a CRDT text (src/db/crdt/text.ts). Each edit is diffed against the text
 * this peer holds and becomes a delete of the characters it saw and an insert anchored on the
 * character before it, so concurrent edits elsewhere survive. The caret is kept on the character
 * before it (by element ID), so a peer's edit does not move it.
 */
export function TextEditor({ threadId }: { threadId: string }) {
  const dispatch = useAppDispatch()
  const store = useStore()
  const doc = docs.forThread(threadId)
  const text = useAppSelector(doc.selectors.text)
  const area = useRef<HTMLTextAreaElement>(null)
  /** The ID of the character before the caret (null: at the start). */
  const caret = useRef<string | null>(null)

  const body = (): TextState => doc.selectors.body(store.getState())
  const remember = (): void => {
    const el = area.current
    if (el !== null) caret.current = idBefore(body(), el.selectionStart)
  }

  useLayoutEffect(() => {
    const el = area.current
    if (el === null || document.activeElement !== el) return
    const at = offsetAfter(body(), caret.current)
    el.setSelectionRange(at, at)
  }, [text])

  const onChange = (next: string): void => {
    const before = textOf(body())
    const { start, removed, inserted } = diff(before, next)
    if (removed > 0) dispatch(doc.actions.typed(makeDeleteRange(body(), start, start + removed)))
    if (inserted !== '') dispatch(doc.actions.typed(makeInsertTextAt(body(), start, inserted)))
    remember()
  }

  return (
    <section className="text">
      <h2>Notes</h2>
      <textarea ref={area} data-testid="text" value={text} onChange={(e) => onChange(e.target.value)} onSelect={remember} spellCheck={false} />
    </section>
  )
}

function textOf(state: TextState): string {
  let out = ''
  for (const e of state) if (e.deleted === undefined) out += e.value
  return out
}

function idBefore(state: TextState, offset: number): string | null {
  let at = 0
  let id: string | null = null
  for (const e of state) {
    if (e.deleted !== undefined) continue
    if (at + e.value.length > offset) break
    at += e.value.length
    id = e.id
  }
  return id
}

/** The offset right after the character `id` (deleted: where it was); null: the start. */
function offsetAfter(state: TextState, id: string | null): number {
  if (id === null) return 0
  let at = 0
  for (const e of state) {
    if (e.deleted === undefined) at += e.value.length
    if (e.id === id) return at
  }
  return at
}
