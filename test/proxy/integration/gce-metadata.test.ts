/**
 * The gcp grant's metadata server on the proxy (`http://airlock.internal/computeMetadata/v1/`)
 * through the real daemon, with curl the two ways clients reach it: an absolute-form
 * plain-HTTP request, and a CONNECT tunnel to port 80 (undici and gaxios tunnel everything).
 * It hands out the placeholder token only, needs the proxy token and the Metadata-Flavor
 * header, and exists only when gcp is granted.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { PLACEHOLDERS } from '../../../src/providers/defaults.js'
import { ensureBuilt, run, startTestDaemon, waitFor, type TestDaemon } from './harness.js'

const REAL = `ya29.AirlockRealGcpTokenForMetadataTest0123456789`
const SA = 'agent@meta-proj-42.iam.gserviceaccount.com'
const BASE = 'http://airlock.internal/computeMetadata/v1'

let gcp: TestDaemon
let none: TestDaemon

beforeAll(async () => {
  await ensureBuilt('proxy')
  gcp = await startTestDaemon({
    grants: [{ provider: 'gcp', token: REAL }],
    gcpServiceAccount: SA
  })
  none = await startTestDaemon({})
})

afterAll(async () => {
  await gcp?.stop()
  await none?.stop()
})

function curl(d: TestDaemon, args: string[]): ReturnType<typeof run> {
  return run('curl', ['-sS', '--proxy', d.proxyUrl, '-w', '\\n%{http_code}', ...args])
}

function split(out: string): { body: string; status: number } {
  const i = out.lastIndexOf('\n')
  return { body: out.slice(0, i), status: Number(out.slice(i + 1)) }
}

describe('GCE metadata server on the proxy', () => {
  it.each([
    ['absolute-form', [] as string[]],
    ['CONNECT tunnel to :80', ['--proxytunnel']]
  ])('serves the placeholder token (%s)', async (_how, extra) => {
    const r = await curl(gcp, [
      ...extra,
      '-H',
      'Metadata-Flavor: Google',
      `${BASE}/instance/service-accounts/default/token?scopes=x`
    ])
    expect(r.code, r.stderr).toBe(0)
    const { body, status } = split(r.stdout)
    expect(status).toBe(200)
    expect(JSON.parse(body)).toEqual({
      access_token: PLACEHOLDERS.gcp,
      expires_in: 3599,
      token_type: 'Bearer'
    })
    expect(body).not.toContain(REAL)
  })

  it('names the project and account; refuses without Metadata-Flavor; 404 elsewhere', async () => {
    const get = async (path: string, flavor = true) =>
      split(
        (await curl(gcp, [...(flavor ? ['-H', 'Metadata-Flavor: Google'] : []), `${BASE}${path}`]))
          .stdout
      )
    expect(await get('/project/project-id')).toEqual({ body: 'meta-proj-42', status: 200 })
    expect(await get('/instance/service-accounts/default/email')).toEqual({ body: SA, status: 200 })
    expect((await get('/instance/service-accounts/default/token', false)).status).toBe(403)
    expect((await get('/instance/attributes/ssh-keys')).status).toBe(404)
    const line = await waitFor(() =>
      gcp.network().find((e) => e.url === `${BASE}/project/project-id`)
    )
    expect(line.status).toBe(200)
  })

  it('needs the run token', async () => {
    const r = await run('curl', [
      '-sS',
      '-o',
      '/dev/null',
      '-w',
      '%{http_code}',
      '--proxy',
      `http://127.0.0.1:${gcp.port}`,
      '-H',
      'Metadata-Flavor: Google',
      `${BASE}/instance/service-accounts/default/token`
    ])
    expect(r.stdout).toBe('407')
  })

  it('does not exist without the gcp grant: the name is refused like any other', async () => {
    for (const extra of [[], ['--proxytunnel']]) {
      const r = await curl(none, [...extra, '-H', 'Metadata-Flavor: Google', `${BASE}/`])
      expect(r.stdout + r.stderr).toMatch(/403/)
      expect(r.stdout).not.toContain(PLACEHOLDERS.gcp)
    }
  })
})
