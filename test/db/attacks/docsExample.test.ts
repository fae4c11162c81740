/**
 * FINDING (low, docs): the first example of docs/DATABASE.md does not type-check: `Person` has no
 * `email`, yet `indexes` names `{ path: 'email', unique: true }` (index paths are typed against
 * the document), so `createCollection` matches no overload and every later line fails too.
 * Fix: add `email?: string` to the example's `Person`.
 */
import { fileURLToPath } from 'node:url'
import { dirname, join } from 'node:path'
import { readFileSync } from 'node:fs'
import ts from 'typescript'
import { describe, expect, it } from 'vitest'

const root = join(dirname(fileURLToPath(import.meta.url)), '../../..')

describe('docs/DATABASE.md', () => {
  it('its first example type-checks', () => {
    const md = readFileSync(join(root, 'docs/DATABASE.md'), 'utf8')
    const block = /```ts\n([\s\S]*?)```/.exec(md)?.[1] ?? ''
    const code = `${block.replace(/'redux-p2p-threads\/db'/g, "'../../../src/db/index.js'").replace(/'redux-p2p-threads'/g, "'../../../src/index.js'")}\nexport {}\n`
    const file = join(root, 'test/db/attacks/__database_md_example__.ts')
    const config = ts.readConfigFile(join(root, 'tsconfig.json'), (p) => ts.sys.readFile(p))
    const { options } = ts.parseJsonConfigFileContent(config.config, ts.sys, root)
    const host = ts.createCompilerHost(options)
    const getSourceFile = host.getSourceFile.bind(host)
    host.getSourceFile = (name, lang, ...rest) => (name === file ? ts.createSourceFile(name, code, lang) : getSourceFile(name, lang, ...rest))
    const fileExists = host.fileExists.bind(host)
    host.fileExists = (name) => name === file || fileExists(name)
    const program = ts.createProgram([file], options, host)
    const errors = ts.getPreEmitDiagnostics(program).filter((d) => d.file?.fileName === file).map((d) => ts.flattenDiagnosticMessageText(d.messageText, '\n').split('\n')[0])
    expect(errors).toEqual([])
  }, 120_000)
})
