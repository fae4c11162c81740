import { makeListDelete, makeListInsertAt, makeListSet, type ListElement } from '../../../src/db/crdt/index.js'
import { docs, type Task } from './docsSlice.js'
import { useAppDispatch, useAppSelector } from './hooks.js'

/**
 * The task list: a CRDT list (src/db/crdt/list.ts). Adds are inserts anchored after the last task
 * this peer sees, so concurrent adds all survive; a toggle is a `set` of one element; a delete
 * leaves a tombstone (an edit of a deleted task changes nothing: delete wins).
 */
export function TaskList({ threadId }: { threadId: string }) {
  const dispatch = useAppDispatch()
  const doc = docs.forThread(threadId)
  const tasks = useAppSelector(doc.selectors.tasks)
  const live = tasks.filter((t) => t.deleted === undefined)
  const edit = doc.actions.tasksEdited
  return (
    <section className="tasks">
      <h2>Tasks</h2>
      <ul data-testid="tasks">
        {live.map((t: ListElement<Task>) => (
          <li key={t.id} className={t.value.done ? 'done' : ''}>
            <label>
              <input type="checkbox" checked={t.value.done} onChange={() => dispatch(edit(makeListSet(t.id, { ...t.value, done: !t.value.done })))} />
              <span className="task-text">{t.value.text}</span>
            </label>
            <button className="delete" title="Delete" onClick={() => dispatch(edit(makeListDelete([t.id])))}>
              ×
            </button>
          </li>
        ))}
      </ul>
      <form
        onSubmit={(e) => {
          e.preventDefault()
          const input = e.currentTarget.elements.namedItem('task') as HTMLInputElement
          const text = input.value.trim()
          if (text !== '') dispatch(edit(makeListInsertAt(tasks, live.length, [{ text, done: false }])))
          input.value = ''
        }}
      >
        <input name="task" data-testid="new-task" placeholder="Add a task" autoComplete="off" />
        <button>Add</button>
      </form>
    </section>
  )
}
