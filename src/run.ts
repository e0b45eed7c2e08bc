/**
 * One run in the airlock, whoever asked for it: the action's main step and the local CLI are
 * two front ends over this one orchestration. It owns the order that security depends on
 * (grants before the session, revocation when no proxy took the tokens over, every resource
 * released whatever happened) and the fence that keeps the container's output from being
 * read as workflow commands. Front ends own where lines, outputs and reports go.
 */
import { grantAll, makeGrantContext, revokeAll, type Granted } from './grant/index.js'
import type { GrantContext } from './provider/index.js'
import type { RunPlan } from './inputs.js'
import { releaseAll } from './sandbox/cleanup.js'
import { CommandFence, logSafe } from './sandbox/log-fence.js'
import { preflight } from './sandbox/preflight.js'
import { inspectImageEarly } from './sandbox/docker.js'
import { isRunnerImage } from './sandbox/runner-image.js'
import { discardRunProxy, newRunId, spawnRunProxy, type RunProxy } from './daemon/run-proxy.js'
import { runSession, type SessionResult } from './sandbox/session.js'
import type { Resource } from './state.js'

export interface FrontEnd {
  /** Airlock's own lines: plain text (made safe here), never the container's output. */
  info: (line: string) => void
  warn: (line: string) => void
  /** The log masker (`core.setSecret` in the action; the CLI prints no secret at all). */
  setSecret?: (value: string) => void
  /**
   * Where the container's output goes. With `fence`, both streams are written in order inside
   * one `::stop-commands::` fence, because the runner reads every line of them.
   */
  write: (data: Buffer, stream: 'stdout' | 'stderr') => void
  /** Set when a GitHub runner reads this process's output (the action, or the CLI in a step). */
  fence?: (text: string | Buffer) => void
  /** Persists each resource for a later cleanup step, beyond this process. */
  persist?: (r: Resource) => void
  /** The run has an id (before anything is created). */
  started?: (runId: string) => void
  /** Every resource of the run was released (nothing is left for a later cleanup). */
  released?: (runId: string) => void
  /**
   * The image to run, asked once the grants are in (the plan's own otherwise). The local CLI
   * pulls its default image here, or falls back to runner mode: a missing or refused key is
   * said in a second, not after a 400 MB pull.
   */
  chooseImage?: (image: string) => Promise<string>
  /** The grants are in; the container is about to run. */
  sessionStarting?: (runId: string) => void
  /** The session is over (before the report), whatever its outcome. */
  sessionEnded?: () => void
  env?: NodeJS.ProcessEnv
  /** The run's id (default: from the workflow run's id and attempt). */
  runId?: string
  /**
   * The run's proxy process, spawned by the front end before it loaded the rest (its `runId`
   * is the run's). Without it, one is spawned here.
   */
  early?: RunProxy
}

export interface RunOutcome {
  runId: string
  result: SessionResult
}

/**
 * Checks the platform, grants, runs the session and cleans up. Throws an `AirlockError` when the run could not
 * start (a grant refused, a preflight check failed); the session's own failures are in the
 * result. The providers are registered already (the plan was validated against them).
 */
export async function runInAirlock(plan: RunPlan, ui: FrontEnd): Promise<RunOutcome> {
  const env = ui.env ?? process.env
  const resources: Resource[] = []
  const abort = new AbortController()
  const onSignal = (): void => abort.abort()
  process.once('SIGINT', onSignal)
  process.once('SIGTERM', onSignal)
  const fence = ui.fence ? new CommandFence(ui.fence) : undefined
  // Whatever way the process ends (an exception, process.exit), the resume line is printed.
  const closeFence = (): void => fence?.close()
  process.once('exit', closeFence)
  /** Airlock's own lines end the fence first, or the runner would not see them as commands. */
  const own =
    (log: (line: string) => void) =>
    (line: string): void => {
      closeFence()
      log(line)
    }
  const warn = own(ui.warn)
  const granted: Granted[] = []
  let grantCtx: GrantContext | undefined
  let runId = ''
  let early: RunProxy | undefined
  const track = (r: Resource): void => {
    resources.push(r)
    ui.persist?.(r)
  }
  try {
    // The proxy process loads its program meanwhile; it holds nothing until the session hands
    // it its config, and a run that stops before then closes its stdin (it exits).
    early = ui.early ?? spawnRunProxy(ui.runId ?? newRunId(env))
    runId = early.runId
    ui.started?.(runId)
    track({ kind: 'proxy', pid: early.proxy.pid, dir: early.logDir })
    if (!isRunnerImage(plan.image)) inspectImageEarly(plan.image)
    // Before anything with a side effect (a grant, an OIDC exchange, a key check): the
    // platform can run a sandbox at all, and says why not in one message.
    await preflight(plan, env)
    grantCtx = makeGrantContext({
      settings: plan,
      signal: abort.signal,
      env,
      warn,
      connectTo: plan.connectTo,
      ...(ui.setSecret ? { setSecret: ui.setSecret } : { setSecret: () => {} }),
      ...(plan.upstreamCa ? { upstreamCa: plan.upstreamCa } : {})
    })
    await grantAll(plan.grants, grantCtx, granted)
    const image = ui.chooseImage ? await ui.chooseImage(plan.image) : plan.image
    const runPlan = image === plan.image ? plan : Object.freeze({ ...plan, image })
    ui.sessionStarting?.(runId)
    const result = await runSession(
      runPlan,
      granted,
      runId,
      {
        // Info lines can name workspace paths (a submodule's name is the PR's text): they are
        // made plain text here; warnings go through the front end's own escaping.
        info: own((line) => ui.info(logSafe(line))),
        warn,
        track,
        stdout: (d) => (fence ? fence.output(d) : ui.write(d, 'stdout')),
        stderr: (d) => (fence ? fence.output(d) : ui.write(d, 'stderr')),
        signal: abort.signal
      },
      early.proxy
    ).finally(() => {
      closeFence()
      ui.sessionEnded?.()
    })
    return { runId, result }
  } finally {
    closeFence()
    // Never handed its config: the proxy holds no token, so it revokes none (this does below).
    const proxyUnused = early ? discardRunProxy(early) : true
    // Release what this run made (the post step repeats this from state, in case the
    // process never got here).
    if ((await releaseAll(resources, warn)) && runId) ui.released?.(runId)
    // Once it has the tokens, the proxy revokes minted ones when it stops; before that, this does.
    if (grantCtx && proxyUnused) await revokeAll(granted, grantCtx, warn)
    process.off('SIGINT', onSignal)
    process.off('SIGTERM', onSignal)
    process.off('exit', closeFence)
  }
}
