import { requestWithRetry, safeUpstreamText, type RequestOptions } from './http.js'
import { AirlockError } from '../errors.js'

export const GOOGLE_STS_URL = 'https://sts.googleapis.com/v1/token'
export const GOOGLE_IAM_CREDENTIALS_URL = 'https://iamcredentials.googleapis.com/v1'
export const CLOUD_PLATFORM_SCOPE = 'https://www.googleapis.com/auth/cloud-platform'

/**
 * The audience of the GitHub OIDC token Google STS accepts for a workload identity provider
 * (google-github-actions/auth's default): `https://iam.googleapis.com/<provider resource>`.
 */
export function workloadIdentityAudience(provider: string): string {
  return `https://iam.googleapis.com/${provider}`
}

/** A Google access token and when it stops working. */
export interface GoogleAccessToken {
  accessToken: string
  expiresAt: Date
}

/** Google refused a call; `status` and Google's own reason are kept for the hint. */
export class GoogleAuthError extends AirlockError {
  constructor(
    readonly step: 'sts' | 'iam',
    readonly status: number,
    readonly reason: string,
    readonly detail: string
  ) {
    super(
      'AIRLOCK_GOOGLE_REFUSED',
      `${step === 'sts' ? 'Google STS token exchange' : 'service account impersonation'} answered ${status}${reason ? ` ${reason}` : ''}${detail ? `: ${detail}` : ''}`
    )
  }
}

interface GoogleOptions extends RequestOptions {
  fetch: typeof fetch
  /** Masks each token the moment it is parsed. */
  setSecret: (value: string) => void
}

export interface ExchangeOptions extends GoogleOptions {
  /** `projects/<number>/locations/global/workloadIdentityPools/<pool>/providers/<provider>`. */
  workloadIdentityProvider: string
  /** The GitHub OIDC token (audience from {@link workloadIdentityAudience}). */
  subjectToken: string
  url?: string
  now?: () => number
}

/**
 * RFC 8693 token exchange at Google STS: the GitHub OIDC token for a federated access token
 * of the workload identity pool (form-encoded, as google-auth-library sends it).
 */
export async function exchangeToken(opts: ExchangeOptions): Promise<GoogleAccessToken> {
  const body = new URLSearchParams({
    grant_type: 'urn:ietf:params:oauth:grant-type:token-exchange',
    audience: `//iam.googleapis.com/${opts.workloadIdentityProvider}`,
    scope: CLOUD_PLATFORM_SCOPE,
    requested_token_type: 'urn:ietf:params:oauth:token-type:access_token',
    subject_token_type: 'urn:ietf:params:oauth:token-type:jwt',
    subject_token: opts.subjectToken
  })
  const started = (opts.now ?? Date.now)()
  const res = await requestWithRetry(
    opts.fetch,
    opts.url ?? GOOGLE_STS_URL,
    {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded', accept: 'application/json' },
      body: body.toString()
    },
    opts
  )
  const json = parseJson(res.body)
  if (res.status !== 200) {
    // RFC 6749 §5.2 error shape: {error, error_description}.
    throw new GoogleAuthError(
      'sts',
      res.status,
      safeUpstreamText(str(json.error)),
      safeUpstreamText(str(json.error_description), [opts.subjectToken])
    )
  }
  const accessToken = str(json.access_token)
  if (accessToken) opts.setSecret(accessToken)
  const expiresIn = Number(json.expires_in)
  if (!accessToken || !Number.isFinite(expiresIn) || expiresIn <= 0)
    throw new GoogleAuthError('sts', res.status, 'malformed_response', 'no access_token/expires_in')
  return { accessToken, expiresAt: new Date(started + expiresIn * 1000) }
}

export interface ImpersonateOptions extends GoogleOptions {
  serviceAccount: string
  /** The federated token from {@link exchangeToken}. */
  federatedToken: string
  lifetimeSeconds?: number
  url?: string
}

/**
 * IAM Credentials `generateAccessToken`: the federated identity impersonates the service
 * account (it needs `roles/iam.workloadIdentityUser` on it) for a cloud-platform token.
 */
export async function generateAccessToken(opts: ImpersonateOptions): Promise<GoogleAccessToken> {
  const base = opts.url ?? GOOGLE_IAM_CREDENTIALS_URL
  const url = `${base}/projects/-/serviceAccounts/${encodeURIComponent(opts.serviceAccount).replace('%40', '@')}:generateAccessToken`
  const res = await requestWithRetry(
    opts.fetch,
    url,
    {
      method: 'POST',
      headers: {
        authorization: `Bearer ${opts.federatedToken}`,
        'content-type': 'application/json',
        accept: 'application/json'
      },
      body: JSON.stringify({
        scope: [CLOUD_PLATFORM_SCOPE],
        lifetime: `${opts.lifetimeSeconds ?? 3600}s`
      })
    },
    opts
  )
  const json = parseJson(res.body)
  if (res.status !== 200) {
    // Google API error shape: {error: {code, message, status}}.
    const err = (typeof json.error === 'object' && json.error !== null ? json.error : {}) as Record<
      string,
      unknown
    >
    throw new GoogleAuthError(
      'iam',
      res.status,
      safeUpstreamText(str(err.status)),
      safeUpstreamText(str(err.message), [opts.federatedToken])
    )
  }
  const accessToken = str(json.accessToken)
  if (accessToken) opts.setSecret(accessToken)
  const expiresAt = new Date(str(json.expireTime))
  if (!accessToken || Number.isNaN(expiresAt.getTime()))
    throw new GoogleAuthError('iam', res.status, 'malformed_response', 'no accessToken/expireTime')
  return { accessToken, expiresAt }
}

function parseJson(body: string): Record<string, unknown> {
  try {
    const v = JSON.parse(body) as unknown
    return typeof v === 'object' && v !== null ? (v as Record<string, unknown>) : {}
  } catch {
    return {}
  }
}

function str(v: unknown): string {
  return typeof v === 'string' ? v : ''
}
