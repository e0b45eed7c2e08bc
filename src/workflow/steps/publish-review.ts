import * as core from '@actions/core'
import { errorMessage } from '../../errors.js'
import { readContext, runUrl } from '../context.js'
import { parseUnifiedDiff } from '../diff.js'
import { fetchPullDiff } from '../pull-diff.js'
import { publishReview } from '../publish/review.js'
import { parseReview, REVIEW_DEFAULTS, ReviewRejectedError } from '../review.js'
import { readAgentFile } from '../workspace.js'
import {
  choiceInput,
  clientFromInputs,
  info,
  intInput,
  logValue,
  requiredInput,
  setOutputs
} from './io.js'

/**
 * The publish-review step, in the writing job (which never runs the agent): validates the
 * review from the agent's artifact against the schema and limits, fetches the pull request's
 * diff itself at the commits the gate recorded, and posts one comment review.
 */
export async function run(): Promise<void> {
  try {
    const ctx = readContext()
    const client = clientFromInputs()
    const dir = requiredInput('artifact-dir')
    const number = Number(requiredInput('number'))
    const headSha = requiredInput('head-sha')
    const baseSha = requiredInput('base-sha')
    const limits = {
      maxBytes: intInput('max-review-bytes', REVIEW_DEFAULTS.maxBytes, 1024, 1024 * 1024),
      maxComments: intInput('max-comments', REVIEW_DEFAULTS.maxComments, 0, 100),
      maxSummaryChars: intInput('max-summary-chars', REVIEW_DEFAULTS.maxSummaryChars, 100, 65_000),
      maxCommentChars: intInput('max-comment-chars', REVIEW_DEFAULTS.maxCommentChars, 100, 65_000)
    }
    const raw = await readAgentFile(dir, 'review.json', limits.maxBytes)
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
      runUrl: runUrl(ctx)
    })
    for (const n of published.notes) info(`review: ${logValue(n)}`)
    core.info(
      `posted review ${published.reviewId}: ${published.inline} inline comment(s), ${published.outside} outside the diff`
    )
    setOutputs({
      'review-id': published.reviewId,
      'review-url': published.url,
      'inline-comments': published.inline,
      'outside-comments': published.outside
    })
  } catch (err) {
    core.setFailed(errorMessage(err))
  }
}
