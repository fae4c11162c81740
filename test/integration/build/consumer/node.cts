// The same as node.ts, as CommonJS of the Node-side entries (with @types/node and the optional peers installed).
import { createPeer } from 'redux-p2p-threads'
import { levelStorage } from 'redux-p2p-threads/level'
import { libp2pNetwork } from 'redux-p2p-threads/libp2p'

export const peer = createPeer({ storage: levelStorage('./data', { cacheSize: 1 << 20 }), network: libp2pNetwork({ listen: ['/ip4/127.0.0.1/tcp/0'] }) })
