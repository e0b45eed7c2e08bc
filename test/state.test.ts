import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, describe, expect, it, vi } from 'vitest'
import { parseCommandFile } from './support/runner.js'

/** state.ts keeps its resources in a module variable: each test gets a fresh module. */
async function freshState(): Promise<typeof import('../src/state.js')> {
  vi.resetModules()
  return import('../src/state.js')
}

describe('state (written without @actions/core, read as the runner hands it to post)', () => {
  const saved = { ...process.env }
  afterEach(() => {
    process.env = { ...saved }
  })

  it('writes GITHUB_STATE entries the runner parses back, newlines and all', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'airlock-state-'))
    try {
      const file = join(dir, 'state')
      writeFileSync(file, '')
      process.env.GITHUB_STATE = file
      const state = await freshState()
      state.saveRunId('7-1-abcd')
      state.pushResource({ kind: 'dir', path: '/tmp/a\nb' })
      state.pushResource({ kind: 'proxy', pid: 42, dir: '/tmp/logs' })
      const parsed = parseCommandFile(readFileSync(file, 'utf8'))
      expect(parsed['run-id']).toBe('7-1-abcd')
      // The last write wins, as the runner reads the file.
      for (const [k, v] of Object.entries(parsed)) process.env[`STATE_${k}`] = v
      expect(state.readRunId()).toBe('7-1-abcd')
      expect(state.readResources()).toEqual([
        { kind: 'dir', path: '/tmp/a\nb' },
        { kind: 'proxy', pid: 42, dir: '/tmp/logs' }
      ])
      expect(state.readReleased()).toBe('')
    } finally {
      rmSync(dir, { recursive: true, force: true })
    }
  })

  it('without GITHUB_STATE, emits the save-state command on one line', async () => {
    delete process.env.GITHUB_STATE
    const writes: string[] = []
    const spy = vi.spyOn(process.stdout, 'write').mockImplementation((d) => {
      writes.push(String(d))
      return true
    })
    try {
      const state = await freshState()
      state.saveReleased('x\ny%')
    } finally {
      spy.mockRestore()
    }
    expect(writes).toEqual(['::save-state name=released::x%0Ay%25\n'])
  })

  it('reads nothing from unreadable state', async () => {
    process.env.STATE_resources = '{not json'
    const state = await freshState()
    expect(state.readResources()).toEqual([])
  })
})
