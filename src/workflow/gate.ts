import { AirlockError } from '../errors.js'
import { num, obj, str, type WorkflowContext } from './context.js'
import { GitHubApiError, encodePath, repoPath, type GitHubClient, type RepoRef } from './github.js'
import { proseOnly } from './markdown.js'

/** What to do with a comment that was edited: the edit may add a trigger to an old comment. */
export type EditedPolicy = 'ignore' | 'new-mention' | 'always'

/** How a patch reaches the repository. */
export type Delivery = 'pull-request' | 'push' | 'comment' | 'review'

/** Options of {@link evaluateGate}. */
export interface GateOptions {
  /** `respond`: comments and issues; `review`: pull request events. */
  mode: 'respond' | 'review'
  /** Phrase that triggers a run (default `@airlock`), matched case-insensitively, outside code and quotes. */
  trigger: string
  /** Bot logins allowed to trigger (`name` or `name[bot]`); every other bot is refused. */
  allowedBots: readonly string[]
  edited: EditedPolicy
  /**
   * Label that triggers a run when added (respond: `issues: labeled`; review: a maintainer's
   * way to let a pull request from someone without write access be reviewed).
   */
  label: string
  /** review mode: `write` (default) needs the actor to have write access; `none` reviews anyone's PR. */
  requiredPermission: 'write' | 'none'
  /** review mode: review draft pull requests too. */
  reviewDrafts: boolean
  /** Prefix of branches Airlock pushes to (default `airlock/`). */
  branchPrefix: string
  /** respond mode, same-repository pull requests: push to its branch, or open a stacked PR. */
  prDelivery: 'push' | 'pull-request'
}

export const GATE_DEFAULTS: GateOptions = {
  mode: 'respond',
  trigger: '@airlock',
  allowedBots: [],
  edited: 'ignore',
  label: '',
  requiredPermission: 'write',
  reviewDrafts: false,
  branchPrefix: 'airlock/',
  prDelivery: 'push'
}

/** The gate's verdict and, when it says run, everything later jobs need to know. */
export interface GateDecision {
  run: boolean
  /** One line saying why (or why not). */
  reason: string
  number: number
  isPr: boolean
  isFork: boolean
  /** Who asked (the comment's author, or the actor of a PR event). */
  actor: string
  actorId: number
  /** The comment or review that triggered the run; 0 for issue/PR events. */
  commentId: number
  commentKind: 'issue' | 'review-comment' | 'review' | ''
  /** Commit the agent works on (checked out in the agent job). */
  workSha: string
  /** Base commit agent configuration files are taken from (PRs); empty for issues. */
  baseSha: string
  /** The PR's head commit (reviews are posted against it); empty for issues. */
  headSha: string
  delivery: Delivery | ''
  /** Branch a patch is pushed to. */
  branch: string
  /** Branch a new pull request targets. */
  baseBranch: string
  /** The request text: the comment, review or issue body that triggered the run. */
  request: string
  title: string
}

/** The repository permission levels GitHub reports. */
export type PermissionLevel = 'admin' | 'maintain' | 'write' | 'triage' | 'read' | 'none'

/** An option value the gate cannot use. */
export class GateConfigError extends AirlockError {
  constructor(message: string) {
    super('AIRLOCK_BAD_GATE_CONFIG', message)
  }
}

const escapeRe = (s: string): string => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')

/**
 * Whether `body` mentions the trigger in the author's own words, as GitHub renders them (see
 * {@link proseOnly}: not inside code, quotes, including their lazy continuation lines, HTML,
 * links or image text), and not as part of a longer name (`@airlock-bot`, `me@airlock.dev`).
 */
export function hasTrigger(body: string | null | undefined, trigger: string): boolean {
  if (!body || !trigger.trim()) return false
  const t = trigger.trim()
  const before = /^[\w]/.test(t) ? '(?<![\\w@/.-])' : '(?<![\\w@/.`-])'
  const re = new RegExp(`${before}${escapeRe(t)}(?![\\w-]|\\.[\\w])`, 'i')
  return re.test(proseOnly(body))
}

/** Whether a payload user is a bot (a GitHub App or a machine account marked as such). */
export function isBot(user: { login?: string; type?: string } | undefined): boolean {
  return !!user && (user.type === 'Bot' || /\[bot\]$/i.test(user.login ?? ''))
}

/**
 * Whether a bot is on the allow list. Entries match the login exactly, with or without the
 * `[bot]` suffix; there is no wildcard and no suffix trust (a bot named `x-dependabot[bot]` is
 * not `dependabot[bot]`).
 */
export function botAllowed(login: string, allowed: readonly string[]): boolean {
  const l = login.toLowerCase()
  return allowed.some((a) => {
    const e = a.trim().toLowerCase()
    return e !== '' && (l === e || l === `${e}[bot]`)
  })
}

/** The levels that may make Airlock act: write, maintain, admin. */
export function permissionAllows(level: PermissionLevel): boolean {
  return level === 'admin' || level === 'maintain' || level === 'write'
}

/**
 * A user's permission on the repository (`GET /repos/{o}/{r}/collaborators/{u}/permission`).
 * `role_name` tells maintain from write and triage from read; a custom role falls back to
 * `permission`, which GitHub maps to its base role. A user who is not a collaborator is `none`.
 */
export async function getPermission(
  client: GitHubClient,
  repo: RepoRef,
  login: string
): Promise<PermissionLevel> {
  let res: { permission?: string; role_name?: string }
  try {
    res = await client.request(
      'GET',
      repoPath(repo, 'collaborators', encodeURIComponent(login), 'permission')
    )
  } catch (err) {
    if (err instanceof GitHubApiError && err.status === 404) return 'none'
    throw err
  }
  const known = ['admin', 'maintain', 'write', 'triage', 'read', 'none']
  if (res.role_name && known.includes(res.role_name)) return res.role_name as PermissionLevel
  if (res.permission && known.includes(res.permission)) return res.permission as PermissionLevel
  return 'none'
}

interface User {
  login: string
  id: number
  type?: string
}

function user(v: unknown): User | undefined {
  const o = obj(v)
  const login = str(o?.login)
  if (!o || !login) return undefined
  return { login, id: num(o.id) ?? 0, type: str(o.type) }
}

/** The parts of a pull request the gate uses. */
export interface PullInfo {
  number: number
  state: string
  draft: boolean
  title: string
  body: string
  headSha: string
  headRef: string
  headRepo: string | null
  baseSha: string
  baseRef: string
  author?: User
}

/** Reads the pull request fields from an API answer or an event payload. */
export function pullInfo(v: unknown): PullInfo | undefined {
  const p = obj(v)
  const head = obj(p?.head)
  const base = obj(p?.base)
  if (!p || !head || !base) return undefined
  return {
    number: num(p.number) ?? 0,
    state: str(p.state) ?? 'open',
    draft: p.draft === true,
    title: str(p.title) ?? '',
    body: str(p.body) ?? '',
    headSha: str(head.sha) ?? '',
    headRef: str(head.ref) ?? '',
    headRepo: str(obj(head.repo)?.full_name) ?? null,
    baseSha: str(base.sha) ?? '',
    baseRef: str(base.ref) ?? '',
    author: user(p.user)
  }
}

/**
 * A pull request comes from a fork when its head lives in another repository, or in none
 * any more (a deleted fork). Its author then cannot be trusted with this repository's
 * secrets, and nothing can be pushed to its branch with this repository's token.
 */
export function isForkPull(pr: Pick<PullInfo, 'headRepo'>, repo: RepoRef): boolean {
  return pr.headRepo?.toLowerCase() !== `${repo.owner}/${repo.repo}`.toLowerCase()
}

function skip(reason: string, partial: Partial<GateDecision> = {}): GateDecision {
  return {
    run: false,
    reason,
    number: 0,
    isPr: false,
    isFork: false,
    actor: '',
    actorId: 0,
    commentId: 0,
    commentKind: '',
    workSha: '',
    baseSha: '',
    headSha: '',
    delivery: '',
    branch: '',
    baseBranch: '',
    request: '',
    title: '',
    ...partial
  }
}

async function refSha(
  client: GitHubClient,
  repo: RepoRef,
  branch: string
): Promise<string | undefined> {
  try {
    const r = await client.request<{ object?: { sha?: string } }>(
      'GET',
      repoPath(repo, 'git', 'ref', `heads/${encodePath(branch)}`)
    )
    return r.object?.sha
  } catch (err) {
    if (err instanceof GitHubApiError && err.status === 404) return undefined
    throw err
  }
}

/** Checks every user who shaped the request; the first refusal is the reason. */
async function checkUsers(
  client: GitHubClient,
  repo: RepoRef,
  users: User[],
  opts: GateOptions
): Promise<string | undefined> {
  const seen = new Set<string>()
  for (const u of users) {
    if (seen.has(u.login.toLowerCase())) continue
    seen.add(u.login.toLowerCase())
    if (isBot(u)) {
      if (!botAllowed(u.login, opts.allowedBots))
        return `${u.login} is a bot that is not in allowed-bots`
      continue
    }
    const level = await getPermission(client, repo, u.login)
    if (!permissionAllows(level))
      return `${u.login} has ${level} permission on ${repo.owner}/${repo.repo}; write is required`
  }
  return undefined
}

/**
 * Decides whether this event may start an agent run, and on what. The rules, in order:
 * the event and action must be a trigger; an edited comment follows the `edited` policy; the
 * trigger phrase must appear in prose (or the configured label was added); every user who
 * wrote or changed the triggering text must have write access (bots only when listed); a
 * closed pull request is left alone. The payload is the snapshot GitHub took at the event,
 * so the text judged here is exactly the text the agent later receives.
 */
export async function evaluateGate(
  client: GitHubClient,
  ctx: WorkflowContext,
  options: Partial<GateOptions> = {}
): Promise<GateDecision> {
  const opts: GateOptions = { ...GATE_DEFAULTS, ...options }
  if (!opts.trigger.trim() && !opts.label.trim() && opts.mode === 'respond')
    throw new GateConfigError('respond needs a trigger phrase or a label')
  return opts.mode === 'review' ? reviewGate(client, ctx, opts) : respondGate(client, ctx, opts)
}

async function reviewGate(
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

interface Trigger {
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

function respondTrigger(
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

async function respondGate(
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

/** Parses a list input (comma or newline separated). */
export function parseList(raw: string): string[] {
  return raw
    .split(/[\n,]/)
    .map((s) => s.trim())
    .filter(Boolean)
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
