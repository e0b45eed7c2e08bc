/**
 * Sandbox → runner through git (class 50): the agent writes settings or hooks into the
 * workspace's git directory that git runs as a program. Nothing of that runs in the sandbox;
 * it would run in a later step of the job, on the runner, with the job's token at hand. Run
 * through the real action in a real container; after main and post, a later step's
 * `git status` and `git commit` on the runner must run nothing the agent planted, and the
 * step log must say what was taken back.
 */
import { execFileSync } from 'node:child_process'
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'
import { requireDocker, TEST_IMAGE } from '../support/docker.js'
import { runAction, runnerIdentity } from '../support/runner.js'
import { writeSuiteResults, type AttackResult } from './support/results.js'

const hasDocker = await requireDocker()

interface Plant {
  id: string
  attack: string
  /** Shell run in the container, in the workspace; `$M` is the marker path on the runner. */
  script: string
}

const PLANTS: Plant[] = [
  {
    id: '50.1',
    attack: '`git config core.fsmonitor <program>` in the workspace repository',
    script: 'git config core.fsmonitor "touch $M"'
  },
  {
    id: '50.2',
    attack: 'a new `.git/hooks/pre-commit`',
    script:
      'printf "#!/bin/sh\\ntouch $M\\n" > .git/hooks/pre-commit && chmod +x .git/hooks/pre-commit'
  },
  {
    id: '50.3',
    attack: '`core.hooksPath` pointed at hooks the agent wrote in the workspace',
    script:
      'mkdir -p .h && printf "#!/bin/sh\\ntouch $M\\n" > .h/pre-commit && chmod +x .h/pre-commit && git config core.hooksPath "$PWD/.h"'
  },
  {
    id: '50.4',
    attack: 'a clean filter driver and `.gitattributes`',
    script:
      'echo "*.txt filter=x" > .gitattributes && git config filter.x.clean "sh -c \'touch $M; cat\'" && echo changed > a.txt'
  },
  {
    id: '50.5',
    attack: '`.git` replaced by a gitfile pointing at a repository the agent made',
    script:
      'mv .git .evil && git --git-dir=.evil config core.fsmonitor "touch $M" && echo "gitdir: .evil" > .git'
  }
]

describe.skipIf(!hasDocker)('git settings and hooks the agent leaves for the runner', () => {
  const results: AttackResult[] = []
  afterAll(() => writeSuiteResults('boundary-git', results))

  it.each(PLANTS)('$id $attack', async (p) => {
    const ws = mkdtempSync(join(tmpdir(), 'airlock-gitws-'))
    const marker = `${ws}-ran`
    try {
      const git = (...args: string[]): string =>
        execFileSync('git', args, {
          cwd: ws,
          encoding: 'utf8',
          env: { ...process.env, GIT_CONFIG_NOSYSTEM: '1', HOME: ws }
        })
      git('init', '-q')
      writeFileSync(join(ws, 'a.txt'), 'a\n')
      const id = runnerIdentity()
      if (id) execFileSync('chown', ['-R', `${id.uid}:${id.gid}`, ws])
      const run = await runAction({
        env: { GITHUB_WORKSPACE: ws },
        inputs: {
          image: TEST_IMAGE,
          'timeout-minutes': '3',
          // The path the payload would touch is the runner's: the container cannot reach it.
          command: `export M='${marker}'; git config --global --add safe.directory '*'; ${p.script}`
        }
      })
      const problems: string[] = []
      if (run.main.code !== 0)
        problems.push(`main failed: ${run.main.stdout.split('\n').slice(-5).join(' ')}`)
      // What a later step of the job does on the runner.
      try {
        git('config', '--global', '--add', 'safe.directory', '*')
        git('status', '--short')
        git('add', '-A')
        git('-c', 'user.name=m', '-c', 'user.email=m@example.com', 'commit', '-qm', 'later')
      } catch {
        // a repository taken out of use fails closed
      }
      if (existsSync(marker)) problems.push('the planted program ran on the runner')
      if (!/git would have run it on the runner/.test(run.main.stdout))
        problems.push('the step log does not say what was taken back')
      results.push({
        id: p.id,
        cls: 50,
        attack: p.attack,
        outcome:
          problems.length === 0
            ? 'taken back after the run and reported; nothing ran on the runner'
            : problems.join('; '),
        verdict: problems.length === 0 ? 'pass' : 'fail'
      })
      expect(problems).toEqual([])
    } finally {
      rmSync(ws, { recursive: true, force: true })
      rmSync(marker, { force: true })
    }
  })
})
