import { useState } from 'react'
import { makeLwwSet } from '../../../src/db/crdt/index.js'
import { docs } from './docsSlice.js'
import { useAppDispatch, useAppSelector } from './hooks.js'
import { shareLink } from './thunks.js'
import { SyncStatus } from './SyncStatus.js'
import { TaskList } from './TaskList.js'
import { TextEditor } from './TextEditor.js'

/** One shared document: its title, sync status and who is online, the invite link, tasks and text. */
export function DocView({ threadId }: { threadId: string }) {
  const dispatch = useAppDispatch()
  const doc = docs.forThread(threadId)
  const title = useAppSelector(doc.selectors.title)
  const [link, setLink] = useState<string>()
  return (
    <article className="doc" data-testid="doc" data-thread={threadId}>
      <header>
        <input
          className="title"
          data-testid="title"
          key={title}
          defaultValue={title}
          onBlur={(e) => e.target.value !== title && dispatch(doc.actions.titled(makeLwwSet(e.target.value)))}
        />
        <button data-testid="share" onClick={() => void dispatch(shareLink(threadId)).unwrap().then(setLink)}>
          Share
        </button>
      </header>
      {link !== undefined && (
        <p className="invite">
          Invite link (anyone with it can edit): <input readOnly data-testid="invite" value={link} onFocus={(e) => e.target.select()} />
        </p>
      )}
      <SyncStatus threadId={threadId} />
      <div className="panes">
        <TaskList threadId={threadId} />
        <TextEditor threadId={threadId} />
      </div>
    </article>
  )
}
