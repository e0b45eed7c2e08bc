import * as core from '@actions/core'
import { resolve } from 'node:path'
import { parse as parseYaml } from 'yaml'
import { InputError } from './errors.js'
import {
  DEFAULT_AWS_REGION,
  DEFAULT_AWS_SESSION_SECONDS,
  maskedParts,
  registry,
  SECRET_INPUTS,
  type CustomCredential,
  type GrantSettings,
  type MCPServerConfig,
  type SecretInput
} from './provider/index.js'
import { parseConnectTo, parseHostPattern, PolicyError } from './proxy/patterns.js'
import type { EgressMode } from './proxy/policy.js'
import { resolvePromptFile } from './prompt-file.js'

export type AgentName = 'claude' | 'codex' | 'gemini'
export type WorkspaceAccess = 'read-write' | 'read-only'

/** Everything the run needs, read and validated once before any side effect. */
export interface RunPlan extends GrantSettings {
  agent?: AgentName
  /** The task, as text: never interpreted (no `@file:` or any other form reads a file). */
  prompt: string
  /**
   * `prompt-file`, when it is the task (no `prompt`): its real path, checked to be a regular
   * file inside the workspace; read by the session only after credentials are hidden.
   */
  promptFile: string
  command: string
  egressPolicy: EgressMode
  allowedEndpoints: string[]
  image: string
  workspace: string
  workspaceAccess: WorkspaceAccess
  agentVersion: string
  agentArgs: string[]
  mcpServers: Record<string, MCPServerConfig>
  timeoutMinutes: number
  connectTo: string[]
  upstreamCa: string
  auditArtifact: string
}

export { SECRET_INPUTS, type CustomCredential } from './provider/index.js'

const AGENTS: readonly AgentName[] = ['claude', 'codex', 'gemini']

/**
 * Variables the container's environment is built around; `env` may not override them, or a
 * user could point the agent past the proxy or swap a placeholder.
 */
const RESERVED_ENV =
  /^(https?_proxy|all_proxy|no_proxy|ftp_proxy|ssl_cert_file|ssl_cert_dir|node_extra_ca_certs|node_use_env_proxy|node_options|requests_ca_bundle|curl_ca_bundle|git_ssl_cainfo|aws_ca_bundle|git_config_.*|home|path|ld_preload|ld_library_path|airlock_.*|actions_.*|github_token|gh_token)$/i

export type InputReader = (name: string) => string

/** Reads inputs the way the runner passes them (`INPUT_*`), trimmed. */
export const actionInput: InputReader = (name) => core.getInput(name)

/**
 * Reads and validates every input into one RunPlan. Throws `InputError` naming the input on
 * the first problem; nothing outside this function has happened yet when it does.
 */
export function readInputs(
  input: InputReader = actionInput,
  env = process.env,
  mask: (secret: string) => void = core.setSecret
): RunPlan {
  const agent = parseAgent(input('agent'))
  const settings = readGrantSettings(input, agent, mask)

  const prompt = input('prompt')
  const promptFile = input('prompt-file')
  const command = input('command')
  // A relative `workspace` is the job's checkout-relative path (`path:` of actions/checkout),
  // never the step's current directory: docker needs an absolute mount source.
  const base = env.GITHUB_WORKSPACE || process.cwd()
  const workspace = resolve(base, input('workspace') || '.')
  if (!agent && !command) {
    throw new InputError(
      'agent',
      'set `agent` (claude, codex or gemini) or `command` to say what runs in the sandbox'
    )
  }
  if (agent && !prompt && !promptFile && !command) {
    throw new InputError(
      'prompt',
      `the ${agent} agent needs a task: set \`prompt\` or \`prompt-file\``
    )
  }

  const plan: RunPlan = {
    ...settings,
    prompt,
    // Checked now, before any grant: a missing or escaping file stops the step here.
    promptFile: agent && !prompt && promptFile ? resolvePromptFile(workspace, promptFile) : '',
    command,
    egressPolicy: parseEnum('egress-policy', input('egress-policy') || 'block', ['block', 'audit']),
    allowedEndpoints: parseAllowedEndpoints(input('allowed-endpoints')),
    image: parseImage(input('image') || 'node:22-bookworm'),
    workspace,
    workspaceAccess: parseEnum('workspace-access', input('workspace-access') || 'read-write', [
      'read-write',
      'read-only'
    ]),
    agentVersion: parseVersion(input('agent-version')),
    agentArgs: splitArgs('agent-args', input('agent-args')),
    mcpServers: parseMcpServers(input('mcp-servers')),
    timeoutMinutes: parseMinutes(input('timeout-minutes') || '30'),
    connectTo: parseConnectToInput(input('connect-to')),
    upstreamCa: input('upstream-ca'),
    auditArtifact: parseArtifactName(input('audit-artifact'))
  }
  if (agent) plan.agent = agent
  refuseSecretsBoundForSandbox(plan, [
    ...Object.values(settings.secrets),
    ...settings.custom.map((c) => c.value)
  ])
  return Object.freeze(plan)
}

/** Header names that carry a credential: they belong in the proxy, never in agent config. */
const CREDENTIAL_HEADER =
  /^(authorization|proxy-authorization|cookie|x-api-key|api-key|x-auth-token|private-token)$|token|secret|password|api[-_]?key/i

/**
 * Text inputs that enter the container as they are — `command`, `prompt`, `env`,
 * `agent-args`, `mcp-servers` — must not carry a credential: the sandbox only ever holds
 * placeholders, so one `${{ secrets.X }}` pasted into a command would undo the airlock. A
 * value Airlock was given as a secret is refused wherever it appears (the message names the
 * input, never the value), and MCP servers may not set credential headers at all: the proxy
 * injects those (custom-credentials). Runs before anything else happens.
 */
function refuseSecretsBoundForSandbox(plan: RunPlan, secretValues: string[]): void {
  // Very short values would match by accident; no real credential is this short.
  const secrets = secretValues.filter((s) => s.length >= 8)
  const check = (inputName: string, where: string, text: string): void => {
    if (secrets.some((s) => text.includes(s)))
      throw new InputError(
        inputName,
        `${where} contains the value of a secret Airlock was given. The container only ever holds placeholders: use the placeholder variable the grant sets (e.g. $GH_TOKEN) and let the proxy inject the real value`
      )
  }
  check('command', 'the command', plan.command)
  check('prompt', 'the prompt', plan.prompt)
  for (const [name, value] of Object.entries(plan.env)) check('env', name, value)
  for (const arg of plan.agentArgs) check('agent-args', 'an argument', arg)
  for (const [name, server] of Object.entries(plan.mcpServers)) {
    const where = `server "${name}"`
    for (const text of [server.url ?? '', server.command ?? '', ...(server.args ?? [])])
      check('mcp-servers', where, text)
    for (const [k, v] of Object.entries(server.env ?? {}))
      check('mcp-servers', `${where} env ${k}`, v)
    for (const [k, v] of Object.entries(server.headers ?? {})) {
      check('mcp-servers', `${where} header ${k}`, v)
      if (CREDENTIAL_HEADER.test(k)) {
        const host = URL.parse(server.url ?? '')?.hostname || '<host>'
        throw new InputError(
          'mcp-servers',
          `${where} sets the credential header ${k}; credentials never go into the container. Inject it in the proxy instead: custom-credentials: [{name: ${name}, hosts: [${host}], header: ${k}, value: <secret>}]`
        )
      }
    }
  }
}

/**
 * The part of the plan grants run with (see GrantSettings): secrets masked first, then every
 * provider section parsed with its defaults. The action, the local CLI and the tests read
 * settings through this one function.
 */
export function readGrantSettings(
  input: InputReader,
  agent?: AgentName,
  mask: (secret: string) => void = core.setSecret
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

/** Splits a comma- or newline-separated list, dropping blanks and `#` comments. */
export function splitList(value: string): string[] {
  return value
    .split(/\r?\n/)
    .map((line) => line.replace(/(^|\s)#.*$/, ''))
    .flatMap((line) => line.split(','))
    .map((item) => item.trim())
    .filter((item) => item.length > 0)
}

function parseAgent(value: string): AgentName | undefined {
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

/** The candidate within edit distance 2, for "did you mean". */
function closest(word: string, candidates: string[]): string | undefined {
  let best: string | undefined
  let bestDistance = 3
  for (const c of candidates) {
    const d = editDistance(word, c)
    if (d < bestDistance) [best, bestDistance] = [c, d]
  }
  return best
}

function editDistance(a: string, b: string): number {
  // Optimal string alignment: a transposition (githbu → github) costs one edit.
  const d = Array.from({ length: a.length + 1 }, (_, i) => [i, ...Array<number>(b.length).fill(0)])
  for (let j = 1; j <= b.length; j++) d[0]![j] = j
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1
      let v = Math.min(d[i - 1]![j]! + 1, d[i]![j - 1]! + 1, d[i - 1]![j - 1]! + cost)
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1])
        v = Math.min(v, d[i - 2]![j - 2]! + 1)
      d[i]![j] = v
    }
  }
  return d[a.length]![b.length]!
}

function parseEnum<T extends string>(name: string, value: string, allowed: readonly T[]): T {
  if ((allowed as readonly string[]).includes(value)) return value as T
  throw new InputError(
    name,
    `"${value}" is not one of ${allowed.map((a) => `\`${a}\``).join(', ')}`
  )
}

function parseIntInRange(
  name: string,
  value: string,
  min: number,
  max: number,
  unit: string
): number {
  if (!/^\d+$/.test(value))
    throw new InputError(name, `"${value}" is not a whole number of ${unit} (${min}-${max})`)
  const n = Number(value)
  if (n < min || n > max) throw new InputError(name, `${n} is outside ${min}-${max} ${unit}`)
  return n
}

/** Minutes, fractions allowed (0.5 = 30 s), from 0.1 to 360. */
function parseMinutes(value: string): number {
  if (!/^\d+(\.\d+)?$/.test(value)) {
    throw new InputError('timeout-minutes', `"${value}" is not a number of minutes (0.1-360)`)
  }
  const n = Number(value)
  if (n < 0.1 || n > 360) throw new InputError('timeout-minutes', `${n} is outside 0.1-360 minutes`)
  return n
}

function parseAllowedEndpoints(value: string): string[] {
  const out: string[] = []
  for (const item of splitList(value)) {
    try {
      parseHostPattern(item)
    } catch (err) {
      if (err instanceof PolicyError) {
        throw new InputError(
          'allowed-endpoints',
          `${err.message}. Expected \`host\`, \`*.suffix\`, \`host:port\` or \`http://host\``
        )
      }
      throw err
    }
    out.push(item)
  }
  return out
}

function parseConnectToInput(value: string): string[] {
  const lines = splitList(value)
  try {
    parseConnectTo(lines)
  } catch (err) {
    if (err instanceof PolicyError)
      throw new InputError(
        'connect-to',
        `${err.message}. Expected one \`host:port=target:port\` per line`
      )
    throw err
  }
  return lines
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

function parseMcpServers(value: string): Record<string, MCPServerConfig> {
  if (!value) return {}
  let doc: unknown
  try {
    doc = JSON.parse(value)
  } catch (err) {
    throw new InputError(
      'mcp-servers',
      `not valid JSON (${(err as Error).message}). Expected {"mcpServers": {"name": {"url": "https://…"} | {"command": "…", "args": […]}}}`
    )
  }
  const servers = isRecord(doc) && isRecord(doc.mcpServers) ? doc.mcpServers : undefined
  if (!servers)
    throw new InputError('mcp-servers', 'expected an object with an "mcpServers" object inside')
  const out: Record<string, MCPServerConfig> = {}
  for (const [name, raw] of Object.entries(servers)) {
    if (!/^[A-Za-z0-9_-]+$/.test(name))
      throw new InputError('mcp-servers', `server name "${name}" must be letters, digits, - and _`)
    if (!isRecord(raw)) throw new InputError('mcp-servers', `server "${name}" must be an object`)
    const cfg: MCPServerConfig = {}
    if (typeof raw.url === 'string') {
      if (!/^https?:\/\//.test(raw.url))
        throw new InputError(
          'mcp-servers',
          `server "${name}": url must start with https:// or http://`
        )
      cfg.url = raw.url
    }
    if (typeof raw.command === 'string') cfg.command = raw.command
    if (!cfg.url && !cfg.command)
      throw new InputError('mcp-servers', `server "${name}" needs a "url" or a "command"`)
    if (raw.type === 'http' || raw.type === 'sse' || raw.type === 'stdio') cfg.type = raw.type
    if (Array.isArray(raw.args)) cfg.args = raw.args.map(String)
    if (isRecord(raw.env))
      cfg.env = Object.fromEntries(Object.entries(raw.env).map(([k, v]) => [k, String(v)]))
    if (isRecord(raw.headers))
      cfg.headers = Object.fromEntries(Object.entries(raw.headers).map(([k, v]) => [k, String(v)]))
    out[name] = cfg
  }
  return out
}

export function parseCustomCredentials(
  value: string,
  mask: (secret: string) => void = core.setSecret
): CustomCredential[] {
  if (!value) return []
  const form = 'Expected a YAML list of {name, hosts: [host, …], header, prefix, value, env}'
  let doc: unknown
  try {
    doc = parseYaml(value)
  } catch {
    // The YAML error quotes the source, which holds secrets: say where, not what.
    throw new InputError('custom-credentials', `not valid YAML. ${form}`)
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

function parseImage(value: string): string {
  if (!/^[a-z0-9][a-z0-9._/:@-]*$/i.test(value) || value.includes('..')) {
    throw new InputError('image', `"${value}" is not an image reference (e.g. node:22-bookworm)`)
  }
  return value
}

function parseVersion(value: string): string {
  if (value && !/^\d+\.\d+\.\d+(-[0-9A-Za-z.-]+)?$/.test(value)) {
    throw new InputError('agent-version', `"${value}" is not an exact version (e.g. 2.1.3)`)
  }
  return value
}

function parseArtifactName(value: string): string {
  if (value && /["<>|*?\r\n\\/:]/.test(value))
    throw new InputError('audit-artifact', `"${value}" has characters artifact names cannot hold`)
  return value
}

/** Splits shell-style words: single and double quotes, backslash escapes; no expansion. */
export function splitArgs(name: string, value: string): string[] {
  const out: string[] = []
  let word: string | undefined
  let quote: '"' | "'" | undefined
  for (let i = 0; i < value.length; i++) {
    const c = value[i]!
    if (quote) {
      if (c === quote) quote = undefined
      else if (c === '\\' && quote === '"' && i + 1 < value.length) word = (word ?? '') + value[++i]
      else word = (word ?? '') + c
    } else if (c === '"' || c === "'") {
      quote = c
      word ??= ''
    } else if (c === '\\' && i + 1 < value.length) {
      word = (word ?? '') + value[++i]
    } else if (/\s/.test(c)) {
      if (word !== undefined) out.push(word)
      word = undefined
    } else {
      word = (word ?? '') + c
    }
  }
  if (quote) throw new InputError(name, `unterminated ${quote} quote`)
  if (word !== undefined) out.push(word)
  return out
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v)
}
