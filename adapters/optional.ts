/**
 * Loading an adapter's optional peer dependency: the package is imported when the adapter first
 * needs it, and a missing one is reported as a {@link MissingDependencyError} that names the
 * packages to install, not as a bare module-not-found from deep inside the adapter.
 *
 * The adapters pass their own `() => import('pkg')`, written out literally, so bundlers still see
 * and bundle the package (only this module's error handling is shared).
 *
 * @packageDocumentation
 */
import { MissingDependencyError } from '../src/core/errors.js'

/** True for Node's (ESM and CommonJS) and bundlers' "cannot find this package" errors. */
function isNotFound(e: unknown, packages: readonly string[]): boolean {
  const { code, message } = (e ?? {}) as { code?: unknown; message?: unknown }
  const text = typeof message === 'string' ? message : ''
  const notFound = code === 'ERR_MODULE_NOT_FOUND' || code === 'MODULE_NOT_FOUND' || /cannot find (package|module)|failed to resolve module specifier/i.test(text)
  return notFound && packages.some((p) => text.includes(`'${p}'`) || text.includes(`"${p}"`) || text.includes(`/${p}/`) || text.includes(` ${p} `) || text.endsWith(p))
}

/**
 * `load()`, or a {@link MissingDependencyError} naming `install` when `load` fails because one of
 * them is not installed.
 *
 * @example
 * ```ts
 * const { Level } = await loadOptional('redux-p2p-threads/level', ['level'], () => import('level'))
 * ```
 */
export async function loadOptional<T>(entry: string, install: readonly string[], load: () => Promise<T>): Promise<T> {
  try {
    return await load()
  } catch (e) {
    if (!isNotFound(e, install)) throw e
    throw new MissingDependencyError(`${entry} needs ${install.join(', ')}, an optional peer dependency: npm install ${install.join(' ')}`, {}, { cause: e })
  }
}
