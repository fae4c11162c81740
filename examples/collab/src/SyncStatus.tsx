import { useEffect, useState } from 'react'
import { peer } from './store.js'
import { docs } from './docsSlice.js'
import { useAppSelector } from './hooks.js'
import { watchPresence } from './relay.js'

/**
 * The thread's status from the peer's selectors: initial-sync progress, pending writes, how far
 * behind, the connected peers that share the thread (here: the relay), and who the relay sees
 * online in this document, named from the document's members.
 */
export function SyncStatus({ threadId }: { threadId: string }) {
  const status = useAppSelector((s) => peer.selectors.selectThreadStatus(s, threadId))
  const caughtUp = useAppSelector((s) => peer.selectors.selectIsCaughtUp(s, threadId))
  const offline = useAppSelector((s) => s.session.offline)
  const members = useAppSelector(docs.forThread(threadId).selectors.members)
  const online = useOnline(threadId, offline)
  if (status === undefined) return null
  // Long work under way (loading from IndexedDB, a replay) reports its own progress; otherwise the
  // share of the known history this peer holds: its events against the records still to fetch.
  const progress = status.progress
  const fraction =
    progress !== undefined && progress.total > 0
      ? progress.done / progress.total
      : status.behind > 0
        ? status.events / (status.events + status.behind)
        : caughtUp
          ? 1
          : undefined
  const state = offline ? 'offline' : status.peers.length === 0 ? 'connecting' : !caughtUp ? 'syncing' : status.pending > 0 ? 'saving' : 'synced'
  return (
    <section className="status">
      <span className={`badge ${state}`} data-testid="sync">
        {state}
      </span>
      <progress data-testid="progress" max={1} {...(fraction === undefined ? {} : { value: fraction })} />
      {status.behind > 0 && <span>{status.behind} records to fetch</span>}
      <span className="peers">connected: {status.peers.map((p) => members[p] ?? `relay ${p.slice(-6)}`).join(', ') || 'nobody'}</span>
      <span className="online" data-testid="online">
        online: {online.map((p) => members[p] ?? p.slice(-6)).join(', ')}
      </span>
    </section>
  )
}

/** Who the relay has connected in this document (server-sent events), while we are online. */
function useOnline(threadId: string, offline: boolean): string[] {
  const [peers, setPeers] = useState<string[]>([])
  useEffect(() => {
    if (offline) {
      setPeers([])
      return
    }
    return watchPresence(threadId, setPeers)
  }, [threadId, offline])
  return peers
}
