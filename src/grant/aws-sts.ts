import type { Credential } from '../provider/index.js'
import { requestWithRetry, safeUpstreamText, type HttpResult, type RequestOptions } from './http.js'
import { AirlockError } from '../errors.js'

/** The audience AWS expects in a GitHub OIDC token (aws-actions/configure-aws-credentials). */
export function stsAudience(region: string): string {
  // The China partition's IAM OIDC providers are created with the .cn client id.
  return region.startsWith('cn-') ? 'sts.amazonaws.com.cn' : 'sts.amazonaws.com'
}

/**
 * The STS endpoint to call: `AWS_ENDPOINT_URL_STS` when set (the SDKs' service-specific
 * endpoint override), else the regional endpoint, never the legacy global one (regional
 * endpoints keep working when us-east-1 does not, and are what the SDKs default to).
 */
export function stsEndpoint(region: string, env: NodeJS.ProcessEnv = {}): string {
  const override = env.AWS_ENDPOINT_URL_STS?.trim()
  if (override) return override.endsWith('/') ? override : `${override}/`
  const suffix = region.startsWith('cn-') ? 'amazonaws.com.cn' : 'amazonaws.com'
  return `https://sts.${region}.${suffix}/`
}

/**
 * A `RoleSessionName` (2–64 characters of `[\w+=,.@-]`) naming the repository and the run,
 * so CloudTrail says which workflow run acted. The run id is kept whole; the repository is
 * shortened when the whole would not fit.
 */
export function roleSessionName(repository: string, runId: string): string {
  const clean = (s: string): string => s.replace(/[^\w+=,.@-]+/g, '-').replace(/^-+|-+$/g, '')
  const run = clean(runId).slice(0, 40) || 'local'
  const repo = clean(repository)
  const room = 64 - 'airlock-'.length - run.length - 1
  const name = repo && room > 0 ? `airlock-${repo.slice(0, room)}-${run}` : `airlock-${run}`
  return name.slice(0, 64)
}

/** Temporary credentials from STS. */
export interface AwsSessionCredentials {
  accessKeyId: string
  secretAccessKey: string
  sessionToken: string
  expiration: Date
  /** `arn:aws:sts::<account>:assumed-role/<role>/<session>`. */
  assumedRoleArn?: string
}

/** An STS error answer (`<ErrorResponse><Error><Code>…`). */
export class StsError extends AirlockError {
  constructor(
    readonly status: number,
    readonly stsCode: string,
    readonly stsMessage: string
  ) {
    super(
      'AIRLOCK_STS_REFUSED',
      `STS answered ${status}${stsCode ? ` ${stsCode}` : ''}${stsMessage ? `: ${stsMessage}` : ''}`
    )
  }
}

export interface AssumeRoleOptions extends RequestOptions {
  roleArn: string
  sessionName: string
  webIdentityToken: string
  durationSeconds: number
  /** From {@link stsEndpoint}. */
  endpoint: string
  fetch: typeof fetch
  /** Masks each secret the moment it is parsed. */
  setSecret: (value: string) => void
}

/** STS error codes worth another attempt (throttling, and the IdP being briefly unreachable). */
const RETRYABLE_STS_CODES = new Set([
  'Throttling',
  'ThrottlingException',
  'RequestLimitExceeded',
  'IDPCommunicationError',
  'ServiceUnavailable',
  'InternalFailure'
])

/** Retry on 5xx, 429 and throttling / IdP-communication errors STS answers with 400. */
export function isRetryableStsAnswer(res: HttpResult): boolean {
  if (res.status >= 500 || res.status === 429) return true
  if (res.status < 400) return false
  const code = xmlText(res.body, 'Code') ?? ''
  // "Couldn't retrieve verification key from your identity provider" is transient too.
  if (code === 'InvalidIdentityToken' && /retrieve verification key/i.test(res.body)) return true
  return RETRYABLE_STS_CODES.has(code)
}

/**
 * `AssumeRoleWithWebIdentity` (STS Query API, version 2011-06-15): an unsigned form POST whose
 * authentication is the web identity token itself; the answer is XML. Retries transient
 * failures with jittered backoff; a refusal throws `StsError` with STS's code and message.
 */
export async function assumeRoleWithWebIdentity(
  opts: AssumeRoleOptions
): Promise<AwsSessionCredentials> {
  const body = new URLSearchParams({
    Action: 'AssumeRoleWithWebIdentity',
    Version: '2011-06-15',
    RoleArn: opts.roleArn,
    RoleSessionName: opts.sessionName,
    WebIdentityToken: opts.webIdentityToken,
    DurationSeconds: String(opts.durationSeconds)
  })
  const res = await requestWithRetry(
    opts.fetch,
    opts.endpoint,
    {
      method: 'POST',
      headers: {
        'content-type': 'application/x-www-form-urlencoded; charset=utf-8',
        accept: 'text/xml'
      },
      body: body.toString()
    },
    { ...opts, retryOn: opts.retryOn ?? isRetryableStsAnswer }
  )
  if (res.status !== 200) {
    throw new StsError(
      res.status,
      safeUpstreamText(xmlText(res.body, 'Code') ?? ''),
      safeUpstreamText(xmlText(res.body, 'Message') ?? '', [opts.webIdentityToken])
    )
  }
  const creds = xmlText(res.body, 'Credentials') ?? ''
  const accessKeyId = xmlText(creds, 'AccessKeyId')
  const secretAccessKey = xmlText(creds, 'SecretAccessKey')
  const sessionToken = xmlText(creds, 'SessionToken')
  // Masked before anything else can go wrong and print them.
  for (const v of [secretAccessKey, sessionToken, accessKeyId]) if (v) opts.setSecret(v)
  const expiration = new Date(xmlText(creds, 'Expiration') ?? '')
  if (!accessKeyId || !secretAccessKey || !sessionToken || Number.isNaN(expiration.getTime())) {
    throw new StsError(res.status, 'MalformedResponse', 'the answer holds no usable Credentials')
  }
  const out: AwsSessionCredentials = { accessKeyId, secretAccessKey, sessionToken, expiration }
  const arn = xmlText(xmlText(res.body, 'AssumedRoleUser') ?? '', 'Arn')
  if (arn) out.assumedRoleArn = arn
  return out
}

/**
 * The text of the first `<tag>` in xml, entities decoded. STS answers are flat and small;
 * a full XML parser would add a dependency for four fields.
 */
export function xmlText(xml: string, tag: string): string | undefined {
  const m = new RegExp(`<${tag}(?:\\s[^>]*)?>([\\s\\S]*?)</${tag}>`).exec(xml)
  if (!m) return undefined
  return m[1]!
    .trim()
    .replace(/&#x([0-9a-f]+);/gi, (_, h: string) => String.fromCodePoint(parseInt(h, 16)))
    .replace(/&#(\d+);/g, (_, d: string) => String.fromCodePoint(Number(d)))
    .replace(/&lt;/g, '<')
    .replace(/&gt;/g, '>')
    .replace(/&quot;/g, '"')
    .replace(/&apos;/g, "'")
    .replace(/&amp;/g, '&')
}

/** What an `aws` credential's `token` holds (JSON), for whoever signs with it. */
export interface AwsCredentialToken {
  accessKeyId: string
  secretAccessKey: string
  sessionToken: string
}

/** The session credentials inside an `aws` Credential (throws on a malformed token). */
export function awsCredentials(cred: Credential): AwsCredentialToken {
  const parsed = JSON.parse(cred.token) as Partial<AwsCredentialToken>
  if (!parsed.accessKeyId || !parsed.secretAccessKey || !parsed.sessionToken)
    throw new Error('the aws credential holds no session credentials')
  return {
    accessKeyId: parsed.accessKeyId,
    secretAccessKey: parsed.secretAccessKey,
    sessionToken: parsed.sessionToken
  }
}
