import { join } from 'node:path'
import type { Command } from 'commander'
import { grantAll, makeGrantContext } from '../grant/index.js'
import { readInputs, splitList } from '../inputs.js'
import { setAgentCliRunner, type AgentCliOptions } from '../providers/agent-cli.js'
import { summarizeNetwork, remedy } from '../report/network.js'
import { releaseAll } from '../sandbox/cleanup.js'
import { CommandFence, logSafe } from '../sandbox/log-fence.js'
import { newRunId, runSession, type SessionResult } from '../sandbox/session.js'
import type { Resource } from '../state.js'
import { envInput } from './env-inputs.js'

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
  args?: string[]
}

function quote(arg: string): string {
  return /^[\w@%+=:,./-]+$/.test(arg) ? arg : `'${arg.replace(/'/g, `'\\''`)}'`
}

function err(line: string): void {
  process.stderr.write(`${line}\n`)
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
    'agent-args': (opts.args ?? []).map(quote).join(' ')
  }
  const input = (name: string): string => values[name] || fromEnv(name)
  // The local CLI has no log masker: secrets simply never get printed.
  const plan = readInputs(input, { ...env, GITHUB_WORKSPACE: values.workspace }, () => {})
  const granted = await grantAll(
    plan.grants,
    makeGrantContext({
      settings: plan,
      setSecret: () => {},
      warn: (l) => err(`airlock: warning: ${l}`),
      env,
      connectTo: plan.connectTo,
      ...(plan.upstreamCa ? { upstreamCa: plan.upstreamCa } : {})
    })
  )
  const resources: Resource[] = []
  const abort = new AbortController()
  const onSignal = (): void => abort.abort()
  process.once('SIGINT', onSignal)
  process.once('SIGTERM', onSignal)
  // Run from a workflow step, the container's output would reach the runner, which obeys
  // workflow commands in it: fenced off as the action does (both streams on stdout, in order).
  const fence =
    env.GITHUB_ACTIONS === 'true' ? new CommandFence((t) => process.stdout.write(t)) : undefined
  const closeFence = (): void => fence?.close()
  process.once('exit', closeFence)
  try {
    const runId = newRunId({ ...env, GITHUB_RUN_ID: 'local' })
    const result = await runSession(plan, granted, runId, {
      info: (l) => err(`airlock: ${logSafe(l)}`),
      warn: (l) => err(`airlock: warning: ${logSafe(l)}`),
      track: (r) => resources.push(r),
      stdout: (d) => (fence ? fence.output(d) : process.stdout.write(d)),
      stderr: (d) => (fence ? fence.output(d) : process.stderr.write(d)),
      signal: abort.signal
    }).finally(closeFence)
    printReport(result)
    return result
  } finally {
    closeFence()
    process.off('exit', closeFence)
    await releaseAll(resources, (m) => err(`airlock: warning: ${m}`))
    process.off('SIGINT', onSignal)
    process.off('SIGTERM', onSignal)
  }
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
  for (const b of net.blocked)
    err(
      `  blocked ${logSafe(`${b.method} ${b.url}`)} (${b.blocked ?? ''}): ${remedy(b.blocked ?? '')}`
    )
  err(`airlock: network log ${result.networkLog}`)
  err(
    `airlock: audit log ${result.auditLog} (head ${result.auditHead}); check with: airlock audit verify ${join(result.auditLog)} --head ${result.auditHead}`
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
    const result = await localRun(run)
    process.exitCode = result.failureReason ? 1 : result.exitCode
  })
}
