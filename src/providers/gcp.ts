/** The gcp provider: GitHub OIDC → Google STS (→ IAM impersonation), and a GCE metadata server on the proxy. */
import {
  GrantError,
  META_KEY_TOKEN_SOURCE,
  type Credential,
  type EndpointRouter,
  type EndpointProvider,
  type GrantContext,
  type ProxyConfigurer,
  type RefreshableProvider
} from '../provider/index.js'
import {
  exchangeToken,
  generateAccessToken,
  GoogleAuthError,
  workloadIdentityAudience,
  type GoogleAccessToken
} from '../grant/gcp-sts.js'
import { GrantNetworkError } from '../grant/http.js'
import { idTokenFor } from '../grant/oidc.js'
import { AIRLOCK_ENDPOINT_HOST } from '../proxy/policy.js'
import {
  ProviderDefaults,
  PLACEHOLDERS,
  REFRESH_INTERVAL_MS,
  serviceAccountProject
} from './defaults.js'
import { networkHint, type CloudProviderOptions } from './cloud-common.js'

/** Where the gcp grant's metadata server answers, on the proxy. */
export const GCE_METADATA_PREFIX = '/computeMetadata/v1/'

export const GOOGLE_APIS_PATTERN = '*.googleapis.com'

/**
 * Google Cloud via GitHub OIDC → Google STS token exchange → (with `gcp-service-account`)
 * IAM Credentials `generateAccessToken`; refreshed before expiry.
 *
 * The token is injected as `Authorization: Bearer` on `*.googleapis.com`. The injection
 * table lets an exact host beat a wildcard, so with `gemini` also granted,
 * `generativelanguage.googleapis.com` keeps the Gemini API key and never receives this
 * token, while Vertex AI (`*-aiplatform.googleapis.com`) gets it.
 *
 * Hosts: none, for the reason AwsProvider gives (storage.googleapis.com reaches every
 * bucket): the workflow allows the Google APIs it needs in `allowed-endpoints`, and only
 * those get the token.
 */
export class GcpProvider extends ProviderDefaults implements EndpointProvider, RefreshableProvider {
  readonly name = 'gcp'

  constructor(private readonly opts: CloudProviderOptions = {}) {
    super()
  }

  grant(ctx: GrantContext): Promise<Credential> {
    const { workloadIdentityProvider: provider, serviceAccount } = ctx.settings.gcp
    if (!provider) {
      return Promise.reject(
        new GrantError(
          this.name,
          'no credential: `gcp-workload-identity-provider` is empty',
          'Set gcp-workload-identity-provider (and optionally gcp-service-account), and give the job `permissions: id-token: write`.'
        )
      )
    }
    return this.mint(ctx, provider, serviceAccount)
  }

  private async mint(
    ctx: GrantContext,
    provider: string,
    serviceAccount: string
  ): Promise<Credential> {
    const subjectToken = await idTokenFor(ctx, this.name, workloadIdentityAudience(provider))
    const common = {
      fetch: ctx.fetch,
      setSecret: (v: string) => ctx.setSecret(v),
      signal: ctx.signal,
      ...(this.opts.retry ? { retry: this.opts.retry } : {})
    }
    let token: GoogleAccessToken
    try {
      token = await exchangeToken({ ...common, workloadIdentityProvider: provider, subjectToken })
      if (serviceAccount) {
        token = await generateAccessToken({
          ...common,
          serviceAccount,
          federatedToken: token.accessToken
        })
      }
    } catch (err) {
      throw this.explain(err, provider, serviceAccount, ctx.repository)
    }
    const metadata: Record<string, string> = {
      [META_KEY_TOKEN_SOURCE]: 'oidc',
      workload_identity_provider: provider
    }
    if (serviceAccount) metadata.service_account = serviceAccount
    return {
      provider: this.name,
      token: token.accessToken,
      createdAt: new Date(),
      expiresAt: token.expiresAt,
      scopes: ['https://www.googleapis.com/auth/cloud-platform'],
      metadata
    }
  }

  private explain(
    err: unknown,
    provider: string,
    serviceAccount: string,
    repository: string
  ): GrantError {
    if (err instanceof GoogleAuthError) {
      const hint =
        err.step === 'sts'
          ? `Check the workload identity provider ${provider}: its issuer must be https://token.actions.githubusercontent.com, its allowed audiences must include ${workloadIdentityAudience(provider)} (the default), and its attribute condition must accept this repository (e.g. assertion.repository == '${repository || '<owner>/<repo>'}').`
          : err.status === 404
            ? `The service account ${serviceAccount} does not exist (check gcp-service-account).`
            : `Grant roles/iam.workloadIdentityUser on ${serviceAccount} to the pool's principal for this repository (principalSet://iam.googleapis.com/${provider.replace(/\/providers\/[^/]+$/, '')}/attribute.repository/${repository || '<owner>/<repo>'}), and enable the IAM Service Account Credentials API in its project.`
      return new GrantError(this.name, err, hint)
    }
    if (err instanceof GrantNetworkError)
      return new GrantError(this.name, err, networkHint(err.url))
    return new GrantError(this.name, err instanceof Error ? err : String(err))
  }

  canRefresh(cred: Credential): boolean {
    return (
      cred.metadata?.[META_KEY_TOKEN_SOURCE] === 'oidc' &&
      !!cred.metadata.workload_identity_provider
    )
  }

  refreshInterval(): number {
    return REFRESH_INTERVAL_MS
  }

  /** Repeats the exchange (and impersonation) with a fresh ID token; swaps the header. */
  async refresh(ctx: GrantContext, p: ProxyConfigurer, cred: Credential): Promise<Credential> {
    const next = await this.mint(
      ctx,
      cred.metadata?.workload_identity_provider ?? '',
      cred.metadata?.service_account ?? ''
    )
    this.configureProxy(p, next)
    return next
  }

  configureProxy(p: ProxyConfigurer, cred: Credential): void {
    p.setCredentialWithGrant(
      GOOGLE_APIS_PATTERN,
      'Authorization',
      `Bearer ${cred.token}`,
      this.name
    )
  }

  hosts(_cred: Credential): string[] {
    return []
  }

  /**
   * A GCE metadata server on the proxy (`http://airlock.internal/computeMetadata/v1/`), so
   * Application Default Credentials work in the container unchanged (Google's client
   * libraries, Gemini CLI on Vertex AI): it hands out the placeholder token, which the proxy
   * swaps for the real one on `*.googleapis.com`, and names the project and account.
   */
  registerEndpoints(router: EndpointRouter, cred: Credential): void {
    const account = cred.metadata?.service_account ?? 'default'
    const project = serviceAccountProject(cred.metadata?.service_account) ?? ''
    router.handle(GCE_METADATA_PREFIX, (req, res) => {
      const reply = (status: number, body: string, type = 'application/text'): void => {
        res.writeHead(status, { 'metadata-flavor': 'Google', 'content-type': type })
        res.end(body)
      }
      // The header real metadata servers require (it keeps browsers and SSRF out).
      if (req.headers['metadata-flavor'] !== 'Google')
        return reply(403, 'Missing Metadata-Flavor:Google header.')
      const path = new URL(req.url ?? '/', 'http://metadata').pathname
      const rel = path.slice(GCE_METADATA_PREFIX.length).replace(/\/+$/, '')
      const sa = /^instance\/service-accounts\/(default|[^/]+)(?:\/(.*))?$/.exec(rel)
      if (rel === '' || rel === 'instance' || rel === 'project') return reply(200, '')
      if (rel === 'project/project-id' && project) return reply(200, project)
      if (rel === 'universe/universe-domain') return reply(200, 'googleapis.com')
      if (sa && (sa[1] === 'default' || sa[1] === account)) {
        if (sa[2] === 'token')
          return reply(
            200,
            JSON.stringify({
              access_token: PLACEHOLDERS.gcp,
              expires_in: 3599,
              token_type: 'Bearer'
            }),
            'application/json'
          )
        if (sa[2] === 'email') return reply(200, account)
        if (sa[2] === 'scopes') return reply(200, 'https://www.googleapis.com/auth/cloud-platform')
        if (sa[2] === undefined || sa[2] === '') return reply(200, '')
      }
      reply(404, 'Not found')
    })
  }

  /**
   * Placeholders where tools take a ready-made token, so they skip their own auth and the
   * proxy's header wins: gcloud (`CLOUDSDK_AUTH_ACCESS_TOKEN`), Terraform's google provider
   * (`GOOGLE_OAUTH_ACCESS_TOKEN`), Claude Code on Vertex (`CLAUDE_CODE_SKIP_VERTEX_AUTH`).
   * The project defaults to the service account's.
   */
  override containerEnv(cred: Credential): string[] {
    const env = [
      // Application Default Credentials: the proxy's metadata server (registerEndpoints).
      `GCE_METADATA_HOST=${AIRLOCK_ENDPOINT_HOST}`,
      `GCE_METADATA_IP=${AIRLOCK_ENDPOINT_HOST}`,
      'METADATA_SERVER_DETECTION=assume-present',
      `CLOUDSDK_AUTH_ACCESS_TOKEN=${PLACEHOLDERS.gcp}`,
      `GOOGLE_OAUTH_ACCESS_TOKEN=${PLACEHOLDERS.gcp}`,
      'CLAUDE_CODE_SKIP_VERTEX_AUTH=1',
      'CLOUDSDK_CORE_DISABLE_PROMPTS=1'
    ]
    const project = serviceAccountProject(cred.metadata?.service_account)
    if (project) env.push(`GOOGLE_CLOUD_PROJECT=${project}`, `CLOUDSDK_CORE_PROJECT=${project}`)
    return env
  }

  override impliedDependencies(): string[] {
    return []
  }
}
