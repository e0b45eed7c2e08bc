import { execFileSync } from 'node:child_process'
import { mkdirSync, mkdtempSync, symlinkSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { readInputs } from '../src/inputs.js'
import { registerAll } from '../src/providers/index.js'
import { readPromptFile, resolvePromptFile } from '../src/prompt-file.js'

registerAll()

function setup(): { ws: string; outside: string } {
  const base = mkdtempSync(join(tmpdir(), 'airlock-pf-'))
  const ws = join(base, 'ws')
  mkdirSync(join(ws, '.airlock-run'), { recursive: true })
  writeFileSync(join(ws, '.airlock-run', 'prompt.md'), 'review this')
  const outside = join(base, 'secret.txt')
  writeFileSync(outside, 'RUNNER SECRET')
  return { ws, outside }
}

const plan = (ws: string, inputs: Record<string, string>) =>
  readInputs(
    (n) =>
      ({ agent: 'claude', 'anthropic-api-key': 'sk-ant-x', workspace: ws, ...inputs })[n] ?? '',
    {},
    () => {}
  )

describe('prompt-file', () => {
  it('is read from inside the workspace (the reusable workflows write .airlock-run/prompt.md)', () => {
    const { ws } = setup()
    const p = plan(ws, { 'prompt-file': '.airlock-run/prompt.md' })
    expect(p.prompt).toBe('')
    expect(readPromptFile(ws, p.promptFile)).toBe('review this')
    const abs = plan(ws, { 'prompt-file': join(ws, '.airlock-run/prompt.md') })
    expect(readPromptFile(ws, abs.promptFile)).toBe('review this')
  })

  it('refuses paths out of the workspace, links out, missing files, FIFOs and big files', () => {
    const { ws, outside } = setup()
    symlinkSync(outside, join(ws, 'link.md'))
    symlinkSync('/proc/self/environ', join(ws, 'environ.md'))
    execFileSync('mkfifo', [join(ws, 'fifo.md')])
    writeFileSync(join(ws, 'big.md'), Buffer.alloc(1024 * 1024 + 1, 'a'))
    for (const [file, why] of [
      ['../secret.txt', /outside the workspace/],
      [outside, /outside the workspace/],
      ['/etc/passwd', /outside the workspace/],
      ['link.md', /leads outside the workspace/],
      ['environ.md', /leads outside the workspace/],
      ['missing.md', /does not exist/],
      ['fifo.md', /not a regular file/],
      ['big.md', /limit is 1048576/]
    ] as const) {
      expect(() => plan(ws, { 'prompt-file': file }), file).toThrow(why)
      expect(() => plan(ws, { 'prompt-file': file }), file).toThrow(/^prompt-file: /)
    }
  })

  it('a prompt is text: `@file:` is never read', () => {
    const { ws, outside } = setup()
    const p = plan(ws, { prompt: `@file:${outside}` })
    expect(p.prompt).toBe(`@file:${outside}`)
    expect(p.promptFile).toBe('')
  })

  it('is checked again when read: a file swapped for a link since is refused', () => {
    const { ws, outside } = setup()
    const real = resolvePromptFile(ws, '.airlock-run/prompt.md')
    execFileSync('rm', [real])
    symlinkSync(outside, real)
    expect(() => readPromptFile(ws, real)).toThrow(/prompt-file: .*outside the workspace/)
  })
})
