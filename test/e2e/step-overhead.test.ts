/**
 * What the step does around the container, kept small (issue 12): no throw-away container
 * checks the image before the real one (an image that cannot run the forwarder is named from
 * the real run), and post has nothing to do after a main that released everything.
 */
import { execFileSync } from 'node:child_process'
import { mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { rootTar } from '../../src/sandbox/runner-image.js'
import { ensureTestImage, requireDocker, TEST_IMAGE } from '../support/docker.js'
import { runAction, type ActionRun } from '../support/runner.js'

const hasDocker = await requireDocker()
/** An image with no C library at all: the runner's Node cannot start in it. */
const BARE = 'airlock-test-bare:latest'

describe.skipIf(!hasDocker)('step overhead', () => {
  let ok: ActionRun
  let bare: ActionRun
  let since: string

  beforeAll(async () => {
    await ensureTestImage()
    const dir = mkdtempSync(join(tmpdir(), 'airlock-bare-image-'))
    writeFileSync(join(dir, 'root.tar'), rootTar({ links: [], dirs: ['tmp'] }))
    execFileSync('docker', ['import', join(dir, 'root.tar'), BARE], { stdio: 'ignore' })
    since = String(Math.floor(Date.now() / 1000) - 1)
    ;[ok, bare] = await Promise.all([
      runAction({ inputs: { command: 'echo ran-in-the-sandbox', image: TEST_IMAGE } }),
      runAction({ inputs: { command: 'echo SHOULD-NOT-RUN', image: BARE } })
    ])
  }, 300_000)

  afterAll(() => {
    execFileSync('docker', ['image', 'rm', '-f', BARE], { stdio: 'ignore' })
  })

  it('names an image that cannot run the forwarder, from the real run (no check container)', () => {
    expect(bare.main.code).toBe(1)
    expect(bare.outputs.conclusion).toBe('failure')
    expect(bare.main.errors.join('\n')).toMatch(
      /image airlock-test-bare:latest cannot run Airlock's in-container forwarder \(it needs glibc and libstdc\+\+.*\/airlock\/node/
    )
    expect(bare.main.stdout).not.toMatch(/^SHOULD-NOT-RUN$/m)
  })

  it('leaves no container behind, check or real', () => {
    // Every container Airlock makes carries its run's label; other test files make
    // containers of their own at the same time (two workers), so only these runs' count.
    for (const run of [ok, bare]) {
      const id = run.state['run-id']
      expect(id).toBeTruthy()
      const left = execFileSync('docker', ['ps', '-aq', '--filter', `label=airlock.run-id=${id}`], {
        encoding: 'utf8'
      })
      expect(left.trim()).toBe('')
    }
    // Nor anything unlabelled from the image only this file uses.
    const after = execFileSync('docker', ['ps', '-aq', '--filter', `ancestor=${BARE}`], {
      encoding: 'utf8'
    })
    expect(after.trim()).toBe('')
  })

  it('starts one container per run: no throw-away container checks the image first', () => {
    const until = String(Math.floor(Date.now() / 1000) + 1)
    const created = (run: ActionRun): string[] =>
      execFileSync(
        'docker',
        [
          'events',
          '--since',
          since,
          '--until',
          until,
          '--filter',
          'event=create',
          '--filter',
          `label=airlock.run-id=${run.state['run-id']}`,
          '--format',
          '{{.Actor.Attributes.name}}'
        ],
        { encoding: 'utf8' }
      )
        .split('\n')
        .filter(Boolean)
    expect(created(ok)).toEqual([`airlock-${ok.state['run-id']}`])
    expect(created(bare)).toEqual([`airlock-${bare.state['run-id']}`])
  })

  it('post has nothing to do after a main that released everything', () => {
    expect(ok.main.code, ok.main.stdout + ok.main.stderr).toBe(0)
    expect(ok.main.stdout).toContain('ran-in-the-sandbox')
    expect(ok.state.released).toBe(ok.state['run-id'])
    expect(ok.post.stdout).toContain('Airlock: nothing to clean up')
    expect(ok.post.code).toBe(0)
  })
})
