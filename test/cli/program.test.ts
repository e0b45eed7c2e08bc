/** The local CLI's front door: its version, and names it does not know. */
import { execFileSync, spawnSync } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { VERSION } from '../../src/version.js'
import { ROOT } from '../support/runner.js'

const CLI = join(ROOT, 'dist/cli/index.js')

describe('airlock CLI', () => {
  it('prints the package version with --version and -V', () => {
    const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { version: string }
    expect(VERSION).toBe(pkg.version)
    for (const flag of ['--version', '-V'])
      expect(execFileSync(process.execPath, [CLI, flag], { encoding: 'utf8' }).trim()).toBe(
        pkg.version
      )
  })

  it('offers the closest provider for a misspelt `proxy --grant`, before anything starts', () => {
    const r = spawnSync(process.execPath, [CLI, 'proxy', '--grant', 'githbu'], {
      encoding: 'utf8',
      env: { PATH: process.env.PATH ?? '' },
      timeout: 30_000
    })
    expect(r.status).toBe(1)
    expect(r.stdout).toBe('')
    expect(r.stderr).toContain('unknown provider "githbu" (did you mean github?)')
  })
})
