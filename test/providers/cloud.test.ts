import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest'
import { awsCredentials } from '../../src/grant/aws-sts.js'
import { makeGrantContext } from '../../src/grant/index.js'
import {
  GrantError,
  isRefreshableProvider,
  type Credential,
  type GrantContext
} from '../../src/provider/index.js'
import { PLACEHOLDERS } from '../../src/providers/defaults.js'
import { AwsProvider } from '../../src/providers/aws.js'
import { GcpProvider } from '../../src/providers/gcp.js'
import { GeminiProvider } from '../../src/providers/gemini.js'
import { InjectionTable } from '../../src/proxy/inject.js'
import {
  startFakeIdTokenEndpoint,
  startFakeSts,
  stsErrorXml,
  type FakeIdTokenEndpoint,
  type FakeSts
} from '../support/fake-sts.js'
import { startFakeGoogle, type FakeGoogle } from '../support/fake-google.js'
import { RecordingConfigurer } from '../support/recording-configurer.js'
import { createTestPki, type TestPki } from '../support/test-ca.js'
import { settingsFrom } from '../support/grant-context.js'

const REPO = 'octo-org/octo-repo'
const WIP = 'projects/123456789/locations/global/workloadIdentityPools/gh-pool/providers/gh'
const SA = 'agent@my-project-42.iam.gserviceaccount.com'
const ROLE = 'arn:aws:iam::123456789012:role/airlock-agent'

let pki: TestPki
let issuer: FakeIdTokenEndpoint
let sts: FakeSts
let google: FakeGoogle
let connectTo: string[]

beforeAll(async () => {
  pki = await createTestPki([
    'pipelines.actions.test',
    'sts.us-east-1.amazonaws.com',
    'sts.eu-west-1.amazonaws.com',
    'sts.custom.test',
    'sts.googleapis.com',
    'iamcredentials.googleapis.com'
  ])
  issuer = await startFakeIdTokenEndpoint({ pki, repository: REPO })
  sts = await startFakeSts({
    pki,
    issuer,
    trust: (claims, role) => role === ROLE && claims.sub === `repo:${REPO}:ref:refs/heads/main`
  })
  google = await startFakeGoogle({
    pki,
    issuer,
    workloadIdentityProvider: WIP,
    serviceAccounts: [SA, 'locked@my-project-42.iam.gserviceaccount.com'],
    attributeCondition: (c) => c.repository === REPO,
    canImpersonate: (sa) => sa === SA
  })
  connectTo = [
    `pipelines.actions.test:443=127.0.0.1:${issuer.port}`,
    `sts.us-east-1.amazonaws.com:443=127.0.0.1:${sts.port}`,
    `sts.eu-west-1.amazonaws.com:443=127.0.0.1:${sts.port}`,
    `sts.custom.test:8443=127.0.0.1:${sts.port}`,
    `sts.googleapis.com:443=127.0.0.1:${google.port}`,
    `iamcredentials.googleapis.com:443=127.0.0.1:${google.port}`
  ]
})

afterAll(async () => {
  await Promise.all([issuer?.close(), sts?.close(), google?.close()])
})

beforeEach(() => {
  sts.failures.length = 0
  google.stsFailures.length = 0
  google.iamFailures.length = 0
})

interface Ctx extends GrantContext {
  masked: string[]
}

/** The real main-step context (makeGrantContext), pointed at the fakes with connect-to. */
function context(inputs: Record<string, string>, opts: { oidc?: boolean } = {}): Ctx {
  const masked: string[] = []
  const env: NodeJS.ProcessEnv = { GITHUB_REPOSITORY: REPO, GITHUB_RUN_ID: '987654321' }
  if (opts.oidc !== false) {
    env.ACTIONS_ID_TOKEN_REQUEST_URL = issuer.url
    env.ACTIONS_ID_TOKEN_REQUEST_TOKEN = issuer.requestToken
  }
  const ctx = makeGrantContext({
    settings: settingsFrom(inputs),
    setSecret: (v) => masked.push(v),
    env,
    connectTo,
    upstreamCa: pki.caFile
  })
  return Object.assign(ctx, { masked })
}

const fast = { retry: { baseDelayMs: 1, maxDelayMs: 5 } }

async function grantError(p: Promise<unknown>): Promise<GrantError> {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e
  )
  expect(err).toBeInstanceOf(GrantError)
  return err as GrantError
}

describe('AwsProvider', () => {
  it('assumes the role on the regional STS endpoint with a GitHub OIDC token', async () => {
    const ctx = context({
      'aws-role-arn': ROLE,
      'aws-region': 'eu-west-1',
      'aws-session-duration': '1800'
    })
    const before = Date.now()
    const cred = await new AwsProvider(fast).grant(ctx)

    const call = sts.calls.at(-1)!
    expect(sts.requests.at(-1)!.host).toBe('sts.eu-west-1.amazonaws.com')
    expect(call.params).toMatchObject({
      Action: 'AssumeRoleWithWebIdentity',
      Version: '2011-06-15',
      RoleArn: ROLE,
      DurationSeconds: '1800',
      RoleSessionName: 'airlock-octo-org-octo-repo-987654321'
    })
    expect(call.claims?.aud).toBe('sts.amazonaws.com')
    expect(issuer.requests.at(-1)!.url).toContain('audience=sts.amazonaws.com')

    const keys = awsCredentials(cred)
    expect(keys).toEqual(call.issued)
    expect(cred.expiresAt!.getTime()).toBeGreaterThanOrEqual(before + 1790_000)
    expect(cred.metadata).toMatchObject({
      token_source: 'oidc',
      region: 'eu-west-1',
      role_arn: ROLE,
      sts_endpoint: 'https://sts.eu-west-1.amazonaws.com/',
      assumed_role_arn: `arn:aws:sts::123456789012:assumed-role/airlock-agent/${call.params.RoleSessionName}`
    })
    // Every secret masked: the ID token, each key, the credential's token.
    const idToken = call.params.WebIdentityToken!
    for (const s of [idToken, keys.secretAccessKey, keys.sessionToken, cred.token])
      expect(ctx.masked).toContain(s)
  })

  it('honours AWS_ENDPOINT_URL_STS', async () => {
    const ctx = context({ 'aws-role-arn': ROLE })
    const cred = await new AwsProvider({
      ...fast,
      env: { AWS_ENDPOINT_URL_STS: 'https://sts.custom.test:8443' }
    }).grant(ctx)
    expect(sts.requests.at(-1)!.host).toBe('sts.custom.test:8443')
    expect(cred.metadata?.sts_endpoint).toBe('https://sts.custom.test:8443/')
  })

  it('without id-token permission fails early saying so', async () => {
    const before = sts.requests.length
    const err = await grantError(
      new AwsProvider(fast).grant(context({ 'aws-role-arn': ROLE }, { oidc: false }))
    )
    expect(err.provider).toBe('aws')
    expect(err.code).toBe('AIRLOCK_GRANT_FAILED')
    expect(err.hint).toContain('permissions: id-token: write')
    expect(sts.requests.length).toBe(before)
  })

  it('without a role names the input', async () => {
    const err = await grantError(new AwsProvider(fast).grant(context({})))
    expect(err.message).toContain('aws-role-arn')
  })

  it('reports a trust-policy refusal with the status, STS code and what to check, never a secret', async () => {
    const other = 'arn:aws:iam::123456789012:role/not-trusting'
    const ctx = context({ 'aws-role-arn': other })
    const before = sts.requests.length
    const err = await grantError(new AwsProvider(fast).grant(ctx))
    expect(sts.requests.length - before).toBe(1) // a refusal is not retried
    expect(err.message).toMatch(/^grant aws: .*403 AccessDenied/)
    expect(err.hint).toContain(`trust policy of ${other}`)
    expect(err.hint).toContain(`repo:${REPO}:`)
    for (const s of [...ctx.masked, issuer.requestToken]) expect(err.message).not.toContain(s)
  })

  it('retries throttling, IdP communication errors and 5xx with backoff', async () => {
    sts.failures.push(
      { status: 400, body: stsErrorXml('Throttling', 'Rate exceeded') },
      { status: 400, body: stsErrorXml('IDPCommunicationError', 'could not reach the IdP') },
      { status: 503 }
    )
    const before = sts.requests.length
    const cred = await new AwsProvider(fast).grant(context({ 'aws-role-arn': ROLE }))
    expect(sts.requests.length - before).toBe(4)
    expect(awsCredentials(cred).accessKeyId).toMatch(/^ASIA/)
  })

  it('gives up after the configured attempts with the last STS answer', async () => {
    for (let i = 0; i < 3; i++) sts.failures.push({ status: 503 })
    const err = await grantError(
      new AwsProvider({ retry: { attempts: 3, baseDelayMs: 1 } }).grant(
        context({ 'aws-role-arn': ROLE })
      )
    )
    expect(err.message).toContain('503')
  })

  it('refreshes by re-assuming with a fresh ID token', async () => {
    const aws = new AwsProvider(fast)
    const first = await aws.grant(context({ 'aws-role-arn': ROLE }))
    expect(isRefreshableProvider(aws)).toBe(true)
    expect(aws.canRefresh(first)).toBe(true)
    const issuedBefore = issuer.issued.length
    // The daemon's context has no inputs for aws: everything comes from the metadata.
    const next = await aws.refresh(context({}), new RecordingConfigurer(), first)
    expect(issuer.issued.length).toBe(issuedBefore + 1)
    expect(awsCredentials(next).accessKeyId).not.toBe(awsCredentials(first).accessKeyId)
    expect(next.metadata?.session_name).toBe(first.metadata?.session_name)
    expect(aws.canRefresh({ provider: 'aws', token: '{}', createdAt: new Date() })).toBe(false)
  })

  it('gives the container placeholders only, and opens no hosts by itself', async () => {
    const aws = new AwsProvider(fast)
    const cred = await aws.grant(context({ 'aws-role-arn': ROLE, 'aws-region': 'eu-west-1' }))
    const env = aws.containerEnv(cred)
    expect(env).toContain(`AWS_ACCESS_KEY_ID=${PLACEHOLDERS.awsAccessKeyId}`)
    expect(env).toContain(`AWS_SECRET_ACCESS_KEY=${PLACEHOLDERS.awsSecretAccessKey}`)
    expect(env).toContain('AWS_REGION=eu-west-1')
    const keys = awsCredentials(cred)
    for (const e of env) for (const s of Object.values(keys)) expect(e).not.toContain(s)
    expect(aws.hosts(cred)).toEqual([])
  })

  it('re-signs on every AWS partition: commercial, GovCloud, China, api.aws', async () => {
    const aws = new AwsProvider(fast)
    const cred = await aws.grant(context({ 'aws-role-arn': ROLE }))
    const table = new InjectionTable()
    aws.configureProxy(table, cred)
    for (const host of [
      's3.us-east-1.amazonaws.com',
      'bucket.s3.amazonaws.com',
      'sqs.us-gov-west-1.amazonaws.com',
      's3.cn-north-1.amazonaws.com.cn',
      'lambda.us-east-1.api.aws'
    ])
      expect(table.signerFor(host)?.grant, host).toBe('aws')
    for (const host of ['amazonaws.com.evil.test', 'api.aws.evil.test', 'example.com'])
      expect(table.signerFor(host), host).toBeUndefined()
  })
})

describe('GcpProvider', () => {
  it('exchanges the OIDC token at Google STS, then impersonates the service account', async () => {
    const ctx = context({ 'gcp-workload-identity-provider': WIP, 'gcp-service-account': SA })
    const cred = await new GcpProvider(fast).grant(ctx)

    const [exchange, impersonate] = google.requests.slice(-2)
    expect(exchange!.host).toBe('sts.googleapis.com')
    expect(Object.fromEntries(new URLSearchParams(exchange!.body))).toMatchObject({
      grant_type: 'urn:ietf:params:oauth:grant-type:token-exchange',
      audience: `//iam.googleapis.com/${WIP}`,
      subject_token_type: 'urn:ietf:params:oauth:token-type:jwt',
      requested_token_type: 'urn:ietf:params:oauth:token-type:access_token',
      scope: 'https://www.googleapis.com/auth/cloud-platform'
    })
    expect(issuer.issued.at(-1)!.aud).toBe(`https://iam.googleapis.com/${WIP}`)
    expect(impersonate!.host).toBe('iamcredentials.googleapis.com')
    expect(impersonate!.url).toBe(`/v1/projects/-/serviceAccounts/${SA}:generateAccessToken`)
    const federated = google.issued.at(-2)!
    expect(impersonate!.headers.authorization).toBe(`Bearer ${federated.token}`)

    const saToken = google.issued.at(-1)!
    expect(saToken.kind).toBe('service-account')
    expect(cred.token).toBe(saToken.token)
    expect(cred.expiresAt?.toISOString().slice(0, 19)).toBe(
      saToken.expiresAt.toISOString().slice(0, 19)
    )
    expect(ctx.masked).toEqual(expect.arrayContaining([federated.token, saToken.token]))
  })

  it('uses the federated token directly without a service account', async () => {
    const cred = await new GcpProvider(fast).grant(
      context({ 'gcp-workload-identity-provider': WIP })
    )
    expect(google.issued.at(-1)!.kind).toBe('federated')
    expect(cred.token).toBe(google.issued.at(-1)!.token)
    expect(cred.metadata?.service_account).toBeUndefined()
  })

  it('injects Bearer on *.googleapis.com, and refresh swaps it for the new token', async () => {
    const gcp = new GcpProvider(fast)
    const ctx = context({ 'gcp-workload-identity-provider': WIP, 'gcp-service-account': SA })
    const first = await gcp.grant(ctx)
    const rec = new RecordingConfigurer()
    gcp.configureProxy(rec, first)
    expect(rec.calls).toEqual([
      [
        'setCredentialWithGrant',
        '*.googleapis.com',
        'Authorization',
        `Bearer ${first.token}`,
        'gcp'
      ]
    ])
    const next = await gcp.refresh(ctx, rec, first)
    expect(next.token).not.toBe(first.token)
    expect(rec.calls.at(-1)).toEqual([
      'setCredentialWithGrant',
      '*.googleapis.com',
      'Authorization',
      `Bearer ${next.token}`,
      'gcp'
    ])
    expect([...rec.current.get('*.googleapis.com')!]).toEqual([
      ['gcp|authorization', `Bearer ${next.token}`]
    ])
  })

  it('leaves generativelanguage.googleapis.com to the Gemini key when both are granted', () => {
    const table = new InjectionTable()
    const gcpCred: Credential = {
      provider: 'gcp',
      token: 'ya29.real-gcp-token-000',
      createdAt: new Date()
    }
    const geminiCred: Credential = {
      provider: 'gemini',
      token: 'AIzaRealGeminiKey000000',
      createdAt: new Date()
    }
    new GcpProvider().configureProxy(table, gcpCred)
    new GeminiProvider().configureProxy(table, geminiCred)
    const gemini = table.apply('generativelanguage.googleapis.com', '/v1beta/models', {})
    expect(gemini.headers['x-goog-api-key']).toBe(geminiCred.token)
    expect(gemini.headers.authorization).toBeUndefined()
    const vertex = table.apply('us-east5-aiplatform.googleapis.com', '/v1/projects', {
      authorization: `Bearer ${PLACEHOLDERS.gcp}`
    })
    expect(vertex.headers.authorization).toBe(`Bearer ${gcpCred.token}`)
  })

  it('reports an attribute-condition refusal with the status and what to check', async () => {
    const p = 'projects/123456789/locations/global/workloadIdentityPools/gh-pool/providers/other'
    const err = await grantError(
      new GcpProvider(fast).grant(context({ 'gcp-workload-identity-provider': p }))
    )
    expect(err.provider).toBe('gcp')
    expect(err.message).toContain('400 invalid_target')
    expect(err.hint).toContain(p)
    expect(err.hint).toContain('attribute condition')
  })

  it('reports a denied impersonation naming the role to grant', async () => {
    const locked = 'locked@my-project-42.iam.gserviceaccount.com'
    const ctx = context({ 'gcp-workload-identity-provider': WIP, 'gcp-service-account': locked })
    const err = await grantError(new GcpProvider(fast).grant(ctx))
    expect(err.message).toContain('403 PERMISSION_DENIED')
    expect(err.hint).toContain(`roles/iam.workloadIdentityUser on ${locked}`)
    for (const s of ctx.masked) expect(err.message + err.hint).not.toContain(s)
  })

  it('retries Google 5xx answers', async () => {
    google.stsFailures.push({ status: 500 }, { status: 503 })
    google.iamFailures.push({ status: 502 })
    const before = google.requests.length
    const cred = await new GcpProvider(fast).grant(
      context({ 'gcp-workload-identity-provider': WIP, 'gcp-service-account': SA })
    )
    expect(google.requests.length - before).toBe(5)
    expect(cred.token).toBe(google.issued.at(-1)!.token)
  })

  it('without id-token permission fails early saying so', async () => {
    const err = await grantError(
      new GcpProvider(fast).grant(
        context({ 'gcp-workload-identity-provider': WIP }, { oidc: false })
      )
    )
    expect(err.hint).toContain('permissions: id-token: write')
  })

  it('tells tools in the container to use the proxy-injected token', () => {
    const gcp = new GcpProvider()
    const env = gcp.containerEnv({
      provider: 'gcp',
      token: 'ya29.real-secret-token',
      createdAt: new Date(),
      metadata: { service_account: SA }
    })
    expect(env).toContain(`CLOUDSDK_AUTH_ACCESS_TOKEN=${PLACEHOLDERS.gcp}`)
    expect(env).toContain('CLAUDE_CODE_SKIP_VERTEX_AUTH=1')
    expect(env).toContain('GOOGLE_CLOUD_PROJECT=my-project-42')
    for (const e of env) expect(e).not.toContain('ya29.real-secret-token')
    expect(gcp.hosts({ provider: 'gcp', token: 'x', createdAt: new Date() })).toEqual([])
  })
})
