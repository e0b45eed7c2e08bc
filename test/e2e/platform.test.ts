/**
 * Where users run it: the built action on runners that cannot run it fails at once, with one
 * message naming the environment and the fix, and before any grant has run (the OIDC
 * endpoint below counts every request).
 */
import { createServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { requireDocker } from '../support/docker.js'
import { runAction, type RunOptions } from '../support/runner.js'

const hasDocker = await requireDocker()

let oidc: Server
let oidcHits = 0
let oidcUrl = ''
beforeAll(async () => {
  oidc = createServer((req, res) => {
    oidcHits++
    res.writeHead(500).end()
  })
  await new Promise<void>((r) => oidc.listen(0, '127.0.0.1', r))
  oidcUrl = `http://127.0.0.1:${(oidc.address() as AddressInfo).port}/token`
})
afterAll(() => oidc.close())

/** A run whose first side effect would be an OIDC exchange (the AWS grant). */
function withGrant(opts: RunOptions = {}): Promise<Awaited<ReturnType<typeof runAction>>> {
  return runAction({
    ...opts,
    inputs: {
      command: 'echo hi',
      grants: 'aws',
      'aws-role-arn': 'arn:aws:iam::123456789012:role/airlock-test',
      'aws-region': 'us-east-1',
      ...opts.inputs
    },
    env: {
      ACTIONS_ID_TOKEN_REQUEST_URL: oidcUrl,
      ACTIONS_ID_TOKEN_REQUEST_TOKEN: 'oidc-request-token',
      ...opts.env
    }
  })
}

describe('preflight in the built action', () => {
  it('sets conclusion=failure on an input error too', async () => {
    const run = await runAction({ inputs: { command: 'echo hi', 'egress-policy': 'open' } })
    expect(run.main.code).toBe(1)
    expect(run.main.errors[0]).toContain('egress-policy')
    expect(run.outputs.conclusion).toBe('failure')
  })

  it('says the docker CLI is missing, before any grant', async () => {
    const before = oidcHits
    const run = await withGrant({ env: { PATH: '/nonexistent' } })
    expect(run.main.code).toBe(1)
    expect(run.main.errors).toHaveLength(1)
    expect(run.main.errors[0]).toContain("the docker CLI is not on this runner's PATH")
    expect(oidcHits).toBe(before)
    expect(run.outputs.conclusion).toBe('failure')
    expect(run.post.code).toBe(0)
  })

  it('names a DOCKER_HOST that points nowhere, before any grant', async () => {
    const before = oidcHits
    const run = await withGrant({ env: { DOCKER_HOST: 'unix:///nonexistent/docker.sock' } })
    expect(run.main.code).toBe(1)
    expect(run.main.errors).toHaveLength(1)
    expect(run.main.errors[0]).toContain(
      'the Docker daemon at DOCKER_HOST=unix:///nonexistent/docker.sock does not answer'
    )
    expect(oidcHits).toBe(before)
    expect(run.outputs.conclusion).toBe('failure')
  })

  it.skipIf(!hasDocker || process.getuid?.() !== 0)(
    'names a RUNNER_TEMP the daemon cannot see (a private mount, as a dind sidecar has)',
    async () => {
      const before = oidcHits
      // main runs in a mount namespace of its own with a tmpfs over RUNNER_TEMP: what it
      // writes there the daemon never sees, as with a runner whose temp dir is not shared.
      const run = await withGrant({
        asRoot: true,
        wrapMain: [
          'unshare',
          '--mount',
          '--propagation',
          'private',
          'sh',
          '-c',
          'mount -t tmpfs tmpfs "$RUNNER_TEMP" && exec "$@"',
          'sh'
        ]
      })
      expect(run.main.code).toBe(1)
      expect(run.main.errors).toHaveLength(1)
      expect(run.main.errors[0]).toContain(`the Docker daemon cannot see ${run.runnerTemp} `)
      expect(oidcHits).toBe(before)
      expect(run.outputs.conclusion).toBe('failure')
    }
  )
})
