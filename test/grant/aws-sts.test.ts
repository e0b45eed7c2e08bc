import { describe, expect, it } from 'vitest'
import {
  assumeRoleWithWebIdentity,
  awsCredentials,
  isRetryableStsAnswer,
  roleSessionName,
  StsError,
  stsAudience,
  stsEndpoint,
  xmlText
} from '../../src/grant/aws-sts.js'
import { stsErrorXml } from '../support/fake-sts.js'

describe('stsEndpoint and stsAudience', () => {
  it('uses the regional endpoint, the China partition, or AWS_ENDPOINT_URL_STS', () => {
    expect(stsEndpoint('eu-central-1')).toBe('https://sts.eu-central-1.amazonaws.com/')
    expect(stsEndpoint('cn-north-1')).toBe('https://sts.cn-north-1.amazonaws.com.cn/')
    expect(stsEndpoint('us-east-1', { AWS_ENDPOINT_URL_STS: 'http://localhost:4566' })).toBe(
      'http://localhost:4566/'
    )
    expect(stsAudience('us-west-2')).toBe('sts.amazonaws.com')
    expect(stsAudience('cn-northwest-1')).toBe('sts.amazonaws.com.cn')
  })
})

describe('roleSessionName', () => {
  it('names the repository and the run, within STS limits', () => {
    expect(roleSessionName('octo-org/octo-repo', '123456')).toBe(
      'airlock-octo-org-octo-repo-123456'
    )
    const long = roleSessionName(`org/${'r'.repeat(100)}`, '9876543210-1')
    expect(long).toHaveLength(64)
    expect(long.endsWith('-9876543210-1')).toBe(true)
    expect(roleSessionName('we!rd/na me', 'run#1')).toMatch(/^[\w+=,.@-]{2,64}$/)
    expect(roleSessionName('', '')).toBe('airlock-local')
  })
})

describe('xmlText', () => {
  it('finds a tag and decodes entities', () => {
    expect(
      xmlText('<a><Code>X</Code><Message>a &lt;b&gt; &amp;&#39;c&#x41;</Message></a>', 'Message')
    ).toBe("a <b> &'cA")
    expect(xmlText('<a/>', 'Code')).toBeUndefined()
  })
})

describe('isRetryableStsAnswer', () => {
  const res = (status: number, body = ''): { status: number; headers: Headers; body: string } => ({
    status,
    headers: new Headers(),
    body
  })
  it('retries 5xx, throttling and IdP trouble, not refusals', () => {
    expect(isRetryableStsAnswer(res(503))).toBe(true)
    expect(isRetryableStsAnswer(res(400, stsErrorXml('Throttling', 'Rate exceeded')))).toBe(true)
    expect(isRetryableStsAnswer(res(400, stsErrorXml('IDPCommunicationError', 'x')))).toBe(true)
    expect(
      isRetryableStsAnswer(
        res(
          400,
          stsErrorXml(
            'InvalidIdentityToken',
            "Couldn't retrieve verification key from your identity provider"
          )
        )
      )
    ).toBe(true)
    expect(
      isRetryableStsAnswer(
        res(400, stsErrorXml('InvalidIdentityToken', 'Incorrect token audience'))
      )
    ).toBe(false)
    expect(isRetryableStsAnswer(res(403, stsErrorXml('AccessDenied', 'Not authorized')))).toBe(
      false
    )
  })
})

describe('assumeRoleWithWebIdentity', () => {
  const ok = `<AssumeRoleWithWebIdentityResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/">
  <AssumeRoleWithWebIdentityResult>
    <AssumedRoleUser><Arn>arn:aws:sts::1:assumed-role/r/s</Arn><AssumedRoleId>AROA:s</AssumedRoleId></AssumedRoleUser>
    <Credentials>
      <SessionToken>tok&amp;en</SessionToken>
      <SecretAccessKey>sec/ret+key</SecretAccessKey>
      <Expiration>2030-01-01T00:00:00Z</Expiration>
      <AccessKeyId>ASIAEXAMPLE</AccessKeyId>
    </Credentials>
  </AssumeRoleWithWebIdentityResult>
</AssumeRoleWithWebIdentityResponse>`

  function fetchAnswering(status: number, body: string): { f: typeof fetch; bodies: string[] } {
    const bodies: string[] = []
    const f = ((_u: string | URL | Request, init?: RequestInit) => {
      bodies.push(init?.body as string)
      return Promise.resolve(new Response(body, { status }))
    }) as typeof fetch
    return { f, bodies }
  }

  it('posts the Query API form and parses the credentials, masking each', async () => {
    const { f, bodies } = fetchAnswering(200, ok)
    const masked: string[] = []
    const creds = await assumeRoleWithWebIdentity({
      roleArn: 'arn:aws:iam::1:role/r',
      sessionName: 's',
      webIdentityToken: 'eyJ.a.b',
      durationSeconds: 900,
      endpoint: 'https://sts.us-east-1.amazonaws.com/',
      fetch: f,
      setSecret: (v) => masked.push(v)
    })
    expect(Object.fromEntries(new URLSearchParams(bodies[0]))).toEqual({
      Action: 'AssumeRoleWithWebIdentity',
      Version: '2011-06-15',
      RoleArn: 'arn:aws:iam::1:role/r',
      RoleSessionName: 's',
      WebIdentityToken: 'eyJ.a.b',
      DurationSeconds: '900'
    })
    expect(creds).toEqual({
      accessKeyId: 'ASIAEXAMPLE',
      secretAccessKey: 'sec/ret+key',
      sessionToken: 'tok&en',
      expiration: new Date('2030-01-01T00:00:00Z'),
      assumedRoleArn: 'arn:aws:sts::1:assumed-role/r/s'
    })
    expect(masked).toEqual(expect.arrayContaining(['sec/ret+key', 'tok&en']))
  })

  it('throws StsError with the status and code, without the token', async () => {
    const token = 'eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ4In0.c2ln'
    const { f } = fetchAnswering(400, stsErrorXml('InvalidIdentityToken', `bad ${token}`))
    const err = await assumeRoleWithWebIdentity({
      roleArn: 'arn:aws:iam::1:role/r',
      sessionName: 's',
      webIdentityToken: token,
      durationSeconds: 900,
      endpoint: 'https://sts.test/',
      fetch: f,
      setSecret: () => {}
    }).then(
      () => undefined,
      (e: unknown) => e as StsError
    )
    expect(err).toBeInstanceOf(StsError)
    expect(err?.status).toBe(400)
    expect(err?.stsCode).toBe('InvalidIdentityToken')
    expect(err?.message).toBe('STS answered 400 InvalidIdentityToken: bad ***')
  })
})

describe('awsCredentials', () => {
  it('reads the session credentials out of an aws Credential', () => {
    const token = JSON.stringify({ accessKeyId: 'A', secretAccessKey: 'S', sessionToken: 'T' })
    expect(awsCredentials({ provider: 'aws', token, createdAt: new Date() })).toEqual({
      accessKeyId: 'A',
      secretAccessKey: 'S',
      sessionToken: 'T'
    })
    expect(() => awsCredentials({ provider: 'aws', token: '{}', createdAt: new Date() })).toThrow()
  })
})
