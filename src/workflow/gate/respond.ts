/** The respond gate: whether a comment, issue or label event is a request to act on. */
import { num, obj, str, type WorkflowContext } from '../context.js'
import { repoPath, type GitHubClient } from '../github.js'
import {
  GATE_DEFAULTS,
  type GateOptions,
  type GateDecision,
  hasTrigger,
  type User,
  user,
  type PullInfo,
  pullInfo,
  isForkPull,
  skip,
  refSha,
  checkUsers
} from './checks.js'

export interface Trigger {
  number: number
  isPr: boolean
  pr?: PullInfo
  text: string
  previous?: string
  author?: User
  commentId: number
  commentKind: GateDecision['commentKind']
  title: string
  byLabel: boolean
}

export function respondTrigger(
  ctx: WorkflowContext,
  opts: GateOptions,
  anyLabel = false
): Trigger | string {
  const e = ctx.event
  const action = str(e.action) ?? ''
  const previous = str(obj(obj(e.changes)?.body)?.from)
  switch (ctx.eventName) {
    case 'issue_comment': {
      if (action !== 'created' && action !== 'edited') return `issue_comment ${action} is ignored`
      const issue = obj(e.issue)
      const comment = obj(e.comment)
      if (!issue || !comment) return 'the event has no issue or comment'
      return {
        number: num(issue.number) ?? 0,
        isPr: !!obj(issue.pull_request),
        text: str(comment.body) ?? '',
        previous,
        author: user(comment.user),
        commentId: num(comment.id) ?? 0,
        commentKind: 'issue',
        title: str(issue.title) ?? '',
        byLabel: false
      }
    }
    case 'pull_request_review_comment': {
      if (action !== 'created' && action !== 'edited')
        return `pull_request_review_comment ${action} is ignored`
      const pr = pullInfo(e.pull_request)
      const comment = obj(e.comment)
      if (!pr || !comment) return 'the event has no pull request or comment'
      return {
        number: pr.number,
        isPr: true,
        pr,
        text: str(comment.body) ?? '',
        previous,
        author: user(comment.user),
        commentId: num(comment.id) ?? 0,
        commentKind: 'review-comment',
        title: pr.title,
        byLabel: false
      }
    }
    case 'pull_request_review': {
      if (action !== 'submitted' && action !== 'edited')
        return `pull_request_review ${action} is ignored`
      const pr = pullInfo(e.pull_request)
      const review = obj(e.review)
      if (!pr || !review) return 'the event has no pull request or review'
      return {
        number: pr.number,
        isPr: true,
        pr,
        text: str(review.body) ?? '',
        previous,
        author: user(review.user),
        commentId: num(review.id) ?? 0,
        commentKind: 'review',
        title: pr.title,
        byLabel: false
      }
    }
    case 'issues': {
      const issue = obj(e.issue)
      if (!issue) return 'the event has no issue'
      const base = {
        number: num(issue.number) ?? 0,
        isPr: false,
        text: str(issue.body) ?? '',
        previous,
        author: user(issue.user),
        commentId: 0,
        commentKind: '' as const,
        title: str(issue.title) ?? ''
      }
      if (action === 'labeled') {
        const label = str(obj(e.label)?.name) ?? ''
        if (!anyLabel && (!opts.label || label.toLowerCase() !== opts.label.toLowerCase()))
          return `label "${label}" is not the trigger label`
        return { ...base, byLabel: true }
      }
      if (action === 'opened' || action === 'edited') return { ...base, byLabel: false }
      return `issues ${action} is ignored`
    }
    default:
      return `${ctx.eventName || 'this'} event does not trigger a response`
  }
}

export async function respondGate(
  client: GitHubClient,
  ctx: WorkflowContext,
  opts: GateOptions
): Promise<GateDecision> {
  const t = respondTrigger(ctx, opts)
  if (typeof t === 'string') return skip(t)
  const action = str(ctx.event.action) ?? ''
  const sender = user(ctx.event.sender)
  const asker = t.byLabel ? sender : t.author
  const base: Partial<GateDecision> = {
    number: t.number,
    isPr: t.isPr,
    actor: asker?.login ?? '',
    actorId: asker?.id ?? 0,
    commentId: t.commentId,
    commentKind: t.commentKind,
    title: t.title,
    request: t.text
  }
  if (!t.byLabel) {
    if (!hasTrigger(t.text, opts.trigger))
      return skip(`no ${opts.trigger} mention outside code and quotes`, base)
    if (action === 'edited') {
      if (opts.edited === 'ignore')
        return skip('edited comments are ignored (edited: ignore)', base)
      if (opts.edited === 'new-mention' && hasTrigger(t.previous, opts.trigger))
        return skip(`the edit did not add the ${opts.trigger} mention (edited: new-mention)`, base)
    }
  }
  // The author wrote the text; the sender (if different) edited it or added the label.
  const users = [asker, t.byLabel ? undefined : sender].filter((u): u is User => !!u)
  if (users.length === 0) return skip('the event names no user', base)
  const refused = await checkUsers(client, ctx.repo, users, opts)
  if (refused) return skip(refused, base)

  const repository = obj(ctx.event.repository)
  const defaultBranch = str(repository?.default_branch) ?? 'main'
  if (!t.isPr) {
    const branch = `${opts.branchPrefix}issue-${t.number}`
    const existing = await refSha(client, ctx.repo, branch)
    const workSha = existing ?? (await refSha(client, ctx.repo, defaultBranch))
    if (!workSha) return skip(`default branch ${defaultBranch} not found`, base)
    return {
      ...skip('', base),
      run: true,
      reason: `respond on issue #${t.number}${existing ? ` (continuing ${branch})` : ''}`,
      workSha,
      delivery: 'pull-request',
      branch,
      baseBranch: defaultBranch
    }
  }
  // issue_comment payloads carry only a link to the pull request; ask for the rest.
  const pr =
    t.pr ?? pullInfo(await client.request('GET', repoPath(ctx.repo, 'pulls', String(t.number))))
  if (!pr) return skip(`pull request #${t.number} not found`, base)
  const fork = isForkPull(pr, ctx.repo)
  const prBase = { ...base, isFork: fork, headSha: pr.headSha, baseSha: pr.baseSha }
  if (pr.state !== 'open') return skip('the pull request is not open', prBase)
  if (fork)
    return {
      ...skip('', prBase),
      run: true,
      reason: `respond on pull request #${t.number} from a fork (the patch is posted as a comment)`,
      workSha: pr.headSha,
      delivery: 'comment',
      baseBranch: pr.baseRef
    }
  if (opts.prDelivery === 'push')
    return {
      ...skip('', prBase),
      run: true,
      reason: `respond on pull request #${t.number} (pushing to ${pr.headRef})`,
      workSha: pr.headSha,
      delivery: 'push',
      branch: pr.headRef,
      baseBranch: pr.baseRef
    }
  const branch = `${opts.branchPrefix}pr-${t.number}`
  const existing = await refSha(client, ctx.repo, branch)
  return {
    ...skip('', prBase),
    run: true,
    reason: `respond on pull request #${t.number} (pull request from ${branch} into ${pr.headRef})`,
    workSha: existing ?? pr.headSha,
    delivery: 'pull-request',
    branch,
    baseBranch: pr.headRef
  }
}

/** The texts of the event the agent is told about. */
export interface EventText {
  /** What was asked: the comment, review or issue body; for a label, a fixed request. */
  request: string
  /** Title and description of the issue or pull request. */
  title: string
  body: string
  byLabel: boolean
}

/**
 * The request and its context, read from the event payload (the same immutable snapshot the
 * gate judged, so an edit after the gate passed cannot change what the agent is asked).
 */
export function eventText(ctx: WorkflowContext): EventText {
  const t = respondTrigger(ctx, GATE_DEFAULTS, true)
  const e = ctx.event
  const pr = obj(e.pull_request)
  const issue = obj(e.issue)
  const title = str(pr?.title) ?? str(issue?.title) ?? ''
  const body = str(pr?.body) ?? str(issue?.body) ?? ''
  if (typeof t === 'string') return { request: '', title, body, byLabel: false }
  const what = t.isPr ? 'pull request' : 'issue'
  const request = t.byLabel
    ? `Resolve ${what} #${t.number} as its title and description below ask.`
    : t.text
  return { request, title, body, byLabel: t.byLabel }
}
