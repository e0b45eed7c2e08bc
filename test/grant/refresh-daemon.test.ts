import { readFileSync } from 'node:fs'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { request } from 'undici'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import {
  daemonOidc,
  makeGrantContext,
  settingsForRefresh,
  type Granted
} from '../../src/grant/index.js'
import { readInputs } from '../../src/inputs.js'
import { credentialToJSON, registry } from '../../src/provider/index.js'
import { PLACEHOLDERS } from '../../src/providers/defaults.js'
import { registerAll } from '../../src/providers/index.js'
import { startProxyDaemon, stopProcess } from '../../src/daemon/start.js'
import {
  daemonConfig,
  ensureBuilt,
  PROXY_SCRIPT,
  proxyAgent,
  waitFor
} from '../proxy/integration/harness.js'
import {
  generateAppKey,
  startFakeGitHubApp,
  type FakeGitHubApp
} from '../support/fake-github-app.js'
import { startFakeGoogle, type FakeGoogle } from '../support/fake-google.js'
import { startFakeIdTokenEndpoint, type FakeIdTokenEndpoint } from '../support/fake-sts.js'
import { createTestPki, type TestPki } from '../support/test-ca.js'

/**
 * Short-lived credentials minted in "main", handed to the REAL daemon process on stdin with
 * the inputs and ID-token endpoint refresh needs, re-minted by the daemon before expiry; the
 * next request through the proxy carries the new credential, and the old App token is revoked.
 */

const REPO = 'octo-org/octo-repo'
const APP_ID = 777
const WIP = 'projects/42/locations/global/workloadIdentityPools/pool/providers/gh'
const SA = 'bot@proj-1234.iam.gserviceaccount.com'

let pki: TestPki
let issuer: FakeIdTokenEndpoint
let github: FakeGitHubApp
let google: FakeGoogle
let key: ReturnType<typeof generateAppKey>
let connectTo: string[]

beforeAll(async () => {
  await ensureBuilt('proxy')
  pki = await createTestPki([
    'pipelines.actions.test',
    'api.github.com',
    'sts.googleapis.com',
    'iamcredentials.googleapis.com',
    'storage.googleapis.com'
  ])
  key = generateAppKey()
  issuer = await startFakeIdTokenEndpoint({ pki, repository: REPO })
  github = await startFakeGitHubApp({
    pki,
    appId: APP_ID,
    publicKey: key.publicKey,
    installations: { [REPO]: 5 },
    permissions: { contents: 'read', metadata: 'read' },
    tokenLifetimeSeconds: 4
  })
  google = await startFakeGoogle({
    pki,
    issuer,
    workloadIdentityProvider: WIP,
    serviceAccounts: [SA],
    serviceAccountLifetimeSeconds: 4
  })
  connectTo = [
    `pipelines.actions.test:443=127.0.0.1:${issuer.port}`,
    `api.github.com:443=127.0.0.1:${github.port}`,
    `sts.googleapis.com:443=127.0.0.1:${google.port}`,
    `iamcredentials.googleapis.com:443=127.0.0.1:${google.port}`,
    `storage.googleapis.com:443=127.0.0.1:${google.port}`
  ]
}, 180_000)

afterAll(async () => {
  await Promise.all([issuer?.close(), github?.close(), google?.close()])
  registry.clear()
})

describe('refresh in the proxy daemon', () => {
  it('re-mints GitHub App and Google tokens before expiry; requests carry the new ones', async () => {
    registerAll()
    const inputs: Record<string, string> = {
      command: 'true',
      grants: 'github, gcp',
      'github-token': 'ghs_jobtoken_not_used_000000000000',
      'github-app-id': String(APP_ID),
      'github-app-private-key': key.privateKeyPem,
      'github-app-permissions': 'contents:read',
      'gcp-workload-identity-provider': WIP,
      'gcp-service-account': SA
    }
    const env: NodeJS.ProcessEnv = {
      GITHUB_REPOSITORY: REPO,
      GITHUB_RUN_ID: '55',
      ACTIONS_ID_TOKEN_REQUEST_URL: issuer.url,
      ACTIONS_ID_TOKEN_REQUEST_TOKEN: issuer.requestToken
    }
    const plan = readInputs(
      (n) => inputs[n] ?? '',
      env,
      () => {}
    )
    const ctx = makeGrantContext({
      settings: plan,
      setSecret: () => {},
      env,
      connectTo,
      upstreamCa: pki.caFile
    })
    const granted: Granted[] = []
    for (const name of plan.grants)
      granted.push({ provider: name, credential: await registry.mustGet(name).grant(ctx) })
    const firstGitHub = granted[0]!.credential.token
    const firstGoogle = granted[1]!.credential.token

    // What session.ts hands the daemon.
    const daemonSettings = settingsForRefresh(plan)
    // The App key is the one secret that goes to the daemon; the rest are the typed sections.
    expect(daemonSettings.secrets).toEqual({ 'github-app-private-key': key.privateKeyPem })
    expect(daemonSettings.githubApp).toEqual({
      id: String(APP_ID),
      permissions: { contents: 'read' }
    })
    expect(daemonSettings.gcp).toEqual({ workloadIdentityProvider: WIP, serviceAccount: SA })
    expect(daemonSettings.custom).toEqual([])
    const oidc = daemonOidc(plan, env)
    expect(oidc).toEqual({ url: issuer.url, token: issuer.requestToken })

    const dir = await mkdtemp(join(tmpdir(), 'airlock-refresh-'))
    const config = daemonConfig(dir, {
      connectTo,
      upstreamCa: pki.caPem,
      allow: ['storage.googleapis.com']
    })
    config.grants = granted.map((g) => ({
      provider: g.provider,
      credential: credentialToJSON(g.credential)
    }))
    config.settings = daemonSettings
    config.oidc = oidc!
    config.repository = REPO
    const ready = await startProxyDaemon(config, {
      script: PROXY_SCRIPT,
      logFile: join(dir, 'daemon.log')
    })
    try {
      const agent = proxyAgent({
        proxyUrl: `http://airlock:${config.token}@127.0.0.1:${ready.port}`,
        caPem: readFileSync(config.caCertFile, 'utf8')
      })

      // The App token (4 s) is re-minted at 75 % of its life; the old one is revoked.
      await waitFor(
        () => (github.tokens.length >= 2 && github.tokens[0]!.revoked ? true : undefined),
        15_000
      )
      const gh = await request('https://api.github.com/installation/repositories', {
        dispatcher: agent,
        headers: { authorization: `Bearer ${PLACEHOLDERS.github}` }
      })
      expect(gh.statusCode).toBe(200)
      await gh.body.dump()
      const sent = github.requests.at(-1)!.headers.authorization!
      const live = github.tokens.filter((t) => !t.revoked).map((t) => `Bearer ${t.token}`)
      expect(live).toContain(sent)
      expect(sent).not.toBe(`Bearer ${firstGitHub}`)
      expect(github.tokens[0]!.token).toBe(firstGitHub)
      // Every re-mint asked for this repository and the narrowed permissions.
      for (const r of github.requests.filter((q) => q.method === 'POST'))
        expect(JSON.parse(r.body)).toEqual({
          repositories: ['octo-repo'],
          permissions: { contents: 'read' }
        })

      // Google: a fresh ID token, STS exchange and impersonation, all from the daemon.
      await waitFor(
        () =>
          google.issued.filter((i) => i.kind === 'service-account').length >= 2 ? true : undefined,
        15_000
      )
      const gs = await request('https://storage.googleapis.com/storage/v1/b?project=p', {
        dispatcher: agent,
        headers: { authorization: `Bearer ${PLACEHOLDERS.gcp}` }
      })
      await gs.body.dump()
      const googleSent = google.requests.at(-1)!
      expect(googleSent.host).toBe('storage.googleapis.com')
      const saTokens = google.issued.filter((i) => i.kind === 'service-account').map((i) => i.token)
      expect(googleSent.headers.authorization).not.toBe(`Bearer ${firstGoogle}`)
      expect(saTokens.map((t) => `Bearer ${t}`)).toContain(googleSent.headers.authorization)
      expect(issuer.requests.length).toBeGreaterThanOrEqual(2)
      await agent.close()
    } finally {
      await stopProcess(ready.pid, 5000)
      await rm(dir, { recursive: true, force: true })
    }
  }, 60_000)
})
