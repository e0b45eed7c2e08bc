/**
 * The one inputs module: every input is read and validated here, once, into one frozen
 * RunPlan, before anything with a side effect. The field parsers live in inputs/ by what
 * they configure (grants, the sandbox, the shapes of values).
 */
import * as core from '@actions/core'
import { resolve } from 'node:path'
import { InputError } from './errors.js'
import type { GrantSettings, MCPServerConfig } from './provider/index.js'
import type { EgressMode } from './proxy/policy.js'
import { resolvePromptFile } from './prompt-file.js'
import { parseEnum, splitArgs, type InputReader } from './inputs/fields.js'
import { parseAgent, readGrantSettings, type AgentName } from './inputs/grant-inputs.js'
import {
  parseAllowedEndpoints,
  parseArtifactName,
  parseConnectToInput,
  parseImage,
  parseMcpServers,
  parseMinutes,
  parseAgentLimits,
  parseVersion,
  refuseSecretsBoundForSandbox,
  type AgentLimitsInput
} from './inputs/sandbox-inputs.js'

export type { AgentName } from './inputs/grant-inputs.js'
export { readGrantSettings, parseEnv, parseCustomCredentials } from './inputs/grant-inputs.js'
export { splitList, splitArgs, type InputReader } from './inputs/fields.js'
export type WorkspaceAccess = 'read-write' | 'read-only'

/** Everything the run needs, read and validated once before any side effect. */
export interface RunPlan extends GrantSettings, AgentLimitsInput {
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
    ...parseAgentLimits(agent, input),
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
