import { createPrivateKey, sign, type KeyObject } from 'node:crypto'
import { requestWithRetry, safeUpstreamText, type RequestOptions } from './http.js'
import { AirlockError } from '../errors.js'

/** An unusable `github-app-private-key` (not a PEM RSA private key). */
export class AppKeyError extends AirlockError {
  constructor(message: string) {
    super('AIRLOCK_BAD_APP_KEY', message)
  }
}

/** GitHub refused (or failed) one step of the App flow. */
export class GitHubAppError extends AirlockError {
  constructor(
    readonly step: 'installation' | 'token' | 'revoke',
    readonly status: number,
    readonly detail: string
  ) {
    super(
      'AIRLOCK_GITHUB_APP_REFUSED',
      `${STEP_TEXT[step]} answered ${status}${detail ? `: ${detail}` : ''}`
    )
  }
}

const STEP_TEXT = {
  installation: 'GET /repos/{owner}/{repo}/installation',
  token: 'POST /app/installations/{id}/access_tokens',
  revoke: 'DELETE /installation/token'
} as const

/**
 * The private key as a KeyObject. Secrets pasted through YAML often arrive with literal
 * `\n` escapes or CRLF line ends; both are repaired before parsing. Errors never quote the key.
 */
export function loadAppPrivateKey(pem: string): KeyObject {
  let text = pem.trim().replace(/\r\n?/g, '\n')
  if (!text.includes('\n') && text.includes('\\n')) text = text.replace(/\\n/g, '\n')
  let key: KeyObject
  try {
    key = createPrivateKey({ key: text, format: 'pem' })
  } catch {
    throw new AppKeyError('github-app-private-key is not a PEM private key')
  }
  if (key.asymmetricKeyType !== 'rsa')
    throw new AppKeyError(
      `github-app-private-key is a ${key.asymmetricKeyType ?? 'non-RSA'} key; GitHub App keys are RSA`
    )
  return key
}

const b64url = (data: Buffer | string): string => Buffer.from(data).toString('base64url')

/**
 * The App's JWT (RS256, RFC 7519): `iat` 60 s in the past and `exp` 9 minutes ahead, so a
 * runner clock a minute off either way still lands inside GitHub's 10-minute window.
 */
export function appJwt(appId: string, key: KeyObject, now: number = Date.now()): string {
  const seconds = Math.floor(now / 1000)
  const header = b64url(JSON.stringify({ alg: 'RS256', typ: 'JWT' }))
  // A numeric App id is sent as a number; a client id (`Iv1.…`) as a string.
  const iss = /^\d+$/.test(appId) ? Number(appId) : appId
  const payload = b64url(JSON.stringify({ iat: seconds - 60, exp: seconds + 540, iss }))
  const signature = sign('sha256', Buffer.from(`${header}.${payload}`), key)
  return `${header}.${payload}.${b64url(signature)}`
}

interface GitHubOptions extends RequestOptions {
  /** `https://api.github.com`, or `https://<ghes>/api/v3` (GITHUB_API_URL). */
  apiUrl: string
  fetch: typeof fetch
}

function headers(auth: string): Record<string, string> {
  return {
    authorization: auth,
    accept: 'application/vnd.github+json',
    'x-github-api-version': '2022-11-28',
    'user-agent': 'airlock'
  }
}

function apiBase(apiUrl: string): string {
  return apiUrl.replace(/\/+$/, '')
}

function message(body: string, secrets: string[]): string {
  try {
    const m = (JSON.parse(body) as { message?: unknown }).message
    return typeof m === 'string' ? safeUpstreamText(m, secrets) : ''
  } catch {
    return ''
  }
}

/** The App's installation on `owner/repo`: `GET /repos/{owner}/{repo}/installation`. */
export async function findRepoInstallation(
  opts: GitHubOptions & { repository: string; jwt: string }
): Promise<number> {
  const [owner, repo] = opts.repository.split('/')
  const res = await requestWithRetry(
    opts.fetch,
    `${apiBase(opts.apiUrl)}/repos/${encodeURIComponent(owner ?? '')}/${encodeURIComponent(repo ?? '')}/installation`,
    { headers: headers(`Bearer ${opts.jwt}`) },
    opts
  )
  if (res.status !== 200)
    throw new GitHubAppError('installation', res.status, message(res.body, [opts.jwt]))
  const id = (JSON.parse(res.body) as { id?: unknown }).id
  if (typeof id !== 'number') throw new GitHubAppError('installation', res.status, 'no id')
  return id
}

/** An installation access token. */
export interface InstallationToken {
  token: string
  expiresAt: Date
  /** The permissions GitHub actually granted. */
  permissions: Record<string, string>
  installationId: number
}

/**
 * `POST /app/installations/{id}/access_tokens`, narrowed to `repositories` (names, without
 * the owner) and, when given, `permissions`; without permissions the token carries all the
 * installation has.
 */
export async function createInstallationToken(
  opts: GitHubOptions & {
    installationId: number
    jwt: string
    repositories: string[]
    permissions?: Record<string, string>
    setSecret: (value: string) => void
  }
): Promise<InstallationToken> {
  const body: Record<string, unknown> = { repositories: opts.repositories }
  if (opts.permissions && Object.keys(opts.permissions).length > 0)
    body.permissions = opts.permissions
  const res = await requestWithRetry(
    opts.fetch,
    `${apiBase(opts.apiUrl)}/app/installations/${opts.installationId}/access_tokens`,
    {
      method: 'POST',
      headers: { ...headers(`Bearer ${opts.jwt}`), 'content-type': 'application/json' },
      body: JSON.stringify(body)
    },
    opts
  )
  if (res.status !== 201)
    throw new GitHubAppError('token', res.status, message(res.body, [opts.jwt]))
  const json = JSON.parse(res.body) as {
    token?: unknown
    expires_at?: unknown
    permissions?: Record<string, string>
  }
  if (typeof json.token === 'string') opts.setSecret(json.token)
  const expiresAt = new Date(typeof json.expires_at === 'string' ? json.expires_at : '')
  if (typeof json.token !== 'string' || Number.isNaN(expiresAt.getTime()))
    throw new GitHubAppError('token', res.status, 'the answer holds no token/expires_at')
  return {
    token: json.token,
    expiresAt,
    permissions: json.permissions ?? {},
    installationId: opts.installationId
  }
}

export interface MintOptions extends GitHubOptions {
  appId: string
  /** PEM text of the App's private key. */
  privateKey: string
  /** `owner/repo`: the only repository the token will reach. */
  repository: string
  permissions?: Record<string, string>
  setSecret: (value: string) => void
  now?: number
}

/** The whole flow: JWT → this repository's installation → a token for this repository only. */
export async function mintInstallationToken(opts: MintOptions): Promise<InstallationToken> {
  const key = loadAppPrivateKey(opts.privateKey)
  const jwt = appJwt(opts.appId, key, opts.now)
  // The JWT is a credential for ten minutes: mask it like any other.
  opts.setSecret(jwt)
  const installationId = await findRepoInstallation({ ...opts, jwt })
  const repo = opts.repository.split('/')[1] ?? ''
  const args: Parameters<typeof createInstallationToken>[0] = {
    ...opts,
    installationId,
    jwt,
    repositories: [repo]
  }
  return createInstallationToken(args)
}

/**
 * `DELETE /installation/token`, authenticated with the token itself. Returns false when the
 * token was already unusable (401: expired or revoked), which is as good as revoked.
 */
export async function revokeInstallationToken(
  opts: GitHubOptions & { token: string }
): Promise<boolean> {
  const res = await requestWithRetry(
    opts.fetch,
    `${apiBase(opts.apiUrl)}/installation/token`,
    { method: 'DELETE', headers: headers(`Bearer ${opts.token}`) },
    opts
  )
  if (res.status === 204) return true
  if (res.status === 401) return false
  throw new GitHubAppError('revoke', res.status, message(res.body, [opts.token]))
}
