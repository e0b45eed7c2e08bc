import { readFileSync } from 'node:fs'
import { InputError } from '../errors.js'
import {
  emptySettings,
  GrantError,
  isRevocableProvider,
  isValidatingProvider,
  registry,
  type Credential,
  type GrantContext,
  type GrantSettings
} from '../provider/index.js'
import { createGrantFetch } from './http.js'
import { checkKey } from './validate.js'
import { maskInStepLog, warnInStepLog } from '../step-commands.js'
import { idTokenEndpointFromEnv, requestIdToken, type IdTokenEndpoint } from './oidc.js'

export interface Granted {
  provider: string
  credential: Credential
}

export interface GrantContextOptions {
  /** What the run was configured with (readGrantSettings); default: nothing set. */
  settings?: GrantSettings
  setSecret?: (value: string) => void
  /** Where warnings go (default: the step log). */
  warn?: (line: string) => void
  /**
   * The runner's environment: the ID-token endpoint, HTTPS_PROXY/NO_PROXY and the GitHub
   * variables are read from it unless given below (the daemon's environment is empty by
   * design, so it passes them in).
   */
  env?: NodeJS.ProcessEnv
  signal?: AbortSignal
  /** `connect-to` lines: grant calls dial the mapped target, as the proxy does. */
  connectTo?: string[]
  /** Path of the `upstream-ca` PEM file, trusted for grant calls too. */
  upstreamCa?: string
  /** The PEM text itself, when it was read already (the daemon gets it on stdin). */
  upstreamCaPem?: string
  /** The ID-token endpoint; default from `env`. */
  oidc?: IdTokenEndpoint
  /** The runner's proxy; default from `env`, null for none. */
  proxy?: { url: string; noProxy?: string } | null
  repository?: string
  runId?: string
  githubApiUrl?: string
}

/**
 * The one context grants run in, in the main step, the local CLI and the proxy daemon's
 * refreshes alike: inputs, the log masker, OIDC, the runner's proxy, GitHub's API URL.
 */
export function makeGrantContext(opts: GrantContextOptions): GrantContext {
  const env = opts.env ?? process.env
  const setSecret = opts.setSecret ?? maskInStepLog
  const signal = opts.signal ?? new AbortController().signal
  const upstreamCa = opts.upstreamCaPem ?? (opts.upstreamCa ? readCa(opts.upstreamCa) : undefined)
  // Grant calls leave the way the proxy's upstream connections do: connect-to, upstream-ca
  // and the runner's proxy.
  const grantFetch = createGrantFetch({
    env,
    ...(opts.connectTo ? { connectTo: opts.connectTo } : {}),
    ...(upstreamCa ? { upstreamCa } : {}),
    ...(opts.proxy !== undefined ? { proxy: opts.proxy } : {})
  })
  const oidc = opts.oidc ?? idTokenEndpointFromEnv(env)
  return {
    signal,
    settings: opts.settings ?? emptySettings(),
    fetch: grantFetch,
    getIDToken: (audience: string) =>
      requestIdToken(oidc, audience, { fetch: grantFetch, setSecret, signal }),
    setSecret,
    warn: opts.warn ?? warnInStepLog,
    repository: opts.repository ?? env.GITHUB_REPOSITORY ?? '',
    runId: opts.runId ?? env.GITHUB_RUN_ID ?? 'local',
    githubApiUrl: opts.githubApiUrl ?? env.GITHUB_API_URL ?? 'https://api.github.com'
  }
}

function readCa(path: string): string {
  try {
    return readFileSync(path, 'utf8')
  } catch (err) {
    throw new InputError('upstream-ca', `cannot read ${path}: ${(err as Error).message}`)
  }
}

/**
 * Grants every provider in order. Each minted value is masked as it arrives; the first
 * failure stops the run before anything else starts, as a GrantError naming what to set.
 * Each credential is pushed onto `out` the moment it exists, so a caller whose run stops at
 * a later grant or key check can still revoke the tokens minted before it.
 */
export async function grantAll(
  names: string[],
  ctx: GrantContext,
  out: Granted[] = []
): Promise<Granted[]> {
  for (const name of names) {
    const provider = registry.mustGet(name)
    let credential: Credential
    try {
      credential = await provider.grant(ctx)
    } catch (err) {
      if (err instanceof GrantError) throw err
      throw new GrantError(provider.name, err instanceof Error ? err : String(err))
    }
    // Claude on Bedrock or Vertex holds no secret of its own (the cloud grant does).
    if (credential.token) ctx.setSecret(credential.token)
    out.push({ provider: provider.name, credential })
  }
  // Then every key that can be checked is, at once: a wrong one fails here, before a
  // container or proxy exists.
  await Promise.all(
    out.map(async ({ provider, credential }) => {
      const p = registry.mustGet(provider)
      const check = isValidatingProvider(p) ? p.keyCheck(credential) : undefined
      if (check) await checkKey(ctx, credential.token, check)
    })
  )
  return out
}

/**
 * Revokes every revocable credential, each bounded by timeoutMs, and resolves how many were
 * revoked. Never throws: a token that cannot be revoked still expires on its own, so a
 * failure is a warning, not a failed job.
 */
export async function revokeAll(
  granted: Granted[],
  ctx: GrantContext,
  warn: (line: string) => void,
  timeoutMs = 10_000
): Promise<number> {
  let revoked = 0
  await Promise.all(
    granted.map(async (g) => {
      const p = registry.get(g.provider)
      if (!isRevocableProvider(p)) return
      let timer: NodeJS.Timeout | undefined
      const timeout = new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`no answer in ${timeoutMs} ms`)), timeoutMs)
      })
      try {
        if (await Promise.race([p.revoke(ctx, g.credential), timeout])) revoked++
      } catch (err) {
        warn(
          `could not revoke the ${g.provider} token (it expires on its own): ${(err as Error).message}`
        )
      } finally {
        clearTimeout(timer)
      }
    })
  )
  return revoked
}

/**
 * The settings the proxy daemon needs to re-mint credentials: every section (none is
 * secret) but only the one secret refresh uses, the App key, and only when an App is used.
 */
export function settingsForRefresh(plan: GrantSettings): GrantSettings {
  const key = plan.secrets['github-app-private-key']
  const useApp = plan.grants.includes('github') && plan.githubApp.id && key
  return {
    grants: plan.grants,
    secrets: useApp ? { 'github-app-private-key': key } : {},
    githubApp: plan.githubApp,
    aws: plan.aws,
    gcp: plan.gcp,
    custom: [],
    env: {}
  }
}

/**
 * The runner's ID-token endpoint for the daemon, only when a grant refreshes through OIDC:
 * the request token mints ID tokens for the rest of the job, so it goes nowhere it is not
 * needed.
 */
export function daemonOidc(
  plan: Pick<GrantSettings, 'grants'>,
  env: NodeJS.ProcessEnv = process.env
): IdTokenEndpoint | undefined {
  if (!plan.grants.some((g) => g === 'aws' || g === 'gcp')) return undefined
  return idTokenEndpointFromEnv(env)
}
