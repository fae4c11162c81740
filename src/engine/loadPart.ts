import { LoadFailedError, isThreadsError } from '../core/errors.js'

/**
 * Load a part of the library on demand (a dynamic `import()`, which a bundler makes a chunk of
 * its own) and name the failure: `LoadFailedError`, with the cause attached, instead of the
 * platform's `TypeError: Failed to fetch dynamically imported module` or Node's
 * `ERR_REQUIRE_ESM`. The import is not cached here on failure: `import()` itself caches a
 * success, and the next call retries a failure (browsers fetch a failed module again).
 *
 * @example
 * ```ts
 * const { exportThreadCar } = await loadPart('the CAR codec', () => import('../store/car.js'))
 * ```
 * @throws {@link LoadFailedError} when the part cannot be loaded.
 */
export async function loadPart<T>(what: string, load: () => Promise<T>): Promise<T> {
  try {
    return await load()
  } catch (e) {
    // This library's own errors (MissingDependencyError for an optional peer) pass through.
    if (isThreadsError(e)) throw e
    throw new LoadFailedError(`${what} could not be loaded: ${e instanceof Error ? e.message : String(e)}; the next call tries again`, {}, { cause: e })
  }
}
