/**
 * The typed settings grants run with: read and validated once (from the action's inputs, or
 * the local CLI's flags and environment), then carried as they are — in the grant context,
 * and in the proxy daemon's config for refreshes. Each default and parse rule lives in the
 * reader (src/inputs.ts), never in a provider.
 */

/** Inputs whose values are secrets: masked the moment they are read. */
export const SECRET_INPUTS = [
  'anthropic-api-key',
  'claude-code-oauth-token',
  'openai-api-key',
  'gemini-api-key',
  'github-token',
  'github-app-private-key',
  'npm-token'
] as const

export type SecretInput = (typeof SECRET_INPUTS)[number]

/** One `custom-credentials` entry: a header the proxy sets on the listed hosts. */
export interface CustomCredential {
  name: string
  hosts: string[]
  header: string
  prefix: string
  value: string
  /** Variable the container gets holding a placeholder, if any. */
  env?: string
}

export interface GrantSettings {
  /** Canonical provider names, deduplicated, the agent's own first. */
  grants: string[]
  /** Secret inputs by name (already masked); only non-empty ones. */
  secrets: Readonly<Partial<Record<SecretInput, string>>>
  /** `github-app-id` and the parsed `github-app-permissions` (the key is a secret). */
  githubApp: { id: string; permissions: Record<string, string> }
  aws: { roleArn: string; region: string; sessionDuration: number }
  gcp: { workloadIdentityProvider: string; serviceAccount: string }
  /** `custom-credentials`, parsed and masked. */
  custom: CustomCredential[]
  /** The `env` input's variables (validated). */
  env: Record<string, string>
}

/**
 * What the log masker must know of a secret: the value, and for a multi-line one (a PEM key,
 * its newlines real or written as `\n`) each line, because the runner masks line by line.
 * Armour lines (`-----BEGIN …`) are public and short lines would mask innocent text.
 */
export function maskedParts(value: string): string[] {
  const parts = [value]
  for (const line of value.split(/\r?\n|\\n/)) {
    const l = line.trim()
    if (l !== value && l.length > 8 && !l.startsWith('-----')) parts.push(l)
  }
  return parts
}

export const DEFAULT_AWS_REGION = 'us-east-1'
export const DEFAULT_AWS_SESSION_SECONDS = 3600

/** Settings with nothing set (a context for calls that grant nothing, e.g. ID tokens). */
export function emptySettings(): GrantSettings {
  return {
    grants: [],
    secrets: {},
    githubApp: { id: '', permissions: {} },
    aws: { roleArn: '', region: DEFAULT_AWS_REGION, sessionDuration: DEFAULT_AWS_SESSION_SECONDS },
    gcp: { workloadIdentityProvider: '', serviceAccount: '' },
    custom: [],
    env: {}
  }
}
