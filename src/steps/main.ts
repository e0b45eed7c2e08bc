import * as core from '@actions/core'
import { discardRunProxy, type RunProxy } from '../daemon/run-proxy.js'
import { errorMessage } from '../errors.js'
import { readInputs } from '../inputs.js'
import { registerAll } from '../providers/index.js'
import { uploadLogs } from '../report/artifact.js'
import { blockedTotal, summarizeNetwork } from '../report/network.js'
import { renderSummary, writeSummary } from '../report/summary.js'
import { logSafe } from '../sandbox/log-fence.js'
import { runInAirlock } from '../run.js'
import { pushResource, saveReleased, saveRunId } from '../state.js'

/** The main step: validate everything, grant, build the airlock, run the agent in it, report. */
export async function run(early?: RunProxy): Promise<void> {
  try {
    registerAll()
    const plan = readInputs()
    const { result } = await runInAirlock(plan, {
      ...(early ? { early } : {}),
      info: core.info,
      warn: core.warning,
      setSecret: core.setSecret,
      // The container's stdout and stderr both go to the step's stdout inside the fence, so
      // the runner sees them in order with the fence markers (it reads the streams apart).
      write: (d) => process.stdout.write(d),
      fence: (t) => process.stdout.write(t),
      persist: pushResource,
      started: saveRunId,
      // Post then skips its second pass (and its docker calls): nothing of this run remains.
      released: saveReleased,
      sessionStarting: (runId) => {
        core.info(
          `Airlock run ${runId}: grants ${plan.grants.join(', ') || '(none)'}; egress policy ${plan.egressPolicy}`
        )
        core.startGroup(plan.agent ? `${plan.agent} in the airlock` : `$ ${plan.command}`)
      },
      sessionEnded: () => core.endGroup()
    })
    const net = summarizeNetwork(result.networkLog)
    core.setOutput('conclusion', result.conclusion)
    core.setOutput('exit-code', String(result.exitCode))
    core.setOutput('result', result.report.result ?? '')
    core.setOutput('session-id', result.report.sessionId ?? '')
    core.setOutput('input-tokens', String(result.report.inputTokens ?? ''))
    core.setOutput('output-tokens', String(result.report.outputTokens ?? ''))
    core.setOutput('cost-usd', result.report.costUsd?.toFixed(4) ?? '')
    core.setOutput('network-log', result.networkLog)
    core.setOutput('audit-log', result.auditLog)
    core.setOutput('audit-head', result.auditHead)
    core.setOutput('blocked-requests', String(blockedTotal(net) + net.audited))
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
    core.setOutput('conclusion', 'failure')
    core.setFailed(errorMessage(err))
  } finally {
    // Bad inputs end the step before the run took the early proxy over: it exits unused.
    if (early) discardRunProxy(early)
  }
}
