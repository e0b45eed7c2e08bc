import { execFileSync } from 'node:child_process'
import { mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { alive } from '../../src/daemon/start.js'
import { requireDocker, ensureTestImage, TEST_IMAGE } from '../support/docker.js'
import { runAction, runnerIdentity, runnerTempDir, type RunOptions } from '../support/runner.js'

const hasDocker = await requireDocker()
const EXTRAHEADER = 'extraheader = AUTHORIZATION: basic eC1hY2Nlc3MtdG9rZW46Z2hzX2NoZWNrb3V0'

/** A workspace like actions/checkout leaves it: a repo with the token persisted in .git/config. */
function checkedOutWorkspace(): string {
  const ws = runnerTempDir('airlock-life-ws-')
  mkdirSync(join(ws, '.git'))
  writeFileSync(
    join(ws, '.git', 'config'),
    `[core]\n\tbare = false\n[http "https://github.com/"]\n\t${EXTRAHEADER}\n`
  )
  const id = runnerIdentity()
  if (id) execFileSync('chown', ['-R', `${id.uid}:${id.gid}`, ws])
  return ws
}

/** What a run left: its containers (by label), its proxy (by the pid main recorded), its dirs. */
function leftovers(state: Record<string, string>, runnerTemp: string): string[] {
  const found: string[] = []
  const runId = state['run-id'] ?? ''
  const containers = execFileSync(
    'docker',
    ['ps', '-aq', '--filter', `label=airlock.run-id=${runId}`],
    { encoding: 'utf8' }
  ).trim()
  if (containers) found.push(`container ${containers}`)
  const resources = JSON.parse(state.resources ?? '[]') as Array<{ kind: string; pid?: number }>
  for (const r of resources) {
    // A zombie (exited, not yet reaped by init) holds nothing and counts as gone.
    if (r.kind === 'proxy' && r.pid && alive(r.pid)) found.push(`proxy process ${r.pid}`)
  }
  for (const name of readdirSync(runnerTemp))
    if (/^airlock-[A-Za-z0-9]{6}$/.test(name)) found.push(`dir ${name}`)
  return found
}

async function run(
  opts: Partial<RunOptions> & { command: string; inputs?: Record<string, string> }
) {
  const workspace = checkedOutWorkspace()
  const result = await runAction({
    ...opts,
    env: { GITHUB_WORKSPACE: workspace, ...opts.env },
    inputs: { command: opts.command, image: TEST_IMAGE, ...opts.inputs }
  })
  return { ...result, workspace }
}

describe.skipIf(!hasDocker)('lifecycle: timeout, cancellation, and post after a dead main', () => {
  it('hides the checkout credentials from the container and restores them after', async () => {
    await ensureTestImage()
    const r = await run({ command: 'cat /workspace/.git/config; echo done' })
    expect(r.main.code).toBe(0)
    expect(r.main.stdout).toContain('[core]')
    expect(r.main.stdout).not.toContain('eC1hY2Nlc3MtdG9rZW46')
    expect(readFileSync(join(r.workspace, '.git', 'config'), 'utf8')).toContain(EXTRAHEADER)
  })

  it('stops the container at timeout-minutes and reports timeout', async () => {
    const r = await run({
      command: 'echo started; sleep 120',
      inputs: { 'timeout-minutes': '0.1' }
    })
    expect(r.outputs.conclusion).toBe('timeout')
    expect(r.main.code).toBe(1)
    expect(r.main.errors.join('\n')).toContain('timed out')
    expect(r.post.code).toBe(0)
    expect(leftovers(r.state, r.runnerTemp)).toEqual([])
  })

  it('stops the container when main is cancelled and reports cancelled', async () => {
    const r = await run({
      command: 'echo AGENT-$((40+2))-STARTED; sleep 120',
      kill: { signal: 'SIGTERM', whenStdout: /AGENT-42-STARTED/ }
    })
    expect(r.outputs.conclusion).toBe('cancelled')
    expect(r.post.code).toBe(0)
    expect(leftovers(r.state, r.runnerTemp)).toEqual([])
  })

  it.each([
    ['after granting', /grants github/],
    ['after the proxy started', /airlock proxy ready/],
    ['while the container runs', /AGENT-42-STARTED/]
  ])('post cleans everything when main is killed %s', async (_stage, when) => {
    const r = await run({
      command: 'echo AGENT-$((40+2))-STARTED; sleep 120',
      inputs: { grants: 'github' },
      githubToken: 'ghs_lifecycle_token_0123456789',
      kill: { signal: 'SIGKILL', whenStdout: when }
    })
    expect(r.main.signal).toBe('SIGKILL')
    expect(r.post.code).toBe(0)
    const runId = r.state['run-id']!
    expect(runId).toBeTruthy()
    expect(readFileSync(join(r.workspace, '.git', 'config'), 'utf8')).toContain(EXTRAHEADER)
    expect(leftovers(r.state, r.runnerTemp)).toEqual([])
  })
})
