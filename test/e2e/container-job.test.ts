/**
 * The action in a job container (`jobs.<id>.container`) and on a runner with a long
 * RUNNER_TEMP: both run the command in the sandbox, with the proxy as its way out.
 */
import { existsSync, mkdirSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { ensureTestImage, requireDocker, TEST_IMAGE } from '../support/docker.js'
import { startJobContainer, type JobContainer } from '../support/job-container.js'
import { runAction, runnerIdentity, runnerTempDir } from '../support/runner.js'
import { execFileSync } from 'node:child_process'

const hasDocker = await requireDocker()

/** Reads the workspace, writes into it, and asks the proxy for a host it must refuse. */
const COMMAND =
  'cat /workspace/hello.txt; echo written > /workspace/out.txt; echo "proxy=$(curl -s -o /dev/null -w "%{http_connect}" https://blocked.example/)"'

describe.skipIf(!hasDocker)('in a job container', () => {
  let job: JobContainer
  beforeAll(async () => {
    await ensureTestImage()
    job = await startJobContainer()
  })
  afterAll(async () => {
    await job?.remove()
  })

  it("runs the command with every mount mapped to the host's paths", async () => {
    const run = await job.runAction({ inputs: { command: COMMAND, image: TEST_IMAGE } })
    expect(run.main.errors).toEqual([])
    expect(run.main.stdout).toContain('hello from the checkout')
    // The proxy answered the refused CONNECT: the socket under /__w/_temp reached it.
    expect(run.main.stdout).toContain('proxy=403')
    expect(run.main.code).toBe(0)
    expect(run.outputs.conclusion).toBe('success')
    expect(readFileSync(join(job.work, 'repo', 'repo', 'out.txt'), 'utf8')).toBe('written\n')
    // The runner's Node was copied to the tool cache (shared with the host), not mounted from /__e.
    expect(existsSync(join(job.toolCache, 'airlock-node'))).toBe(true)
    expect(run.post.code).toBe(0)
  })
})

describe.skipIf(!hasDocker)('a long RUNNER_TEMP', () => {
  it('still reaches the proxy (the socket address would be over 108 bytes)', async () => {
    await ensureTestImage()
    const base = runnerTempDir('airlock-long-')
    const temp = join(
      base,
      'a-very-long-runner-temp-directory-name',
      'as-self-hosted-runners-nest-them',
      '_temp'
    )
    mkdirSync(temp, { recursive: true })
    const id = runnerIdentity()
    if (id) execFileSync('chown', ['-R', `${id.uid}:${id.gid}`, base])
    const ws = runnerTempDir('airlock-long-ws-')
    execFileSync('sh', ['-c', `echo hello from the checkout > ${ws}/hello.txt`])
    if (id) execFileSync('chown', ['-R', `${id.uid}:${id.gid}`, ws])
    const run = await runAction({
      inputs: { command: COMMAND, image: TEST_IMAGE },
      env: { RUNNER_TEMP: temp, RUNNER_TOOL_CACHE: join(temp, 'tc'), GITHUB_WORKSPACE: ws }
    })
    expect(Buffer.byteLength(join(temp, 'airlock-xxxxxx', 'proxy', 'proxy.sock'))).toBeGreaterThan(
      107
    )
    expect(run.main.errors).toEqual([])
    expect(run.main.stdout).toContain('proxy=403')
    expect(run.outputs.conclusion).toBe('success')
    expect(run.post.code).toBe(0)
  })
})
