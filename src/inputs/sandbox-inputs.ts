/**
 * The inputs that shape the sandbox: egress, routing, MCP servers, image and agent version,
 * time limit; and the rule that no secret rides into the container inside a text input.
 */
import { InputError } from '../errors.js'
import type { MCPServerConfig } from '../provider/index.js'
import { parseConnectTo, parseHostPattern, PolicyError } from '../proxy/patterns.js'
import { isRecord, parseIntInRange, splitList } from './fields.js'

/** The text inputs that enter the container as they are. */
export interface SandboxText {
  command: string
  prompt: string
  env: Record<string, string>
  agentArgs: string[]
  mcpServers: Record<string, MCPServerConfig>
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
export function refuseSecretsBoundForSandbox(plan: SandboxText, secretValues: string[]): void {
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

/** Minutes, fractions allowed (0.5 = 30 s), from 0.1 to 360. */
export function parseMinutes(value: string): number {
  if (!/^\d+(\.\d+)?$/.test(value)) {
    throw new InputError('timeout-minutes', `"${value}" is not a number of minutes (0.1-360)`)
  }
  const n = Number(value)
  if (n < 0.1 || n > 360) throw new InputError('timeout-minutes', `${n} is outside 0.1-360 minutes`)
  return n
}

export function parseAllowedEndpoints(value: string): string[] {
  const out: string[] = []
  for (const item of splitList(value)) {
    try {
      parseHostPattern(item)
    } catch (err) {
      // The pattern parser's message already names the entry and the forms it accepts.
      if (err instanceof PolicyError)
        throw new InputError(
          'allowed-endpoints',
          err.message.replace(/^Invalid allowed-endpoints entry /, '')
        )
      throw err
    }
    out.push(item)
  }
  return out
}

export function parseConnectToInput(value: string): string[] {
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

export function parseMcpServers(value: string): Record<string, MCPServerConfig> {
  if (!value) return {}
  let doc: unknown
  try {
    doc = JSON.parse(value)
  } catch (err) {
    // Where, never what: newer Node versions quote the text around the error, and this
    // input may name hosts and headers.
    throw new InputError(
      'mcp-servers',
      `not valid JSON${jsonErrorPlace(value, err)}. Expected {"mcpServers": {"name": {"url": "https://…"} | {"command": "…", "args": […]}}}`
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

export function parseImage(value: string): string {
  if (!/^[a-z0-9][a-z0-9._/:@-]*$/i.test(value) || value.includes('..')) {
    throw new InputError('image', `"${value}" is not an image reference (e.g. node:22-bookworm)`)
  }
  return value
}

export function parseVersion(value: string): string {
  if (value && !/^\d+\.\d+\.\d+(-[0-9A-Za-z.-]+)?$/.test(value)) {
    throw new InputError('agent-version', `"${value}" is not an exact version (e.g. 2.1.3)`)
  }
  return value
}

export function parseArtifactName(value: string): string {
  if (value && /["<>|*?\r\n\\/:]/.test(value))
    throw new InputError('audit-artifact', `"${value}" has characters artifact names cannot hold`)
  return value
}

/** What bounds the agent itself, passed to each CLI in its own form (see AgentLimits). */
export interface AgentLimitsInput {
  model: string
  maxTurns?: number
  maxBudgetUsd?: number
}

/**
 * `model`, `max-turns` and `max-budget-usd`. Each agent CLI takes a model; a turn limit
 * exists in Claude Code and Gemini CLI, a spending limit only in Claude Code. A limit the
 * chosen agent cannot enforce is an error, not silently ignored: the user believes the run
 * is bounded.
 */
export function parseAgentLimits(
  agent: string | undefined,
  input: (name: string) => string
): AgentLimitsInput {
  const model = input('model')
  // Model names and Bedrock/Vertex ids and ARNs: letters, digits and . _ : / @ - [ ].
  if (model && !/^[A-Za-z0-9][A-Za-z0-9._:/@[\]-]{0,199}$/.test(model))
    throw new InputError('model', `"${model}" is not a model name (e.g. claude-sonnet-4-5)`)
  const out: AgentLimitsInput = { model }
  const turns = input('max-turns')
  const budget = input('max-budget-usd')
  for (const [name, value] of [
    ['model', model],
    ['max-turns', turns],
    ['max-budget-usd', budget]
  ] as const)
    if (value && !agent)
      throw new InputError(name, `${name} applies to an agent; set \`agent\` or remove it`)
  if (turns) {
    if (agent === 'codex')
      throw new InputError(
        'max-turns',
        'the Codex CLI has no turn limit; bound the run with `timeout-minutes` instead'
      )
    out.maxTurns = parseIntInRange('max-turns', turns, 1, 10_000, 'turns')
  }
  if (budget) {
    if (agent !== 'claude')
      throw new InputError(
        'max-budget-usd',
        `only Claude Code enforces a spending limit; the ${agent} CLI has none (bound the run with \`max-turns\` or \`timeout-minutes\`)`
      )
    if (!/^\d+(\.\d{1,2})?$/.test(budget) || Number(budget) <= 0 || Number(budget) > 10_000)
      throw new InputError(
        'max-budget-usd',
        `"${budget}" is not an amount in US dollars (e.g. 2.50)`
      )
    out.maxBudgetUsd = Number(budget)
  }
  return out
}

/** " at line L, column C" for a JSON.parse error that gives a position; "" otherwise. */
function jsonErrorPlace(text: string, err: unknown): string {
  const m = /position (\d+)/.exec((err as Error).message)
  if (!m) return /end of (JSON|data) input/i.test((err as Error).message) ? ' (it ends early)' : ''
  const before = text.slice(0, Number(m[1]))
  const line = before.split('\n').length
  return ` at line ${line}, column ${before.length - before.lastIndexOf('\n')}`
}
