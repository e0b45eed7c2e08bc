import { AirlockError } from '../errors.js'
import { GrantError, type GrantContext } from '../provider/index.js'
import { requestWithRetry, safeUpstreamText, type RequestOptions } from './http.js'

/** The hint every "no OIDC" failure carries: the one thing the workflow must change. */
export const ID_TOKEN_PERMISSION_HINT =
  'Give the job `permissions: id-token: write` (workflows from forked pull requests never get OIDC tokens).'

/** No GitHub OIDC token could be had (no endpoint, or the endpoint refused). */
export class OidcError extends AirlockError {
  declare readonly code: 'AIRLOCK_OIDC_UNAVAILABLE' | 'AIRLOCK_OIDC_FAILED'
  constructor(code: OidcError['code'], message: string) {
    super(code, message)
  }
}

/** The runner's ID-token endpoint, from `ACTIONS_ID_TOKEN_REQUEST_URL`/`_TOKEN`. */
export interface IdTokenEndpoint {
  url: string
  /** The request token: valid for the whole job, the credential worth protecting. */
  token: string
}

/** The endpoint when the job may mint ID tokens (`id-token: write`), else undefined. */
export function idTokenEndpointFromEnv(env: NodeJS.ProcessEnv): IdTokenEndpoint | undefined {
  const url = env.ACTIONS_ID_TOKEN_REQUEST_URL
  const token = env.ACTIONS_ID_TOKEN_REQUEST_TOKEN
  return url && token ? { url, token } : undefined
}

export interface RequestIdTokenOptions extends RequestOptions {
  fetch: typeof fetch
  setSecret: (value: string) => void
}

/**
 * A GitHub OIDC ID token for `audience`: `GET <url>&audience=<aud>` with
 * `Authorization: bearer <request token>`, answered `{"value": "<JWT>"}` (the protocol
 * `@actions/core`'s getIDToken speaks). Done here rather than through `@actions/core` so the
 * main step and the proxy daemon (which has no runner environment) share one code path,
 * with the same proxy, CA and retry handling. The token is masked before it is returned.
 *
 * @throws OidcError `AIRLOCK_OIDC_UNAVAILABLE` without an endpoint, `AIRLOCK_OIDC_FAILED` when
 * the endpoint refuses or answers something else.
 */
export async function requestIdToken(
  endpoint: IdTokenEndpoint | undefined,
  audience: string,
  opts: RequestIdTokenOptions
): Promise<string> {
  if (!endpoint) {
    throw new OidcError(
      'AIRLOCK_OIDC_UNAVAILABLE',
      'no GitHub OIDC token: ACTIONS_ID_TOKEN_REQUEST_URL is not set (the job lacks `permissions: id-token: write`)'
    )
  }
  const url = new URL(endpoint.url)
  url.searchParams.set('audience', audience)
  const res = await requestWithRetry(
    opts.fetch,
    url,
    {
      headers: {
        authorization: `bearer ${endpoint.token}`,
        accept: 'application/json; api-version=2.0'
      }
    },
    opts
  )
  if (res.status < 200 || res.status > 299) {
    throw new OidcError(
      'AIRLOCK_OIDC_FAILED',
      `the runner's ID-token endpoint answered ${res.status}: ${safeUpstreamText(res.body, [endpoint.token])}`
    )
  }
  let value: unknown
  try {
    value = (JSON.parse(res.body) as { value?: unknown }).value
  } catch {
    value = undefined
  }
  if (typeof value !== 'string' || value.split('.').length !== 3) {
    throw new OidcError(
      'AIRLOCK_OIDC_FAILED',
      "the runner's ID-token endpoint answered without a token in `value`"
    )
  }
  opts.setSecret(value)
  return value
}

/**
 * `ctx.getIDToken` for a provider's grant: masks the token, and turns every failure into a
 * `GrantError` for `provider` whose hint says what the workflow needs.
 */
export async function idTokenFor(
  ctx: GrantContext,
  provider: string,
  audience: string
): Promise<string> {
  let token: string
  try {
    token = await ctx.getIDToken(audience)
  } catch (err) {
    if (err instanceof GrantError) throw err
    const e = err instanceof Error ? err : new Error(String(err))
    const unavailable = (e as Partial<OidcError>).code === 'AIRLOCK_OIDC_UNAVAILABLE'
    throw new GrantError(
      provider,
      e,
      unavailable
        ? ID_TOKEN_PERMISSION_HINT
        : `Could not get a GitHub OIDC token for audience ${audience}. ${ID_TOKEN_PERMISSION_HINT}`
    )
  }
  ctx.setSecret(token)
  return token
}
