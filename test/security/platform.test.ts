/**
 * Class 51: mount sources mapped out of a job container. In a job container Airlock names
 * every bind source by the host's path (from `docker inspect` of itself). The mapping must
 * never widen what the sandbox sees: a link followed on the host instead of in the job
 * container, a prefix that is not a whole path component, or a read-only mount of the job
 * container mounted read-write would each hand the sandbox a host directory the job itself
 * cannot reach (or cannot write). Each attack runs the built action in a simulated job
 * container and looks for the host-side effect.
 */
import { existsSync, mkdirSync, symlinkSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { ensureTestImage, requireDocker, TEST_IMAGE } from '../support/docker.js'
import { startJobContainer, type JobContainer } from '../support/job-container.js'
import { writeSuiteResults, type AttackResult } from './support/results.js'

const hasDocker = await requireDocker()

describe.skipIf(!hasDocker)('platform: job-container mount mapping', () => {
  let job: JobContainer
  const results: AttackResult[] = []
  beforeAll(async () => {
    await ensureTestImage()
    job = await startJobContainer()
  })
  afterAll(async () => {
    await job?.remove()
    if (results.length === 3) writeSuiteResults('platform', results)
  })

  it('51.1 a workspace that is a link leading out of the shared mounts', async () => {
    // The link is in the shared work dir and names a directory both sides have: followed in
    // the job container it is the container's own; followed on the host, the host's (marked).
    const hostDir = join(job.work, '..', 'host-only')
    mkdirSync(hostDir, { recursive: true })
    writeFileSync(join(hostDir, 'marker'), 'HOST-ONLY\n')
    await job.exec(['sh', '-c', `mkdir -p ${hostDir} && echo JOB-CONTAINER > ${hostDir}/marker`])
    symlinkSync(hostDir, join(job.work, 'repo', 'repo', 'link'))
    const run = await job.runAction({
      inputs: {
        command: 'cat /workspace/marker; echo SANDBOX-RAN',
        image: TEST_IMAGE,
        workspace: 'link'
      }
    })
    const leaked = run.main.stdout.includes('HOST-ONLY')
    const refused = run.main.errors.some((e) => e.includes("job container's own filesystem"))
    results.push({
      id: '51.1',
      cls: 51,
      attack:
        '`workspace:` a link in the shared work dir to a directory outside every shared mount, which the job container and the host both have (with different contents)',
      outcome: leaked
        ? 'the host directory was mounted into the sandbox'
        : refused
          ? 'refused before any grant: the link is resolved in the job container, where it leads out of every shared mount'
          : 'not mounted',
      verdict: leaked ? 'fail' : 'pass'
    })
    expect(leaked).toBe(false)
    expect(refused).toBe(true)
    expect(run.main.stdout).not.toContain('SANDBOX-RAN')
    expect(run.outputs.conclusion).toBe('failure')
  })

  it('51.2 a read-write workspace inside a mount the job container has read-only', async () => {
    const run = await job.runAction({
      inputs: {
        command: 'touch /workspace/pwned; echo SANDBOX-RAN',
        image: TEST_IMAGE,
        workspace: '/__e/node20',
        'workspace-access': 'read-write'
      }
    })
    const wrote = existsSync(join(job.externals, 'node20', 'pwned'))
    const refused = run.main.errors.some((e) => e.includes('read-only in the job container'))
    results.push({
      id: '51.2',
      cls: 51,
      attack:
        "`workspace: /__e/node20` (the runner's externals, read-only in the job container) with `workspace-access: read-write`",
      outcome: wrote
        ? "the sandbox wrote into the runner's externals on the host"
        : refused
          ? 'refused before any grant: a read-only mount is never mounted read-write'
          : 'nothing written',
      verdict: wrote ? 'fail' : 'pass'
    })
    expect(wrote).toBe(false)
    expect(refused).toBe(true)
    expect(run.main.stdout).not.toContain('SANDBOX-RAN')
  })

  it('51.3 a job-container path that only shares a prefix with a mount', async () => {
    // /__wx is in the job container's own filesystem; "<host work>x" exists on the host.
    const hostTwin = `${job.work}x`
    mkdirSync(hostTwin, { recursive: true })
    writeFileSync(join(hostTwin, 'marker'), 'HOST-TWIN\n')
    await job.exec(['sh', '-c', 'mkdir -p /__wx'])
    const run = await job.runAction({
      inputs: {
        command: 'cat /workspace/marker; echo SANDBOX-RAN',
        image: TEST_IMAGE,
        workspace: '/__wx'
      }
    })
    const leaked = run.main.stdout.includes('HOST-TWIN')
    const refused = run.main.errors.some((e) => e.includes("job container's own filesystem"))
    results.push({
      id: '51.3',
      cls: 51,
      attack:
        '`workspace: /__wx`, a job-container directory whose name extends the `/__w` mount point (the host has `<work>x`)',
      outcome: leaked
        ? "the host's `<work>x` was mounted into the sandbox"
        : refused
          ? 'refused before any grant: mounts match whole path components only'
          : 'not mounted',
      verdict: leaked ? 'fail' : 'pass'
    })
    expect(leaked).toBe(false)
    expect(refused).toBe(true)
  })
})
