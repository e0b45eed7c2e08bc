import { describe, expect, it } from 'vitest'
import {
  exchangeToken,
  generateAccessToken,
  GoogleAuthError,
  workloadIdentityAudience
} from '../../src/grant/gcp-sts.js'

const WIP = 'projects/1/locations/global/workloadIdentityPools/p/providers/gh'

function answering(
  status: number,
  json: unknown
): { f: typeof fetch; seen: Array<{ url: string; init: RequestInit | undefined }> } {
  const seen: Array<{ url: string; init: RequestInit | undefined }> = []
  const f = ((url: string | URL | Request, init?: RequestInit) => {
    seen.push({ url: url instanceof Request ? url.url : url.toString(), init })
    return Promise.resolve(new Response(JSON.stringify(json), { status }))
  }) as typeof fetch
  return { f, seen }
}

describe('workloadIdentityAudience', () => {
  it('is the provider resource under https://iam.googleapis.com/', () => {
    expect(workloadIdentityAudience(WIP)).toBe(`https://iam.googleapis.com/${WIP}`)
  })
})

describe('exchangeToken', () => {
  it('computes the expiry from expires_in and masks the token', async () => {
    const { f, seen } = answering(200, {
      access_token: 'ya29.fed',
      token_type: 'Bearer',
      expires_in: 3599
    })
    const masked: string[] = []
    const t = await exchangeToken({
      workloadIdentityProvider: WIP,
      subjectToken: 'eyJ.x.y',
      fetch: f,
      setSecret: (v) => masked.push(v),
      now: () => 1_000_000
    })
    expect(seen[0]!.url).toBe('https://sts.googleapis.com/v1/token')
    expect(t).toEqual({ accessToken: 'ya29.fed', expiresAt: new Date(1_000_000 + 3_599_000) })
    expect(masked).toEqual(['ya29.fed'])
  })

  it('reports the RFC 6749 error without the subject token', async () => {
    const jwt = 'eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ4In0.c2ln'
    const { f } = answering(400, { error: 'invalid_grant', error_description: `bad ${jwt}` })
    const err = await exchangeToken({
      workloadIdentityProvider: WIP,
      subjectToken: jwt,
      fetch: f,
      setSecret: () => {}
    }).then(
      () => undefined,
      (e: unknown) => e as GoogleAuthError
    )
    expect(err).toBeInstanceOf(GoogleAuthError)
    expect(err?.message).toBe('Google STS token exchange answered 400 invalid_grant: bad ***')
  })
})

describe('generateAccessToken', () => {
  it('asks for a cloud-platform token for one hour with the federated bearer', async () => {
    const { f, seen } = answering(200, {
      accessToken: 'ya29.sa',
      expireTime: '2030-01-01T00:00:00Z'
    })
    const t = await generateAccessToken({
      serviceAccount: 'a@p.iam.gserviceaccount.com',
      federatedToken: 'ya29.fed',
      fetch: f,
      setSecret: () => {}
    })
    expect(seen[0]!.url).toBe(
      'https://iamcredentials.googleapis.com/v1/projects/-/serviceAccounts/a@p.iam.gserviceaccount.com:generateAccessToken'
    )
    expect((seen[0]!.init!.headers as Record<string, string>).authorization).toBe('Bearer ya29.fed')
    expect(JSON.parse(seen[0]!.init!.body as string)).toEqual({
      scope: ['https://www.googleapis.com/auth/cloud-platform'],
      lifetime: '3600s'
    })
    expect(t.expiresAt.toISOString()).toBe('2030-01-01T00:00:00.000Z')
  })

  it('reports the Google API error status and message', async () => {
    const { f } = answering(403, {
      error: { code: 403, status: 'PERMISSION_DENIED', message: 'denied' }
    })
    await expect(
      generateAccessToken({
        serviceAccount: 'a@p.iam.gserviceaccount.com',
        federatedToken: 't',
        fetch: f,
        setSecret: () => {}
      })
    ).rejects.toThrow('service account impersonation answered 403 PERMISSION_DENIED: denied')
  })
})
