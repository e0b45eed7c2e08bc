import * as core from '@actions/core'
import { errorMessage } from '../errors.js'
import { grantAll, makeGrantContext, revokeAll, type Granted } from '../grant/index.js'
import type { GrantContext } from '../provider/index.js'
import { readInputs } from '../inputs.js'
import { registerAll } from '../providers/index.js'
import { uploadLogs } from '../report/artifact.js'
import { summarizeNetwork } from '../report/network.js'
import { renderSummary, writeSummary } from '../report/summary.js'
import { releaseAll } from '../sandbox/cleanup.js'
import { CommandFence, logSafe } from '../sandbox/log-fence.js'
import { newRunId, runSession } from '../sandbox/session.js'
import { pushResource, saveRunId, type Resource } from '../state.js'

/** The main step: validate everything, grant, build the airlock, run the agent in it, report. */
export async function run(): Promise<void> {
  const resources: Resource[] = []
  const abort = new AbortController()
  const onSignal = (): void => abort.abort()
  process.once('SIGINT', onSignal)
  process.once('SIGTERM', onSignal)
  let granted: Granted[] = []
  let grantCtx: GrantContext | undefined
  // The container's stdout and stderr both go to the step's stdout inside the fence, so the
  // runner sees them in order with the fence markers (it reads the two streams separately).
  const fence = new CommandFence((t) => process.stdout.write(t))
  // Whatever way main ends (an exception, process.exit), the resume line is printed.
  const closeFence = (): void => fence.close()
  process.once('exit', closeFence)
  /** Airlock's own lines end the fence first, or the runner would not see them as commands. */
  const own =
    (log: (line: string) => void) =>
    (line: string): void => {
      fence.close()
      log(line)
    }
  try {
    registerAll()
    const plan = readInputs()
    const runId = newRunId()
    saveRunId(runId)
    grantCtx = makeGrantContext({
      settings: plan,
      signal: abort.signal,
      connectTo: plan.connectTo,
      upstreamCa: plan.upstreamCa
    })
    granted = await grantAll(plan.grants, grantCtx)
    core.info(
      `Airlock run ${runId}: grants ${plan.grants.join(', ') || '(none)'}; egress policy ${plan.egressPolicy}`
    )
    core.startGroup(plan.agent ? `${plan.agent} in the airlock` : `$ ${plan.command}`)
    const result = await runSession(plan, granted, runId, {
      // Info lines can name workspace paths (a submodule's name is the PR's text): core.info
      // prints as is, so they are made plain text; warnings are escaped by core itself.
      info: own((line) => core.info(logSafe(line))),
      warn: own(core.warning),
      track: (r) => {
        resources.push(r)
        pushResource(r)
      },
      stdout: (d) => fence.output(d),
      stderr: (d) => fence.output(d),
      signal: abort.signal
    }).finally(() => {
      fence.close()
      core.endGroup()
    })
    const net = summarizeNetwork(result.networkLog)
    core.setOutput('conclusion', result.conclusion)
    core.setOutput('exit-code', String(result.exitCode))
    core.setOutput('result', result.report.result ?? '')
    core.setOutput('session-id', result.report.sessionId ?? '')
    core.setOutput('input-tokens', String(result.report.inputTokens ?? ''))
    core.setOutput('output-tokens', String(result.report.outputTokens ?? ''))
    core.setOutput('network-log', result.networkLog)
    core.setOutput('audit-log', result.auditLog)
    core.setOutput('audit-head', result.auditHead)
    core.setOutput('blocked-requests', String(net.blocked.length + net.audited))
    await writeSummary(
      renderSummary(
        {
          kind: plan.agent ? 'agent' : 'command',
          what: plan.agent || plan.command,
          image: plan.image,
          conclusion: result.conclusion,
          exitCode: result.exitCode,
          durationMs: result.durationMs,
          grants: plan.grants,
          egressPolicy: plan.egressPolicy,
          auditHead: result.auditHead,
          inputTokens: result.report.inputTokens,
          outputTokens: result.report.outputTokens
        },
        net
      )
    )
    if (plan.auditArtifact) {
      const id = await uploadLogs(plan.auditArtifact, [result.networkLog, result.auditLog], (m) =>
        core.warning(m)
      )
      if (id !== undefined)
        core.info(
          `uploaded the network and audit logs as artifact "${plan.auditArtifact}" (id ${id})`
        )
    }
    for (const b of net.blocked.slice(0, 20))
      // Method and URL are the agent's (or the network's) text: shown, never parsed.
      core.warning(logSafe(`Airlock blocked ${b.method} ${b.url} (${b.blocked ?? ''})`))
    if (result.conclusion !== 'success') {
      core.setFailed(
        result.failureReason ??
          (result.conclusion === 'timeout'
            ? `the run timed out after ${plan.timeoutMinutes} minutes`
            : result.conclusion === 'cancelled'
              ? 'the run was cancelled'
              : `the command exited with code ${result.exitCode}`)
      )
    }
  } catch (err) {
    fence.close()
    core.setFailed(errorMessage(err))
  } finally {
    fence.close()
    // Release what main made (post repeats this from state, in case main never got here).
    await releaseAll(resources, own(core.warning))
    // Once started, the proxy revokes minted tokens when it stops; without it, main does.
    if (grantCtx && !resources.some((r) => r.kind === 'proxy')) {
      await revokeAll(granted, grantCtx, (m) => core.warning(m))
    }
    process.off('SIGINT', onSignal)
    process.off('SIGTERM', onSignal)
    process.off('exit', closeFence)
  }
}
