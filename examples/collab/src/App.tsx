import { peer, userName } from './store.js'
import { useAppDispatch, useAppSelector } from './hooks.js'
import { session } from './sessionSlice.js'
import { createDoc, setOffline } from './thunks.js'
import { docs } from './docsSlice.js'
import { DocView } from './DocView.js'

export function App() {
  const dispatch = useAppDispatch()
  const { selected, ready, offline, relay, error } = useAppSelector((s) => s.session)
  const threads = useAppSelector(peer.selectors.selectThreads)
  return (
    <div className="app" data-ready={ready}>
      <aside>
        <h1>Collab</h1>
        <p className="me">
          you are <b data-testid="me">{userName}</b>
        </p>
        <label className="toggle">
          <input type="checkbox" data-testid="offline" checked={offline} onChange={(e) => void dispatch(setOffline(e.target.checked))} />
          offline
        </label>
        <p className="relay">{relay === undefined ? 'no relay' : `relay ${relay.peerId.slice(-6)}`}</p>
        <form
          onSubmit={(e) => {
            e.preventDefault()
            const input = e.currentTarget.elements.namedItem('title') as HTMLInputElement
            void dispatch(createDoc(input.value.trim() || 'Untitled'))
            input.value = ''
          }}
        >
          <input name="title" data-testid="new-title" placeholder="New document title" />
          <button data-testid="new-doc" disabled={!ready}>
            Create
          </button>
        </form>
        <ul className="doc-list">
          {Object.keys(threads).map((id) => (
            <DocLink key={id} threadId={id} active={id === selected} onClick={() => dispatch(session.actions.selected(id))} />
          ))}
        </ul>
      </aside>
      <main>
        {error !== undefined && <p className="error" data-testid="error">{error}</p>}
        {selected === undefined ? <p className="empty">{ready ? 'Create a document, or open an invite link.' : 'Starting…'}</p> : <DocView key={selected} threadId={selected} />}
      </main>
    </div>
  )
}

function DocLink({ threadId, active, onClick }: { threadId: string; active: boolean; onClick: () => void }) {
  const title = useAppSelector(docs.forThread(threadId).selectors.title)
  return (
    <li className={active ? 'active' : ''}>
      <button onClick={onClick}>{title}</button>
    </li>
  )
}
