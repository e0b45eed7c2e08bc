import {
  lstatSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  readlinkSync,
  symlinkSync,
  unlinkSync,
  writeFileSync
} from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import {
  hideGitCredentials,
  restoreGitCredentials,
  stripCredentials,
  tamperedGitConfigs
} from '../../src/sandbox/git-credentials.js'

const V4 = `[core]\n\tbare = false\n[http "https://github.com/"]\n\textraheader = AUTHORIZATION: basic eC1hY2Nlc3M=\n`
const V5 = `[core]\n\tbare = false\n[includeIf "gitdir:/home/runner/work/r/r/.git"]\n\tpath = /home/runner/work/_temp/git-credentials-1.config\n[include]\n\tpath = /tmp/x.config\n[remote "origin"]\n\turl = https://github.com/o/r\n`

describe('stripCredentials', () => {
  it('drops extraheader keys and include/includeIf sections, keeps the rest', () => {
    expect(stripCredentials(V4)).not.toMatch(/extraheader|eC1h/i)
    expect(stripCredentials('[http]\n\tExtraHeader = x\n')).toBe('[http]\n')
    const v5 = stripCredentials(V5)
    expect(v5).not.toMatch(/include|git-credentials|x\.config/i)
    expect(v5).toContain('[remote "origin"]\n\turl = https://github.com/o/r')
  })

  it('drops the userinfo of every URL and whole credential sections (tokens no grant holds)', () => {
    const text = [
      '[remote "origin"]',
      '\turl = https://alice:ghp_secret1@github.com/o/r.git',
      '\tpushurl = "https://ghp_secret2@github.com/o/r.git"',
      '[url "https://x-access-token:ghp_secret3@github.com/"]',
      '\tinsteadOf = https://github.com/',
      '[credential "https://github.com"]',
      '\thelper = "!f() { echo password=ghp_secret4; }; f"',
      '[Credential]',
      '\thelper = store --file=/home/runner/.git-credentials',
      '[core]',
      '\tsshCommand = ssh -i key',
      '[remote "up"]',
      '\turl = git@github.com:o/r.git',
      ''
    ].join('\n')
    const out = stripCredentials(text)
    expect(out).not.toMatch(/ghp_secret|credential|helper/i)
    expect(out).toContain('\turl = https://github.com/o/r.git')
    expect(out).toContain('\tpushurl = "https://github.com/o/r.git"')
    expect(out).toContain('[url "https://github.com/"]')
    expect(out).toContain('[core]\n\tsshCommand = ssh -i key')
    expect(out).toContain('\turl = git@github.com:o/r.git')
  })
})

describe('hideGitCredentials', () => {
  it('mounts cleaned copies over every config that holds credentials, never touching them', async () => {
    const ws = mkdtempSync(join(tmpdir(), 'airlock-gc-'))
    const priv = mkdtempSync(join(tmpdir(), 'airlock-gc-priv-'))
    mkdirSync(join(ws, '.git', 'modules', 'sub'), { recursive: true })
    mkdirSync(join(ws, 'nested', '.git'), { recursive: true })
    mkdirSync(join(ws, 'elsewhere'), { recursive: true })
    writeFileSync(join(ws, '.git', 'config'), V5)
    writeFileSync(join(ws, '.git', 'modules', 'sub', 'config'), V4)
    writeFileSync(join(ws, 'nested', '.git', 'config'), V4)
    writeFileSync(join(ws, 'nested', '.git', 'config.worktree'), '[core]\n\tsparse = true\n')
    writeFileSync(join(ws, 'elsewhere', 'config'), V4)
    writeFileSync(join(ws, 'wt.git'), '')
    writeFileSync(join(ws, 'wt'), 'gitdir: elsewhere\n')
    const r = await hideGitCredentials(
      ws,
      priv,
      [
        '.git/config',
        '.git/modules/sub/config',
        'nested/.git/config',
        'nested/.git/config.worktree'
      ],
      ['wt']
    )
    expect(r.hidden.map((h) => h.rel).sort()).toEqual([
      '.git/config',
      '.git/modules/sub/config',
      'elsewhere/config',
      'nested/.git/config'
    ])
    expect(r.mounts.map((m) => m.target).sort()).toEqual([
      '/workspace/.git/config',
      '/workspace/.git/modules/sub/config',
      '/workspace/elsewhere/config',
      '/workspace/nested/.git/config'
    ])
    for (const m of r.mounts) {
      expect(m.readOnly).toBe(true)
      expect(m.source.startsWith(priv)).toBe(true)
      expect(readFileSync(m.source, 'utf8')).not.toMatch(/extraheader|include/i)
    }
    // The originals are as they were: nothing to restore, nothing to restore over.
    expect(readFileSync(join(ws, '.git', 'config'), 'utf8')).toBe(V5)
    expect(tamperedGitConfigs(ws, r.hidden)).toEqual([])
    unlinkSync(join(ws, '.git', 'config'))
    symlinkSync('/etc/passwd', join(ws, '.git', 'config'))
    writeFileSync(join(ws, 'nested', '.git', 'config'), '[core]\n')
    expect(tamperedGitConfigs(ws, r.hidden).sort()).toEqual(['.git/config', 'nested/.git/config'])
  })

  it('does not read a config that is a link or a FIFO', async () => {
    const ws = mkdtempSync(join(tmpdir(), 'airlock-gc-'))
    const outside = join(mkdtempSync(join(tmpdir(), 'airlock-gc-out-')), 'config')
    writeFileSync(outside, V4)
    mkdirSync(join(ws, '.git'))
    symlinkSync(outside, join(ws, '.git', 'config'))
    const r = await hideGitCredentials(ws, ws, ['.git/config'], [])
    expect(r.hidden).toEqual([])
  })
})

describe('restoreGitCredentials (state of a main that rewrote the config in place)', () => {
  it('never writes through a link the agent put in place of the config', () => {
    const ws = mkdtempSync(join(tmpdir(), 'airlock-rs-'))
    const target = join(mkdtempSync(join(tmpdir(), 'airlock-rs-out-')), 'stolen')
    writeFileSync(target, 'original')
    mkdirSync(join(ws, '.git'))
    const backup = join(ws, 'backup')
    writeFileSync(backup, V4)
    symlinkSync(target, join(ws, '.git', 'config'))
    expect(restoreGitCredentials(join(ws, '.git', 'config'), backup)).toBe(false)
    expect(readFileSync(target, 'utf8')).toBe('original')
    expect(readlinkSync(join(ws, '.git', 'config'))).toBe(target)
  })

  it('never writes through a linked parent directory', () => {
    const ws = mkdtempSync(join(tmpdir(), 'airlock-rs-'))
    const out = mkdtempSync(join(tmpdir(), 'airlock-rs-out-'))
    symlinkSync(out, join(ws, '.git'))
    const backup = join(ws, 'backup')
    writeFileSync(backup, V4)
    expect(restoreGitCredentials(join(ws, '.git', 'config'), backup)).toBe(false)
    expect(() => lstatSync(join(out, 'config'))).toThrow()
  })

  it('restores a plain file by an exclusive temp file renamed over it', () => {
    const ws = mkdtempSync(join(tmpdir(), 'airlock-rs-'))
    mkdirSync(join(ws, '.git'))
    writeFileSync(join(ws, '.git', 'config'), '[core]\n')
    const backup = join(ws, 'backup')
    writeFileSync(backup, V4)
    expect(restoreGitCredentials(join(ws, '.git', 'config'), backup)).toBe(true)
    expect(readFileSync(join(ws, '.git', 'config'), 'utf8')).toBe(V4)
  })
})
