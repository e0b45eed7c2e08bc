/** The review gate: whether a pull request event gets a review run. */
import { obj, str, type WorkflowContext } from '../context.js'
import { type GitHubClient } from '../github.js'
import {
  type GateOptions,
  type GateDecision,
  user,
  pullInfo,
  isForkPull,
  skip,
  checkUsers
} from './checks.js'

export async function reviewGate(
  client: GitHubClient,
  ctx: WorkflowContext,
  opts: GateOptions
): Promise<GateDecision> {
  const e = ctx.event
  const action = str(e.action) ?? ''
  if (ctx.eventName !== 'pull_request' && ctx.eventName !== 'pull_request_target')
    return skip(`review runs on pull_request or pull_request_target events, not ${ctx.eventName}`)
  const pr = pullInfo(e.pull_request)
  if (!pr) return skip('the event has no pull request')
  const sender = user(e.sender)
  const base: Partial<GateDecision> = {
    number: pr.number,
    isPr: true,
    isFork: isForkPull(pr, ctx.repo),
    actor: sender?.login ?? '',
    actorId: sender?.id ?? 0,
    title: pr.title
  }
  const triggers = ['opened', 'synchronize', 'reopened', 'ready_for_review']
  if (action === 'labeled') {
    const label = str(obj(e.label)?.name) ?? ''
    if (!opts.label || label.toLowerCase() !== opts.label.toLowerCase())
      return skip(`label "${label}" is not the review label`, base)
  } else if (!triggers.includes(action)) {
    return skip(`pull_request action "${action}" does not start a review`, base)
  }
  if (pr.state !== 'open') return skip('the pull request is not open', base)
  if (pr.draft && !opts.reviewDrafts) return skip('the pull request is a draft', base)
  if (base.isFork && ctx.eventName === 'pull_request')
    return skip(
      'pull requests from forks get no secrets on pull_request; trigger the review with pull_request_target (this workflow never runs PR code on the runner)',
      base
    )
  if (opts.requiredPermission === 'write') {
    if (!sender) return skip('the event has no sender', base)
    const refused = await checkUsers(client, ctx.repo, [sender], opts)
    if (refused)
      return skip(
        `${refused}${opts.label ? ` (a maintainer can add the "${opts.label}" label to review it)` : ''}`,
        base
      )
  }
  return {
    ...skip('', base),
    run: true,
    reason: `review pull request #${pr.number} at ${pr.headSha.slice(0, 12)}`,
    workSha: pr.headSha,
    headSha: pr.headSha,
    baseSha: pr.baseSha,
    delivery: 'review',
    baseBranch: pr.baseRef,
    request: pr.body
  }
}
