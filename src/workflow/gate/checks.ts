/**
 * What the gate checks and the shapes it decides with: options, the decision, the trigger
 * in prose, bots, permissions, pull request facts.
 */
import { AirlockError } from '../../errors.js'
import { num, obj, str } from '../context.js'
import { GitHubApiError, encodePath, repoPath, type GitHubClient, type RepoRef } from '../github.js'
import { proseOnly } from '../markdown.js'

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
  /**
   * respond mode, `schedule` and `workflow_dispatch` events: the standing issue the run
   * reports on (0: those events start nothing).
   */
  issue: number
  /** Name of the scheduled run: its branch is `<branchPrefix>scheduled-<name>`. */
  scheduledName: string
  /** The workflow's instructions; a scheduled run has no other request, so it needs them. */
  prompt: string
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
  prDelivery: 'push',
  issue: 0,
  scheduledName: '',
  prompt: ''
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
  /** A scheduled run's name (`schedule` / `workflow_dispatch` events); empty otherwise. */
  scheduledName: string
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

export interface User {
  login: string
  id: number
  type?: string
}

export function user(v: unknown): User | undefined {
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

export function skip(reason: string, partial: Partial<GateDecision> = {}): GateDecision {
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
    scheduledName: '',
    ...partial
  }
}

export async function refSha(
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
export async function checkUsers(
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

/** Parses a list input (comma or newline separated). */
export function parseList(raw: string): string[] {
  return raw
    .split(/[\n,]/)
    .map((s) => s.trim())
    .filter(Boolean)
}
