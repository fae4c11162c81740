// @vitest-environment happy-dom
/**
 * Issue 9 §5, measured where it matters: react-redux components. A list of 50 memoized rows is
 * shown; a late event arrives from another peer and sorts before them (the thread rolls back and
 * replays). Only the new row renders; the 50 rows whose items did not change do not render again.
 */
import { configureStore } from '@reduxjs/toolkit'
import { act, createElement, memo, useRef } from 'react'
import { createRoot } from 'react-dom/client'
import { Provider, useSelector } from 'react-redux'
import { describe, expect, it } from 'vitest'
import { createPeer } from '../../src/index.js'
import { todos, type Todo } from '../../examples/todo/todoSlice.js'

;(globalThis as { IS_REACT_ACT_ENVIRONMENT?: boolean }).IS_REACT_ACT_ENVIRONMENT = true

describe('renders after a replay (issue 9 §5)', () => {
  it('memoized rows of unchanged items do not render again after a late event', async () => {
    const a = createPeer()
    const b = createPeer()
    const storeA = configureStore({ reducer: { [a.reducerPath]: a.reducer, todos: todos.reducer }, middleware: (g) => g().concat(a.middleware) })
    const storeB = configureStore({ reducer: { [b.reducerPath]: b.reducer, todos: todos.reducer }, middleware: (g) => g().concat(b.middleware) })
    const { threadId } = await storeA.dispatch(a.thunks.createThread({ slices: [todos] })).unwrap()
    await storeB.dispatch(b.thunks.openThread({ threadId, slices: [todos], key: a.thread(threadId)!.key })).unwrap()
    await storeA.dispatch(todos.actions.added('early')).unwrap()
    for (let i = 0; i < 50; i++) storeB.dispatch(todos.actions.added(`row${i}`))
    await b.idle()

    const renders = new Map<string, number>()
    const Row = memo(function Row({ todo }: { todo: Todo }) {
      renders.set(todo.text, (renders.get(todo.text) ?? 0) + 1)
      return createElement('li', null, todo.text)
    })
    function List() {
      const items = useSelector((s: ReturnType<typeof storeB.getState>) => s.todos)
      const lists = useRef(0)
      lists.current++
      return createElement('ul', null, items.map((t) => createElement(Row, { key: t.id, todo: t })))
    }
    const container = document.createElement('div')
    const root = createRoot(container)
    await act(async () => root.render(createElement(Provider, { store: storeB, children: createElement(List) })))
    expect(container.querySelectorAll('li')).toHaveLength(50)
    expect([...renders.values()].every((n) => n === 1)).toBe(true)

    // The late event: A's record reaches B and sorts before (some of) B's rows.
    await act(async () => {
      for (const { logId, blocks } of await a.thread(threadId)!.recordsSince(new Map())) await b.thread(threadId)!.ingest(logId, blocks)
      await b.idle()
    })
    expect(container.querySelectorAll('li')).toHaveLength(51)
    expect(renders.get('early')).toBe(1)
    const again = [...renders.entries()].filter(([text, n]) => text.startsWith('row') && n > 1)
    expect(again).toEqual([])
    act(() => root.unmount())
    await Promise.all([a.close(), b.close()])
  })
})
