/**
 * The gate for scheduled runs: `schedule` and `workflow_dispatch` events, which carry no
 * comment or issue of their own. The workflow names a standing issue (`issue`) that Airlock
 * reports on and gives the task in its `prompt`; the run is then treated like a label-started
 * respond on that issue, working on the branch `<prefix>scheduled-<name>`.
 */
import { num, obj, str, type WorkflowContext } from '../context.js'
import { GitHubApiError, repoPath, type GitHubClient } from '../github.js'
import { type GateDecision, type GateOptions, checkUsers, refSha, skip, user } from './checks.js'

/** The events a scheduled run starts from. */
export const SCHEDULED_EVENTS = ['schedule', 'workflow_dispatch'] as const

export function isScheduledEvent(eventName: string): boolean {
  return (SCHEDULED_EVENTS as readonly string[]).includes(eventName)
}

/** The scheduled run's name when the workflow gives none. */
export const DEFAULT_SCHEDULED_NAME = 'run'

/**
 * Why `name` cannot name a scheduled run: it becomes one path segment of a branch name, so
 * letters, digits, `.`, `_` and `-` only, not starting with `.` or `-`, no `..`, no `.lock`.
 */
export function scheduledNameProblem(name: string): string | undefined {
  if (!/^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$/.test(name))
    return `scheduled-name ${JSON.stringify(name.slice(0, 80))} must be 1-63 letters, digits, ".", "_" or "-", starting with a letter or digit`
  if (name.includes('..') || /\.lock$/i.test(name) || name.endsWith('.'))
    return `scheduled-name ${JSON.stringify(name)} is not usable in a branch name`
  return undefined
}

/** The branch a scheduled run writes: built from the validated name, never from text. */
export function scheduledBranch(prefix: string, name: string): string {
  return `${prefix}scheduled-${name}`
}

/**
 * Decides a scheduled run. Trust comes from the workflow, not from any text: a `schedule`
 * event only ever runs the default branch's workflow file, which someone with write access
 * committed; a `workflow_dispatch` is started by a person (the sender), who must pass the same
 * write-access check as a commenter (a bot only when listed in allowed-bots, so a run that
 * dispatches with the job token, as `github-actions[bot]`, is refused). The standing issue is
 * read through the API, and only its number, state and title are used here: its text (anyone
 * may comment on it) is data for the agent, never the request, which is the workflow's
 * `prompt`.
 *
 * The branch is continued only while its pull request is open: once that pull request is
 * merged or closed, the next run starts afresh from the default branch (continuing a merged
 * branch would offer again what was already merged, or what a maintainer closed).
 */
export async function scheduledGate(
  client: GitHubClient,
  ctx: WorkflowContext,
  opts: GateOptions
): Promise<GateDecision> {
  const e = ctx.event
  if (!Number.isSafeInteger(opts.issue) || opts.issue <= 0)
    return skip(
      `${ctx.eventName} needs the workflow's issue input (the standing issue Airlock reports on)`
    )
  if (!opts.prompt.trim())
    return skip(`${ctx.eventName} needs the workflow's prompt input (the task of the run)`)
  const name = opts.scheduledName.trim() || DEFAULT_SCHEDULED_NAME
  const bad = scheduledNameProblem(name)
  if (bad) return skip(bad)
  const base: Partial<GateDecision> = {
    number: opts.issue,
    isPr: false,
    scheduledName: name,
    request: opts.prompt
  }

  if (ctx.eventName === 'workflow_dispatch') {
    const sender = user(e.sender)
    if (!sender) return skip('the workflow_dispatch event names no sender', base)
    const refused = await checkUsers(client, ctx.repo, [sender], opts)
    if (refused) return skip(refused, base)
    base.actor = sender.login
    base.actorId = sender.id
  }

  let issue: Record<string, unknown> | undefined
  try {
    issue = obj(await client.request('GET', repoPath(ctx.repo, 'issues', String(opts.issue))))
  } catch (err) {
    if (err instanceof GitHubApiError && (err.status === 404 || err.status === 410))
      return skip(`issue #${opts.issue} not found`, base)
    throw err
  }
  if (!issue || num(issue.number) !== opts.issue)
    return skip(`issue #${opts.issue} not found`, base)
  // A pull request is an issue to this endpoint; reporting on one would tie the schedule's
  // branch to someone's pull request.
  if (obj(issue.pull_request))
    return skip(`#${opts.issue} is a pull request; a scheduled run reports on an issue`, base)
  // Closing the standing issue is the way to pause the schedule without editing the workflow.
  if (str(issue.state) !== 'open')
    return skip(`issue #${opts.issue} is closed (reopen it to resume the scheduled run)`, base)
  const withTitle = { ...base, title: str(issue.title) ?? '' }

  // A schedule payload may carry no repository (older runners' events held only the cron).
  const defaultBranch =
    str(obj(e.repository)?.default_branch) ??
    str(obj(await client.request('GET', repoPath(ctx.repo)))?.default_branch)
  if (!defaultBranch) return skip('the default branch is unknown', withTitle)
  const branch = scheduledBranch(opts.branchPrefix, name)
  const existing = (await openPullFrom(client, ctx, branch, defaultBranch))
    ? await refSha(client, ctx.repo, branch)
    : undefined
  const workSha = existing ?? (await refSha(client, ctx.repo, defaultBranch))
  if (!workSha) return skip(`default branch ${defaultBranch} not found`, withTitle)
  return {
    ...skip('', withTitle),
    run: true,
    reason: `scheduled run ${name} reporting on issue #${opts.issue}${existing ? ` (continuing ${branch})` : ''}`,
    workSha,
    delivery: 'pull-request',
    branch,
    baseBranch: defaultBranch
  }
}

/** Whether an open pull request of this repository comes from `branch` into `base`. */
async function openPullFrom(
  client: GitHubClient,
  ctx: WorkflowContext,
  branch: string,
  base: string
): Promise<boolean> {
  const open = await client.request<unknown[]>('GET', repoPath(ctx.repo, 'pulls'), {
    query: { head: `${ctx.repo.owner}:${branch}`, base, state: 'open' }
  })
  return Array.isArray(open) && open.length > 0
}
