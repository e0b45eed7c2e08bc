/**
 * Posting the agent's review: one COMMENT review, inline comments placed on the diff, sticky
 * across pushes (earlier Airlock reviews point to the newest, comments still standing on
 * unchanged lines are not made again).
 */
import { type FileDiff } from '../diff.js'
import { GitHubApiError, repoPath, type GitHubClient, type RepoRef } from '../github.js'
import { codeSpan, hasMarker, safeMarkdown } from '../../markdown/safe.js'
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
  /** A line of run facts (duration, tokens) for the footer. */
  stats?: string
  /** Point earlier Airlock reviews to this one and skip repeated comments (default true). */
  sticky?: boolean
  /** Post the agent's verdict (APPROVE, REQUEST_CHANGES) instead of always COMMENT. */
  allowVerdict?: boolean
}

/** What {@link publishReview} posted. */
export interface PublishedReview {
  reviewId: number
  url: string
  inline: number
  outside: number
  /** Inline comments left out: an earlier Airlock review made them on the same unchanged line. */
  repeated: number
  /** Earlier Airlock reviews whose summary now points to this one. */
  superseded: number
  /** The kind of review posted. */
  event: string
  /** Why comments left the diff. */
  notes: string[]
}

/** First line of an earlier review's body once a newer one replaced it. */
export const SUPERSEDED_MARKER = '<!-- airlock:superseded -->'

interface ListedReview {
  id: number
  body?: string | null
  user?: { login?: string; type?: string } | null
  html_url?: string
}

interface ListedComment {
  pull_request_review_id?: number | null
  path?: string
  line?: number | null
  start_line?: number | null
  side?: string
  body?: string
}

/**
 * Airlock's earlier reviews of the pull request: posted by a bot (an App or the Actions bot;
 * people cannot post as one) with the review marker as a real HTML comment on its last line.
 * Text that spells the marker — an agent's summary, a person's review — does not count:
 * safeMarkdown renders an agent's HTML as code, and a person's review is not a bot's.
 */
async function earlierReviews(
  client: GitHubClient,
  repo: RepoRef,
  pull: number
): Promise<{ reviews: ListedReview[]; standing: Set<string> }> {
  const all = await client.paginate<ListedReview>(repoPath(repo, 'pulls', pull, 'reviews'))
  const reviews = all.filter(
    (r) => r.user?.type === 'Bot' && typeof r.body === 'string' && hasMarker(r.body, REVIEW_MARKER)
  )
  const standing = new Set<string>()
  if (reviews.length === 0) return { reviews, standing }
  const ids = new Set(reviews.map((r) => r.id))
  for (const c of await client.paginate<ListedComment>(repoPath(repo, 'pulls', pull, 'comments')))
    // `line` is null once the line changed: that comment is outdated, and may be made again.
    if (c.pull_request_review_id && ids.has(c.pull_request_review_id) && c.line)
      standing.add(
        commentKey(c.path ?? '', c.side ?? 'RIGHT', c.start_line ?? null, c.line, c.body ?? '')
      )
  return { reviews, standing }
}

/** Same file, side, lines and (white space aside) words: the same comment. */
function commentKey(
  path: string,
  side: string,
  startLine: number | null,
  line: number,
  body: string
): string {
  return JSON.stringify([path, side, startLine, line, body.replace(/\s+/g, ' ').trim()])
}

function supersededBody(newUrl: string, commitId: string): string {
  return [
    SUPERSEDED_MARKER,
    `*Airlock reviewed a newer commit (${commitId.slice(0, 12)}): ${newUrl ? `[see the latest review](${newUrl})` : 'see the latest review'}. The inline comments below still show where they were made.*`,
    REVIEW_MARKER
  ].join('\n')
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

function reviewBody(
  summary: string,
  outside: string,
  commitId: string,
  runUrl?: string,
  extra: string[] = []
): string {
  const facts = [`Review by Airlock of ${commitId.slice(0, 12)}`, ...extra]
  if (runUrl) facts.push(`[run](${runUrl})`)
  const footer = `<sub>${facts.join(' · ')}</sub>`
  return clip(
    `${safeMarkdown(summary, { maxChars: MAX_AGENT_TEXT })}\n${outside}\n\n${footer}\n${REVIEW_MARKER}`
  )
}

/**
 * Posts the review as one `COMMENT` review (an approval or a change request only where the
 * workflow allows the agent's verdict) with its
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
  const sticky = input.sticky ?? true
  const earlier = sticky
    ? await earlierReviews(client, repo, input.pull)
    : { reviews: [], standing: new Set<string>() }
  const fresh = placed.inline.filter(
    (c) =>
      !earlier.standing.has(
        commentKey(
          c.path,
          c.side,
          c.startLine ?? null,
          c.line,
          safeMarkdown(c.body, { maxChars: MAX_INLINE_COMMENT })
        )
      )
  )
  const repeated = placed.inline.length - fresh.length
  const extra: string[] = []
  if (repeated > 0)
    extra.push(
      `${repeated} comment${repeated === 1 ? '' : 's'} of an earlier review still apply and ${repeated === 1 ? 'is' : 'are'} not repeated`
    )
  if (input.stats) extra.push(input.stats)
  const event = input.allowVerdict && input.review.verdict ? input.review.verdict : 'COMMENT'
  if (input.review.verdict && input.review.verdict !== event)
    notes.push(
      `the agent's verdict ${input.review.verdict} is posted as COMMENT (allow-verdict is off)`
    )
  const path = repoPath(repo, 'pulls', input.pull, 'reviews')
  type Answer = { id: number; html_url?: string; user?: { login?: string } }
  let answer: Answer
  let inline = fresh.length
  try {
    answer = await client.request<Answer>('POST', path, {
      body: {
        commit_id: input.commitId,
        event,
        body: reviewBody(
          input.review.summary,
          formatOutside(outside),
          input.commitId,
          input.runUrl,
          extra
        ),
        comments: fresh.map(toApi)
      }
    })
  } catch (err) {
    if (!(err instanceof GitHubApiError) || err.status !== 422 || fresh.length === 0) throw err
    notes.push(`GitHub refused the inline comments (${err.message}); they are in the summary`)
    const all = [...fresh.map((comment) => ({ comment, reason: 'refused' })), ...outside]
    answer = await client.request<Answer>('POST', path, {
      body: {
        commit_id: input.commitId,
        event,
        body: reviewBody(
          input.review.summary,
          formatOutside(all),
          input.commitId,
          input.runUrl,
          extra
        ),
        comments: []
      }
    })
    inline = 0
  }
  // Only reviews by whoever just posted can be edited, and only those are Airlock's for sure:
  // another bot's review carrying the marker is left alone.
  let superseded = 0
  const me = answer.user?.login
  for (const r of earlier.reviews) {
    if (!me || r.user?.login !== me || r.id === answer.id) continue
    if ((r.body ?? '').startsWith(SUPERSEDED_MARKER)) continue
    try {
      await client.request('PUT', repoPath(repo, 'pulls', input.pull, 'reviews', r.id), {
        body: { body: supersededBody(answer.html_url ?? '', input.commitId) }
      })
      superseded++
    } catch (err) {
      notes.push(
        `could not point the earlier review ${r.id} to this one: ${err instanceof Error ? err.message : String(err)}`
      )
    }
  }
  return {
    reviewId: answer.id,
    url: answer.html_url ?? '',
    inline,
    outside: placed.outside.length,
    repeated,
    superseded,
    event,
    notes
  }
}
