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

/** Runs the CLI with only PATH (and what `env` adds) in its environment. */
function cli(args: string[], env: Record<string, string> = {}) {
  return spawnSync(process.execPath, [CLI, ...args], {
    encoding: 'utf8',
    env: { PATH: process.env.PATH ?? '', ...env },
    timeout: 30_000
  })
}

describe('the CLI speaks its own vocabulary: flags, environment variables, this machine', () => {
  it('names the flag, says what was wrong once, and what is accepted', () => {
    const r = cli(['run', '--allow', '10.0.0.1', '--', 'true'])
    expect(r.status).toBe(1)
    expect(r.stderr).toMatch(/^airlock: --allow: "10\.0\.0\.1": IP addresses cannot be allowed/)
    expect(r.stderr.match(/Expected/g)).toHaveLength(1)
    expect(r.stderr).not.toContain('..')
    expect(r.stderr).not.toContain('allowed-endpoints')
    expect(cli(['run', '--timeout', '999', '--', 'true']).stderr).toContain(
      'airlock: --timeout: 999 is outside 0.1-360 minutes'
    )
  })

  it('names the environment variables a missing credential comes from', () => {
    const claude = cli(['claude', '-p', 'hi'])
    expect(claude.status).toBe(1)
    expect(claude.stderr).toContain('`ANTHROPIC_API_KEY` and `CLAUDE_CODE_OAUTH_TOKEN` are empty')
    expect(claude.stderr).toContain('Set ANTHROPIC_API_KEY or CLAUDE_CODE_OAUTH_TOKEN')
    // Said before the default image (400 MB) is pulled, or replaced by runner mode.
    expect(claude.stderr).not.toMatch(/pulling|could not be pulled|runner mode/)
    const gh = cli(['run', '--grant', 'github', '--', 'true'])
    expect(gh.stderr).toContain('Set GITHUB_TOKEN (or GH_TOKEN)')
    expect(gh.stderr).not.toContain('${{')
    expect(gh.stderr).not.toContain('github-token')
  })

  it('says where broken custom credentials YAML is, never what it holds', () => {
    const yaml = '- name: demo\n  value: s3cr3t-value-123\n  hosts: [a.example\n'
    const r = cli(['run', '--', 'true'], { AIRLOCK_CUSTOM_CREDENTIALS: yaml })
    expect(r.status).toBe(1)
    expect(r.stderr).toMatch(/AIRLOCK_CUSTOM_CREDENTIALS: not valid YAML at line \d+, column \d+/)
    expect(r.stderr).not.toContain('s3cr3t')
  })
})
