import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest'
import { makeGrantContext, revokeAll } from '../../src/grant/index.js'
import {
  GrantError,
  registry,
  type Credential,
  type GrantContext
} from '../../src/provider/index.js'
import { PLACEHOLDERS } from '../../src/providers/defaults.js'
import { GitHubProvider } from '../../src/providers/github.js'
import {
  generateAppKey,
  startFakeGitHubApp,
  type FakeGitHubApp
} from '../support/fake-github-app.js'
import { RecordingConfigurer } from '../support/recording-configurer.js'
import { createTestPki, type TestPki } from '../support/test-ca.js'
import { settingsFrom } from '../support/grant-context.js'

const APP_ID = 31337
const REPO = 'octo-org/octo-repo'
const basic = (t: string): string =>
  `Basic ${Buffer.from(`x-access-token:${t}`).toString('base64')}`
const expectedHeaders = (t: string): Record<string, Record<string, string>> => ({
  'api.github.com': { 'github|authorization': `Bearer ${t}` },
  'uploads.github.com': { 'github|authorization': `Bearer ${t}` },
  'github.com': { 'github|authorization': basic(t) }
})

let pki: TestPki
let key: ReturnType<typeof generateAppKey>
let api: FakeGitHubApp
let ghes: FakeGitHubApp

beforeAll(async () => {
  pki = await createTestPki(['api.github.com', 'ghes.example.test'])
  key = generateAppKey()
  const common = {
    pki,
    appId: APP_ID,
    publicKey: key.publicKey,
    installations: { [REPO]: 42, 'octo-org/other': 42, 'someone/else': 7 },
    permissions: { contents: 'write', pull_requests: 'write', metadata: 'read' }
  }
  api = await startFakeGitHubApp(common)
  ghes = await startFakeGitHubApp({ ...common, prefix: '/api/v3' })
})

afterAll(async () => {
  await Promise.all([api?.close(), ghes?.close()])
})

beforeEach(() => {
  api.tokenFailures.length = 0
})

interface Ctx extends GrantContext {
  masked: string[]
}

function context(inputs: Record<string, string>, env: NodeJS.ProcessEnv = {}): Ctx {
  const masked: string[] = []
  const ctx = makeGrantContext({
    settings: settingsFrom(inputs),
    setSecret: (v) => masked.push(v),
    env: { GITHUB_REPOSITORY: REPO, GITHUB_RUN_ID: '1', ...env },
    connectTo: [
      `api.github.com:443=127.0.0.1:${api.port}`,
      `ghes.example.test:443=127.0.0.1:${ghes.port}`
    ],
    upstreamCa: pki.caFile
  })
  return Object.assign(ctx, { masked })
}

const appInputs = (extra: Record<string, string> = {}): Record<string, string> => ({
  'github-token': 'ghs_jobtoken000000000000000000000000',
  'github-app-id': String(APP_ID),
  'github-app-private-key': key.privateKeyPem,
  'github-app-permissions': 'contents:write, pull_requests:write',
  ...extra
})

const fast = { retry: { baseDelayMs: 1, maxDelayMs: 5 } }

async function grantError(p: Promise<unknown>): Promise<GrantError> {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e
  )
  expect(err).toBeInstanceOf(GrantError)
  return err as GrantError
}

describe('GitHubProvider with github-token', () => {
  it('injects Bearer for the API and Basic x-access-token for git', async () => {
    const gh = new GitHubProvider()
    const token = 'ghp_realtoken0000000000000000000000000000'
    const cred = await gh.grant(context({ 'github-token': token }))
    expect(cred.token).toBe(token)
    const rec = new RecordingConfigurer()
    gh.configureProxy(rec, cred)
    expect(rec.snapshot()).toEqual(expectedHeaders(token))
    expect(gh.canRefresh(cred)).toBe(false)
    expect(gh.containerEnv(cred)).toEqual([
      `GH_TOKEN=${PLACEHOLDERS.github}`,
      'GIT_TERMINAL_PROMPT=0'
    ])
  })

  it('follows GITHUB_API_URL to a GitHub Enterprise Server: one host, Basic, GH_HOST', async () => {
    const gh = new GitHubProvider()
    const token = 'ghp_realtoken0000000000000000000000000000'
    const cred = await gh.grant(
      context({ 'github-token': token }, { GITHUB_API_URL: 'https://GHES.example.test/api/v3/' })
    )
    const rec = new RecordingConfigurer()
    gh.configureProxy(rec, cred)
    // The API (/api/v3) and git share the host; GitHub takes Basic x-access-token on both.
    expect(rec.snapshot()).toEqual({
      'ghes.example.test': { 'github|authorization': basic(token) }
    })
    expect(gh.hosts(cred)).toEqual(['ghes.example.test'])
    expect(gh.containerEnv(cred)).toEqual([
      'GH_HOST=ghes.example.test',
      `GH_ENTERPRISE_TOKEN=${PLACEHOLDERS.github}`,
      'GIT_TERMINAL_PROMPT=0'
    ])
  })

  it('follows GITHUB_API_URL to GHE.com: api.<tenant>.ghe.com Bearer, <tenant>.ghe.com Basic', async () => {
    const gh = new GitHubProvider()
    const token = 'ghu_realtoken0000000000000000000000000000'
    const cred = await gh.grant(
      context({ 'github-token': token }, { GITHUB_API_URL: 'https://api.octo.ghe.com' })
    )
    const rec = new RecordingConfigurer()
    gh.configureProxy(rec, cred)
    expect(rec.snapshot()).toEqual({
      'api.octo.ghe.com': { 'github|authorization': `Bearer ${token}` },
      'uploads.octo.ghe.com': { 'github|authorization': `Bearer ${token}` },
      'octo.ghe.com': { 'github|authorization': basic(token) }
    })
    expect(gh.hosts(cred)).toEqual(['api.octo.ghe.com', 'uploads.octo.ghe.com', 'octo.ghe.com'])
    expect(gh.containerEnv(cred)).toEqual([
      `GH_TOKEN=${PLACEHOLDERS.github}`,
      'GH_HOST=octo.ghe.com',
      'GIT_TERMINAL_PROMPT=0'
    ])
  })

  it('never revokes the job token', async () => {
    const cred = await new GitHubProvider().grant(
      context({ 'github-token': 'ghs_jobtoken0000000000' })
    )
    const before = api.requests.length
    expect(await new GitHubProvider().revoke(context({}), cred)).toBe(false)
    expect(api.requests.length).toBe(before)
  })
})

describe('GitHubProvider with a GitHub App', () => {
  it('mints an installation token for this repository only, narrowed to the permissions', async () => {
    const ctx = context(appInputs())
    const cred = await new GitHubProvider(fast).grant(ctx)
    const [lookup, mint] = api.requests.slice(-2)
    expect(lookup!.method).toBe('GET')
    expect(lookup!.url).toBe(`/repos/${REPO}/installation`)
    expect(mint!.url).toBe('/app/installations/42/access_tokens')
    expect(JSON.parse(mint!.body)).toEqual({
      repositories: ['octo-repo'],
      permissions: { contents: 'write', pull_requests: 'write' }
    })
    expect(mint!.headers.accept).toBe('application/vnd.github+json')
    const minted = api.tokens.at(-1)!
    expect(cred.token).toBe(minted.token)
    expect(cred.expiresAt?.toISOString().slice(0, 19)).toBe(
      minted.expiresAt.toISOString().slice(0, 19)
    )
    expect(cred.metadata).toMatchObject({
      token_source: 'github-app',
      app_id: String(APP_ID),
      installation_id: '42',
      repository: REPO
    })
    // The fake verified the JWT with the App's public key; its clock-skew margins:
    const jwt = api.jwts.at(-1)!
    const now = Math.floor(Date.now() / 1000)
    expect(jwt.iss).toBe(APP_ID)
    expect(now - (jwt.iat as number)).toBeGreaterThanOrEqual(59)
    expect((jwt.exp as number) - now).toBeLessThanOrEqual(600)
    // The key, the JWT and the token are all masked.
    const sentJwt = lookup!.headers.authorization!.replace('Bearer ', '')
    expect(ctx.masked).toEqual(expect.arrayContaining([key.privateKeyPem, sentJwt, cred.token]))
  })

  it('injects the installation token, and refresh re-mints, swaps headers and revokes the old one', async () => {
    const gh = new GitHubProvider(fast)
    const first = await gh.grant(context(appInputs()))
    const rec = new RecordingConfigurer()
    gh.configureProxy(rec, first)
    expect(rec.snapshot()).toEqual(expectedHeaders(first.token))
    expect(gh.canRefresh(first)).toBe(true)

    // The daemon's context: only the inputs refresh needs.
    const daemonCtx = context({ 'github-app-private-key': key.privateKeyPem })
    const next = await gh.refresh(daemonCtx, rec, first)
    expect(next.token).not.toBe(first.token)
    expect(rec.snapshot()).toEqual(expectedHeaders(next.token))
    expect(api.tokens.find((t) => t.token === first.token)?.revoked).toBe(true)
    expect(api.tokens.find((t) => t.token === next.token)?.revoked).toBe(false)
    expect(JSON.parse(api.requests.filter((r) => r.method === 'POST').at(-1)!.body)).toEqual({
      repositories: ['octo-repo'],
      permissions: { contents: 'write', pull_requests: 'write' }
    })
  })

  it('revokes with DELETE /installation/token; a second revocation is a no-op', async () => {
    const gh = new GitHubProvider(fast)
    const cred = await gh.grant(context(appInputs()))
    expect(await gh.revoke(context({}), cred)).toBe(true)
    const del = api.requests.at(-1)!
    expect(del.method).toBe('DELETE')
    expect(del.url).toBe('/installation/token')
    expect(del.headers.authorization).toBe(`Bearer ${cred.token}`)
    expect(api.tokens.find((t) => t.token === cred.token)?.revoked).toBe(true)
    expect(await gh.revoke(context({}), cred)).toBe(false)
  })

  it('revokeAll revokes through the registry and only warns on failure', async () => {
    registry.clear()
    registry.register(new GitHubProvider(fast))
    try {
      const cred = await new GitHubProvider(fast).grant(context(appInputs()))
      const warnings: string[] = []
      expect(
        await revokeAll([{ provider: 'github', credential: cred }], context({}), (w) =>
          warnings.push(w)
        )
      ).toBe(1)
      expect(api.tokens.find((t) => t.token === cred.token)?.revoked).toBe(true)
      // An unreachable API: a warning, no throw.
      const lost: Credential = {
        ...cred,
        metadata: { ...cred.metadata, api_url: 'https://127.0.0.1:1' }
      }
      const n = await revokeAll([{ provider: 'github', credential: lost }], context({}), (w) =>
        warnings.push(w)
      )
      expect(n).toBe(0)
      expect(warnings).toHaveLength(1)
      expect(warnings[0]).toContain('could not revoke the github token')
      expect(warnings[0]).not.toContain(cred.token)
    } finally {
      registry.clear()
    }
  })

  it('uses GITHUB_API_URL (GitHub Enterprise Server)', async () => {
    const ctx = context(appInputs(), { GITHUB_API_URL: 'https://ghes.example.test/api/v3' })
    const cred = await new GitHubProvider(fast).grant(ctx)
    expect(ghes.requests.slice(-2).map((r) => r.url)).toEqual([
      `/api/v3/repos/${REPO}/installation`,
      '/api/v3/app/installations/42/access_tokens'
    ])
    expect(cred.metadata?.api_url).toBe('https://ghes.example.test/api/v3')
    const rec = new RecordingConfigurer()
    new GitHubProvider().configureProxy(rec, cred)
    expect(Object.keys(rec.snapshot())).toEqual(['ghes.example.test'])
    expect(await new GitHubProvider(fast).revoke(context({}), cred)).toBe(true)
    expect(ghes.requests.at(-1)!.url).toBe('/api/v3/installation/token')
  })

  it('accepts a key pasted with literal \\n escapes', async () => {
    const escaped = key.privateKeyPem.trim().split('\n').join('\\n')
    const cred = await new GitHubProvider(fast).grant(
      context(appInputs({ 'github-app-private-key': escaped }))
    )
    expect(cred.token).toMatch(/^ghs_/)
  })

  it('names the missing half of the App credentials', async () => {
    const err = await grantError(
      new GitHubProvider(fast).grant(context({ 'github-app-id': String(APP_ID) }))
    )
    expect(err.message).toContain('`github-app-private-key` is empty')
    expect(err.hint).toContain('github-app-id and github-app-private-key')
  })

  it('says a bad private key is bad without printing it', async () => {
    const junk = 'not a key at all, but a secret value 12345'
    const err = await grantError(
      new GitHubProvider(fast).grant(context(appInputs({ 'github-app-private-key': junk })))
    )
    expect(err.message).toContain('not a PEM private key')
    expect(err.message + err.hint).not.toContain(junk)
  })

  it('explains a JWT GitHub rejects (wrong App id)', async () => {
    const err = await grantError(
      new GitHubProvider(fast).grant(context(appInputs({ 'github-app-id': '999' })))
    )
    expect(err.message).toContain('401')
    expect(err.hint).toContain('github-app-id (999)')
  })

  it('explains an App that is not installed on the repository', async () => {
    const ctx = context(appInputs(), { GITHUB_REPOSITORY: 'octo-org/not-installed' })
    const err = await grantError(new GitHubProvider(fast).grant(ctx))
    expect(err.message).toMatch(/^grant github: .*installation answered 404/)
    expect(err.hint).toContain('not installed on octo-org/not-installed')
  })

  it('explains permissions beyond what the App holds', async () => {
    const err = await grantError(
      new GitHubProvider(fast).grant(
        context(appInputs({ 'github-app-permissions': 'administration:write' }))
      )
    )
    expect(err.message).toContain('422')
    expect(err.hint).toContain('administration:write')
  })

  it('retries 5xx from the token endpoint', async () => {
    api.tokenFailures.push({ status: 502 }, { status: 500 })
    const before = api.requests.length
    const cred = await new GitHubProvider(fast).grant(context(appInputs()))
    expect(api.requests.length - before).toBe(4)
    expect(cred.token).toBe(api.tokens.at(-1)!.token)
  })

  it('tolerates a runner clock a minute off', async () => {
    for (const skew of [-50_000, 50_000]) {
      const gh = new GitHubProvider({ ...fast, now: () => Date.now() + skew })
      const cred = await gh.grant(context(appInputs()))
      expect(cred.token).toMatch(/^ghs_/)
    }
  })
})
