/** The aws provider: GitHub OIDC → STS sessions, re-signed SigV4 in the proxy. */
import {
  DEFAULT_AWS_REGION,
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
import { GrantNetworkError } from '../grant/http.js'
import { idTokenFor } from '../grant/oidc.js'
import { createSigV4Signer } from '../proxy/sigv4.js'
import { ProviderDefaults, PLACEHOLDERS, REFRESH_INTERVAL_MS } from './defaults.js'
import { networkHint, type CloudProviderOptions } from './cloud-common.js'

/**
 * Where the aws grant re-signs requests: the commercial and GovCloud partitions, China's,
 * and the newer `api.aws` dual-stack endpoints. Only allowlisted hosts among these are
 * reachable.
 */
export const AWS_HOST_PATTERNS = ['*.amazonaws.com', '*.amazonaws.com.cn', '*.api.aws']

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
export class AwsProvider extends ProviderDefaults implements EndpointProvider, RefreshableProvider {
  readonly name = 'aws'

  constructor(private readonly opts: CloudProviderOptions = {}) {
    super()
  }

  async grant(ctx: GrantContext): Promise<Credential> {
    const { roleArn, region, sessionDuration } = ctx.settings.aws
    if (!roleArn) {
      throw new GrantError(
        this.name,
        'no credential: `aws-role-arn` is empty',
        'Set aws-role-arn to the role to assume with GitHub OIDC, and give the job `permissions: id-token: write`.'
      )
    }
    return this.assume(ctx, {
      roleArn,
      region,
      durationSeconds: sessionDuration,
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
    const region = m.region ?? DEFAULT_AWS_REGION
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
    for (const pattern of AWS_HOST_PATTERNS) p.setRequestSigner(pattern, this.name, signer)
    p.addSecret(real.secretAccessKey, PLACEHOLDERS.awsSecretAccessKey)
    p.addSecret(real.sessionToken)
    p.addSecret(real.accessKeyId, PLACEHOLDERS.awsAccessKeyId)
  }

  registerEndpoints(_router: EndpointRouter, _cred: Credential): void {}

  hosts(_cred: Credential): string[] {
    return []
  }

  override containerEnv(cred: Credential): string[] {
    const region = cred.metadata?.region ?? DEFAULT_AWS_REGION
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
