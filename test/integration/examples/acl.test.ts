/**
 * `npm run example:acl` (issue 10): the example runs end to end over libp2p on loopback and
 * LevelDB, and ends where it says it does.
 */
import { describe, expect, it } from 'vitest'
import { runAclExample } from '../../../examples/acl/index.js'

describe('the access-control example', () => {
  it('an owner revokes a writer: his later todo is cut everywhere, the key rotates, a later reader reads all', async () => {
    const lines: string[] = []
    const result = await runAclExample((line) => lines.push(line))
    const members = ['buy milk', 'walk the dog', 'call mum']
    expect(result.todos.alice).toEqual(members)
    expect(result.todos.carol).toEqual(members)
    expect(result.todos.dave).toEqual(members)
    // Bob wrote on after his revocation: he alone sees it, and not what was written under the new key.
    expect(result.todos.bob).toEqual(['buy milk', 'walk the dog', 'bob, after his revocation'])
    expect(result.epoch).toBe(1)
    expect(result.bobRoles).toEqual(['no-access'])
    expect(lines.some((l) => l.includes('AccessDeniedError'))).toBe(true)
  }, 60_000)
})
