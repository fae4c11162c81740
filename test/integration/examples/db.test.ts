/**
 * `npm run example:db` (issue 11): two peers share a document collection over the memory
 * network; both answer the indexed query alike, the schema refuses a bad write locally, and the
 * listener hears every change once.
 */
import { describe, expect, it } from 'vitest'
import { runDbExample } from '../../../examples/db/index.js'

describe('the document collection example', () => {
  it('two peers agree on an indexed query; a bad write is refused; every change heard once', async () => {
    const lines: string[] = []
    const result = await runDbExample((line) => lines.push(line))
    const expected = ['Ubik (1969)', 'Neuromancer (1984)', 'Kindred (1979)'].sort()
    expect(result.alice).toEqual(['Neuromancer (1984)', 'Kindred (1979)', 'Ubik (1969)'])
    expect([...result.bob].sort()).toEqual(expected)
    expect(result.bob).toEqual(result.alice)
    expect(result.index).toBe('year')
    expect(result.refused).toBe('SchemaViolationError')
    expect(result.heard.filter((h) => h.endsWith('(from alice)'))).toHaveLength(4)
    expect(result.heard.filter((h) => !h.endsWith('(from alice)')).map((h) => h.split(' ')[0])).toEqual(['create', 'save'])
    expect(lines.some((l) => l.startsWith('  alice:'))).toBe(true)
  }, 30_000)
})
