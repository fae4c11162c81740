import { StrictMode } from 'react'
import { createRoot } from 'react-dom/client'
import { Provider } from 'react-redux'
import { App } from './App.js'
import { store } from './store.js'
import { session } from './sessionSlice.js'
import { boot } from './thunks.js'
import './styles.css'

createRoot(document.getElementById('root') as HTMLElement).render(
  <StrictMode>
    <Provider store={store}>
      <App />
    </Provider>
  </StrictMode>
)

store
  .dispatch(boot())
  .unwrap()
  .catch((e: unknown) => store.dispatch(session.actions.failed(`${(e as Error).name}: ${(e as Error).message}`)))
