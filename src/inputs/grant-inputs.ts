/**
 * The inputs grants run with: secrets (masked the moment they are read), the provider
 * sections with their defaults, custom credentials and the container's `env`. One reader,
 * `readGrantSettings`, for the action, the CLI and the tests.
 */
import { parse as parseYaml, YAMLError } from 'yaml'
import { InputError } from '../errors.js'
import { maskInStepLog } from '../step-commands.js'
import {
  DEFAULT_AWS_REGION,
  DEFAULT_AWS_SESSION_SECONDS,
  maskedParts,
  registry,
  SECRET_INPUTS,
  type CustomCredential,
  type GrantSettings,
  type SecretInput
} from '../provider/index.js'
import { parseHostPattern, PolicyError } from '../proxy/patterns.js'
import { closest, isRecord, parseIntInRange, splitList, type InputReader } from './fields.js'

export type AgentName = 'claude' | 'codex' | 'gemini'

const AGENTS: readonly AgentName[] = ['claude', 'codex', 'gemini']

/**
 * Variables the container's environment is built around; `env` may not override them, or a
 * user could point the agent past the proxy or swap a placeholder.
 */
export const RESERVED_ENV =
  /^(https?_proxy|all_proxy|no_proxy|ftp_proxy|ssl_cert_file|ssl_cert_dir|node_extra_ca_certs|node_use_env_proxy|node_options|requests_ca_bundle|curl_ca_bundle|git_ssl_cainfo|aws_ca_bundle|git_config_.*|home|path|ld_preload|ld_library_path|airlock_.*|actions_.*|github_token|gh_token)$/i

/**
 * The part of the plan grants run with (see GrantSettings): secrets masked first, then every
 * provider section parsed with its defaults. The action, the local CLI and the tests read
 * settings through this one function.
 */
export function readGrantSettings(
  input: InputReader,
  agent?: AgentName,
  mask: (secret: string) => void = maskInStepLog
): GrantSettings {
  // Mask first: a later validation error must not be able to echo a secret.
  const secrets: Partial<Record<SecretInput, string>> = {}
  for (const name of SECRET_INPUTS) {
    const value = input(name)
    if (value) {
      for (const part of maskedParts(value)) mask(part)
      secrets[name] = value
    }
  }

  const grants = parseGrants(input('grants'), agent)
  const custom = parseCustomCredentials(input('custom-credentials'), mask)
  if (custom.length > 0 && !grants.includes('custom')) grants.push('custom')
  return {
    grants,
    secrets,
    githubApp: {
      id: parseAppId(input('github-app-id')),
      permissions: parsePermissions(input('github-app-permissions'))
    },
    aws: {
      roleArn: parseRoleArn(input('aws-role-arn')),
      region: parseRegion(input('aws-region') || DEFAULT_AWS_REGION),
      sessionDuration: parseIntInRange(
        'aws-session-duration',
        input('aws-session-duration') || String(DEFAULT_AWS_SESSION_SECONDS),
        900,
        43200,
        'seconds'
      )
    },
    gcp: {
      workloadIdentityProvider: parseWorkloadProvider(input('gcp-workload-identity-provider')),
      serviceAccount: parseServiceAccount(input('gcp-service-account'))
    },
    custom,
    env: parseEnv(input('env'))
  }
}

export function parseAgent(value: string): AgentName | undefined {
  if (!value) return undefined
  const canonical = registry.resolveName(value.toLowerCase())
  if ((AGENTS as readonly string[]).includes(canonical)) return canonical as AgentName
  throw new InputError(
    'agent',
    `unknown agent "${value}". Use claude (anthropic), codex (openai) or gemini (google), or leave it empty and set \`command\``
  )
}

function knownProviders(): string {
  return registry
    .names()
    .map((name) => {
      const aliases = registry.aliasesOf(name)
      return aliases.length > 0 ? `${name} (${aliases.join(', ')})` : name
    })
    .join(', ')
}

function parseGrants(value: string, agent: AgentName | undefined): string[] {
  const out: string[] = agent ? [agent] : []
  for (const item of splitList(value)) {
    const p = registry.get(item.toLowerCase())
    if (!p) {
      const hint = closest(item.toLowerCase(), [...registry.names()])
      throw new InputError(
        'grants',
        `unknown provider "${item}"${hint ? ` (did you mean ${hint}?)` : ''}. Known providers: ${knownProviders()}`
      )
    }
    if (!out.includes(p.name)) out.push(p.name)
  }
  return out
}

/** The `env` input: `NAME=value` lines; a reserved or malformed name is an InputError. */
export function parseEnv(value: string): Record<string, string> {
  const out: Record<string, string> = {}
  for (const raw of value.split(/\r?\n/)) {
    const line = raw.trim()
    if (!line || line.startsWith('#')) continue
    const eq = line.indexOf('=')
    const name = eq > 0 ? line.slice(0, eq).trim() : ''
    if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(name)) {
      throw new InputError(
        'env',
        `"${line}" is not \`NAME=value\` (one per line; NAME is letters, digits and _)`
      )
    }
    if (RESERVED_ENV.test(name)) {
      throw new InputError(
        'env',
        `${name} is set by Airlock (proxy, CA, credential or runner variable) and cannot be overridden`
      )
    }
    out[name] = line.slice(eq + 1)
  }
  return out
}

export function parseCustomCredentials(
  value: string,
  mask: (secret: string) => void = maskInStepLog
): CustomCredential[] {
  if (!value) return []
  const form = 'Expected a YAML list of {name, hosts: [host, …], header, prefix, value, env}'
  let doc: unknown
  try {
    doc = parseYaml(value)
  } catch (err) {
    // The YAML error quotes the source, which holds secrets: say where, never what.
    const at = err instanceof YAMLError && err.linePos ? err.linePos[0] : undefined
    throw new InputError(
      'custom-credentials',
      `not valid YAML${at ? ` at line ${at.line}, column ${at.col}` : ''}. ${form}`
    )
  }
  if (!Array.isArray(doc)) throw new InputError('custom-credentials', `not a list. ${form}`)
  const seen = new Set<string>()
  return doc.map((raw: unknown, i) => {
    const at = `entry ${i + 1}`
    if (!isRecord(raw))
      throw new InputError('custom-credentials', `${at} is not a mapping. ${form}`)
    const name = typeof raw.name === 'string' ? raw.name.trim() : ''
    if (!/^[a-z0-9][a-z0-9-]*$/.test(name))
      throw new InputError(
        'custom-credentials',
        `${at}: name must be lower-case letters, digits and -`
      )
    if (seen.has(name))
      throw new InputError('custom-credentials', `${at}: name "${name}" is used twice`)
    seen.add(name)
    const secret =
      typeof raw.value === 'string' || typeof raw.value === 'number' ? String(raw.value) : ''
    if (!secret)
      throw new InputError(
        'custom-credentials',
        `${name}: value is empty (pass it from a secret, e.g. value: \${{ secrets.MY_KEY }})`
      )
    mask(secret)
    const hosts = Array.isArray(raw.hosts)
      ? raw.hosts.map(String)
      : typeof raw.hosts === 'string'
        ? splitList(raw.hosts)
        : []
    if (hosts.length === 0)
      throw new InputError('custom-credentials', `${name}: hosts must list at least one host`)
    for (const h of hosts) {
      try {
        const p = parseHostPattern(h)
        if (p.scheme === 'http')
          throw new InputError(
            'custom-credentials',
            `${name}: credentials are never sent over plain HTTP (${h})`
          )
      } catch (err) {
        if (err instanceof PolicyError)
          throw new InputError('custom-credentials', `${name}: ${err.message}`)
        throw err
      }
    }
    const header = typeof raw.header === 'string' && raw.header ? raw.header : 'Authorization'
    if (!/^[A-Za-z0-9-]+$/.test(header))
      throw new InputError(
        'custom-credentials',
        `${name}: header "${header}" is not a valid header name`
      )
    const cred: CustomCredential = {
      name,
      hosts,
      header,
      prefix: typeof raw.prefix === 'string' ? raw.prefix : '',
      value: secret
    }
    if (typeof raw.env === 'string' && raw.env) {
      if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(raw.env) || RESERVED_ENV.test(raw.env)) {
        throw new InputError(
          'custom-credentials',
          `${name}: env "${raw.env}" is not a usable variable name`
        )
      }
      cred.env = raw.env
    }
    return cred
  })
}

function parseAppId(value: string): string {
  if (value && !/^\d+$/.test(value))
    throw new InputError('github-app-id', `"${value}" is not a numeric GitHub App id`)
  return value
}

function parsePermissions(value: string): Record<string, string> {
  const out: Record<string, string> = {}
  for (const item of splitList(value)) {
    const m = /^([a-z_]+)\s*[:=]\s*(read|write|admin)$/.exec(item)
    if (!m)
      throw new InputError(
        'github-app-permissions',
        `"${item}" is not \`permission:read|write|admin\` (e.g. contents:read)`
      )
    out[m[1]!] = m[2]!
  }
  return out
}

function parseRoleArn(value: string): string {
  if (value && !/^arn:aws[a-z-]*:iam::\d{12}:role\/[\w+=,.@/-]+$/.test(value)) {
    throw new InputError(
      'aws-role-arn',
      `"${value}" is not an IAM role ARN (arn:aws:iam::123456789012:role/name)`
    )
  }
  return value
}

function parseRegion(value: string): string {
  if (!/^[a-z]{2}(-[a-z]+)+-\d$/.test(value))
    throw new InputError('aws-region', `"${value}" is not an AWS region (e.g. us-east-1)`)
  return value
}

function parseWorkloadProvider(value: string): string {
  if (
    value &&
    !/^projects\/\d+\/locations\/global\/workloadIdentityPools\/[^/]+\/providers\/[^/]+$/.test(
      value
    )
  ) {
    throw new InputError(
      'gcp-workload-identity-provider',
      `"${value}" is not projects/<number>/locations/global/workloadIdentityPools/<pool>/providers/<provider>`
    )
  }
  return value
}

function parseServiceAccount(value: string): string {
  if (value && !/^[^@\s]+@[^@\s]+\.iam\.gserviceaccount\.com$/.test(value)) {
    throw new InputError(
      'gcp-service-account',
      `"${value}" is not a service account email (name@project.iam.gserviceaccount.com)`
    )
  }
  return value
}
