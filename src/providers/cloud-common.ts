/**
 * What the OIDC-based cloud providers (aws, gcp) share: their test knobs and the hint for a
 * grant call that cannot reach its endpoint.
 */
import type { RetryPolicy } from '../grant/http.js'

/** Test and embedding knobs for the OIDC-based providers; the defaults are for real runs. */
export interface CloudProviderOptions {
  retry?: Partial<RetryPolicy>
  /** Where `AWS_ENDPOINT_URL_STS` is read at grant time (default process.env). */
  env?: NodeJS.ProcessEnv
}

/** The network failure hint shared by the cloud grants. */
export function networkHint(url: string, extra = ''): string {
  return `Check that the runner can reach ${url} (a proxy goes in HTTPS_PROXY; a TLS-intercepting gateway's CA in upstream-ca${extra}).`
}
