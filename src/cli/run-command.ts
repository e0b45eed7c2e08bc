import type { Command } from 'commander'
import { readInputs, splitList } from '../inputs.js'
import { setAgentCliRunner, type AgentCliOptions } from '../providers/agent-cli.js'
import { adviceFor, blockedTotal, summarizeNetwork } from '../report/network.js'
import { runInAirlock } from '../run.js'
import { logSafe } from '../sandbox/log-fence.js'
import { newRunId } from '../daemon/run-proxy.js'
import type { SessionResult } from '../sandbox/session.js'
import { envInput } from '../inputs/env-inputs.js'
import { chooseLocalImage } from './local-image.js'
import { TerminalFilter, terminalSafe } from './terminal-safe.js'
import { local, localAdvice, selfCommand } from './vocabulary.js'

export interface LocalRunOptions {
  agent?: string
  prompt?: string
  command?: string[]
  grant: string[]
  allow: string[]
  connectTo: string[]
  upstreamCa?: string
  image?: string
  workspace?: string
  readOnly?: boolean
  audit?: boolean
  timeout?: string
  agentVersion?: string
  model?: string
  maxTurns?: string
  maxBudgetUsd?: string
  args?: string[]
}

function quote(arg: string): string {
  return /^[\w@%+=:,./-]+$/.test(arg) ? arg : `'${arg.replace(/'/g, `'\\''`)}'`
}

function err(line: string): void {
  // Lines of Airlock's own can carry network or agent text (a URL, a message): on a terminal
  // they get the same filter as the container's output.
  process.stderr.write(`${process.stderr.isTTY ? terminalSafe(line) : line}\n`)
}

/**
 * Where the container's output goes: the stream itself, through a {@link TerminalFilter} when
 * it is a terminal (the sandbox must not drive the developer's terminal: clipboard, titles,
 * reports typed back as input). Piped output is passed as it is (it may be binary).
 */
function containerOutput(stream: NodeJS.WriteStream): (d: Buffer) => void {
  if (!stream.isTTY) return (d) => void stream.write(d)
  const filter = new TerminalFilter()
  return (d) => {
    const safe = filter.push(d)
    if (safe) stream.write(safe)
  }
}

/**
 * A sandboxed run from the terminal: the same plan, grants and session as the action, with
 * credentials from the environment and the report printed instead of written to outputs.
 */
export async function localRun(
  opts: LocalRunOptions,
  env: NodeJS.ProcessEnv = process.env
): Promise<SessionResult> {
  const fromEnv = envInput(env)
  const values: Record<string, string> = {
    agent: opts.agent ?? '',
    prompt: opts.prompt ?? '',
    command: (opts.command ?? []).map(quote).join(' '),
    grants: opts.grant.join(','),
    'allowed-endpoints': opts.allow.join(','),
    'connect-to': opts.connectTo.join('\n'),
    'upstream-ca': opts.upstreamCa ?? '',
    image: opts.image ?? '',
    workspace: opts.workspace ?? process.cwd(),
    'workspace-access': opts.readOnly ? 'read-only' : 'read-write',
    'egress-policy': opts.audit ? 'audit' : 'block',
    'timeout-minutes': opts.timeout ?? '',
    'agent-version': opts.agentVersion ?? '',
    model: opts.model ?? '',
    'max-turns': opts.maxTurns ?? '',
    'max-budget-usd': opts.maxBudgetUsd ?? '',
    'agent-args': (opts.args ?? []).map(quote).join(' ')
  }
  const input = (name: string): string => values[name] || fromEnv(name)
  // The local CLI has no log masker: secrets simply never get printed.
  const read = readInputs(input, { ...env, GITHUB_WORKSPACE: values.workspace }, () => {})
  const out = { stdout: containerOutput(process.stdout), stderr: containerOutput(process.stderr) }
  const { result } = await runInAirlock(read, {
    // Every input, the platform and the keys are checked first; only then may the default
    // image be pulled (or replaced by runner mode).
    chooseImage: async () =>
      (
        await chooseLocalImage(
          opts.image,
          (l) => err(`airlock: ${l}`),
          (d) => process.stderr.write(d)
        )
      ).image,
    info: (l) => err(`airlock: ${local(l)}`),
    warn: (l) => err(`airlock: warning: ${local(logSafe(l))}`),
    write: (d, stream) => out[stream](d),
    // Run from a workflow step, the container's output would reach the runner, which obeys
    // workflow commands in it: fenced off as the action does (both streams on stdout).
    ...(env.GITHUB_ACTIONS === 'true'
      ? { fence: (t: string | Buffer) => process.stdout.write(t) }
      : {}),
    env,
    runId: newRunId({ ...env, GITHUB_RUN_ID: 'local' })
  })
  printReport(result)
  return result
}

function printReport(result: SessionResult): void {
  const net = summarizeNetwork(result.networkLog)
  err('')
  err(
    `airlock: ${result.conclusion} (exit ${result.exitCode}) in ${(result.durationMs / 1000).toFixed(1)} s`
  )
  for (const h of net.hosts) {
    const statuses = Object.entries(h.statuses)
      .map(([s, n]) => `${s}×${n}`)
      .join(' ')
    err(
      `  ${logSafe(h.host).padEnd(40)} ${String(h.requests).padStart(4)} req  ${statuses}${h.grants.length ? `  [${h.grants.join(',')}]` : ''}`
    )
  }
  // Those that carried data come first (summarizeNetwork).
  for (const b of net.blocked.slice(0, 50))
    err(
      `  blocked ${logSafe(`${b.method} ${b.url.slice(0, 300)}`)} (${b.blocked ?? ''}): ${localAdvice(adviceFor(b, b.blocked ?? ''))}`
    )
  const more = blockedTotal(net) - Math.min(net.blocked.length, 50)
  if (more > 0) err(`  …and ${more} more refused requests (see the network log)`)
  err(`airlock: network log ${result.networkLog}`)
  err(
    `airlock: audit log ${result.auditLog} (head ${result.auditHead}); check with: ${selfCommand()} audit verify ${result.auditLog} --head ${result.auditHead}`
  )
}

const collect = (value: string, previous: string[]): string[] => [...previous, ...splitList(value)]

/** `airlock run … -- <command>` and the runner behind `airlock <agent>`. */
export function registerRunCommand(program: Command): void {
  program
    .command('run')
    .description(
      'run a command in the airlock: no network but the credential proxy (credentials from the environment)'
    )
    .option('--grant <provider>', "inject this provider's credential (repeatable)", collect, [])
    .option('--allow <pattern>', 'allow a host pattern (repeatable)', collect, [])
    .option(
      '--connect-to <host:port=target:port>',
      'route a host elsewhere (repeatable)',
      (v: string, p: string[]) => [...p, v],
      []
    )
    .option('--upstream-ca <file>', 'extra CA (PEM) trusted for upstream TLS')
    .option(
      '--image <image>',
      "container image (default node:22-bookworm; `runner`: the machine's own tools, read-only)"
    )
    .option('--workspace <dir>', 'directory mounted at /workspace (default: cwd)')
    .option('--read-only', 'mount the workspace read-only')
    .option('--audit', 'audit mode: allow public hosts, log what block mode would refuse')
    .option('--timeout <minutes>', 'stop the container after this many minutes')
    .argument('<command...>', 'the command (after --)')
    .action(async (command: string[], opts: Omit<LocalRunOptions, 'command'>) => {
      const result = await localRun({ ...opts, command })
      process.exitCode = result.failureReason ? 1 : result.exitCode
    })
  setAgentCliRunner(async (agent: string, opts: AgentCliOptions) => {
    const run: LocalRunOptions = {
      agent,
      grant: opts.grant,
      allow: opts.allow,
      connectTo: opts.connectTo,
      args: opts.args
    }
    if (opts.prompt) run.prompt = opts.prompt
    if (opts.upstreamCa) run.upstreamCa = opts.upstreamCa
    if (opts.image) run.image = opts.image
    if (opts.workspace) run.workspace = opts.workspace
    if (opts.readOnly) run.readOnly = true
    if (opts.agentVersion) run.agentVersion = opts.agentVersion
    if (opts.model) run.model = opts.model
    if (opts.maxTurns) run.maxTurns = opts.maxTurns
    if (opts.maxBudgetUsd) run.maxBudgetUsd = opts.maxBudgetUsd
    const result = await localRun(run)
    process.exitCode = result.failureReason ? 1 : result.exitCode
  })
}
