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
  assumeRoleWithWebIdentity,
  awsCredentials,
  roleSessionName,
  StsError,
  stsAudience,
  stsEndpoint,
  type AwsCredentialToken
} from '../grant/aws-sts.js'
import {
  exchangeToken,
  generateAccessToken,
  GoogleAuthError,
  workloadIdentityAudience,
  type GoogleAccessToken
} from '../grant/gcp-sts.js'
import { GrantNetworkError, type RetryPolicy } from '../grant/http.js'
import { idTokenFor } from '../grant/oidc.js'
import { AIRLOCK_ENDPOINT_HOST } from '../proxy/policy.js'
import { createSigV4Signer } from '../proxy/sigv4.js'
import { BaseProvider, PLACEHOLDERS, serviceAccountProject } from './base.js'

/**
 * Where the aws grant re-signs requests: the commercial and GovCloud partitions, China's,
 * and the newer `api.aws` dual-stack endpoints. Only allowlisted hosts among these are
 * reachable.
 */
export const AWS_HOST_PATTERNS = ['*.amazonaws.com', '*.amazonaws.com.cn', '*.api.aws']

/** Where the gcp grant's metadata server answers, on the proxy. */
export const GCE_METADATA_PREFIX = '/computeMetadata/v1/'

/** Test and embedding knobs for the OIDC-based providers; the defaults are for real runs. */
export interface CloudProviderOptions {
  retry?: Partial<RetryPolicy>
  /** Where `AWS_ENDPOINT_URL_STS` is read at grant time (default process.env). */
  env?: NodeJS.ProcessEnv
}

/** The proxy refreshes at this interval or at 75 % of the remaining lifetime, if sooner. */
const REFRESH_INTERVAL_MS = 45 * 60_000

/** The network failure hint shared by the cloud grants. */
function networkHint(url: string, extra = ''): string {
  return `Check that the runner can reach ${url} (a proxy goes in HTTPS_PROXY; a TLS-intercepting gateway's CA in upstream-ca${extra}).`
}

interface AwsGrantParams {
  roleArn: string
  region: string
  durationSeconds: number
  endpoint: string
  sessionName: string
}

/**
 * AWS via GitHub OIDC → STS `AssumeRoleWithWebIdentity` on the regional endpoint, refreshed
 * before expiry. The credential's `token` is the JSON of the session credentials
 * ({@link AwsCredentialToken}); everything refresh needs that is not secret is in metadata,
 * so the proxy daemon can re-assume the role with nothing but a fresh ID token.
 *
 * Hosts: none. AWS has hundreds of service hosts, and allowing `*.amazonaws.com` because
 * the role exists would open every S3 bucket in the world as an exfiltration channel; the
 * workflow lists the endpoints the job needs in `allowed-endpoints`. STS itself is called
 * by the runner, never by the container.
 */
export class AwsProvider extends BaseProvider implements EndpointProvider, RefreshableProvider {
  readonly name = 'aws'

  constructor(private readonly opts: CloudProviderOptions = {}) {
    super()
  }

  async grant(ctx: GrantContext): Promise<Credential> {
    const roleArn = ctx.input('aws-role-arn')
    if (!roleArn) {
      throw new GrantError(
        this.name,
        'no credential: `aws-role-arn` is empty',
        'Set aws-role-arn to the role to assume with GitHub OIDC, and give the job `permissions: id-token: write`.'
      )
    }
    const region = ctx.input('aws-region') || 'us-east-1'
    const duration = Number(ctx.input('aws-session-duration') || '3600')
    return this.assume(ctx, {
      roleArn,
      region,
      durationSeconds: Number.isInteger(duration) ? duration : 3600,
      endpoint: stsEndpoint(region, this.opts.env ?? process.env),
      sessionName: roleSessionName(ctx.repository, ctx.runId)
    })
  }

  private async assume(ctx: GrantContext, params: AwsGrantParams): Promise<Credential> {
    const token = await idTokenFor(ctx, this.name, stsAudience(params.region))
    let session
    try {
      session = await assumeRoleWithWebIdentity({
        roleArn: params.roleArn,
        sessionName: params.sessionName,
        webIdentityToken: token,
        durationSeconds: params.durationSeconds,
        endpoint: params.endpoint,
        fetch: ctx.fetch,
        setSecret: (v) => ctx.setSecret(v),
        signal: ctx.signal,
        ...(this.opts.retry ? { retry: this.opts.retry } : {})
      })
    } catch (err) {
      throw this.explain(err, params, ctx.repository)
    }
    const value: AwsCredentialToken = {
      accessKeyId: session.accessKeyId,
      secretAccessKey: session.secretAccessKey,
      sessionToken: session.sessionToken
    }
    const tokenJson = JSON.stringify(value)
    ctx.setSecret(tokenJson)
    const metadata: Record<string, string> = {
      [META_KEY_TOKEN_SOURCE]: 'oidc',
      region: params.region,
      role_arn: params.roleArn,
      session_name: params.sessionName,
      session_duration: String(params.durationSeconds),
      sts_endpoint: params.endpoint
    }
    if (session.assumedRoleArn) metadata.assumed_role_arn = session.assumedRoleArn
    return {
      provider: this.name,
      token: tokenJson,
      createdAt: new Date(),
      expiresAt: session.expiration,
      metadata
    }
  }

  /** A refusal as a GrantError naming the status, STS's code and what to check. */
  private explain(err: unknown, params: AwsGrantParams, repository: string): GrantError {
    if (err instanceof StsError) {
      const role = params.roleArn
      let hint: string
      if (err.stsCode === 'AccessDenied' || /not authorized/i.test(err.stsMessage)) {
        hint = `Check the trust policy of ${role}: its principal must be the account's IAM OIDC provider token.actions.githubusercontent.com, with conditions on token.actions.githubusercontent.com:aud = ${stsAudience(params.region)} and :sub matching this workflow (repo:${repository || '<owner>/<repo>'}:…; repositories using immutable subjects send repo:<owner>@<id>/<repo>@<id>:…).`
      } else if (err.stsCode === 'InvalidIdentityToken' || err.stsCode === 'IDPRejectedClaim') {
        hint = `Check that the AWS account has an IAM OIDC identity provider for https://token.actions.githubusercontent.com whose audiences include ${stsAudience(params.region)}.`
      } else if (/DurationSeconds|duration/i.test(err.stsMessage)) {
        hint = `aws-session-duration (${params.durationSeconds} s) must not exceed the maximum session duration configured on ${role}.`
      } else if (err.stsCode === 'RegionDisabledException') {
        hint = `Activate STS in ${params.region} (IAM → Account settings), or set aws-region to a region where it is active.`
      } else {
        hint = `Check aws-role-arn (${role}) and aws-region (${params.region}); STS endpoint ${params.endpoint}.`
      }
      return new GrantError(this.name, `AssumeRoleWithWebIdentity refused: ${err.message}`, hint)
    }
    if (err instanceof GrantNetworkError)
      return new GrantError(
        this.name,
        err,
        networkHint(params.endpoint, '; or set AWS_ENDPOINT_URL_STS')
      )
    return new GrantError(this.name, err instanceof Error ? err : String(err))
  }

  canRefresh(cred: Credential): boolean {
    return cred.metadata?.[META_KEY_TOKEN_SOURCE] === 'oidc' && !!cred.metadata.role_arn
  }

  refreshInterval(): number {
    return REFRESH_INTERVAL_MS
  }

  /** Re-assumes the role with a fresh ID token, with the parameters of the first grant. */
  async refresh(ctx: GrantContext, p: ProxyConfigurer, cred: Credential): Promise<Credential> {
    const m = cred.metadata ?? {}
    const region = m.region ?? 'us-east-1'
    const next = await this.assume(ctx, {
      roleArn: m.role_arn ?? '',
      region,
      durationSeconds: Number(m.session_duration) || 3600,
      endpoint: m.sts_endpoint ?? stsEndpoint(region),
      sessionName: m.session_name ?? roleSessionName(ctx.repository, ctx.runId)
    })
    this.configureProxy(p, next)
    return next
  }

  /**
   * Registers the SigV4 re-signer on AWS's hosts ({@link AWS_HOST_PATTERNS}): a request the container signed with
   * the placeholder keys is verified and signed again with the session credentials (plus
   * `X-Amz-Security-Token`). The allowlist still decides which AWS hosts are reachable.
   * Called again by refresh, it replaces the signer, so new requests use the new keys.
   */
  configureProxy(p: ProxyConfigurer, cred: Credential): void {
    const real = awsCredentials(cred)
    // Echoes (error bodies name the key id; nothing should ever echo the secret) are scrubbed.
    const signer = createSigV4Signer(
      {
        accessKeyId: PLACEHOLDERS.awsAccessKeyId,
        secretAccessKey: PLACEHOLDERS.awsSecretAccessKey
      },
      real
    )
    for (const pattern of AWS_HOST_PATTERNS) p.setRequestSigner?.(pattern, this.name, signer)
    p.addSecret?.(real.secretAccessKey, PLACEHOLDERS.awsSecretAccessKey)
    p.addSecret?.(real.sessionToken)
    p.addSecret?.(real.accessKeyId, PLACEHOLDERS.awsAccessKeyId)
  }

  registerEndpoints(_router: EndpointRouter, _cred: Credential): void {}

  hosts(_cred: Credential): string[] {
    return []
  }

  override containerEnv(cred: Credential): string[] {
    const region = cred.metadata?.region ?? 'us-east-1'
    return [
      `AWS_ACCESS_KEY_ID=${PLACEHOLDERS.awsAccessKeyId}`,
      `AWS_SECRET_ACCESS_KEY=${PLACEHOLDERS.awsSecretAccessKey}`,
      `AWS_REGION=${region}`,
      `AWS_DEFAULT_REGION=${region}`,
      // The SDKs would otherwise probe the instance metadata service, which the proxy blocks:
      // seconds of timeouts for nothing.
      'AWS_EC2_METADATA_DISABLED=true'
    ]
  }

  override impliedDependencies(): string[] {
    return ['aws']
  }
}

/** Injection target for Google Cloud: every Google API host the egress policy allows. */
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
export class GcpProvider extends BaseProvider implements EndpointProvider, RefreshableProvider {
  readonly name = 'gcp'

  constructor(private readonly opts: CloudProviderOptions = {}) {
    super()
  }

  grant(ctx: GrantContext): Promise<Credential> {
    const provider = ctx.input('gcp-workload-identity-provider')
    if (!provider) {
      return Promise.reject(
        new GrantError(
          this.name,
          'no credential: `gcp-workload-identity-provider` is empty',
          'Set gcp-workload-identity-provider (and optionally gcp-service-account), and give the job `permissions: id-token: write`.'
        )
      )
    }
    return this.mint(ctx, provider, ctx.input('gcp-service-account'))
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
   * Placeholders where tools take a ready-made token, so they skip their own auth and the
   * proxy's header wins: gcloud (`CLOUDSDK_AUTH_ACCESS_TOKEN`), Terraform's google provider
   * (`GOOGLE_OAUTH_ACCESS_TOKEN`), Claude Code on Vertex (`CLAUDE_CODE_SKIP_VERTEX_AUTH`).
   * The project defaults to the service account's.
   */
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
