import * as core from '@actions/core'
import { errorMessage } from '../../errors.js'
import { readContext, runUrl } from '../context.js'
import type { Delivery } from '../gate/checks.js'
import { parsePatternList } from '../patch.js'
import { createComment, updateComment } from '../publish/comments.js'
import type { PublishPatchInput } from '../publish/delivery.js'
import { finishedBody, publishPatch, type PublishedPatch } from '../publish/patch.js'
import { readAgentFile } from '../workspace.js'
import { outputsLine } from '../publish/outputs.js'
import { publishOutputs } from './outputs.js'
import { writeSummary } from '../../report/summary.js'
import {
  jobSummary,
  progressBody,
  readAgentOutcome,
  statsLine,
  type AgentOutcome
} from '../publish/progress.js'
import {
  boolInput,
  choiceInput,
  clientFromInputs,
  info,
  input,
  intInput,
  logValue,
  requiredInput,
  setOutputs
} from './io.js'

/**
 * The publish-patch step, in the writing job (which never runs the agent): validates the
 * agent's patch, commits and pushes it (or opens/updates a pull request, or shows it in a
 * comment for a fork), and turns the tracking comment into the answer. When the agent job
 * did not succeed, it only reports that.
 */
export async function run(): Promise<void> {
  try {
    const ctx = readContext()
    const client = clientFromInputs()
    const dir = input('artifact-dir')
    const number = Number(requiredInput('number'))
    const tracking = Number(input('tracking-comment-id') || 0)
    const agentResult = input('agent-result') || 'success'
    const maxBytes = intInput('max-patch-bytes', 1024 * 1024, 1, 64 * 1024 * 1024)
    const result = dir
      ? ((await readAgentFile(dir, 'result.md', 256 * 1024).catch(() => undefined))?.toString(
          'utf8'
        ) ?? '')
      : ''
    const patchInput: PublishPatchInput = {
      patch: Buffer.alloc(0),
      policy: {
        maxBytes,
        // 0 refuses every change: a run that may only answer (triage) can never write code.
        maxFiles: intInput('max-patch-files', 100, 0, 10_000),
        allowPaths: parsePatternList(input('allow-paths'))
      },
      delivery: choiceInput(
        'delivery',
        ['pull-request', 'push', 'comment'] as const,
        'pull-request'
      ) satisfies Delivery,
      number,
      isPr: boolInput('is-pr', false),
      title: input('title'),
      workSha: requiredInput('work-sha'),
      branch: input('branch'),
      baseBranch: input('base-branch'),
      branchPrefix: input('branch-prefix') || 'airlock/',
      scheduledName: input('scheduled-name') || undefined,
      actor: input('actor'),
      actorId: Number(input('actor-id') || 0),
      result,
      runUrl: runUrl(ctx),
      serverHost: new URL(ctx.serverUrl).host
    }
    const say = async (body: string, final = true): Promise<void> => {
      // The job summary gets the final word, with its links (the commit, the pull request).
      if (final) await writeSummary(jobSummary(body))
      if (tracking) await updateComment(client, ctx.repo, tracking, body)
      else await createComment(client, ctx.repo, number, body)
    }
    const outcome = dir ? await readOutcome(dir) : undefined
    if (agentResult !== 'success') {
      await say(
        progressBody({ stage: 'failed', jobResult: agentResult, outcome, result }, runUrl(ctx))
      )
      setOutputs({ outcome: 'agent-failed' })
      return
    }
    if (tracking)
      await say(progressBody({ stage: 'publishing', what: 'respond', outcome }, runUrl(ctx)), false)
    const patch = dir ? await readAgentFile(dir, 'patch.diff', maxBytes + 1) : undefined
    patchInput.patch = patch ?? Buffer.alloc(0)
    let published: PublishedPatch
    try {
      published = await publishPatch(client, ctx.repo, patchInput)
    } catch (err) {
      await say(
        finishedBody({
          input: patchInput,
          error: errorMessage(err),
          stats: outcome ? statsLine(outcome) : ''
        })
      )
      throw err
    }
    for (const n of published.notes ?? []) core.notice(logValue(n))
    const extra = await publishOutputs(
      client,
      ctx.repo,
      dir,
      { number, isPr: patchInput.isPr, runUrl: runUrl(ctx) },
      {
        allowedLabels: parsePatternList(input('allowed-labels')),
        allowComment: boolInput('allow-comment', false),
        allowIssue: boolInput('allow-issue', false),
        allowPrUpdate: boolInput('allow-pr-update', false)
      }
    )
    const line = extra ? outputsLine(extra) : ''
    await say(
      finishedBody({
        input: { ...patchInput, branch: published.branch ?? patchInput.branch },
        published,
        patch: patchInput.patch,
        stats: outcome ? statsLine(outcome) : ''
      }) + (line ? `\n\n${line}` : '')
    )
    info(
      `${published.outcome}: ${published.files.length} file(s)${published.commitSha ? `, commit ${logValue(published.commitSha)}` : ''}${published.pullUrl ? `, ${logValue(published.pullUrl)}` : ''}`
    )
    setOutputs({
      outcome: published.outcome,
      'commit-sha': published.commitSha,
      'pull-number': published.pullNumber,
      'pull-url': published.pullUrl
    })
  } catch (err) {
    core.setFailed(errorMessage(err))
  }
}

async function readOutcome(dir: string): Promise<AgentOutcome | undefined> {
  const raw = await readAgentFile(dir, 'meta.json', 64 * 1024).catch(() => undefined)
  if (!raw) return undefined
  try {
    return readAgentOutcome(JSON.parse(raw.toString('utf8')))
  } catch {
    return undefined
  }
}
