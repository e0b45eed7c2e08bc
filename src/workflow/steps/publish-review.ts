import * as core from '@actions/core'
import { errorMessage } from '../../errors.js'
import { readContext, runUrl, type WorkflowContext } from '../context.js'
import { parseUnifiedDiff } from '../diff.js'
import { fetchPullDiff } from '../pull-diff.js'
import { publishReview, type PublishedReview } from '../publish/review.js'
import { outputsLine } from '../publish/outputs.js'
import { publishOutputs } from './outputs.js'
import { parsePatternList } from '../patch.js'
import { createComment, TRACKING_MARKER, updateComment } from '../publish/comments.js'
import {
  jobSummary,
  progressBody,
  readAgentOutcome,
  statsLine,
  type AgentOutcome
} from '../publish/progress.js'
import { codeBlock } from '../../markdown/safe.js'
import { writeSummary } from '../../report/summary.js'
import type { GitHubClient } from '../github.js'
import { parseReview, REVIEW_DEFAULTS, ReviewRejectedError } from '../review.js'
import { readAgentFile } from '../workspace.js'
import {
  boolInput,
  choiceInput,
  clientFromInputs,
  info,
  input,
  intInput,
  logValue,
  requiredInput,
  setOutputs,
  warning
} from './io.js'

/**
 * The publish-review step, in the writing job (which never runs the agent): validates the
 * review from the agent's artifact against the schema and limits, fetches the pull request's
 * diff itself at the commits the gate recorded, and posts one comment review — or, when the
 * agent job failed, says why in the tracking comment, which follows the run to its end.
 */
export async function run(): Promise<void> {
  try {
    const ctx = readContext()
    const client = clientFromInputs()
    const dir = input('artifact-dir')
    const number = Number(requiredInput('number'))
    const tracking = Number(input('tracking-comment-id') || 0)
    const agentResult = input('agent-result') || 'success'
    const url = runUrl(ctx)
    const outcome = dir ? await readOutcome(dir) : undefined
    const result = dir ? await readResult(dir) : ''
    const say = async (body: string, final = false): Promise<void> => {
      // The job summary gets the final word too, with its links (the review, the run).
      if (final) await writeSummary(jobSummary(body))
      if (!tracking) return
      try {
        await updateComment(client, ctx.repo, tracking, body)
      } catch (err) {
        warning(`could not update the tracking comment: ${logValue(errorMessage(err))}`)
      }
    }
    // A review cancelled by a newer push: the newer run owns the tracking comment now.
    if (agentResult === 'cancelled') {
      info('the agent job was cancelled (a newer run may be reviewing); nothing posted')
      setOutputs({ outcome: 'agent-failed' })
      return
    }
    if (agentResult !== 'success') {
      const body = progressBody({ stage: 'failed', jobResult: agentResult, outcome, result }, url)
      // Without a tracking comment (acknowledge off) a failure is still said on the PR.
      if (tracking) await say(body, true)
      else {
        await writeSummary(jobSummary(body))
        await createComment(client, ctx.repo, number, body)
      }
      setOutputs({ outcome: 'agent-failed' })
      return
    }
    await say(progressBody({ stage: 'publishing', what: 'review', outcome }, url))
    try {
      const published = await publish(client, ctx, dir, number, outcome)
      const extra = await publishOutputs(
        client,
        ctx.repo,
        dir,
        { number, isPr: true, runUrl: url },
        {
          allowedLabels: parsePatternList(input('allowed-labels')),
          allowComment: boolInput('allow-comment', false),
          // A review job writes to its pull request only.
          allowIssue: false,
          allowPrUpdate: false
        }
      )
      const line = extra ? outputsLine(extra) : ''
      await say(`${doneBody(published, outcome, url)}${line ? `\n\n${line}` : ''}`, true)
    } catch (err) {
      await say(
        progressBody(
          {
            stage: 'failed',
            jobResult: 'success',
            outcome,
            reason: 'the review could not be posted',
            // An error can quote the agent (its paths, a server's message): shown as text.
            error: codeBlock(errorMessage(err).slice(0, 4_000), 'text')
          },
          url
        ),
        true
      )
      throw err
    }
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

async function readResult(dir: string): Promise<string> {
  const raw = await readAgentFile(dir, 'result.md', 256 * 1024).catch(() => undefined)
  return raw?.toString('utf8') ?? ''
}

function doneBody(p: PublishedReview, o: AgentOutcome | undefined, url: string): string {
  const parts = [`${p.inline} inline comment${p.inline === 1 ? '' : 's'}`]
  if (p.repeated) parts.push(`${p.repeated} still standing from an earlier review`)
  if (p.outside) parts.push(`${p.outside} on lines outside the diff`)
  const stats = o ? statsLine(o) : ''
  return [
    TRACKING_MARKER,
    `✅ **Airlock** reviewed this pull request: ${p.url ? `[see the review](${p.url})` : 'see the review'} (${parts.join(', ')}) — [run](${url}).`,
    ...(stats ? ['', `<sub>${stats}</sub>`] : [])
  ].join('\n')
}

async function publish(
  client: GitHubClient,
  ctx: WorkflowContext,
  dir: string,
  number: number,
  outcome: AgentOutcome | undefined
): Promise<PublishedReview> {
  const headSha = requiredInput('head-sha')
  const baseSha = requiredInput('base-sha')
  const limits = {
    maxBytes: intInput('max-review-bytes', REVIEW_DEFAULTS.maxBytes, 1024, 1024 * 1024),
    maxComments: intInput('max-comments', REVIEW_DEFAULTS.maxComments, 0, 100),
    maxSummaryChars: intInput('max-summary-chars', REVIEW_DEFAULTS.maxSummaryChars, 100, 65_000),
    maxCommentChars: intInput('max-comment-chars', REVIEW_DEFAULTS.maxCommentChars, 100, 65_000)
  }
  const raw = dir ? await readAgentFile(dir, 'review.json', limits.maxBytes) : undefined
  if (!raw) throw new ReviewRejectedError(['the agent produced no review.json'])
  const parsed = parseReview(raw.toString('utf8'), limits)
  for (const w of parsed.warnings) info(`review: ${logValue(w)}`)
  if (!parsed.review) throw new ReviewRejectedError(parsed.problems)
  const diff = await fetchPullDiff(client, ctx.repo, { number, baseSha, headSha })
  const published = await publishReview(client, ctx.repo, {
    pull: number,
    commitId: headSha,
    diff: parseUnifiedDiff(diff.text),
    review: parsed.review,
    outsideDiff: choiceInput('outside-diff', ['summary', 'drop', 'fail'] as const, 'summary'),
    runUrl: runUrl(ctx),
    stats: outcome ? statsLine(outcome) : '',
    sticky: boolInput('sticky', true),
    allowVerdict: boolInput('allow-verdict', false)
  })
  for (const n of published.notes) info(`review: ${logValue(n)}`)
  core.info(
    `posted review ${published.reviewId}: ${published.inline} inline comment(s), ${published.repeated} not repeated, ${published.outside} outside the diff, ${published.superseded} earlier review(s) superseded`
  )
  setOutputs({
    outcome: 'posted',
    'review-id': published.reviewId,
    'review-url': published.url,
    'inline-comments': published.inline,
    'outside-comments': published.outside,
    'repeated-comments': published.repeated,
    'superseded-reviews': published.superseded,
    event: published.event
  })
  return published
}
