import { generateKeyPairSync, randomBytes, sign, verify, type KeyObject } from 'node:crypto'
import type { IncomingHttpHeaders } from 'node:http'
import type { TestPki } from './test-ca.js'
import { listenHttps, readBody } from './https-fake.js'

/**
 * Fakes of the OIDC side of a workflow run: the runner's ID-token endpoint (GitHub's OIDC
 * issuer) and AWS STS `AssumeRoleWithWebIdentity`, speaking the real wire formats.
 */

/** Claims of a GitHub Actions OIDC token (the subset the fakes check). */
export interface IdTokenClaims {
  iss: string
  aud: string
  sub: string
  repository: string
  run_id: string
  iat: number
  exp: number
  jti: string
}

/** One request a fake received. */
export interface FakeRequest {
  method: string
  url: string
  host: string
  headers: IncomingHttpHeaders
  body: string
  status: number
}

/** A scripted failure answered before any success. */
export interface ScriptedFailure {
  status: number
  /** The answer body; a default in the fake's format when absent. */
  body?: string
  headers?: Record<string, string>
}

const b64url = (s: string | Buffer): string => Buffer.from(s).toString('base64url')

/** Signs an RS256 JWT. */
export function signJwt(payload: object, key: KeyObject, kid = 'test'): string {
  const head = b64url(JSON.stringify({ alg: 'RS256', typ: 'JWT', kid }))
  const body = b64url(JSON.stringify(payload))
  return `${head}.${body}.${b64url(sign('sha256', Buffer.from(`${head}.${body}`), key))}`
}

/**
 * Verifies an RS256 JWT's signature with `key` and returns its claims; throws a message a
 * fake can put in its error answer.
 */
export function verifyJwt(token: string, key: KeyObject): Record<string, unknown> {
  const parts = token.split('.')
  if (parts.length !== 3) throw new Error('not a JWT')
  const [head, body, sig] = parts as [string, string, string]
  const header = JSON.parse(Buffer.from(head, 'base64url').toString()) as { alg?: string }
  if (header.alg !== 'RS256') throw new Error(`unexpected alg ${header.alg}`)
  if (!verify('sha256', Buffer.from(`${head}.${body}`), key, Buffer.from(sig, 'base64url')))
    throw new Error('signature does not verify')
  return JSON.parse(Buffer.from(body, 'base64url').toString()) as Record<string, unknown>
}

/** The runner's ID-token endpoint. */
export interface FakeIdTokenEndpoint {
  /** `ACTIONS_ID_TOKEN_REQUEST_URL`: `https://<host>/…/idtoken?api-version=2.0`. */
  url: string
  /** `ACTIONS_ID_TOKEN_REQUEST_TOKEN`. */
  requestToken: string
  host: string
  port: number
  /** The issuer's key, for fakes that verify the tokens. */
  publicKey: KeyObject
  /** Every token issued, with its claims. */
  issued: IdTokenClaims[]
  requests: FakeRequest[]
  /** Failures answered before the next successes, in order. */
  failures: ScriptedFailure[]
  close(): Promise<void>
}

export const GITHUB_ISSUER = 'https://token.actions.githubusercontent.com'

/**
 * Starts a fake of the runner's ID-token endpoint: `GET …/idtoken?api-version=2.0&audience=…`
 * with `Authorization: Bearer <request token>` → `{"value": "<RS256 JWT>"}` whose `aud` is
 * the audience asked for (GitHub's default, `https://github.com/<owner>`, without one).
 */
export async function startFakeIdTokenEndpoint(opts: {
  pki: TestPki
  /** The name the URL uses (reach it with connect-to); default pipelines.actions.test. */
  host?: string
  repository?: string
  runId?: string
  /** Token lifetime (GitHub's are about five minutes). */
  lifetimeSeconds?: number
}): Promise<FakeIdTokenEndpoint> {
  const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 })
  const repository = opts.repository ?? 'octo-org/octo-repo'
  const host = opts.host ?? 'pipelines.actions.test'
  const requestToken = `rt-${randomBytes(24).toString('hex')}`
  const fake: Omit<FakeIdTokenEndpoint, 'url' | 'port' | 'close'> = {
    requestToken,
    host,
    publicKey,
    issued: [],
    requests: [],
    failures: []
  }
  const server = await listenHttps(opts.pki, (req, res) => {
    void readBody(req).then((body) => {
      const rec: FakeRequest = {
        method: req.method ?? '',
        url: req.url ?? '',
        host: req.headers.host ?? '',
        headers: req.headers,
        body,
        status: 0
      }
      fake.requests.push(rec)
      const answer = (
        status: number,
        json: unknown,
        headers: Record<string, string> = {}
      ): void => {
        rec.status = status
        res.writeHead(status, { 'content-type': 'application/json', ...headers })
        res.end(typeof json === 'string' ? json : JSON.stringify(json))
      }
      const url = new URL(req.url ?? '/', `https://${host}`)
      if (req.method !== 'GET' || !url.pathname.endsWith('/idtoken'))
        return answer(404, { message: 'not found' })
      if (req.headers.authorization?.toLowerCase() !== `bearer ${requestToken}`)
        return answer(401, { message: 'unauthorized' })
      const failure = fake.failures.shift()
      if (failure) return answer(failure.status, failure.body ?? '{}', failure.headers)
      const now = Math.floor(Date.now() / 1000)
      const claims: IdTokenClaims = {
        iss: GITHUB_ISSUER,
        aud: url.searchParams.get('audience') ?? `https://github.com/${repository.split('/')[0]}`,
        sub: `repo:${repository}:ref:refs/heads/main`,
        repository,
        run_id: opts.runId ?? '4242',
        iat: now,
        exp: now + (opts.lifetimeSeconds ?? 300),
        jti: randomBytes(8).toString('hex')
      }
      fake.issued.push(claims)
      answer(200, { count: 1, value: signJwt(claims, privateKey) })
    })
  })
  return {
    ...fake,
    host,
    port: server.port,
    url: `https://${host}/_apis/distributedtask/hubs/Actions/plans/p1/jobs/j1/idtoken?api-version=2.0`,
    close: server.close
  }
}

/** One `AssumeRoleWithWebIdentity` call as STS saw it. */
export interface StsCall {
  params: Record<string, string>
  claims?: Record<string, unknown>
  status: number
  /** The credentials answered (on success). */
  issued?: { accessKeyId: string; secretAccessKey: string; sessionToken: string }
}

export interface FakeSts {
  port: number
  requests: FakeRequest[]
  calls: StsCall[]
  /** Failures answered before the next success, in order. */
  failures: ScriptedFailure[]
  /** Secrets issued so far (every access key id, secret and session token). */
  secrets(): string[]
  close(): Promise<void>
}

/** STS's XML error body. */
export function stsErrorXml(code: string, message: string, type = 'Sender'): string {
  return `<ErrorResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/">
  <Error>
    <Type>${type}</Type>
    <Code>${code}</Code>
    <Message>${message.replace(/&/g, '&amp;').replace(/</g, '&lt;')}</Message>
  </Error>
  <RequestId>${randomBytes(16).toString('hex')}</RequestId>
</ErrorResponse>
`
}

/**
 * Starts a fake of AWS STS (Query API, 2011-06-15). `POST /` with a form body
 * `Action=AssumeRoleWithWebIdentity&…`: the web identity token must verify against the
 * issuer's key and carry `aud` = `audience`; `trust` decides like a role trust policy
 * (AccessDenied otherwise). Answers the real XML shapes.
 */
export async function startFakeSts(opts: {
  pki: TestPki
  issuer: FakeIdTokenEndpoint
  audience?: string
  /** The role trust policy; default trusts everything. */
  trust?: (claims: Record<string, unknown>, roleArn: string) => boolean
  /** Overrides DurationSeconds for the Expiration answered (short-lived test credentials). */
  lifetimeSeconds?: number
}): Promise<FakeSts> {
  const audience = opts.audience ?? 'sts.amazonaws.com'
  const issued: string[] = []
  const fake: Omit<FakeSts, 'port' | 'close'> = {
    requests: [],
    calls: [],
    failures: [],
    secrets: () => [...issued]
  }
  const server = await listenHttps(opts.pki, (req, res) => {
    void readBody(req).then((body) => {
      const rec: FakeRequest = {
        method: req.method ?? '',
        url: req.url ?? '',
        host: req.headers.host ?? '',
        headers: req.headers,
        body,
        status: 0
      }
      fake.requests.push(rec)
      const params = Object.fromEntries(new URLSearchParams(body))
      const call: StsCall = { params, status: 0 }
      fake.calls.push(call)
      const answer = (status: number, xml: string, headers: Record<string, string> = {}): void => {
        rec.status = status
        call.status = status
        res.writeHead(status, { 'content-type': 'text/xml', ...headers })
        res.end(xml)
      }
      if (
        req.method !== 'POST' ||
        !/^application\/x-www-form-urlencoded/.test(req.headers['content-type'] ?? '')
      )
        return answer(400, stsErrorXml('InvalidAction', 'expected a form POST'))
      if (params.Action !== 'AssumeRoleWithWebIdentity' || params.Version !== '2011-06-15')
        return answer(400, stsErrorXml('InvalidAction', `unsupported ${params.Action}`))
      for (const p of ['RoleArn', 'RoleSessionName', 'WebIdentityToken'])
        if (!params[p]) return answer(400, stsErrorXml('MissingParameter', `${p} is required`))
      if (!/^[\w+=,.@-]{2,64}$/.test(params.RoleSessionName!))
        return answer(400, stsErrorXml('ValidationError', 'invalid RoleSessionName'))
      const failure = fake.failures.shift()
      if (failure)
        return answer(
          failure.status,
          failure.body ?? stsErrorXml('ServiceUnavailable', 'try again', 'Receiver'),
          failure.headers
        )
      let claims: Record<string, unknown>
      try {
        claims = verifyJwt(params.WebIdentityToken!, opts.issuer.publicKey)
      } catch (err) {
        return answer(400, stsErrorXml('InvalidIdentityToken', (err as Error).message))
      }
      call.claims = claims
      if (claims.aud !== audience)
        return answer(400, stsErrorXml('InvalidIdentityToken', 'Incorrect token audience'))
      if ((claims.exp as number) * 1000 < Date.now())
        return answer(400, stsErrorXml('ExpiredTokenException', 'Token expired'))
      if (opts.trust && !opts.trust(claims, params.RoleArn!))
        return answer(
          403,
          stsErrorXml('AccessDenied', 'Not authorized to perform sts:AssumeRoleWithWebIdentity')
        )
      const duration = Number(params.DurationSeconds ?? '3600')
      if (duration < 900 || duration > 43200)
        return answer(
          400,
          stsErrorXml(
            'ValidationError',
            "1 validation error detected: Value at 'durationSeconds' failed to satisfy constraint"
          )
        )
      const creds = {
        accessKeyId: `ASIA${randomBytes(8).toString('hex').toUpperCase()}`,
        secretAccessKey: randomBytes(30).toString('base64'),
        sessionToken: `FwoGZXIvYXdzE${randomBytes(90).toString('base64')}`
      }
      issued.push(creds.accessKeyId, creds.secretAccessKey, creds.sessionToken)
      call.issued = creds
      const expiration = new Date(Date.now() + (opts.lifetimeSeconds ?? duration) * 1000)
      const role = params.RoleArn!.replace(':iam::', ':sts::').replace(':role/', ':assumed-role/')
      answer(
        200,
        `<AssumeRoleWithWebIdentityResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/">
  <AssumeRoleWithWebIdentityResult>
    <Audience>${audience}</Audience>
    <AssumedRoleUser>
      <AssumedRoleId>AROA${randomBytes(8).toString('hex').toUpperCase()}:${params.RoleSessionName}</AssumedRoleId>
      <Arn>${role}/${params.RoleSessionName}</Arn>
    </AssumedRoleUser>
    <Provider>arn:aws:iam::123456789012:oidc-provider/token.actions.githubusercontent.com</Provider>
    <Credentials>
      <AccessKeyId>${creds.accessKeyId}</AccessKeyId>
      <SecretAccessKey>${creds.secretAccessKey.replace(/&/g, '&amp;')}</SecretAccessKey>
      <SessionToken>${creds.sessionToken.replace(/&/g, '&amp;')}</SessionToken>
      <Expiration>${expiration.toISOString().replace(/\.\d{3}Z$/, 'Z')}</Expiration>
    </Credentials>
    <SubjectFromWebIdentityToken>${String(claims.sub)}</SubjectFromWebIdentityToken>
  </AssumeRoleWithWebIdentityResult>
  <ResponseMetadata>
    <RequestId>${randomBytes(16).toString('hex')}</RequestId>
  </ResponseMetadata>
</AssumeRoleWithWebIdentityResponse>
`
      )
    })
  })
  return { ...fake, port: server.port, close: server.close }
}
