/**
 * A run's proxy process, spawned before anything else of the run so that loading its program
 * overlaps the rest of the start. Light on purpose: the action's entry spawns it before it
 * loads its own bundle, so this module imports nothing but Node and the spawner.
 */
import { randomBytes } from 'node:crypto'
import { mkdirSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { dirname, join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { spawnProxyDaemon, type PendingDaemon } from './start.js'

/** A run's id and the proxy process waiting for that run's config. */
export interface RunProxy {
  runId: string
  proxy: PendingDaemon
  /** Where its log is (with the run's network and audit logs). */
  logDir: string
}

export function newRunId(env: NodeJS.ProcessEnv = process.env): string {
  return `${env.GITHUB_RUN_ID ?? 'local'}-${env.GITHUB_RUN_ATTEMPT ?? '1'}-${randomBytes(4).toString('hex')}`
}

/** Where a run's logs live (network, audit, the proxy's own): kept after the run. */
export function runLogDir(runId: string): string {
  return join(process.env.RUNNER_TEMP || tmpdir(), `airlock-logs-${runId}`)
}

/** Where the bundled daemon sits next to this bundle (dist/main → dist/proxy). */
export function proxyScript(): string {
  const here = dirname(fileURLToPath(import.meta.url))
  return resolve(here, '..', 'proxy', 'index.js')
}

/**
 * Spawns the run's proxy process: it loads its program while the platform is checked and the
 * grants are minted, and gets its config (the credentials) only when the session starts it.
 * It holds nothing until then; `discardRunProxy` it if the session never does.
 */
export function spawnRunProxy(runId: string): RunProxy {
  const logDir = runLogDir(runId)
  mkdirSync(logDir, { recursive: true, mode: 0o700 })
  const proxy = spawnProxyDaemon({ script: proxyScript(), logFile: join(logDir, 'proxy.log') })
  return { runId, proxy, logDir }
}

/**
 * Closes the stdin of a proxy that never got its config (it exits) and removes its log
 * directory, which then holds nothing worth keeping. True when it was unused; false once the
 * session handed it a config (then it holds tokens, and stopping it revokes them).
 */
export function discardRunProxy(run: RunProxy): boolean {
  if (!run.proxy.cancel()) return false
  rmSync(run.logDir, { recursive: true, force: true })
  return true
}

/**
 * The action's early spawn: a proxy process for a new run id, or undefined when it cannot be
 * spawned here (an unwritable temp directory): the run then spawns its own and reports why.
 */
export function earlyRunProxy(env: NodeJS.ProcessEnv = process.env): RunProxy | undefined {
  try {
    return spawnRunProxy(newRunId(env))
  } catch {
    return undefined
  }
}
