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
 *   24 GB runner); the proxy's request objects die young, and 2 MB semi-spaces keep the young
 *   generation near 4 MB resident with 200 idle connections where 8 MB ones grew to ~13 MB.
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
export const DAEMON_NODE_FLAGS = ['--max-semi-space-size=2', '--initial-old-space-size=64']

export interface StartOptions {
  /** The bundled daemon (dist/proxy/index.js). */
  script: string
  /** The daemon's stdout/stderr. */
  logFile: string
  timeoutMs?: number
  /** Called with the pid the moment the process exists, before it is ready. */
  onSpawn?: (pid: number) => void
}

/**
 * Starts the proxy daemon detached, hands it its config on stdin, and waits for its ready
 * file. The child gets no inherited stdio (the runner would wait on those pipes) and a
 * minimal environment: credentials travel only through the stdin pipe.
 */
export async function startProxyDaemon(
  config: DaemonConfig,
  opts: StartOptions
): Promise<ReadyInfo> {
  if (!config.readyFile) throw new ProxyStartError('the proxy needs a ready file')
  // A ready file left by an earlier run would be taken for this one's (wrong pid and port).
  rmSync(config.readyFile, { force: true })
  rmSync(`${config.readyFile}.failed`, { force: true })
  const fd = openSync(opts.logFile, 'a', 0o600)
  const env: NodeJS.ProcessEnv = { PATH: process.env.PATH ?? '/usr/bin:/bin' }
  const child = spawn(process.execPath, [...DAEMON_NODE_FLAGS, opts.script], {
    detached: true,
    stdio: ['pipe', fd, fd],
    env
  })
  closeSync(fd)
  if (child.pid === undefined) throw new ProxyStartError('could not start the proxy process')
  opts.onSpawn?.(child.pid)
  let exited: number | null | undefined
  child.once('exit', (code) => (exited = code))
  child.stdin!.on('error', () => {})
  child.stdin!.end(JSON.stringify(config))
  child.unref()
  const deadline = Date.now() + (opts.timeoutMs ?? 20_000)
  while (Date.now() < deadline) {
    if (existsSync(config.readyFile))
      return JSON.parse(readFileSync(config.readyFile, 'utf8')) as ReadyInfo
    if (exited !== undefined) break
    await sleep(25)
  }
  const log = existsSync(opts.logFile) ? readFileSync(opts.logFile, 'utf8').trim() : ''
  if (exited === undefined) child.kill('SIGKILL')
  throw new ProxyStartError(
    `the proxy ${exited !== undefined ? `exited (code ${exited})` : 'did not become ready in time'}${log ? `; its log:\n${log}` : ''}`
  )
}

/** SIGTERM, then SIGKILL after graceMs; resolves when the process is gone. */
export async function stopProcess(pid: number, graceMs = 5000): Promise<boolean> {
  if (!alive(pid)) return false
  process.kill(pid, 'SIGTERM')
  const deadline = Date.now() + graceMs
  while (Date.now() < deadline) {
    if (!alive(pid)) return true
    await sleep(50)
  }
  if (alive(pid)) process.kill(pid, 'SIGKILL')
  return true
}

export function alive(pid: number): boolean {
  try {
    process.kill(pid, 0)
    return true
  } catch {
    return false
  }
}
