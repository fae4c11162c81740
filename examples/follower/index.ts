/**
 * A follower server (paper section 3.1.2): `npm run follower -- --data ./follower --invite threads:…`
 *
 * It stores, verifies and serves the logs of every thread it follows to peers that prove they
 * hold the thread's service key, and can read none of them: it is given `follow` invites, which
 * carry the service key only. Writers that are offline are still reachable through it.
 *
 * Make a follow invite on any writer:
 * `await store.dispatch(peer.thunks.invite({ threadId, role: 'follow' })).unwrap()` (or seal it to
 * the follower's peer ID with `{ threadId, role: 'follow', to: followerPeerId }`). This is the same code as the
 * `redux-p2p-threads follower` CLI (bin/redux-p2p-threads.ts), shown as a program of its own.
 */
import { runFollower } from '../../bin/redux-p2p-threads.js'

const args = process.argv.slice(2)
runFollower(args.length > 0 ? args : ['--data', './.follower-data', '--listen', '/ip4/127.0.0.1/tcp/4006'])
  .then((stop) => {
    const shutdown = (): void => {
      void stop().then(() => process.exit(0))
    }
    process.once('SIGINT', shutdown)
    process.once('SIGTERM', shutdown)
  })
  .catch((e: unknown) => {
    console.error(e instanceof Error ? e.message : e)
    process.exit(1)
  })
