import { randomBytes } from 'node:crypto'
import {
  constants,
  copyFileSync,
  lstatSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  realpathSync,
  renameSync,
  statSync,
  symlinkSync
} from 'node:fs'
import { hostname as osHostname, tmpdir } from 'node:os'
import { basename, dirname, isAbsolute, join, normalize, resolve } from 'node:path'
import type { Resource } from '../state.js'
import { AirlockError } from '../errors.js'

/**
 * The runner's Node binary, copied (once per Node version and CPU) into the tool cache, or
 * RUNNER_TEMP when there is none. The container runs its init program with it, and a bind
 * source must be a path the daemon sees: the runner keeps its Node in its externals, which
 * Actions Runner Controller's dind sidecar and a job container's host do not share, while the
 * tool cache and RUNNER_TEMP are shared by design. Outside a runner (the local CLI) the
 * daemon is local and the binary is mounted where it is.
 */
export function runnerNode(
  env: NodeJS.ProcessEnv = process.env,
  execPath: string = process.execPath,
  version: string = process.version,
  arch: string = process.arch
): string {
  const root = env.RUNNER_TOOL_CACHE || env.RUNNER_TEMP
  if (!root) return execPath
  const dir = join(root, 'airlock-node', `${version}-${arch}`)
  const file = join(dir, 'node')
  const size = statSync(execPath).size
  if (statSync(file, { throwIfNoEntry: false })?.size === size) return file
  mkdirSync(dir, { recursive: true, mode: 0o755 })
  // Copied under a private name and renamed: a run in parallel never mounts half a binary.
  const partial = join(dir, `.node-${randomBytes(4).toString('hex')}`)
  copyFileSync(execPath, partial, constants.COPYFILE_FICLONE)
  renameSync(partial, file)
  return file
}

/** sun_path holds 108 bytes with the terminating NUL. */
const SOCKET_PATH_MAX = 107

/**
 * A path to listen on for `socketPath` that fits a unix socket address, whatever the length of
 * RUNNER_TEMP: when it is too long, a private directory in the system temp dir holds a link to
 * the socket's directory, and the proxy listens through the link. The socket itself still lives
 * where it was asked for (the bind source the daemon sees); the link dir is tracked for cleanup.
 */
export function listenPath(socketPath: string, track: (r: Resource) => void): string {
  if (Buffer.byteLength(socketPath) <= SOCKET_PATH_MAX) return socketPath
  const tmp = tmpdir().length <= 40 ? tmpdir() : '/tmp'
  const dir = mkdtempSync(join(tmp, 'airlock-s-'))
  track({ kind: 'dir', path: dir })
  symlinkSync(dirname(socketPath), join(dir, 's'))
  return join(dir, 's', basename(socketPath))
}

/** One entry of `docker inspect`'s `.Mounts` (what the daemon mounted into a container). */
export interface ContainerMount {
  Type: string
  Source: string
  Destination: string
  RW: boolean
}

/**
 * The id of the container this process runs in, when it is a Docker container: the daemon
 * bind-mounts `/etc/hostname` (and resolv.conf, hosts) from its `containers/<id>/` directory,
 * which mountinfo shows whatever the cgroup version; cgroup v1 paths name it too; and Docker
 * makes the hostname the short id unless told otherwise.
 */
export function selfContainerId(
  read: (path: string) => string | undefined = readOrUndefined,
  hostname: string = osHostname()
): string | undefined {
  const mountinfo = read('/proc/self/mountinfo') ?? ''
  const fromMounts = /\/containers\/([0-9a-f]{64})\/(?:hostname|hosts|resolv\.conf)\s/.exec(
    mountinfo
  )?.[1]
  if (fromMounts) return fromMounts
  const cgroup = read('/proc/self/cgroup') ?? ''
  const fromCgroup = /(?:\/docker\/|docker-)([0-9a-f]{64})/.exec(cgroup)?.[1]
  if (fromCgroup) return fromCgroup
  if (read('/.dockerenv') !== undefined && /^[0-9a-f]{12}$/.test(hostname)) return hostname
  return undefined
}

function readOrUndefined(path: string): string | undefined {
  try {
    return readFileSync(path, 'utf8')
  } catch {
    return undefined
  }
}

/** A path that cannot be mounted from inside this job container. */
export class HostPathError extends AirlockError {
  constructor(message: string) {
    super('AIRLOCK_PREFLIGHT_CONTAINER_JOB', message)
  }
}

/**
 * Maps paths inside a job container (`jobs.<id>.container`, where the action runs with the
 * host's docker socket) to the host paths the daemon knows them by, from the container's own
 * mounts. It never widens what is mounted: the path is resolved first (a link that leads out of
 * a shared mount is followed here, not on the host, where it would name a host path); only a
 * path under a bind or volume mount is mapped (the longest mount that holds it wins, on whole
 * path components); and a read-write mount of something the job container itself only has
 * read-only is refused. `/dev/null` is the same file everywhere.
 */
export function hostPathMapper(
  mounts: ContainerMount[],
  realpath: (path: string) => string = realpathOrResolve
): (path: string, opts?: { readOnly?: boolean }) => string {
  const shared = mounts
    .filter((m) => (m.Type === 'bind' || m.Type === 'volume') && isAbsolute(m.Source))
    .map((m) => ({ ...m, Destination: normalize(m.Destination).replace(/(.)\/+$/, '$1') }))
    .sort((a, b) => b.Destination.length - a.Destination.length)
  return (path, opts = {}) => {
    if (path === '/dev/null') return path
    const real = realpath(path)
    const m = shared.find(
      (x) =>
        real === x.Destination || real.startsWith(x.Destination === '/' ? '/' : `${x.Destination}/`)
    )
    if (!m)
      throw new HostPathError(
        `${real}${real !== path ? ` (${path})` : ''} is in the job container's own filesystem, which the Docker daemon on the host cannot mount: keep it in the workspace, RUNNER_TEMP or the tool cache (directories the runner shares with the job container)`
      )
    if (!m.RW && !opts.readOnly)
      throw new HostPathError(
        `${real} is read-only in the job container (mounted from the host's ${m.Source}); Airlock will not mount it read-write into the sandbox`
      )
    return (
      m.Source.replace(/\/+$/, '') + real.slice(m.Destination === '/' ? 0 : m.Destination.length)
    )
  }
}

/**
 * The real path; for a path not made yet, that of its nearest existing ancestor plus the rest.
 * An entry that exists but does not resolve (a link to nothing here) is refused: the host would
 * resolve it against its own filesystem.
 */
function realpathOrResolve(path: string): string {
  let head = resolve(path)
  const rest: string[] = []
  for (;;) {
    try {
      return join(realpathSync(head), ...rest)
    } catch {
      if (lstatSync(head, { throwIfNoEntry: false }))
        throw new HostPathError(
          `${path} is a link that leads nowhere in the job container; the host would follow it on its own filesystem`
        )
      const up = dirname(head)
      if (up === head) return resolve(path)
      rest.unshift(basename(head))
      head = up
    }
  }
}
