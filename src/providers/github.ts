import {
  GrantError,
  maskedParts,
  META_KEY_TOKEN_SOURCE,
  type Credential,
  type GrantContext,
  type ProxyConfigurer,
  type RefreshableProvider
} from '../provider/index.js'
import {
  AppKeyError,
  GitHubAppError,
  mintInstallationToken,
  revokeInstallationToken
} from '../grant/github-app.js'
import { GrantNetworkError, type RetryPolicy } from '../grant/http.js'
import type { RevocableProvider } from '../provider/index.js'
import {
  ProviderDefaults,
  PLACEHOLDERS,
  REFRESH_INTERVAL_MS,
  requireSecret,
  staticCredential
} from './defaults.js'

export const GITHUB_API_HOSTS = ['api.github.com', 'uploads.github.com']
export const GITHUB_GIT_HOST = 'github.com'
export const GITHUB_DEFAULT_API_URL = 'https://api.github.com'

/** Where a GitHub's API and git live, from its API URL (GITHUB_API_URL). */
export interface GitHubHosts {
  /** Hosts that take `Bearer` (the REST/GraphQL API and uploads); none on GHES. */
  api: string[]
  /** The host git smart HTTP goes to (and, on GHES, the API too, under /api/). */
  git: string
  /** GitHub Enterprise Server: one host for the API, uploads and git. */
  enterpriseServer: boolean
}

/**
 * github.com keeps its API on api.github.com; GHE.com (data residency) on `api.<tenant>.ghe.com`
 * next to `<tenant>.ghe.com`; GitHub Enterprise Server serves everything from one host, the
 * API under `/api/v3` and uploads under `/api/uploads`.
 */
export function githubHosts(apiUrl: string = GITHUB_DEFAULT_API_URL): GitHubHosts {
  let url: URL
  try {
    url = new URL(apiUrl)
  } catch {
    url = new URL(GITHUB_DEFAULT_API_URL)
  }
  const host = url.hostname.toLowerCase()
  if (host === 'api.github.com')
    return { api: GITHUB_API_HOSTS, git: GITHUB_GIT_HOST, enterpriseServer: false }
  if (host.startsWith('api.') && !/^\/api\//.test(url.pathname)) {
    const server = host.slice('api.'.length)
    return { api: [host, `uploads.${server}`], git: server, enterpriseServer: false }
  }
  return { api: [], git: host, enterpriseServer: true }
}

/** Metadata `token_source` of an installation token minted from a GitHub App. */
export const GITHUB_APP_SOURCE = 'github-app'

export interface GitHubProviderOptions {
  retry?: Partial<RetryPolicy>
  /** Clock for the App JWT (tests). */
  now?: () => number
}

/**
 * GitHub: Bearer for the REST/GraphQL API, Basic `x-access-token` for git smart HTTP. The
 * token is `github-token`, or, when `github-app-id` and `github-app-private-key` are set,
 * an installation token for this repository only, narrowed to `github-app-permissions`,
 * re-minted before its hour is up and revoked when the run ends.
 */
export class GitHubProvider
  extends ProviderDefaults
  implements RefreshableProvider, RevocableProvider
{
  readonly name = 'github'

  constructor(private readonly opts: GitHubProviderOptions = {}) {
    super()
  }

  async grant(ctx: GrantContext): Promise<Credential> {
    const appId = ctx.settings.githubApp.id
    const appKey = ctx.settings.secrets['github-app-private-key']
    if (appKey) maskKey(ctx, appKey)
    // The App wins over github-token: github-token defaults to the job token, always set.
    if (appId || appKey) {
      if (!appId || !appKey) {
        throw new GrantError(
          this.name,
          `no credential: \`${appId ? 'github-app-private-key' : 'github-app-id'}\` is empty`,
          'Set both github-app-id and github-app-private-key to use a GitHub App (or neither, to use github-token).'
        )
      }
      const { permissions } = ctx.settings.githubApp
      return this.mint(ctx, appId, appKey, permissions, ctx.githubApiUrl, ctx.repository)
    }
    const [, token] = requireSecret(
      ctx,
      this.name,
      ['github-token'],
      'Set github-token (it defaults to ${{ github.token }}), or github-app-id and github-app-private-key to mint an installation token.'
    )
    const cred = staticCredential(this.name, token)
    // Which hosts the token is for follows GITHUB_API_URL (GitHub Enterprise).
    if (ctx.githubApiUrl && ctx.githubApiUrl !== GITHUB_DEFAULT_API_URL)
      cred.metadata = { ...cred.metadata, api_url: ctx.githubApiUrl }
    return cred
  }

  private async mint(
    ctx: GrantContext,
    appId: string,
    privateKey: string,
    permissions: Record<string, string>,
    apiUrl: string,
    repository: string
  ): Promise<Credential> {
    if (!/^[^/\s]+\/[^/\s]+$/.test(repository)) {
      throw new GrantError(
        this.name,
        `cannot scope an installation token: the repository is ${repository ? `"${repository}"` : 'unknown'}`,
        'Run in GitHub Actions, or set GITHUB_REPOSITORY=owner/repo for a local run.'
      )
    }
    let minted
    try {
      minted = await mintInstallationToken({
        apiUrl,
        appId,
        privateKey,
        repository,
        permissions,
        fetch: ctx.fetch,
        setSecret: (v) => ctx.setSecret(v),
        signal: ctx.signal,
        ...(this.opts.now ? { now: this.opts.now() } : {}),
        ...(this.opts.retry ? { retry: this.opts.retry } : {})
      })
    } catch (err) {
      throw this.explain(err, appId, repository, permissions, apiUrl)
    }
    return {
      provider: this.name,
      token: minted.token,
      createdAt: new Date(),
      expiresAt: minted.expiresAt,
      scopes: Object.entries(minted.permissions).map(([k, v]) => `${k}:${v}`),
      metadata: {
        [META_KEY_TOKEN_SOURCE]: GITHUB_APP_SOURCE,
        app_id: appId,
        installation_id: String(minted.installationId),
        repository,
        api_url: apiUrl,
        permissions: JSON.stringify(permissions)
      }
    }
  }

  private explain(
    err: unknown,
    appId: string,
    repository: string,
    permissions: Record<string, string>,
    apiUrl: string
  ): GrantError {
    if (err instanceof AppKeyError) {
      return new GrantError(
        this.name,
        err,
        "Set github-app-private-key to the App's private key (the .pem file from the App's settings), whole, BEGIN and END lines included."
      )
    }
    if (err instanceof GitHubAppError) {
      const owner = repository.split('/')[0] ?? ''
      let hint: string
      if (err.step === 'installation' && err.status === 401) {
        hint = `GitHub rejected the App's JWT: check that github-app-id (${appId}) is the App this private key belongs to, and that the runner's clock is right.`
      } else if (err.step === 'installation' && err.status === 404) {
        hint = `App ${appId} is not installed on ${repository}: install it on this repository (or on all repositories of ${owner}).`
      } else if (err.step === 'token' && err.status === 422) {
        const asked = Object.entries(permissions)
          .map(([k, v]) => `${k}:${v}`)
          .join(', ')
        hint = `GitHub refused the permissions asked for (${asked || 'all of the installation'}): the App must hold each one at that level or higher, and the installation must have accepted them. Narrow github-app-permissions or update the App.`
      } else {
        hint = `Check that App ${appId}'s installation on ${owner} is active (not suspended) and includes ${repository}.`
      }
      return new GrantError(this.name, err, hint)
    }
    if (err instanceof GrantNetworkError) {
      return new GrantError(
        this.name,
        err,
        `Check that the runner can reach ${apiUrl} (GITHUB_API_URL for GitHub Enterprise Server; a proxy in HTTPS_PROXY; a gateway's CA in upstream-ca).`
      )
    }
    return new GrantError(this.name, err instanceof Error ? err : String(err))
  }

  canRefresh(cred: Credential): boolean {
    return cred.metadata?.[META_KEY_TOKEN_SOURCE] === GITHUB_APP_SOURCE
  }

  refreshInterval(): number {
    return REFRESH_INTERVAL_MS
  }

  /**
   * Mints a new installation token (an installation token cannot be extended), swaps the
   * headers, then revokes the old token: every request from now on carries the new one, so
   * the old one is only a liability.
   */
  async refresh(ctx: GrantContext, p: ProxyConfigurer, cred: Credential): Promise<Credential> {
    const m = cred.metadata ?? {}
    const key = ctx.settings.secrets['github-app-private-key']
    if (!key) {
      throw new GrantError(
        this.name,
        'cannot re-mint the installation token: the proxy was not given github-app-private-key',
        'This is a bug in how the run was started; the token expires within the hour.'
      )
    }
    const permissions = JSON.parse(m.permissions ?? '{}') as Record<string, string>
    const next = await this.mint(
      ctx,
      m.app_id ?? ctx.settings.githubApp.id,
      key,
      permissions,
      m.api_url ?? ctx.githubApiUrl,
      m.repository ?? ctx.repository
    )
    this.configureProxy(p, next)
    await this.revoke(ctx, cred).catch(() => false)
    return next
  }

  /**
   * Revokes an installation token (`DELETE /installation/token`). Tokens from `github-token`
   * are never revoked: the job token belongs to the job, and other steps still use it.
   * Returns false when there was nothing to revoke (static, already expired, or already
   * invalid).
   */
  async revoke(ctx: GrantContext, cred: Credential): Promise<boolean> {
    if (!this.canRefresh(cred)) return false
    if (cred.expiresAt && cred.expiresAt.getTime() <= Date.now()) return false
    return revokeInstallationToken({
      apiUrl: cred.metadata?.api_url ?? ctx.githubApiUrl,
      token: cred.token,
      fetch: ctx.fetch,
      signal: ctx.signal,
      retry: { attempts: 3, ...this.opts.retry }
    })
  }

  configureProxy(p: ProxyConfigurer, cred: Credential): void {
    const hosts = githubHosts(cred.metadata?.api_url)
    for (const host of hosts.api)
      p.setCredentialWithGrant(
        host,
        'Authorization',
        `Bearer ${cred.token}`,
        this.name,
        PLACEHOLDERS.github
      )
    // git smart HTTP answers 401 to Bearer; it wants Basic with any user and the token. The
    // REST API takes the same Basic form, which is what GHES gets: its API and git share one
    // host, and injection is per host.
    const basic = Buffer.from(`x-access-token:${cred.token}`).toString('base64')
    p.setCredentialWithGrant(
      hosts.git,
      'Authorization',
      `Basic ${basic}`,
      this.name,
      PLACEHOLDERS.github
    )
  }

  hosts(cred: Credential): string[] {
    const hosts = githubHosts(cred.metadata?.api_url)
    return [...hosts.api, hosts.git]
  }

  override containerEnv(cred: Credential): string[] {
    const hosts = githubHosts(cred.metadata?.api_url)
    // gh reads GH_TOKEN for github.com and *.ghe.com, GH_ENTERPRISE_TOKEN for any other host.
    if (hosts.git === GITHUB_GIT_HOST || hosts.git.endsWith('.ghe.com'))
      return [
        `GH_TOKEN=${PLACEHOLDERS.github}`,
        ...(hosts.git === GITHUB_GIT_HOST ? [] : [`GH_HOST=${hosts.git}`]),
        'GIT_TERMINAL_PROMPT=0'
      ]
    return [
      `GH_HOST=${hosts.git}`,
      `GH_ENTERPRISE_TOKEN=${PLACEHOLDERS.github}`,
      'GIT_TERMINAL_PROMPT=0'
    ]
  }

  override impliedDependencies(): string[] {
    return ['gh', 'git']
  }
}

/** The log masker works per line, so a PEM key is masked whole and line by line. */
function maskKey(ctx: GrantContext, key: string): void {
  for (const part of maskedParts(key)) ctx.setSecret(part)
}
