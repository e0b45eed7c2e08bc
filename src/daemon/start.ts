import { spawn } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { existsSync, openSync, closeSync, readFileSync, rmSync } from 'node:fs'
import { setTimeout as sleep } from 'node:timers/promises'
import { AirlockError } from '../errors.js'
import type { DaemonConfig, ReadyInfo } from './daemon.js'

/**
 * A fresh proxy token: 32 random bytes, hex. It lives here, in the light half of the daemon's
 * wiring, because the main step needs it and must not pull the proxy (TLS, certificates, the
 * server) into its bundle.
 */
export function newProxyToken(): string {
  return randomBytes(32).toString('hex')
}

export class ProxyStartError extends AirlockError {
  constructor(message: string) {
    super('AIRLOCK_PROXY_START', message)
  }
}

/**
 * V8 heap sizing for the proxy process, measured (docs/benchmarks.md):
 * - young generation: V8 sizes it from the machine's memory (up to 16 MB semi-spaces on a
 *   24 GB runner); the proxy's request objects die young. With 2 MB semi-spaces, the objects
 *   of the requests in flight at 50 clients outlived two scavenges often enough that
 *   collection took ~9% of the proxy's CPU; with 8 MB ~3.5%, for ~6 MB more resident with
 *   200 idle connections (117-120 -> 124-127 MB; 16 MB bought nothing more).
 * - old generation: the proxy keeps ~13 MB live, so V8's first limits sit just above that,
 *   and relaying a large body (a few objects promoted per chunk) started a full mark-compact
 *   every ~10 MB: 8-10 per 100 MB, about a third of the proxy's CPU per MB. Starting from a
 *   64 MB limit, none run during such a transfer (download CPU per MB 4.0-4.5 -> 2.5-3.2 ms
 *   in the same runs); the resident set of a fresh proxy is unchanged (V8 reserves, it does
 *   not commit), and garbage may reach the limit before it is collected (peak after a whole
 *   benchmark +~20 MB).
 * `airlock proxy` re-runs itself with these flags (src/cli/proxy-command.ts), and the
 * benchmark reads them from here.
 */
export const DAEMON_NODE_FLAGS = [
  '--max-semi-space-size=8',
  '--initial-old-space-size=64',
  // The OS trust store loaded by Node itself (Node >= 22.15), for upstreamTrust (src/proxy/dial.ts).
  ...(process.allowedNodeEnvironmentFlags.has('--use-system-ca') ? ['--use-system-ca'] : [])
]

/**
 * glibc malloc settings for the proxy process (musl and others ignore them). OpenSSL and Node
 * allocate each connection's buffers with malloc; glibc raises its trim threshold every time a
 * large block is freed, so the memory a burst of connections used stayed resident after they
 * went idle. A fixed threshold (which also fixes the mmap threshold at 128 KB) and two arenas
 * gave back 10-13 MB with 200 idle connections (118 -> 105-108 MB in `npm run bench`), and
 * cost no system calls under load (strace: no brk at 50 clients, 3 per 4 MB download).
 * Not secrets; the daemon's environment is otherwise `PATH` alone.
 */
export const DAEMON_MALLOC_ENV: Readonly<Record<string, string>> = {
  MALLOC_ARENA_MAX: '2',
  MALLOC_TRIM_THRESHOLD_: '131072'
}

export interface SpawnOptions {
  /** The bundled daemon (dist/proxy/index.js). */
  script: string
  /** The daemon's stdout/stderr. */
  logFile: string
  /** Called with the pid the moment the process exists, before it is ready. */
  onSpawn?: (pid: number) => void
}

export interface StartOptions extends SpawnOptions {
  timeoutMs?: number
}

/**
 * A proxy process that is loading its program and waiting for its config. Spawned early, it
 * loads while the caller checks the platform and mints grants, so the run does not wait for it
 * later; it holds nothing until `start`, and exits by itself when its stdin closes unused.
 */
export interface PendingDaemon {
  readonly pid: number
  /** Hands over the config (with the credentials) and waits for the ready file. */
  start(config: DaemonConfig, timeoutMs?: number): Promise<ReadyInfo>
  /**
   * Not needed after all: close its stdin (it exits at once, having received nothing). True
   * when it was still waiting (false once `start` was called).
   */
  cancel(): boolean
}

/**
 * Spawns the proxy daemon detached, with no config yet. The child gets no inherited stdio (the
 * runner would wait on those pipes) and a minimal environment (`PATH`, and the runner's job
 * tracking id, the allocator's settings): credentials travel only through the stdin pipe, and
 * only in `start`.
 */
export function spawnProxyDaemon(opts: SpawnOptions): PendingDaemon {
  const fd = openSync(opts.logFile, 'a', 0o600)
  const env: NodeJS.ProcessEnv = { PATH: process.env.PATH ?? '/usr/bin:/bin', ...DAEMON_MALLOC_ENV }
  // The runner ends a job by killing every process whose environment holds the job's tracking
  // id ("Cleaning up orphan processes"): with it, a proxy that post could not stop (post never
  // ran, a self-hosted runner) dies with the job instead of outliving it with its credentials.
  // An id, not a secret.
  const tracking = process.env.RUNNER_TRACKING_ID
  if (tracking) env.RUNNER_TRACKING_ID = tracking
  let child: ReturnType<typeof spawn>
  try {
    child = spawn(process.execPath, [...DAEMON_NODE_FLAGS, opts.script], {
      detached: true,
      stdio: ['pipe', fd, fd],
      env
    })
  } finally {
    closeSync(fd)
  }
  const pid = child.pid
  if (pid === undefined) throw new ProxyStartError('could not start the proxy process')
  opts.onSpawn?.(pid)
  let exited: number | null | undefined
  child.once('exit', (code) => (exited = code))
  child.stdin!.on('error', () => {})
  // The parent may end while the child waits (an early error): the closed pipe then tells the
  // child it is not needed, and neither the child nor its pipe keeps the parent alive.
  child.unref()
  ;(child.stdin as unknown as { unref?: () => void }).unref?.()
  let handed = false
  return {
    pid,
    cancel(): boolean {
      if (handed) return false
      handed = true
      child.stdin!.end()
      return true
    },
    async start(config: DaemonConfig, timeoutMs = 20_000): Promise<ReadyInfo> {
      if (handed) throw new ProxyStartError('the proxy process was already given its config')
      // Checked before it counts as handed: the caller can still cancel it.
      if (!config.readyFile) throw new ProxyStartError('the proxy needs a ready file')
      handed = true
      // A ready file left by an earlier run would be taken for this one's (wrong pid and port).
      rmSync(config.readyFile, { force: true })
      rmSync(`${config.readyFile}.failed`, { force: true })
      child.stdin!.end(JSON.stringify(config))
      const deadline = Date.now() + timeoutMs
      while (Date.now() < deadline) {
        if (existsSync(config.readyFile))
          return JSON.parse(readFileSync(config.readyFile, 'utf8')) as ReadyInfo
        if (exited !== undefined) break
        await sleep(10)
      }
      const log = existsSync(opts.logFile) ? readFileSync(opts.logFile, 'utf8').trim() : ''
      if (exited === undefined) child.kill('SIGKILL')
      throw new ProxyStartError(
        `the proxy ${exited !== undefined ? `exited (code ${exited})` : 'did not become ready in time'}${log ? `; its log:\n${log}` : ''}`
      )
    }
  }
}

/** Spawns the proxy daemon, hands it its config on stdin, and waits for its ready file. */
export async function startProxyDaemon(
  config: DaemonConfig,
  opts: StartOptions
): Promise<ReadyInfo> {
  // Refused before anything is spawned.
  if (!config.readyFile) throw new ProxyStartError('the proxy needs a ready file')
  return spawnProxyDaemon(opts).start(config, opts.timeoutMs)
}

/** SIGTERM, then SIGKILL after graceMs; resolves when the process is gone. */
export async function stopProcess(pid: number, graceMs = 5000): Promise<boolean> {
  if (!alive(pid)) return false
  process.kill(pid, 'SIGTERM')
  const deadline = Date.now() + graceMs
  while (Date.now() < deadline) {
    if (!alive(pid)) return true
    await sleep(10)
  }
  if (alive(pid)) process.kill(pid, 'SIGKILL')
  return true
}

/**
 * True while the process exists and has not exited. An exited process whose parent died (the
 * proxy after a killed main) stays a zombie until init reaps it, and some inits are slow to:
 * it answers signals but holds nothing, so it counts as gone.
 */
export function alive(pid: number): boolean {
  try {
    process.kill(pid, 0)
  } catch {
    return false
  }
  try {
    // /proc/<pid>/stat: "pid (comm) S ...", the comm may hold spaces and parentheses.
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z'
  } catch {
    // No /proc (not Linux): the signal test is all there is.
    return true
  }
}
