import { writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import type { MountConfig } from '../provider/index.js'
import type { Mask } from './runner-image.js'
import { CONTAINER } from './staging.js'

export interface ContainerSpec {
  runId: string
  name: string
  image: string
  workspace: string
  readOnlyWorkspace: boolean
  /** Host path of the proxy's unix socket. */
  socketPath: string
  stagingDir: string
  /** `NAME=value` pairs; written to an env file, never put on docker's argv. */
  env: string[]
  mounts: MountConfig[]
  command: string[]
  user: { uid: number; gid: number }
  /** The runner's Node binary, mounted to run the init program. */
  nodeBinary: string
  /**
   * The path the daemon knows a mount source by (the host's, in a job container); throws for
   * one it cannot mount. Identity when absent.
   */
  hostPath?: (path: string, opts?: { readOnly?: boolean }) => string
  /** Runner mode: the workspace is also mounted at this path (its own, on the runner). */
  workspaceAlias?: string
  /** Empty mounts over paths that must not be seen inside a mounted directory. */
  masks?: Mask[]
  /** The container's memory limit in bytes, tmpfs HOME and /tmp included ({@link memoryLimit}). */
  memoryBytes?: number
  /** The daemon enforces a swap limit too: the container then gets no swap beyond its memory. */
  swapLimit?: boolean
}

/**
 * The container's memory limit: the daemon host's memory but a reserve (a tenth, at least
 * 512 MiB) for the runner, the proxy and the daemon. Without one, an agent (or what it builds,
 * or its tmpfs HOME and /tmp, each allowed half the host's memory) could push the host into
 * its OOM killer, which may pick the runner or the proxy instead of the agent; with it, the
 * kernel ends the container's own processes. None when the daemon cannot enforce a limit
 * (rootless Docker without cgroup v2 delegation refuses `--memory` outright) or the host is
 * too small to spare the reserve.
 */
export function memoryLimit(info: {
  MemoryLimit?: boolean
  MemTotal?: number
}): number | undefined {
  const total = info.MemTotal
  if (info.MemoryLimit !== true || typeof total !== 'number' || !Number.isSafeInteger(total))
    return undefined
  const limit = total - Math.max(Math.floor(total / 10), 512 * 1024 ** 2)
  return limit >= 1024 ** 3 ? limit : undefined
}

/** `mountSpec` with the source named as the daemon sees it. */
function hostMount(
  spec: Pick<ContainerSpec, 'hostPath'>,
  m: { source: string; target: string; readOnly?: boolean }
): string {
  const source = spec.hostPath
    ? spec.hostPath(m.source, { readOnly: m.readOnly === true })
    : m.source
  return mountSpec({ ...m, source })
}

const field = (f: string): string => (/[",\r\n]|^\s|\s$/.test(f) ? `"${f.replace(/"/g, '""')}"` : f)

/**
 * One `--mount` value. Docker reads it as a CSV record, and the paths in it can come from the
 * workspace (a submodule's name becomes `.git/modules/<name>/config`, and a name may hold
 * `,` and `/`): unquoted, `x,source=/etc,target=/y` would add fields of its own and bind any
 * runner path into the container. Every field is quoted as CSV, so a path is only ever a path.
 */
export function mountSpec(m: { source: string; target: string; readOnly?: boolean }): string {
  return [
    'type=bind',
    field(`source=${m.source}`),
    field(`target=${m.target}`),
    ...(m.readOnly ? ['readonly'] : [])
  ].join(',')
}

/**
 * `docker run` arguments: no network, no capabilities, no privilege escalation, the
 * runner's uid, a private tmpfs HOME, the proxy socket as the only way out.
 */
export async function runArgs(spec: ContainerSpec): Promise<string[]> {
  // The env file lives in the private run directory: placeholders and the proxy token only,
  // but still kept off the process list.
  const envFile = join(spec.stagingDir, '..', 'container.env')
  await writeFile(envFile, spec.env.map((e) => e.replace(/\n/g, ' ')).join('\n') + '\n', {
    mode: 0o600
  })
  const { uid, gid } = spec.user
  const args = [
    'run',
    '--rm',
    '--init',
    '--name',
    spec.name,
    '--label',
    `airlock.run-id=${spec.runId}`,
    '--network',
    'none',
    '--cap-drop',
    'ALL',
    '--security-opt',
    'no-new-privileges',
    '--pids-limit',
    '4096',
    ...(spec.memoryBytes
      ? [
          '--memory',
          String(spec.memoryBytes),
          ...(spec.swapLimit ? ['--memory-swap', String(spec.memoryBytes)] : [])
        ]
      : []),
    '--user',
    `${uid}:${gid}`,
    '--env-file',
    envFile,
    '--tmpfs',
    `${CONTAINER.home}:rw,exec,mode=0700,uid=${uid},gid=${gid}`,
    '--tmpfs',
    '/tmp:rw,exec,mode=1777',
    '--workdir',
    CONTAINER.workspace,
    '--mount',
    hostMount(spec, {
      source: spec.workspace,
      target: CONTAINER.workspace,
      readOnly: spec.readOnlyWorkspace
    }),
    '--mount',
    hostMount(spec, { source: spec.stagingDir, target: CONTAINER.staging, readOnly: true }),
    '--mount',
    hostMount(spec, { source: spec.socketPath, target: CONTAINER.socket }),
    '--mount',
    hostMount(spec, { source: spec.nodeBinary, target: CONTAINER.node, readOnly: true })
  ]
  if (spec.workspaceAlias && spec.workspaceAlias !== CONTAINER.workspace)
    args.push(
      '--mount',
      hostMount(spec, {
        source: spec.workspace,
        target: spec.workspaceAlias,
        readOnly: spec.readOnlyWorkspace
      })
    )
  for (const m of spec.mounts) args.push('--mount', hostMount(spec, m))
  // Masks are empty mounts (tmpfs, /dev/null): nothing of the runner's to translate.
  for (const m of spec.masks ?? []) args.push('--mount', maskSpec(m))
  args.push('--entrypoint', CONTAINER.node, spec.image, CONTAINER.init, '--', ...spec.command)
  return args
}

/**
 * An empty mount over a path: a read-only tmpfs-like directory (mode 0555, owned by root, so
 * the agent's uid cannot fill it) or /dev/null for a file. Docker mounts by depth, so mounts
 * below a masked directory (a workspace inside the runner's `_work`) still appear over it.
 */
export function maskSpec(m: Mask): string {
  return m.kind === 'dir'
    ? ['type=tmpfs', field(`target=${m.target}`), 'tmpfs-mode=0555', 'tmpfs-size=65536'].join(',')
    : mountSpec({ source: '/dev/null', target: m.target, readOnly: true })
}

/**
 * Whether a failed run failed because the image cannot run the init program (no glibc or
 * libstdc++: musl or distroless images). Checked on the real run's first stderr bytes instead
 * of a throw-away container before it: the same answer, without a container start per run.
 */
export function unsupportedImage(
  image: string,
  code: number,
  stderrHead: string
): string | undefined {
  if (code === 0) return undefined
  const m = /exec \/airlock\/node failed[^\n]*|^\/airlock\/node: [^\n]*/m.exec(stderrHead)
  if (!m) return undefined
  return `image ${image} cannot run Airlock's in-container forwarder (it needs glibc and libstdc++, as Debian and Ubuntu based images have): ${m[0].trim()}`
}

/**
 * Why `docker run` itself failed, when it did: exit 125 with docker's own message on stderr
 * is Airlock's failure (a mount the daemon refused, a runtime error), not the command's exit
 * code, and the message is what the user needs. Undefined for any other outcome.
 */
export function dockerRunFailure(code: number, stderr: string): string | undefined {
  if (code !== 125) return undefined
  const own = stderr
    .split('\n')
    .filter((l) => /^docker: |Error response from daemon|^Error: |^airlock-init: /.test(l))
    .join(' ')
    .replace(/\s+/g, ' ')
    .trim()
  if (!own) return undefined
  return `docker could not start the sandbox (exit 125; the command did not run): ${own.slice(0, 600)}`
}
