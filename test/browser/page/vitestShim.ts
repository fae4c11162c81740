/**
 * What `vitest` resolves to in page bundles: enough of its API (`describe`, `it`, `beforeEach`,
 * `afterEach`, `expect`) for modules written against vitest, such as the shared storage
 * conformance suite, to register their cases in the page. Node lists them with
 * {@link pageTests} and runs them one by one with {@link runPageTest}, each as a vitest test of its
 * own.
 *
 * `expect` is vitest's own: chai with `@vitest/expect`'s Jest matchers, as vitest builds it, so
 * the assertions mean in the page what they mean in Node.
 */
import * as chai from 'chai'
import { JestAsymmetricMatchers, JestChaiExpect, JestExtend, getState, setState, type ExpectStatic } from '@vitest/expect'

chai.use(JestExtend)
chai.use(JestChaiExpect)
chai.use(JestAsymmetricMatchers)

type Fn = () => unknown | Promise<unknown>

interface Suite {
  readonly name: string
  readonly parent: Suite | undefined
  readonly beforeEach: Fn[]
  readonly afterEach: Fn[]
}

interface Case {
  readonly name: string
  readonly suite: Suite
  readonly fn: Fn
}

const root: Suite = { name: '', parent: undefined, beforeEach: [], afterEach: [] }
let current: Suite = root
const cases = new Map<string, Case>()

function fullName(suite: Suite, name: string): string {
  const parts = [name]
  for (let s: Suite | undefined = suite; s !== undefined && s !== root; s = s.parent) parts.unshift(s.name)
  return parts.join(' > ')
}

export function describe(name: string, body: () => void): void {
  const suite: Suite = { name, parent: current, beforeEach: [], afterEach: [] }
  const outer = current
  current = suite
  try {
    body()
  } finally {
    current = outer
  }
}

export function it(name: string, fn: Fn): void {
  const full = fullName(current, name)
  if (cases.has(full)) throw new Error(`two page tests named ${full}`)
  cases.set(full, { name: full, suite: current, fn })
}
export const test = it

export function beforeEach(fn: Fn): void {
  current.beforeEach.push(fn)
}

export function afterEach(fn: Fn): void {
  current.afterEach.push(fn)
}

export const expect = ((value: unknown, message?: string) => {
  const { assertionCalls } = getState(expect)
  setState({ assertionCalls: assertionCalls + 1 }, expect)
  return chai.expect(value, message)
}) as unknown as ExpectStatic
Object.assign(expect, chai.expect)
setState({ assertionCalls: 0, isExpectingAssertions: false, isExpectingAssertionsError: null, expectedAssertionsNumber: null, expectedAssertionsNumberErrorGen: null }, expect)

/** Names of every registered page test, in registration order ("suite > … > test"). */
export function pageTests(): string[] {
  return [...cases.keys()]
}

/** Outcome of one page test, as plain data for Node. */
export type PageTestResult = { ok: true; ms: number } | { ok: false; ms: number; message: string; stack: string }

/**
 * Run one registered test as vitest would: `beforeEach` hooks outermost first, the test, then
 * `afterEach` hooks innermost first, which run even when the test failed.
 */
export async function runPageTest(name: string): Promise<PageTestResult> {
  const c = cases.get(name)
  if (c === undefined) throw new Error(`no page test named ${name}`)
  const chain: Suite[] = []
  for (let s: Suite | undefined = c.suite; s !== undefined; s = s.parent) chain.unshift(s)
  const started = performance.now()
  let failure: unknown
  const ran: Suite[] = []
  try {
    for (const s of chain) {
      ran.push(s)
      for (const hook of s.beforeEach) await hook()
    }
    await c.fn()
  } catch (e) {
    failure = e
  }
  for (const s of ran.reverse()) {
    for (const hook of [...s.afterEach].reverse()) {
      try {
        await hook()
      } catch (e) {
        failure ??= e
      }
    }
  }
  const ms = performance.now() - started
  if (failure === undefined) return { ok: true, ms }
  const err = failure instanceof Error ? failure : new Error(String(failure))
  return { ok: false, ms, message: err.message, stack: err.stack ?? err.message }
}
