import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import {
  AGENT_CONFIG,
  agentConfigGlobs,
  agentConfigTable,
  isAgentConfigEntry,
  isAgentConfigPath
} from '../../src/workflow/agent-config.js'
import { isProtectedPath, PROTECTED_PATHS } from '../../src/workflow/patch.js'

describe('the agent configuration list', () => {
  it.each(AGENT_CONFIG.map((e) => [e.name, e] as const))('%s', (_, e) => {
    const inside = e.kind === 'dir' ? `${e.name}/settings.json` : e.name
    // Where the CLI reads it: the checkout root, and any depth when it walks the tree.
    expect(isAgentConfigPath(inside)).toBe(true)
    expect(isAgentConfigPath(inside.toUpperCase())).toBe(true)
    expect(isAgentConfigPath(`pkg/${inside}`)).toBe(e.depth === 'any')
    expect(isAgentConfigEntry(e.name, 0)).toBe(true)
    expect(isAgentConfigEntry(e.name, 2)).toBe(e.depth === 'any')
    // A patch can neither write it nor replace the entry holding it.
    expect(isProtectedPath(inside, PROTECTED_PATHS)).toBe(true)
    expect(isProtectedPath(e.name, PROTECTED_PATHS)).toBe(true)
    expect(e.source).not.toBe('')
  })

  it('leaves ordinary files alone', () => {
    for (const p of [
      'src/claude.ts',
      'docs/agents.txt',
      'agents/x.md',
      'fixtures/.env',
      '.envrc',
      'env/.env.x'
    ])
      expect(isAgentConfigPath(p), p).toBe(false)
  })

  it('turns directories into the entry and everything under it', () => {
    expect(agentConfigGlobs()).toEqual(
      expect.arrayContaining(['**/.gemini', '**/.gemini/**', '.env'])
    )
  })

  it('is documented in docs/workflows.md, row for row', () => {
    const doc = readFileSync(join(import.meta.dirname, '..', '..', 'docs', 'workflows.md'), 'utf8')
    for (const row of agentConfigTable()) expect(doc).toContain(row)
  })
})
