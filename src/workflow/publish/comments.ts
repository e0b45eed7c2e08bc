/**
 * Comments Airlock writes on issues and pull requests: markers, limits, reactions, the tracking
 * comment.
 */
import { AirlockError, type ErrorCode } from '../../errors.js'
import { repoPath, type GitHubClient, type RepoRef } from '../github.js'
import { codeSpan, hasMarker } from '../../markdown/safe.js'

/** Hidden marker on every comment Airlock writes, so later runs (and people) can find them. */
export const TRACKING_MARKER = '<!-- airlock:tracking -->'
export const REVIEW_MARKER = '<!-- airlock:review -->'

/** Longest comment GitHub accepts is 65536 characters; stay clear of it. */
export const MAX_COMMENT = 60_000

/** Room for the agent's review summary and its final message (rendered, in characters). */
export const MAX_AGENT_TEXT = 40_000

/** Room for one inline review comment, or one comment listed outside the diff. */
export const MAX_INLINE_COMMENT = 8_000

/**
 * A GitHub login as a mention (the requester is told their request was picked up). A login
 * is letters, digits and single hyphens (a bot's ends in `[bot]`); anything else is not a
 * login and is shown as code, so a forged actor cannot mention someone else or add Markdown.
 */
export function mentionLogin(login: string): string {
  return /^[A-Za-z0-9](?:[A-Za-z0-9]|-(?=[A-Za-z0-9])){0,38}(?:\[bot\])?$/.test(login)
    ? `@${login}`
    : codeSpan(login, { max: 60 })
}

/** What a reaction or reply is attached to. */
export interface ReactionTarget {
  /** Issue/PR number. */
  number: number
  commentId: number
  /** `issue`: issue or PR conversation comment; `review-comment`: inline comment; else the issue itself. */
  kind: 'issue' | 'review-comment' | 'review' | ''
}

/**
 * Adds a reaction to what triggered the run, so the requester sees it was picked up. Reviews
 * have no reactions API, so a review (or an issue/label trigger) gets it on the issue itself.
 */
export async function addReaction(
  client: GitHubClient,
  repo: RepoRef,
  target: ReactionTarget,
  content = 'eyes'
): Promise<void> {
  const path =
    target.kind === 'issue' && target.commentId
      ? repoPath(repo, 'issues', 'comments', target.commentId, 'reactions')
      : target.kind === 'review-comment' && target.commentId
        ? repoPath(repo, 'pulls', 'comments', target.commentId, 'reactions')
        : repoPath(repo, 'issues', target.number, 'reactions')
  await client.request('POST', path, { body: { content } })
}

/** Creates a comment on an issue or pull request; returns its id and link. */
export async function createComment(
  client: GitHubClient,
  repo: RepoRef,
  number: number,
  body: string
): Promise<{ id: number; url: string }> {
  const r = await client.request<{ id: number; html_url?: string }>(
    'POST',
    repoPath(repo, 'issues', number, 'comments'),
    { body: { body: clip(body) } }
  )
  return { id: r.id, url: r.html_url ?? '' }
}

/**
 * Airlock's latest tracking comment on an issue or pull request: a bot's comment with the
 * tracking marker as a real HTML comment on its first line (a person's comment, or agent
 * text quoted anywhere, does not count). 0 when there is none.
 */
export async function lastTrackingComment(
  client: GitHubClient,
  repo: RepoRef,
  number: number
): Promise<number> {
  const all = await client.paginate<{
    id: number
    body?: string | null
    user?: { type?: string } | null
  }>(repoPath(repo, 'issues', number, 'comments'))
  const ours = all.filter((c) => c.user?.type === 'Bot' && hasMarker(c.body ?? '', TRACKING_MARKER))
  return ours.length > 0 ? ours[ours.length - 1]!.id : 0
}

/** Replaces the body of an issue comment. */
export async function updateComment(
  client: GitHubClient,
  repo: RepoRef,
  commentId: number,
  body: string
): Promise<void> {
  await client.request('PATCH', repoPath(repo, 'issues', 'comments', commentId), {
    body: { body: clip(body) }
  })
}

/**
 * Keeps a body under GitHub's limit. Agent text is cut before it is neutralised (see
 * safeMarkdown), so this is the last resort: it cuts at a line boundary (Airlock's Markdown
 * never spans a code span or an escape over lines, so no neutralising construct is split)
 * and keeps a trailing marker line.
 */
export function clip(body: string, max = MAX_COMMENT): string {
  if (body.length <= max) return body
  const lastNl = body.lastIndexOf('\n')
  const tail = /^<!-- airlock:[a-z-]+ -->$/.test(body.slice(lastNl + 1)) ? body.slice(lastNl) : ''
  const note = `\n\n…(cut at ${max} characters)`
  let cut = body.lastIndexOf('\n', max - tail.length - note.length)
  if (cut <= 0) cut = 0
  return `${body.slice(0, cut)}${note}${tail}`
}

/** The tracking comment posted when a run starts. */
export function workingBody(runUrl: string, actor: string): string {
  return [
    TRACKING_MARKER,
    `**Airlock** is working on the request from ${mentionLogin(actor)} — [follow the run](${runUrl}).`
  ].join('\n')
}

/** What the publish job refuses to write (a review outside the policy, a protected branch). */
export class PublishError extends AirlockError {
  constructor(code: ErrorCode, message: string) {
    super(code, message)
  }
}
