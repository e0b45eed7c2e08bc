import { mkdtempSync, realpathSync, rmSync, statSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { isAbsolute, join, resolve } from 'node:path'
import { AirlockError, InputError, type ErrorCode } from '../errors.js'
import type { RunPlan } from '../inputs.js'
import { mountSpec } from './container.js'
import { docker, DockerError, type DockerResult } from './docker.js'
import { runnerAppDirs } from './runner-image.js'
import {
  hostPathMapper,
  HostPathError,
  selfContainerId,
  type ContainerMount
} from './host-paths.js'

/** Why the runner cannot run Airlock, one code per cause (the message says what to do). */
export type PreflightCode = Extract<ErrorCode, `AIRLOCK_PREFLIGHT_${string}`>

/**
 * The runner cannot run Airlock at all. Raised before anything with a side effect (no grant,
 * no OIDC exchange, no key check has run), so nothing needs revoking or cleaning.
 */
export class PreflightError extends AirlockError {
  constructor(
    override readonly code: PreflightCode,
    message: string
  ) {
    super(code, message)
  }
}

/** The fields of `docker info --format '{{json .}}'` the preflight reads. */
export interface DockerInfo {
  ServerVersion?: string
  OSType?: string
  Architecture?: string
  SecurityOptions?: string[] | null
  DockerRootDir?: string
  Name?: string
  ClientInfo?: { Context?: string }
  ServerErrors?: string[] | null
  /** Whether the daemon can enforce `--memory` / `--memory-swap`, and the host's memory. */
  MemoryLimit?: boolean
  SwapLimit?: boolean
  MemTotal?: number
  /** Podman's own CLI (installed as `docker` by podman-docker) answers with its own shape. */
  host?: { security?: { rootless?: boolean } }
  store?: unknown
}

/** What the rest of the run needs to know about the daemon. */
export interface Preflight {
  info: DockerInfo
  /**
   * Rootless Docker: the daemon runs in a user namespace whose root is the runner's user, so
   * the container runs as 0:0 (the runner's user on the host, with no capabilities) and can
   * write the workspace and reach the proxy socket; the runner's uid would map to a subuid
   * that can do neither.
   */
  rootless: boolean
  /** uid:gid the container runs as. */
  containerUser: { uid: number; gid: number }
  /** The path the daemon sees for a path on this machine (identity unless in a job container). */
  hostPath: (path: string, opts?: { readOnly?: boolean }) => string
}

/** What the preflight depends on, replaceable in tests. */
export interface PreflightDeps {
  platform: NodeJS.Platform
  arch: string
  docker: (args: string[]) => Promise<DockerResult>
  uid: number
  gid: number
  /** The id of the Docker container this process runs in, if any. */
  selfContainerId: () => string | undefined
}

const defaultDeps = (): PreflightDeps => ({
  platform: process.platform,
  arch: process.arch,
  docker: (args) => docker(args),
  uid: process.getuid?.() ?? 1000,
  gid: process.getgid?.() ?? 1000,
  selfContainerId: () => selfContainerId()
})

/** An image name no registry holds: `docker create --pull never` with it never makes a container. */
const PROBE_IMAGE = 'airlock-preflight-probe.invalid/none:none'

let last: { key: string; result: Preflight } | undefined

/** The preflight of this process for this workspace, when one ran (the session reuses it). */
export function lastPreflight(plan: Pick<RunPlan, 'workspace'>): Preflight | undefined {
  return last?.key === plan.workspace ? last.result : undefined
}

/**
 * Checks, before anything with a side effect, that this runner can run Airlock: Linux on
 * x64 or arm64, a docker CLI, a daemon that answers and is Docker Engine (not Podman), and
 * a daemon that sees the directories Airlock mounts from (the workspace, RUNNER_TEMP, the
 * tool cache). Costs two docker calls (~20 ms each, run together). Throws PreflightError
 * naming the cause and the fix.
 */
export async function preflight(
  plan: Pick<RunPlan, 'workspace'> & Partial<Pick<RunPlan, 'workspaceAccess'>>,
  env: NodeJS.ProcessEnv = process.env,
  deps: PreflightDeps = defaultDeps()
): Promise<Preflight> {
  if (deps.platform !== 'linux')
    throw new PreflightError(
      'AIRLOCK_PREFLIGHT_OS',
      `Airlock runs on Linux runners only (this one is ${platformName(deps.platform)}): its sandbox is a Linux container on a local Docker daemon. Use runs-on: ubuntu-latest (or a Linux self-hosted runner) for this job.`
    )
  if (deps.arch !== 'x64' && deps.arch !== 'arm64')
    throw new PreflightError(
      'AIRLOCK_PREFLIGHT_ARCH',
      `Airlock runs on x64 and arm64 runners only (this one is ${deps.arch}): the agents ship native builds for those two. Use an x64 or arm64 Linux runner.`
    )
  if (!statSync(plan.workspace, { throwIfNoEntry: false })?.isDirectory())
    throw new InputError('workspace', `${plan.workspace} is not a directory on this runner`)
  const info = (): Promise<DockerResult> => runDocker(deps, ['info', '--format', '{{json .}}'], env)
  const selfId = deps.selfContainerId()
  let infoRun: DockerResult
  let probeRun: DockerResult
  let hostPath: Preflight['hostPath'] = (p) => p
  let probe: MountProbe | undefined
  try {
    if (!selfId) {
      // Both calls at once: the probe answers "no such image" when every mount source is visible.
      probe = mountProbe(plan, env, hostPath)
      ;[infoRun, probeRun] = await Promise.all([info(), runDocker(deps, probe.args, env)])
      checkDaemon(parseInfo(infoRun), infoRun, env)
    } else {
      // In a container: if the daemon started it (a job container, or a runner in a container
      // on the host's socket), every mount source is named by its host path.
      const [i, self] = await Promise.all([
        info(),
        runDocker(deps, ['inspect', '--format', '{{json .Mounts}}', selfId], env)
      ])
      infoRun = i
      checkDaemon(parseInfo(infoRun), infoRun, env)
      if (self.code === 0) hostPath = jobContainerPaths(self.stdout, selfId)
      probe = mountProbe(plan, env, hostPath)
      probeRun = await runDocker(deps, probe.args, env)
    }
    checkMounts(probeRun, probe.paths)
    // Most precise cause first: a path the daemon cannot mount (a job container's own
    // filesystem), then a link out of GITHUB_WORKSPACE (which may lead to RUNNER_TEMP), then
    // what the workspace holds. The probe before them mounts nothing into a running container.
    checkWorkspaceLinks(plan.workspace, env.GITHUB_WORKSPACE)
    checkWorkspaceScope(plan.workspace, env)
    const parsed = parseInfo(infoRun)
    const rootless = isRootless(parsed)
    const result: Preflight = {
      info: parsed,
      rootless,
      containerUser: rootless ? { uid: 0, gid: 0 } : { uid: deps.uid, gid: deps.gid },
      hostPath
    }
    last = { key: plan.workspace, result }
    return result
  } finally {
    probe?.cleanup()
  }
}

const within = (p: string, dir: string): boolean =>
  dir === '/' ? p.startsWith('/') : p === dir || p.startsWith(`${dir}/`)

/**
 * A workspace named inside GITHUB_WORKSPACE (a relative `workspace`: a directory of the
 * repository) must still be inside it once links are resolved. What that path is comes from
 * the repository's content, which a pull request or an earlier step's agent writes: `app`
 * made a link to `../../_temp` (or the runner's home) is followed by docker, and the sandbox
 * would get RUNNER_TEMP read-write (the step's GITHUB_ENV and GITHUB_STATE files, checkout's
 * credentials file) at /workspace. A path the workflow names outside GITHUB_WORKSPACE is its
 * own choice and stays as it is.
 */
export function checkWorkspaceLinks(workspace: string, base: string | undefined): void {
  if (!base) return
  const named = resolve(workspace)
  const root = resolve(base)
  if (!within(named, root)) return
  let real: string
  let realRoot: string
  try {
    real = realpathSync(named)
    realRoot = realpathSync(root)
  } catch {
    // Missing: the directory check above already said so.
    return
  }
  if (!within(real, realRoot))
    throw new InputError(
      'workspace',
      `${workspace} is inside GITHUB_WORKSPACE but a link leads it out, to ${real}; Airlock mounts only what the workspace really holds (name the directory itself, or a path outside GITHUB_WORKSPACE on purpose)`
    )
}

/**
 * A workspace that is, or holds, the user's home, RUNNER_TEMP or the runner application is
 * refused. The sandbox gets the workspace whole, and the workspace search only finds the
 * secrets Airlock holds: from a home, the agent would read `~/.ssh` keys,
 * `~/.aws/credentials`, `~/.config/gh/hosts.yml`, `~/.docker/config.json`; from RUNNER_TEMP,
 * the step's GITHUB_ENV file, which it could write for later steps to obey; from the runner
 * application, its registration (`.credentials`, `.credentials_rsaparams`). The local CLI
 * makes the first easy to do by accident: its workspace is the current directory, and
 * `airlock claude …` typed in a home directory would hand the agent all of it.
 */
export function checkWorkspaceScope(
  workspace: string,
  env: NodeJS.ProcessEnv,
  execPath: string = process.execPath
): void {
  let real: string
  try {
    real = realpathSync(workspace)
  } catch {
    return
  }
  const guarded: Array<[string, string | undefined]> = [
    ['your home directory', env.HOME],
    ['RUNNER_TEMP', env.RUNNER_TEMP],
    // Its `.credentials_rsaparams` is the key that takes the runner's jobs, and their secrets.
    ...runnerAppDirs(env, execPath).map((d): [string, string] => ['the runner application', d])
  ]
  for (const [what, dir] of guarded) {
    if (!dir || !isAbsolute(dir)) continue
    let realDir: string
    try {
      realDir = realpathSync(dir)
    } catch {
      continue
    }
    if (within(realDir, real))
      throw new InputError(
        'workspace',
        `${workspace} ${real === realDir ? 'is' : 'holds'} ${what} (${dir}): the sandbox would get every file there, credentials included. Use the project's own directory as the workspace.`
      )
  }
}

/** The job container's mounts from `docker inspect`, as a checked path mapper. */
function jobContainerPaths(inspectJson: string, id: string): Preflight['hostPath'] {
  let mounts: ContainerMount[]
  try {
    mounts = JSON.parse(inspectJson) as ContainerMount[]
  } catch {
    throw new PreflightError(
      'AIRLOCK_PREFLIGHT_CONTAINER_JOB',
      `this step runs in container ${id.slice(0, 12)}, whose mounts docker inspect did not list; Airlock cannot map its paths to the host's. Run the Airlock step on the runner itself (a job without container:).`
    )
  }
  const map = hostPathMapper(mounts)
  return (p, opts) => {
    try {
      return map(p, opts)
    } catch (err) {
      if (err instanceof HostPathError)
        throw new PreflightError(
          'AIRLOCK_PREFLIGHT_CONTAINER_JOB',
          `this step runs in a job container (${id.slice(0, 12)}) and ${err.message}`
        )
      throw err
    }
  }
}

function platformName(p: NodeJS.Platform): string {
  return p === 'darwin' ? 'macOS' : p === 'win32' ? 'Windows' : p
}

async function runDocker(
  deps: PreflightDeps,
  args: string[],
  env: NodeJS.ProcessEnv
): Promise<DockerResult> {
  try {
    return await deps.docker(args)
  } catch (err) {
    if (err instanceof DockerError)
      throw new PreflightError(
        'AIRLOCK_PREFLIGHT_NO_DOCKER',
        `the docker CLI is not on this runner's PATH. ${arcKubernetes(env) ? `This looks like Actions Runner Controller in kubernetes mode (ACTIONS_RUNNER_CONTAINER_HOOKS is set), which has no Docker daemon: use ARC's dind mode (containerMode.type: dind) for Airlock jobs.` : 'Install Docker Engine (the docker CLI and a daemon) on the runner, or use a GitHub-hosted Linux runner, which has both.'}`
      )
    throw err
  }
}

function arcKubernetes(env: NodeJS.ProcessEnv): boolean {
  return Boolean(env.ACTIONS_RUNNER_CONTAINER_HOOKS)
}

/** The daemon `docker` talks to, as the user would name it. */
export function daemonName(env: NodeJS.ProcessEnv, info?: DockerInfo): string {
  if (env.DOCKER_HOST) return `DOCKER_HOST=${env.DOCKER_HOST}`
  const context = env.DOCKER_CONTEXT || info?.ClientInfo?.Context
  if (context && context !== 'default') return `docker context "${context}"`
  return 'unix:///var/run/docker.sock'
}

function parseInfo(r: DockerResult): DockerInfo {
  // The CLI prints its own half of the JSON even when the daemon does not answer.
  const line = r.stdout
    .trim()
    .split('\n')
    .find((l) => l.startsWith('{'))
  if (!line) return {}
  try {
    return JSON.parse(line) as DockerInfo
  } catch {
    return {}
  }
}

function checkDaemon(info: DockerInfo, r: DockerResult, env: NodeJS.ProcessEnv): void {
  if (isPodman(info))
    throw new PreflightError(
      'AIRLOCK_PREFLIGHT_PODMAN',
      `the docker CLI talks to Podman (${daemonName(env, info)}), which Airlock does not support: its user namespaces and --init differ from Docker's, and the sandbox's uid, socket and mount checks are made for Docker Engine. Install Docker Engine on the runner (rootful or rootless) and point DOCKER_HOST at it.`
    )
  const errors = [...(info.ServerErrors ?? []), r.stderr.trim()].filter(Boolean).join('; ')
  if (r.code !== 0 || !info.ServerVersion) {
    const where = daemonName(env, info)
    if (/permission denied/i.test(errors))
      throw new PreflightError(
        'AIRLOCK_PREFLIGHT_DAEMON_DENIED',
        `the runner's user may not use the Docker daemon at ${where} (${oneLine(errors)}). Add the runner's user to the docker group (and restart the runner service), or point DOCKER_HOST at a daemon it may use.`
      )
    throw new PreflightError(
      'AIRLOCK_PREFLIGHT_DAEMON',
      `the Docker daemon at ${where} does not answer (${oneLine(errors) || `docker info exited with ${r.code}`}). ${arcKubernetes(env) ? 'Actions Runner Controller in kubernetes mode has no Docker daemon: use its dind mode (containerMode.type: dind) for Airlock jobs.' : env.DOCKER_HOST ? 'Check that DOCKER_HOST names a running daemon this runner can reach.' : 'Start the daemon (sudo systemctl start docker), or set DOCKER_HOST to the daemon to use.'}`
    )
  }
  if (info.OSType && info.OSType !== 'linux')
    throw new PreflightError(
      'AIRLOCK_PREFLIGHT_DAEMON_OS',
      `the Docker daemon at ${daemonName(env, info)} runs ${info.OSType} containers; Airlock's sandbox is a Linux container. Switch the daemon to Linux containers.`
    )
}

/**
 * Podman behind the docker CLI: its own CLI (podman-docker) prints `host`/`store`; its
 * Docker-compatible API reports its version and keeps images in containers/storage.
 */
export function isPodman(info: DockerInfo): boolean {
  if (info.host !== undefined && info.store !== undefined) return true
  if (/podman/i.test(info.ServerVersion ?? '')) return true
  return /\/containers\/storage\/?$/.test(info.DockerRootDir ?? '')
}

/** Rootless Docker reports `name=rootless` among its security options. */
export function isRootless(info: DockerInfo): boolean {
  return (info.SecurityOptions ?? []).some((o) => o.split(',').includes('name=rootless'))
}

function oneLine(text: string): string {
  return text.replace(/\s+/g, ' ').trim().slice(0, 400)
}

/**
 * The mount visibility probe: a marker directory with a random name in each shared directory
 * Airlock mounts from (RUNNER_TEMP, the tool cache), plus the workspace itself (nothing is
 * written there), bind-mounted into a `docker create` of an image that does not exist. The
 * daemon checks every bind source before it looks for the image: "bind source path does not
 * exist" names a directory it cannot see; "No such image" means it sees them all. No
 * container is created and nothing is pulled.
 */
interface MountProbe {
  args: string[]
  /** Probed host path → the directory to name when the daemon cannot see it. */
  paths: Map<string, string>
  cleanup: () => void
}

function mountProbe(
  plan: Pick<RunPlan, 'workspace'> & Partial<Pick<RunPlan, 'workspaceAccess'>>,
  env: NodeJS.ProcessEnv,
  hostPath: Preflight['hostPath']
): MountProbe {
  const paths = new Map<string, string>()
  const made: string[] = []
  const cleanup = (): void => {
    for (const m of made) rmSync(m, { recursive: true, force: true })
  }
  try {
    const ws = hostPath(plan.workspace, { readOnly: plan.workspaceAccess === 'read-only' })
    paths.set(ws, ws)
    for (const root of sharedRoots(env)) {
      let marker: string
      try {
        marker = mkdtempSync(join(root, '.airlock-probe-'))
      } catch {
        // Not writable or missing: whatever Airlock later makes there fails on its own terms.
        continue
      }
      made.push(marker)
      // RUNNER_TEMP holds the proxy socket, mounted read-write; the tool cache is read-only.
      paths.set(
        hostPath(marker, { readOnly: root !== sharedRoots(env)[0] }),
        hostPath(root, { readOnly: true })
      )
    }
  } catch (err) {
    cleanup()
    throw err
  }
  const args = ['create', '--pull', 'never', '--network', 'none']
  let i = 0
  for (const source of paths.keys())
    args.push('--mount', mountSpec({ source, target: `/probe/${i++}`, readOnly: true }))
  args.push(PROBE_IMAGE, 'true')
  return { args, paths, cleanup }
}

/** The directories (other than the workspace) Airlock bind-mounts things from on a runner. */
export function sharedRoots(env: NodeJS.ProcessEnv): string[] {
  const roots = [env.RUNNER_TEMP || tmpdir()]
  if (env.RUNNER_TOOL_CACHE && env.RUNNER_TOOL_CACHE !== roots[0]) roots.push(env.RUNNER_TOOL_CACHE)
  return roots
}

function checkMounts(r: DockerResult, paths: Map<string, string>): void {
  const text = `${r.stderr}\n${r.stdout}`
  if (/No such image/i.test(text)) return
  const missing = /bind source path does not exist: (.+)/.exec(text)?.[1]?.trim()
  if (missing === undefined) {
    // The daemon said something else (an old daemon without --pull, an authz plugin): the
    // probe proves nothing either way, and the run goes on to fail on its own terms.
    return
  }
  const dir = paths.get(missing) ?? missing
  throw new PreflightError(
    'AIRLOCK_PREFLIGHT_MOUNTS',
    `the Docker daemon cannot see ${dir} (it runs somewhere with another filesystem: a dind sidecar, a remote DOCKER_HOST, a VM). Airlock bind-mounts the workspace, RUNNER_TEMP and RUNNER_TOOL_CACHE into the sandbox, so each must be shared with the daemon at the same path: with Actions Runner Controller's dind mode keep the work volume and the tool cache on volumes mounted in both containers; with a remote daemon, use a local one.`
  )
}
