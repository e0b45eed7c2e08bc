import {
  GrantError,
  META_KEY_TOKEN_SOURCE,
  type Credential,
  type CredentialProvider,
  type GrantContext,
  type MountConfig,
  type ProxyConfigurer,
  type SecretInput
} from '../provider/index.js'

/**
 * Placeholders: format-valid for the CLI that checks them, obviously fake to a human, and
 * fixed, so the proxy can tell which credential a request asked for.
 */
export const PLACEHOLDERS = {
  github: 'ghp_AirlockPlaceholderNotARealToken000000',
  anthropicKey:
    'sk-ant-api03-airlock-placeholder-not-a-real-key-00000000000000000000000000000000000000000000000000000000000000000000AA',
  claudeOauth:
    'sk-ant-oat01-airlock-placeholder-not-a-real-token-000000000000000000000000000000000000000000000000000000000000000000AA',
  openai: 'sk-airlock-placeholder-not-a-real-key-000000000000000000000000000000',
  gemini: 'AIzaAirlockPlaceholderNotARealKey000000',
  awsAccessKeyId: 'AKIAAIRLOCKPLACEHOLDR',
  awsSecretAccessKey: 'airlock/placeholder/not/a/real/secret/000000',
  npm: 'npm_AirlockPlaceholderNotARealToken0000000',
  gcp: 'ya29.airlock-placeholder-not-a-real-token'
} as const

/** A credential from a static secret input. */
export function staticCredential(provider: string, token: string, source = 'secret'): Credential {
  return { provider, token, createdAt: new Date(), metadata: { [META_KEY_TOKEN_SOURCE]: source } }
}

/** The first non-empty input among `names`, or a GrantError whose hint names them all. */
export function requireSecret(
  ctx: GrantContext,
  provider: string,
  names: SecretInput[],
  hint: string
): [SecretInput, string] {
  for (const name of names) {
    const value = ctx.settings.secrets[name]
    if (value) {
      ctx.setSecret(value)
      return [name, value]
    }
  }
  throw new GrantError(
    provider,
    `no credential: ${names.map((n) => `\`${n}\``).join(' and ')} ${names.length > 1 ? 'are' : 'is'} empty`,
    hint
  )
}

/**
 * Minted credentials (App installation tokens, AWS and Google sessions) are refreshed by the
 * proxy at this interval, or at 75 % of the remaining lifetime if that comes sooner.
 */
export const REFRESH_INTERVAL_MS = 45 * 60_000

/** Defaults for the parts of `CredentialProvider` most providers do not use. */
export abstract class ProviderDefaults implements CredentialProvider {
  abstract readonly name: string
  abstract grant(ctx: GrantContext): Promise<Credential>
  abstract configureProxy(p: ProxyConfigurer, cred: Credential): void
  abstract hosts(cred: Credential): string[]

  containerEnv(_cred: Credential): string[] {
    return []
  }

  containerMounts(
    _cred: Credential,
    _containerHome: string,
    _stagingDir: string
  ): Promise<{ mounts: MountConfig[]; cleanupPath?: string }> {
    return Promise.resolve({ mounts: [] })
  }

  cleanup(_cleanupPath: string): Promise<void> {
    return Promise.resolve()
  }

  impliedDependencies(): string[] {
    return []
  }
}

/** The project of a user-managed service account (`name@<project>.iam.gserviceaccount.com`). */
export function serviceAccountProject(email: string | undefined): string | undefined {
  return /@([a-z][a-z0-9-]{4,28}[a-z0-9])\.iam\.gserviceaccount\.com$/.exec(email ?? '')?.[1]
}
