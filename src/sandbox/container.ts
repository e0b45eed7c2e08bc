import { writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import type { MountConfig } from '../provider/index.js'
import { docker, DockerError } from './docker.js'
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

/**
 * One `--mount` value. Docker reads it as a CSV record, and the paths in it can come from the
 * workspace (a submodule's name becomes `.git/modules/<name>/config`, and a name may hold
 * `,` and `/`): unquoted, `x,source=/etc,target=/y` would add fields of its own and bind any
 * runner path into the container. Every field is quoted as CSV, so a path is only ever a path.
 */
export function mountSpec(m: { source: string; target: string; readOnly?: boolean }): string {
  const field = (f: string): string =>
    /[",\r\n]|^\s|\s$/.test(f) ? `"${f.replace(/"/g, '""')}"` : f
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
  for (const m of spec.mounts) args.push('--mount', hostMount(spec, m))
  args.push('--entrypoint', CONTAINER.node, spec.image, CONTAINER.init, '--', ...spec.command)
  return args
}

/**
 * Checks, before the agent starts, that the image can run the init program (glibc,
 * libstdc++): musl or distroless images fail here with a clear message instead of midway.
 */
export async function checkImage(
  spec: Pick<ContainerSpec, 'image' | 'nodeBinary' | 'user' | 'runId' | 'hostPath'>
): Promise<void> {
  const r = await docker([
    'run',
    '--rm',
    '--network',
    'none',
    '--cap-drop',
    'ALL',
    '--security-opt',
    'no-new-privileges',
    '--label',
    `airlock.run-id=${spec.runId}`,
    '--user',
    `${spec.user.uid}:${spec.user.gid}`,
    '--mount',
    hostMount(spec, { source: spec.nodeBinary, target: CONTAINER.node, readOnly: true }),
    '--entrypoint',
    CONTAINER.node,
    spec.image,
    '-e',
    'process.stdout.write("airlock-ok")'
  ])
  if (r.code !== 0 || !r.stdout.includes('airlock-ok')) {
    throw new DockerError(
      `image ${spec.image} cannot run Airlock's in-container forwarder (it needs glibc and libstdc++, as Debian and Ubuntu based images have): ${(r.stderr || r.stdout).trim().split('\n').slice(-3).join(' ')}`
    )
  }
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
