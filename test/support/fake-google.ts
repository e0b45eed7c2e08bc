import { randomBytes } from 'node:crypto'
import type { TestPki } from './test-ca.js'
import { listenHttps, readBody } from './https-fake.js'
import {
  verifyJwt,
  type FakeIdTokenEndpoint,
  type FakeRequest,
  type ScriptedFailure
} from './fake-sts.js'

/** One token the fake handed out. */
export interface GoogleIssued {
  kind: 'federated' | 'service-account'
  token: string
  serviceAccount?: string
  expiresAt: Date
}

export interface FakeGoogle {
  /** One port serving both sts.googleapis.com and iamcredentials.googleapis.com (by path). */
  port: number
  requests: FakeRequest[]
  issued: GoogleIssued[]
  /** Failures answered by the next STS / IAM calls, in order. */
  stsFailures: ScriptedFailure[]
  iamFailures: ScriptedFailure[]
  close(): Promise<void>
}

/**
 * A fake of Google's Security Token Service and IAM Credentials API.
 *
 * - `POST /v1/token` (sts.googleapis.com): RFC 8693 token exchange, form-encoded (or the
 *   JSON camelCase form). The subject token must verify against the issuer's key and carry
 *   `aud` = `https://iam.googleapis.com/<provider>`; `attributeCondition` stands for the
 *   provider's CEL condition. Errors are RFC 6749 `{error, error_description}`.
 * - `POST /v1/projects/-/serviceAccounts/<email>:generateAccessToken` (iamcredentials):
 *   Bearer must be a federated token this fake issued, the email one of `serviceAccounts`
 *   and the principal allowed to impersonate (`canImpersonate`). Errors are the Google API
 *   shape `{error: {code, message, status}}`.
 */
export async function startFakeGoogle(opts: {
  pki: TestPki
  issuer: FakeIdTokenEndpoint
  workloadIdentityProvider: string
  serviceAccounts?: string[]
  attributeCondition?: (claims: Record<string, unknown>) => boolean
  canImpersonate?: (serviceAccount: string) => boolean
  federatedLifetimeSeconds?: number
  /** Overrides the `lifetime` asked for (short-lived test tokens). */
  serviceAccountLifetimeSeconds?: number
}): Promise<FakeGoogle> {
  const fake: Omit<FakeGoogle, 'port' | 'close'> = {
    requests: [],
    issued: [],
    stsFailures: [],
    iamFailures: []
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
        res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', ...headers })
        res.end(typeof json === 'string' ? json : JSON.stringify(json))
      }
      const oauthError = (status: number, error: string, description: string): void =>
        answer(status, { error, error_description: description })
      const apiError = (code: number, status: string, message: string): void =>
        answer(code, { error: { code, message, status } })
      const path = (req.url ?? '').split('?')[0] ?? ''

      if (req.method === 'POST' && path === '/v1/token') {
        const form = /json/.test(req.headers['content-type'] ?? '')
          ? camelToForm(JSON.parse(body) as Record<string, string>)
          : Object.fromEntries(new URLSearchParams(body))
        const failure = fake.stsFailures.shift()
        if (failure) return answer(failure.status, failure.body ?? '{}', failure.headers)
        if (form.grant_type !== 'urn:ietf:params:oauth:grant-type:token-exchange')
          return oauthError(400, 'unsupported_grant_type', `bad grant_type ${form.grant_type}`)
        if (form.subject_token_type !== 'urn:ietf:params:oauth:token-type:jwt')
          return oauthError(400, 'invalid_request', 'bad subject_token_type')
        if (form.requested_token_type !== 'urn:ietf:params:oauth:token-type:access_token')
          return oauthError(400, 'invalid_request', 'bad requested_token_type')
        if (form.audience !== `//iam.googleapis.com/${opts.workloadIdentityProvider}`)
          return oauthError(
            400,
            'invalid_target',
            'The target service indicated by the "audience" parameters is invalid.'
          )
        let claims: Record<string, unknown>
        try {
          claims = verifyJwt(form.subject_token ?? '', opts.issuer.publicKey)
        } catch (err) {
          return oauthError(400, 'invalid_grant', `Invalid JWT: ${(err as Error).message}`)
        }
        if (claims.aud !== `https://iam.googleapis.com/${opts.workloadIdentityProvider}`)
          return oauthError(
            400,
            'invalid_grant',
            `The audience in ID Token [${String(claims.aud)}] does not match the expected audience.`
          )
        if (opts.attributeCondition && !opts.attributeCondition(claims))
          return oauthError(
            400,
            'unauthorized_client',
            'The given credential is rejected by the attribute condition.'
          )
        const lifetime = opts.federatedLifetimeSeconds ?? 3599
        const token = `ya29.d.fed-${randomBytes(24).toString('base64url')}`
        fake.issued.push({
          kind: 'federated',
          token,
          expiresAt: new Date(Date.now() + lifetime * 1000)
        })
        return answer(200, {
          access_token: token,
          issued_token_type: 'urn:ietf:params:oauth:token-type:access_token',
          token_type: 'Bearer',
          expires_in: lifetime
        })
      }

      const m = /^\/v1\/projects\/-\/serviceAccounts\/([^/:]+):generateAccessToken$/.exec(path)
      if (req.method === 'POST' && m) {
        const failure = fake.iamFailures.shift()
        if (failure) return answer(failure.status, failure.body ?? '{}', failure.headers)
        const bearer = /^Bearer (.+)$/.exec(req.headers.authorization ?? '')?.[1]
        const fed = fake.issued.find((i) => i.kind === 'federated' && i.token === bearer)
        if (!fed || fed.expiresAt.getTime() < Date.now())
          return apiError(401, 'UNAUTHENTICATED', 'Request had invalid authentication credentials.')
        const email = decodeURIComponent(m[1]!)
        if (!(opts.serviceAccounts ?? []).includes(email))
          return apiError(404, 'NOT_FOUND', `Not found; Gaia id not found for email ${email}`)
        if (opts.canImpersonate && !opts.canImpersonate(email))
          return apiError(
            403,
            'PERMISSION_DENIED',
            "Permission 'iam.serviceAccounts.getAccessToken' denied on resource (or it may not exist)."
          )
        const json = JSON.parse(body || '{}') as { scope?: unknown; lifetime?: string }
        if (!Array.isArray(json.scope) || json.scope.length === 0)
          return apiError(400, 'INVALID_ARGUMENT', 'Scope required.')
        const asked = Number(/^(\d+)s$/.exec(json.lifetime ?? '3600s')?.[1] ?? 3600)
        const lifetime = opts.serviceAccountLifetimeSeconds ?? asked
        const token = `ya29.c.sa-${randomBytes(24).toString('base64url')}`
        const expiresAt = new Date(Date.now() + lifetime * 1000)
        fake.issued.push({ kind: 'service-account', token, serviceAccount: email, expiresAt })
        return answer(200, {
          accessToken: token,
          expireTime: expiresAt.toISOString().replace(/\.\d{3}Z$/, 'Z')
        })
      }
      apiError(404, 'NOT_FOUND', 'not found')
    })
  })
  return { ...fake, port: server.port, close: server.close }
}

/** The proto-JSON field names STS also accepts, mapped to RFC 8693's. */
function camelToForm(json: Record<string, string>): Record<string, string> {
  const out: Record<string, string> = {}
  for (const [k, v] of Object.entries(json))
    out[k.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`)] = v
  return out
}
