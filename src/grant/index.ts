import * as core from '@actions/core'
import { GrantError, registry, type Credential, type GrantContext } from '../provider/index.js'

export interface Granted {
  provider: string
  credential: Credential
}

export interface GrantContextOptions {
  input: (name: string) => string
  setSecret?: (value: string) => void
  env?: NodeJS.ProcessEnv
  signal?: AbortSignal
}

/** The context grants run in: inputs, the log masker, OIDC from the runner, GitHub's API URL. */
export function makeGrantContext(opts: GrantContextOptions): GrantContext {
  const env = opts.env ?? process.env
  return {
    signal: opts.signal ?? new AbortController().signal,
    input: opts.input,
    fetch: globalThis.fetch,
    getIDToken: async (audience: string) => {
      if (!env.ACTIONS_ID_TOKEN_REQUEST_URL || !env.ACTIONS_ID_TOKEN_REQUEST_TOKEN) {
        throw new Error('no GitHub OIDC token: give the job `permissions: id-token: write`')
      }
      return core.getIDToken(audience)
    },
    setSecret: opts.setSecret ?? core.setSecret,
    repository: env.GITHUB_REPOSITORY ?? '',
    runId: env.GITHUB_RUN_ID ?? 'local',
    githubApiUrl: env.GITHUB_API_URL ?? 'https://api.github.com'
  }
}

/**
 * Grants every provider in order. Each minted value is masked as it arrives; the first
 * failure stops the run before anything else starts, as a GrantError naming what to set.
 */
export async function grantAll(names: string[], ctx: GrantContext): Promise<Granted[]> {
  const out: Granted[] = []
  for (const name of names) {
    const provider = registry.mustGet(name)
    let credential: Credential
    try {
      credential = await provider.grant(ctx)
    } catch (err) {
      if (err instanceof GrantError) throw err
      throw new GrantError(provider.name, err instanceof Error ? err : String(err))
    }
    ctx.setSecret(credential.token)
    out.push({ provider: provider.name, credential })
  }
  return out
}
