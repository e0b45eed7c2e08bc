import { mkdir, writeFile } from 'node:fs/promises'
import { dirname, join } from 'node:path'
import type { Command } from 'commander'
import type {
  AgentInstallSpec,
  AgentProvider,
  ContainerConfig,
  Credential,
  InstallableAgent,
  PrepareOpts,
  AgentLimits
} from '../provider/index.js'
import { PlatformError } from '../errors.js'
import { ProviderDefaults } from './defaults.js'

/** Options the local CLI collects for `airlock <agent> …`. */
export interface AgentCliOptions {
  prompt?: string
  grant: string[]
  allow: string[]
  image?: string
  workspace?: string
  readOnly?: boolean
  connectTo: string[]
  upstreamCa?: string
  agentVersion?: string
  model?: string
  maxTurns?: string
  maxBudgetUsd?: string
  args: string[]
}

export type AgentCliRunner = (agent: string, opts: AgentCliOptions) => Promise<void>

// The CLI sets the runner; providers stay free of the sandbox code and of import cycles.
let cliRunner: AgentCliRunner | undefined

export function setAgentCliRunner(runner: AgentCliRunner): void {
  cliRunner = runner
}

const collect = (value: string, previous: string[]): string[] => [...previous, value]

/** The names a Linux platform package uses for the runner's CPU (Node's `process.arch`). */
export function linuxArch(agent: string, arch: string): { npm: string; triple: string } {
  if (arch === 'x64') return { npm: 'x64', triple: 'x86_64' }
  if (arch === 'arm64') return { npm: 'arm64', triple: 'aarch64' }
  throw new PlatformError(
    `${agent}: no Linux build for the CPU architecture "${arch}"; Airlock runs agents on x64 and arm64 runners`
  )
}

/** Shared shape of claude, codex and gemini: files staged under `home/`, copied into $HOME. */
export abstract class AgentCliProvider
  extends ProviderDefaults
  implements AgentProvider, InstallableAgent
{
  /** The npm package holding the CLI, and the version this release pins. */
  abstract readonly npmPackage: string
  abstract readonly defaultVersion: string
  /** The command's name, as users know it. */
  abstract readonly binary: string

  /**
   * The registry package that holds the runnable files for linux-x64 (a platform package
   * for native CLIs), and the argv prefix that runs it, relative to where it is mounted.
   */
  abstract installSpec(version: string, arch?: string): AgentInstallSpec

  /** The files (relative to HOME) and env the agent needs to run unattended behind the proxy. */
  protected abstract homeFiles(opts: PrepareOpts): Record<string, string>
  protected abstract agentEnv(opts: PrepareOpts): string[]
  /** The non-interactive arguments (after the executable), with the agent's JSON output mode. */
  abstract command(prompt: string, args: string[], limits?: AgentLimits): string[]

  async prepareContainer(opts: PrepareOpts): Promise<ContainerConfig> {
    const home = join(opts.stagingDir, 'home')
    for (const [rel, content] of Object.entries(this.homeFiles(opts))) {
      const file = join(home, rel)
      await mkdir(dirname(file), { recursive: true, mode: 0o755 })
      // World-readable on purpose: the container runs as the runner's uid but the staging
      // directory is mounted read-only and holds placeholders only.
      await writeFile(file, content, { mode: 0o644 })
    }
    const config: ContainerConfig = {
      env: [...this.containerEnv(opts.credential), ...this.agentEnv(opts)],
      mounts: [],
      stagingDir: opts.stagingDir
    }
    if (opts.prompt !== undefined)
      config.command = this.command(opts.prompt, opts.agentArgs ?? [], opts.limits)
    return config
  }

  registerCli(program: Command): void {
    program
      .command(this.name)
      .description(
        `run ${this.binary} non-interactively in the airlock (credentials from the environment)`
      )
      .requiredOption('-p, --prompt <text>', 'the task')
      .option('--grant <provider>', 'another provider to grant (repeatable)', collect, [])
      .option('--allow <pattern>', 'another host to allow (repeatable)', collect, [])
      .option(
        '--connect-to <host:port=target:port>',
        'route a host elsewhere (repeatable)',
        collect,
        []
      )
      .option('--upstream-ca <file>', 'extra CA for upstream TLS')
      .option('--image <image>', 'container image')
      .option('--workspace <dir>', 'directory mounted at /workspace (default: cwd)')
      .option('--read-only', 'mount the workspace read-only')
      .option(
        '--agent-version <version>',
        `${this.npmPackage} version (default ${this.defaultVersion})`
      )
      .option('--model <name>', 'the model the agent uses (default: its own)')
      .option('--max-turns <n>', 'most agentic turns the agent may take')
      .option('--max-budget-usd <amount>', 'most the run may spend, in US dollars (claude)')
      .argument('[args...]', 'extra arguments for the agent')
      .action(async (args: string[], opts: Omit<AgentCliOptions, 'args'>) => {
        if (!cliRunner) throw new Error('the agent commands need the airlock CLI')
        await cliRunner(this.name, { ...opts, args })
      })
  }
}

/**
 * `mcp-servers` in the shape Claude Code reads (`.claude.json`): a remote server needs its
 * `type` (without one Claude Code takes it for stdio), `http` unless the input said `sse`.
 */
export function claudeMcp(opts: PrepareOpts): Record<string, unknown> {
  const out: Record<string, unknown> = {}
  for (const [name, s] of Object.entries(opts.mcpServers))
    out[name] = s.url
      ? {
          type: s.type === 'sse' ? 'sse' : 'http',
          url: s.url,
          ...(s.headers ? { headers: s.headers } : {})
        }
      : { type: 'stdio', command: s.command, args: s.args ?? [], env: s.env ?? {} }
  return out
}

/**
 * `mcp-servers` in the shape Gemini CLI reads (`settings.json`): `httpUrl` is streamable
 * HTTP, `url` is SSE.
 */
export function geminiMcp(opts: PrepareOpts): Record<string, unknown> {
  const out: Record<string, unknown> = {}
  for (const [name, s] of Object.entries(opts.mcpServers))
    out[name] = s.url
      ? {
          [s.type === 'sse' ? 'url' : 'httpUrl']: s.url,
          ...(s.headers ? { headers: s.headers } : {})
        }
      : {
          command: s.command,
          ...(s.args ? { args: s.args } : {}),
          ...(s.env ? { env: s.env } : {})
        }
  return out
}

export type { Credential }
