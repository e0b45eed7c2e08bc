/** Posting the agent's review: one COMMENT review, inline comments placed on the diff. */
import { type FileDiff } from '../diff.js'
import { GitHubApiError, repoPath, type GitHubClient, type RepoRef } from '../github.js'
import { codeSpan, safeMarkdown } from '../../markdown/safe.js'
import { placeComments, type Review, type ReviewComment } from '../review.js'
import {
  clip,
  MAX_AGENT_TEXT,
  MAX_INLINE_COMMENT,
  PublishError,
  REVIEW_MARKER
} from './comments.js'

/** Inputs of {@link publishReview}. */
export interface PublishReviewInput {
  pull: number
  /** The commit the agent reviewed; the review is anchored to it. */
  commitId: string
  /** The diff the agent saw (fetched again by the writer, never taken from the agent's artifact). */
  diff: FileDiff[]
  review: Review
  /** Comments on lines outside the diff: listed in the summary (default), dropped, or refused. */
  outsideDiff?: 'summary' | 'drop' | 'fail'
  runUrl?: string
}

/** What {@link publishReview} posted. */
export interface PublishedReview {
  reviewId: number
  url: string
  inline: number
  outside: number
  /** Why comments left the diff. */
  notes: string[]
}

function formatOutside(list: { comment: ReviewComment; reason: string }[]): string {
  if (list.length === 0) return ''
  // Each comment's path (the agent's) as code, its body re-rendered inert and indented under
  // the list item; the <details> around it is Airlock's, and nothing in a rendered body can
  // close it (raw HTML from the agent comes out as code).
  const items = list.map(({ comment: c }) => {
    const where = `${c.path}:${c.startLine ? `${c.startLine}-` : ''}${c.line}`
    const body = safeMarkdown(c.body, { maxChars: MAX_INLINE_COMMENT })
    return `- ${codeSpan(where, { max: 300 })}\n\n${body
      .split('\n')
      .map((l) => (l === '' ? '' : `  ${l}`))
      .join('\n')}`
  })
  return [
    '',
    `<details><summary>${list.length} comment${list.length === 1 ? '' : 's'} on lines outside the diff</summary>`,
    '',
    ...items,
    '',
    '</details>'
  ].join('\n')
}

function reviewBody(summary: string, outside: string, commitId: string, runUrl?: string): string {
  const footer = `<sub>Review by Airlock of ${commitId.slice(0, 12)}${runUrl ? ` · [run](${runUrl})` : ''}</sub>`
  return clip(
    `${safeMarkdown(summary, { maxChars: MAX_AGENT_TEXT })}\n${outside}\n\n${footer}\n${REVIEW_MARKER}`
  )
}

/**
 * Posts the review as one `COMMENT` review (never an approval or a change request) with its
 * inline comments. Comments GitHub would reject for being outside the diff are handled by
 * policy before posting; should GitHub still refuse the inline comments (422), the review is
 * posted once more with every comment in the summary, so the work is never lost.
 */
export async function publishReview(
  client: GitHubClient,
  repo: RepoRef,
  input: PublishReviewInput
): Promise<PublishedReview> {
  const policy = input.outsideDiff ?? 'summary'
  const placed = placeComments(input.review, input.diff)
  const notes = placed.outside.map((o) => o.reason)
  if (policy === 'fail' && placed.outside.length > 0)
    throw new PublishError(
      'AIRLOCK_REVIEW_OUTSIDE_DIFF',
      `comments outside the diff:\n- ${notes.join('\n- ')}`
    )
  const outside = policy === 'summary' ? placed.outside : []
  const toApi = (c: ReviewComment): Record<string, unknown> => {
    const o: Record<string, unknown> = {
      path: c.path,
      line: c.line,
      side: c.side,
      body: safeMarkdown(c.body, { maxChars: MAX_INLINE_COMMENT })
    }
    if (c.startLine !== undefined) {
      o.start_line = c.startLine
      o.start_side = c.side
    }
    return o
  }
  const path = repoPath(repo, 'pulls', input.pull, 'reviews')
  type Answer = { id: number; html_url?: string }
  let answer: Answer
  let inline = placed.inline.length
  try {
    answer = await client.request<Answer>('POST', path, {
      body: {
        commit_id: input.commitId,
        event: 'COMMENT',
        body: reviewBody(
          input.review.summary,
          formatOutside(outside),
          input.commitId,
          input.runUrl
        ),
        comments: placed.inline.map(toApi)
      }
    })
  } catch (err) {
    if (!(err instanceof GitHubApiError) || err.status !== 422 || placed.inline.length === 0)
      throw err
    notes.push(`GitHub refused the inline comments (${err.message}); they are in the summary`)
    const all = [...placed.inline.map((comment) => ({ comment, reason: 'refused' })), ...outside]
    answer = await client.request<Answer>('POST', path, {
      body: {
        commit_id: input.commitId,
        event: 'COMMENT',
        body: reviewBody(input.review.summary, formatOutside(all), input.commitId, input.runUrl),
        comments: []
      }
    })
    inline = 0
  }
  return {
    reviewId: answer.id,
    url: answer.html_url ?? '',
    inline,
    outside: placed.outside.length,
    notes
  }
}
