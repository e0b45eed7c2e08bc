import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createGrantFetch } from '../../src/grant/http.js'
import { makeGrantContext } from '../../src/grant/index.js'
import {
  ID_TOKEN_PERMISSION_HINT,
  idTokenEndpointFromEnv,
  idTokenFor,
  OidcError,
  requestIdToken
} from '../../src/grant/oidc.js'
import { GrantError } from '../../src/provider/index.js'
import {
  startFakeIdTokenEndpoint,
  verifyJwt,
  type FakeIdTokenEndpoint
} from '../support/fake-sts.js'
import { createTestPki, type TestPki } from '../support/test-ca.js'

let pki: TestPki
let issuer: FakeIdTokenEndpoint
let grantFetch: typeof fetch

beforeAll(async () => {
  pki = await createTestPki(['pipelines.actions.test'])
  issuer = await startFakeIdTokenEndpoint({ pki })
  grantFetch = createGrantFetch({
    connectTo: [`pipelines.actions.test:443=127.0.0.1:${issuer.port}`],
    upstreamCa: pki.caPem,
    proxy: null
  })
})

afterAll(async () => {
  await issuer?.close()
})

const endpoint = (): { url: string; token: string } => ({
  url: issuer.url,
  token: issuer.requestToken
})

describe('requestIdToken', () => {
  it('asks the runner endpoint for the audience with the request token and masks the answer', async () => {
    const masked: string[] = []
    const token = await requestIdToken(endpoint(), 'sts.amazonaws.com', {
      fetch: grantFetch,
      setSecret: (v) => masked.push(v)
    })
    const req = issuer.requests.at(-1)!
    expect(req.headers.authorization).toBe(`bearer ${issuer.requestToken}`)
    const url = new URL(req.url, 'https://x')
    expect(url.searchParams.get('api-version')).toBe('2.0')
    expect(url.searchParams.get('audience')).toBe('sts.amazonaws.com')
    expect(verifyJwt(token, issuer.publicKey).aud).toBe('sts.amazonaws.com')
    expect(masked).toEqual([token])
  })

  it('fails as unavailable without the endpoint (no id-token: write)', async () => {
    const err = await requestIdToken(undefined, 'x', {
      fetch: grantFetch,
      setSecret: () => {}
    }).then(
      () => undefined,
      (e: unknown) => e
    )
    expect(err).toBeInstanceOf(OidcError)
    expect((err as OidcError).code).toBe('AIRLOCK_OIDC_UNAVAILABLE')
    expect((err as OidcError).message).toContain('id-token: write')
  })

  it('reports a refusing endpoint with its status, never the request token', async () => {
    const err = await requestIdToken({ url: issuer.url, token: 'wrong-request-token-0000' }, 'x', {
      fetch: grantFetch,
      setSecret: () => {}
    }).then(
      () => undefined,
      (e: unknown) => e as OidcError
    )
    expect(err?.code).toBe('AIRLOCK_OIDC_FAILED')
    expect(err?.message).toContain('answered 401')
    expect(err?.message).not.toContain('wrong-request-token-0000')
  })

  it('retries a failing endpoint', async () => {
    issuer.failures.push({ status: 503 }, { status: 500 })
    const before = issuer.requests.length
    const token = await requestIdToken(endpoint(), 'aud', {
      fetch: grantFetch,
      setSecret: () => {},
      retry: { baseDelayMs: 1 }
    })
    expect(issuer.requests.length - before).toBe(3)
    expect(token.split('.')).toHaveLength(3)
  })

  it('rejects an answer without a token', async () => {
    issuer.failures.push({ status: 200, body: '{"value": null}' })
    await expect(
      requestIdToken(endpoint(), 'aud', { fetch: grantFetch, setSecret: () => {} })
    ).rejects.toThrow('without a token')
  })
})

describe('idTokenEndpointFromEnv', () => {
  it('needs both variables', () => {
    expect(idTokenEndpointFromEnv({ ACTIONS_ID_TOKEN_REQUEST_URL: 'https://x' })).toBeUndefined()
    expect(
      idTokenEndpointFromEnv({
        ACTIONS_ID_TOKEN_REQUEST_URL: 'https://x',
        ACTIONS_ID_TOKEN_REQUEST_TOKEN: 't'
      })
    ).toEqual({ url: 'https://x', token: 't' })
  })
})

describe('makeGrantContext.getIDToken and idTokenFor', () => {
  it('gets a token through connect-to and upstream-ca from the runner environment', async () => {
    const masked: string[] = []
    const ctx = makeGrantContext({
      setSecret: (v) => masked.push(v),
      env: {
        ACTIONS_ID_TOKEN_REQUEST_URL: issuer.url,
        ACTIONS_ID_TOKEN_REQUEST_TOKEN: issuer.requestToken
      },
      connectTo: [`pipelines.actions.test:443=127.0.0.1:${issuer.port}`],
      upstreamCa: pki.caFile
    })
    const token = await idTokenFor(ctx, 'gcp', 'https://iam.googleapis.com/x')
    expect(verifyJwt(token, issuer.publicKey).aud).toBe('https://iam.googleapis.com/x')
    expect(masked).toContain(token)
  })

  it('turns a missing permission into a GrantError for the provider with the hint', async () => {
    const ctx = makeGrantContext({ setSecret: () => {}, env: {} })
    const err = await idTokenFor(ctx, 'aws', 'sts.amazonaws.com').then(
      () => undefined,
      (e: unknown) => e as GrantError
    )
    expect(err).toBeInstanceOf(GrantError)
    expect(err?.provider).toBe('aws')
    expect(err?.hint).toBe(ID_TOKEN_PERMISSION_HINT)
    expect(err?.message).toContain('permissions: id-token: write')
  })
})
