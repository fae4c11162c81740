/**
 * Vite builds the app straight from the library's TypeScript (../../src, ../../adapters): the
 * page bundles the localforage and libp2p-over-WebSockets adapters and nothing of Node's.
 * `/api` goes to the relay (server.ts); `COLLAB_API` says where it listens.
 */
import { fileURLToPath } from 'node:url'
import { defineConfig } from 'vite'
import react from '@vitejs/plugin-react'

const root = fileURLToPath(new URL('.', import.meta.url))
const repo = fileURLToPath(new URL('../..', import.meta.url))

export default defineConfig({
  root,
  // Vite's dependency cache next to the app, not in node_modules (shared between worktrees here).
  cacheDir: fileURLToPath(new URL('./.vite', import.meta.url)),
  plugins: [react()],
  server: {
    host: '127.0.0.1',
    fs: { allow: [repo] },
    proxy: { '/api': process.env.COLLAB_API ?? 'http://127.0.0.1:4011' }
  },
  // The entry chunk holds React, RTK and the library's core (about 600 KB minified; libp2p and
  // localforage load on use).
  build: { target: 'es2022', outDir: 'dist', emptyOutDir: true, chunkSizeWarningLimit: 700 }
})
