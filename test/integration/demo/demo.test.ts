import { execFile } from 'node:child_process'
import { join } from 'node:path'
import { promisify } from 'node:util'
import { describe, expect, it } from 'vitest'

const run = promisify(execFile)
const root = join(import.meta.dirname, '..', '..', '..')

// `npm run demo` is the main job: it must keep telling the story it tells, to the end.
describe('the demos', () => {
  it('npm run demo: three processes over libp2p converge, one offline and back', async () => {
    const { stdout } = await run(process.execPath, ['--import', 'tsx', join(root, 'examples', 'demo', 'index.ts')], { cwd: root, timeout: 120_000 })
    expect(stdout).toMatch(/bob and carol joined/)
    expect(stdout).toMatch(/Carol goes offline/)
    const converged = /converged: all three hold state ([0-9a-f]{12})/.exec(stdout)
    expect(converged).not.toBeNull()
    // The last block shows the three peers with that same hash.
    const finalBlock = stdout.slice(stdout.indexOf('3. Carol comes back'))
    for (const name of ['alice', 'bob', 'carol']) expect(finalBlock).toMatch(new RegExp(`${name}\\s+${converged?.[1]}`))
    expect(stdout.trimEnd().endsWith('done.')).toBe(true)
  }, 130_000)

  it('npm run demo:local: exchange by hand, late events, a tampered record, restart from disk', async () => {
    const { stdout } = await run(process.execPath, ['--import', 'tsx', join(root, 'examples', 'demo', 'local.ts')], { cwd: root, timeout: 60_000 })
    expect(stdout).toMatch(/bob refused it: CidMismatchError/)
    expect(stdout).toMatch(/converged: all three hold state/)
    expect(stdout).toMatch(/restored \d+ todos, state [0-9a-f]{12} \(same as before\)/)
    expect(stdout).toMatch(/contain the word "milk": no/)
  }, 70_000)
})
