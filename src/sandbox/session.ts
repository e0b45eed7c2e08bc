import { randomBytes } from 'node:crypto'
import { mkdirSync, readdirSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { daemonOidc, settingsForRefresh, type Granted } from '../grant/index.js'
import type { RunPlan } from '../inputs.js'
import {
  credentialToJSON,
  isInstallableAgent,
  registry,
  type MountConfig
} from '../provider/index.js'
import { runnerProxy } from '../net/runner-proxy.js'
import { verifyAuditFile } from '../proxy/audit.js'
import { alive, newProxyToken, stopProcess, type PendingDaemon } from '../daemon/start.js'
import { runLogDir } from '../daemon/run-proxy.js'
import type { Resource } from '../state.js'
import { parseAgentOutput, type AgentReport } from '../report/agent-output.js'
import { AGENT_MOUNT, installAgent } from './agent-install.js'
import { dockerRunFailure, memoryLimit, runArgs, unsupportedImage } from './container.js'
import { docker, ensureImage, removeByLabel } from './docker.js'
import { hideGitCredentials, tamperedGitConfigs, type HiddenGitConfig } from './git-credentials.js'
import {
  findingLine,
  revertGitExec,
  saveGitExecSnapshot,
  snapshotGitExec
} from './git-exec-guard.js'
import { listenPath, runnerNode } from './host-paths.js'
import { logSafe } from './log-fence.js'
import { lastPreflight, preflight } from './preflight.js'
import { readPromptFile } from '../prompt-file.js'
import { scanWorkspace, secretNeedles, WorkspaceSecretError } from './workspace-scan.js'
import { CONTAINER, sandboxEnv, writeStaging } from './staging.js'
import {
  ensureRunnerImage,
  hostRootLayout,
  isRunnerImage,
  runnerView,
  type Mask
} from './runner-image.js'

export type Conclusion = 'success' | 'failure' | 'timeout' | 'cancelled'

export interface SessionHooks {
  info: (line: string) => void
  warn: (line: string) => void
  /** Records a resource for cleanup the moment it exists. */
  track: (r: Resource) => void
  /** Live output of the container. */
  stdout: (chunk: Buffer) => void
  stderr: (chunk: Buffer) => void
  signal?: AbortSignal
}

export interface SessionResult {
  conclusion: Conclusion
  exitCode: number
  networkLog: string
  auditLog: string
  auditHead: string
  report: AgentReport
  durationMs: number
  /** Why the run failed when the command itself did not (the proxy died, the log broke). */
  failureReason?: string
}

/**
 * One sandboxed run: proxy up, staging written, container run to completion (or timeout /
 * cancellation), proxy stopped so the audit log is final. Every resource is reported to
 * `hooks.track` as it comes to exist; the caller releases them.
 */
export async function runSession(
  plan: RunPlan,
  granted: Granted[],
  runId: string,
  hooks: SessionHooks,
  /** The run's proxy process, spawned early (`spawnRunProxy`); the caller cancels it if unused. */
  proxy: PendingDaemon
): Promise<SessionResult> {
  const started = Date.now()
  const root = process.env.RUNNER_TEMP || tmpdir()
  // Recorded before it exists: a main killed between the two steps still leaves post the
  // path to remove (removing a directory that was never made is a no-op).
  const dir = join(root, `airlock-${randomBytes(3).toString('hex')}`)
  hooks.track({ kind: 'dir', path: dir })
  mkdirSync(dir, { mode: 0o700 })
  // Made (0700) when the run's proxy process was spawned: its log is the first thing in it.
  const logDir = runLogDir(runId)
  const proxyDir = join(dir, 'proxy')
  mkdirSync(proxyDir, { mode: 0o700 })
  const stagingDir = join(dir, 'staging')
  mkdirSync(stagingDir, { mode: 0o755 })
  const networkLog = join(logDir, 'network.jsonl')
  const auditLog = join(logDir, 'audit.jsonl')
  // What the preflight learnt about the daemon (rootless: the container runs as 0:0).
  const platform = lastPreflight(plan) ?? (await preflight(plan))
  const user = platform.containerUser
  if (user.uid === 0 && !platform.rootless)
    hooks.warn('Airlock runs as root here, so the container does too (with no capabilities)')

  const runnerMode = isRunnerImage(plan.image)
  const found = plan.agent ? registry.getAgent(plan.agent) : undefined
  const agent = isInstallableAgent(found) ? found : undefined
  const agentVersion = agent ? plan.agentVersion || agent.defaultVersion : ''
  // Work that touches neither the workspace nor a secret starts at once and overlaps the
  // workspace guard: the image (inspected, pulled or, in runner mode, imported) and the agent
  // CLI (found in the tool cache or downloaded).
  const imageReady = runnerMode
    ? ensureRunnerImage(hostRootLayout(), dir)
    : ensureImage(plan.image).then(() => plan.image)
  const installing = agent ? installAgent(agent, agentVersion, hooks.info) : undefined
  const early: Array<Promise<unknown>> = [imageReady, ...(installing ? [installing] : [])]
  for (const p of early) p.catch(() => undefined)

  // Before anything else touches the workspace for the container: checkout credentials
  // hidden, every file the container can read searched for the secrets Airlock holds.
  let guard: Awaited<ReturnType<typeof guardWorkspace>>
  try {
    guard = await guardWorkspace(plan, granted, dir, hooks)
  } catch (err) {
    await Promise.allSettled(early)
    throw err
  }
  // What git would run on the runner in later steps, as it is before the agent can write.
  const gitExec =
    plan.workspaceAccess === 'read-write'
      ? snapshotGitExec(plan.workspace, guard.gitConfigs)
      : undefined
  // Kept in the private run directory until the revert below has run: when main dies before
  // it (a cancelled job whose container ignores SIGTERM outlives the runner's grace, and the
  // runner kills main while `docker stop` still waits), the release (post) takes back from it
  // what the run left, instead of leaving it for a later step's or the next job's git.
  const gitExecFile = join(dir, 'git-exec.json')
  if (gitExec) {
    saveGitExecSnapshot(gitExec, gitExecFile)
    hooks.track({ kind: 'git-exec-guard', snapshot: gitExecFile })
  }

  const token = newProxyToken()
  const socketPath = join(proxyDir, 'proxy.sock')
  const starting = proxy.start({
    runId,
    token,
    mode: plan.egressPolicy,
    allow: plan.allowedEndpoints,
    connectTo: plan.connectTo,
    ...(plan.upstreamCa ? { upstreamCa: readFileSync(plan.upstreamCa, 'utf8') } : {}),
    socketPath: listenPath(socketPath, hooks.track),
    caCertFile: join(stagingDir, 'ca.pem'),
    networkLog,
    auditLog,
    readyFile: join(proxyDir, 'ready.json'),
    caValidityMs: Math.min(24 * 3600_000, (plan.timeoutMinutes + 30) * 60_000),
    grants: granted.map((g) => ({
      provider: g.provider,
      credential: credentialToJSON(g.credential)
    })),
    repository: process.env.GITHUB_REPOSITORY ?? '',
    githubApiUrl: process.env.GITHUB_API_URL ?? 'https://api.github.com',
    // What refresh needs to re-mint (App key, OIDC endpoint); on stdin like the grants.
    settings: settingsForRefresh(plan),
    ...(daemonOidc(plan) ? { oidc: daemonOidc(plan) } : {}),
    ...(runnerProxy().httpsProxy
      ? { upstreamProxy: { url: runnerProxy().httpsProxy!, noProxy: runnerProxy().noProxy } }
      : {})
  })
  // The proxy finishes starting while the container is prepared (nothing below needs it
  // until the staging files are written).
  starting.catch(() => undefined)
  let image: string
  let installed: Awaited<typeof installing>
  try {
    ;[image, installed] = await Promise.all([imageReady, installing])
  } catch (err) {
    await starting.catch(() => undefined)
    throw err
  }

  // Placeholders and config the providers want in the container.
  const extraEnv: string[] = []
  const mounts = []
  for (const g of granted) {
    const p = registry.mustGet(g.provider)
    extraEnv.push(...p.containerEnv(g.credential))
    const m = await p.containerMounts(g.credential, CONTAINER.home, stagingDir)
    mounts.push(...m.mounts)
    if (m.cleanupPath)
      hooks.track({ kind: 'provider-cleanup', provider: p.name, path: m.cleanupPath })
  }
  let command = ['sh', '-c', plan.command]
  if (agent && installed) {
    const cred = granted.find((g) => g.provider === agent.name)!.credential
    // Read only now, with the credentials hidden; `prompt` itself is never interpreted.
    const prompt = plan.promptFile ? readPromptFile(plan.workspace, plan.promptFile) : plan.prompt
    const cfg = await agent.prepareContainer({
      credential: cred,
      containerHome: CONTAINER.home,
      stagingDir,
      mcpServers: plan.mcpServers,
      prompt,
      agentArgs: plan.agentArgs,
      grants: plan.grants,
      limits: {
        ...(plan.model ? { model: plan.model } : {}),
        ...(plan.maxTurns ? { maxTurns: plan.maxTurns } : {}),
        ...(plan.maxBudgetUsd ? { maxBudgetUsd: plan.maxBudgetUsd } : {})
      }
    })
    extraEnv.push(...cfg.env.filter((e) => !extraEnv.includes(e)))
    mounts.push(...cfg.mounts)
    hooks.info(
      `${agent.npmPackage} ${agentVersion} ${installed.cached ? 'from the tool cache' : 'installed'}`
    )
    mounts.push({ source: installed.dir, target: AGENT_MOUNT, readOnly: true })
    if (!plan.command && cfg.command) command = [...installed.argv, ...cfg.command]
  }

  mounts.push(...guard.mounts)

  // google-github-actions/auth writes its credentials file into the workspace root; the
  // agent sees an empty file there instead (a mount, so nothing needs restoring).
  for (const f of readdirSync(plan.workspace)) {
    if (GHA_CREDS.test(f)) {
      mounts.push({ source: '/dev/null', target: `${CONTAINER.workspace}/${f}`, readOnly: true })
    }
  }

  // Runner mode: the runner's own directories, read-only at their own paths, and the
  // workspace at its own path too (with every mount over a part of it repeated there).
  let runnerEnv: Record<string, string> | undefined
  let masks: Mask[] | undefined
  const alias = runnerMode ? resolve(plan.workspace) : undefined
  if (alias) {
    const view = runnerView({
      env: process.env,
      workspace: alias,
      layout: hostRootLayout(),
      secrets: heldSecrets(plan, granted, process.env).map((s) => s.value),
      containerHome: CONTAINER.home,
      execPath: process.execPath
    })
    for (const m of alias === CONTAINER.workspace ? [] : [...mounts])
      if (m.target.startsWith(`${CONTAINER.workspace}/`))
        mounts.push({ ...m, target: alias + m.target.slice(CONTAINER.workspace.length) })
    mounts.push(...view.mounts)
    masks = view.masks
    runnerEnv = view.env
    hooks.info(
      `runner mode: ${view.mounts.map((m) => m.target).join(', ')} read-only; workspace also at ${alias}`
    )
    if (view.refused.length > 0)
      hooks.info(`runner mode: not carried into the container: ${view.refused.join(', ')}`)
  }

  const ready = await starting
  hooks.info(`airlock proxy ready (pid ${ready.pid}); egress policy ${plan.egressPolicy}`)
  await writeStaging(stagingDir, readFileSync(ready.caCertFile, 'utf8'))

  const name = `airlock-${runId}`
  const memory = memoryLimit(platform.info)
  const args = await runArgs({
    runId,
    name,
    image,
    workspace: plan.workspace,
    readOnlyWorkspace: plan.workspaceAccess === 'read-only',
    socketPath,
    stagingDir,
    env: sandboxEnv({
      proxyToken: token,
      extra: extraEnv,
      user: plan.env,
      ...(runnerEnv ? { runner: runnerEnv } : {}),
      ...(alias ? { workspaceAlias: alias } : {})
    }),
    mounts,
    command,
    user,
    // The runner's Node, copied where the daemon can see it (never mounted from the runner's
    // externals or the temp dir).
    nodeBinary: runnerNode(),
    hostPath: platform.hostPath,
    ...(alias ? { workspaceAlias: alias } : {}),
    ...(masks ? { masks } : {}),
    ...(memory ? { memoryBytes: memory, swapLimit: platform.info.SwapLimit === true } : {})
  })
  const container: Resource = { kind: 'container', runId, name }
  hooks.track(container)

  let conclusion: Conclusion | undefined
  const stop = (why: Conclusion): void => {
    if (conclusion) return
    conclusion = why
    hooks.warn(
      why === 'timeout'
        ? `timed out after ${plan.timeoutMinutes} minutes; stopping the container`
        : 'cancelled; stopping the container'
    )
    void docker(['stop', '--time', '10', name]).then(() => removeByLabel(runId))
  }
  const timer = setTimeout(() => stop('timeout'), plan.timeoutMinutes * 60_000)
  const onAbort = (): void => stop('cancelled')
  hooks.signal?.addEventListener('abort', onAbort, { once: true })
  // Cancelled while setting up: do not start the container at all.
  if (hooks.signal?.aborted) {
    clearTimeout(timer)
    const end = await stopProxy(ready.pid, auditLog, hooks, undefined)
    return {
      conclusion: 'cancelled',
      exitCode: 130,
      networkLog,
      auditLog,
      auditHead: end.auditHead,
      report: {},
      durationMs: Date.now() - started
    }
  }
  // The proxy is the only way out: if it dies, the agent has no network at all (fail
  // closed), and the run must not report success on a partial log.
  let failureReason: string | undefined
  const watch = setInterval(() => {
    if (alive(ready.pid) || failureReason) return
    // The container keeps running with no way out at all (fail closed); the step fails
    // when it ends, so what the agent does offline still finishes and is reported.
    failureReason = `the airlock proxy (pid ${ready.pid}) died during the run; the container lost all network access`
    hooks.warn(failureReason)
  }, 1000)
  let agentStdout = ''
  let stderrHead = ''
  const result = await docker(args, {
    onStdout: (d) => {
      hooks.stdout(d)
      if (agent && agentStdout.length < 16 * 1024 * 1024) agentStdout += d.toString()
    },
    onStderr: (d) => {
      hooks.stderr(d)
      if (stderrHead.length < 4096) stderrHead += d.toString()
    },
    maxCollect: 0
  })
  // An image that cannot run the forwarder fails here, before any command ran: named as such.
  failureReason ??= unsupportedImage(plan.image, result.code, stderrHead)
  clearTimeout(timer)
  clearInterval(watch)
  hooks.signal?.removeEventListener('abort', onAbort)
  const exitCode = result.code
  failureReason ??= dockerRunFailure(exitCode, stderrHead)
  // `docker run --rm` returns once the daemon removed the container, unless docker itself
  // failed (125) or the run was stopped: then the label search in the release finds what is left.
  if (exitCode !== 125 && !conclusion && container.kind === 'container') container.removed = true
  for (const f of gitExec ? revertGitExec(gitExec) : []) hooks.warn(logSafe(findingLine(f)))
  // Taken back: nothing left for the release to do (a second pass would report it again).
  if (gitExec) rmSync(gitExecFile, { force: true })
  for (const rel of tamperedGitConfigs(plan.workspace, guard.hidden))
    hooks.warn(
      `${rel} is not the file it was before the run (replaced, moved or linked); the credentials hidden from it were never written back, check it before trusting it`
    )

  const { auditHead, failureReason: failed } = await stopProxy(
    ready.pid,
    auditLog,
    hooks,
    failureReason
  )
  conclusion ??= failed ? 'failure' : exitCode === 0 ? 'success' : 'failure'
  return {
    ...(failed ? { failureReason: failed } : {}),
    conclusion,
    exitCode,
    networkLog,
    auditLog,
    auditHead,
    report: parseAgentOutput(agent?.name, agentStdout),
    durationMs: Date.now() - started
  }
}

/**
 * Hides the git credentials in the workspace (cleaned copies mounted over the originals)
 * and then searches what the container will be able to read for every secret Airlock holds:
 * the secret inputs, each grant's credential. A hit refuses the run, naming the files
 * (never the secret): a file there would hand the agent a real credential past the proxy.
 */
async function guardWorkspace(
  plan: RunPlan,
  granted: Granted[],
  privateDir: string,
  hooks: SessionHooks
): Promise<{ mounts: MountConfig[]; hidden: HiddenGitConfig[]; gitConfigs: string[] }> {
  const needles = secretNeedles(heldSecrets(plan, granted, process.env))
  // The auth action's files at the root are masked by a mount of /dev/null (below).
  const scan = scanWorkspace(plan.workspace, needles, undefined, (rel) => GHA_CREDS.test(rel))
  const git = await hideGitCredentials(plan.workspace, privateDir, scan.gitConfigs, scan.gitFiles)
  if (git.hidden.length > 0)
    hooks.info(
      `hid the credentials actions/checkout persisted in ${git.hidden.map((h) => h.rel).join(', ')} for the run`
    )
  const hiddenRels = new Set(git.hidden.map((h) => h.rel))
  const hits = scan.hits.filter((h) => !hiddenRels.has(h.path))
  for (const v of git.visible) {
    const text = Buffer.from(v.text)
    const n = needles.find((x) => text.includes(x.bytes))
    if (n) hits.push({ path: v.rel, label: n.label })
  }
  if (hits.length > 0) throw new WorkspaceSecretError(hits)
  if (scan.incomplete)
    hooks.warn(
      `the search of the workspace for leaked secrets stopped early (${scan.incomplete}); files after that point were not checked`
    )
  if (scan.skippedLarge.length > 0)
    hooks.info(
      `the search of the workspace for leaked secrets did not read ${scan.skippedLarge.length} file(s) over the size limit`
    )
  return { mounts: git.mounts, hidden: git.hidden, gitConfigs: scan.gitConfigs }
}

/** google-github-actions/auth's credentials files, at the workspace root. */
const GHA_CREDS = /^gha-creds-[\w-]*\.json$/

/**
 * The runner's job tokens Airlock itself is handed (to mint OIDC tokens, to upload the log
 * artifact). Other actions copy them into files (google-github-actions/auth writes the OIDC
 * request token into its credentials file): one of those anywhere in the workspace would give
 * the agent a way to mint the job's cloud identities.
 */
const RUNNER_TOKENS = ['ACTIONS_ID_TOKEN_REQUEST_TOKEN', 'ACTIONS_RUNTIME_TOKEN'] as const

/** Every secret value this run holds, labelled by where it came from (the label is shown). */
function heldSecrets(
  plan: RunPlan,
  granted: Granted[],
  env: NodeJS.ProcessEnv
): Array<{ label: string; value: string }> {
  const out: Array<{ label: string; value: string }> = []
  for (const name of RUNNER_TOKENS) {
    const value = env[name]
    if (value) out.push({ label: name, value })
  }
  for (const [name, value] of Object.entries(plan.secrets)) out.push({ label: name, value })
  for (const c of plan.custom) out.push({ label: `custom-credentials ${c.name}`, value: c.value })
  for (const g of granted) {
    const token = g.credential.token
    if (!token) continue
    out.push({ label: `${g.provider} grant`, value: token })
    // Structured tokens (AWS session JSON): each long string inside is a secret of its own.
    if (token.startsWith('{'))
      try {
        for (const v of Object.values(JSON.parse(token) as Record<string, unknown>))
          if (typeof v === 'string' && v.length >= 16)
            out.push({ label: `${g.provider} grant`, value: v })
      } catch {
        // not JSON after all: the whole value is searched for already
      }
  }
  return out
}

/**
 * Stops the proxy so the audit log is complete and its head final, and says why the run
 * must fail if the proxy was gone early or could not finish its logs (failureReason, when
 * already known, wins).
 */
async function stopProxy(
  pid: number,
  auditLog: string,
  hooks: SessionHooks,
  failureReason: string | undefined
): Promise<{ auditHead: string; failureReason?: string }> {
  let reason = failureReason
  if (!(await stopProcess(pid, 5000)) && !reason)
    reason = `the airlock proxy (pid ${pid}) was gone before the run ended`
  // One verification of the finished log gives its head, whether it is closed, and the
  // failure the proxy's final entry names.
  const { auditHead, closed, failure } = finishedAudit(auditLog, hooks)
  if (!reason) {
    if (!closed)
      reason = `the audit log ${auditLog} is incomplete (the proxy could not finish it; see proxy.log beside it)`
    else if (failure)
      reason = `the airlock proxy stopped serving during the run (${failure}); the logs are incomplete and traffic after that point was refused`
  }
  return reason ? { auditHead, failureReason: reason } : { auditHead }
}

/**
 * The head of the finished audit log, whether it ends with the proxy's `stop` entry, and the
 * failure that entry names. Warns (never throws) when the log does not verify.
 */
function finishedAudit(
  auditLog: string,
  hooks: SessionHooks
): { auditHead: string; closed: boolean; failure?: string } {
  try {
    const verified = verifyAuditFile(auditLog)
    if (!verified.ok)
      hooks.warn(`audit log does not verify: ${verified.error?.reason ?? 'unknown'}`)
    if (!verified.closed) return { auditHead: verified.head, closed: false }
    // From the verification (the log is not read whole: it can be longer than one string).
    return {
      auditHead: verified.head,
      closed: true,
      ...(verified.failure !== undefined ? { failure: verified.failure } : {})
    }
  } catch (err) {
    hooks.warn(`audit log unreadable: ${(err as Error).message}`)
    return { auditHead: '', closed: false }
  }
}
