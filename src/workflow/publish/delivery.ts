/** Where a patch may be written: decided from the API, never the default or a protected branch. */
import { GitHubApiError, encodePath, repoPath, type GitHubClient, type RepoRef } from '../github.js'
import type { Delivery } from '../gate/checks.js'
import type { PatchPolicy } from '../patch.js'
import { PublishError } from './comments.js'
import { scheduledBranch, scheduledNameProblem } from '../gate/scheduled.js'

/** What the publish job is handed for a patch (the inputs of `publishPatch`). */
export interface PublishPatchInput {
  patch: Buffer
  policy: PatchPolicy
  delivery: Exclude<Delivery, 'review' | ''>
  /** Issue or pull request the request came from. */
  number: number
  isPr: boolean
  /** Title of that issue or pull request. */
  title: string
  /** The commit the agent worked on: the patch's base and the new commit's parent. */
  workSha: string
  branch: string
  baseBranch: string
  /**
   * Prefix of Airlock's own branches (default `airlock/`). Push delivery never writes under
   * it, and pull-request delivery only writes `<prefix>issue-<n>` or `<prefix>pr-<n>`.
   */
  branchPrefix?: string
  /**
   * A scheduled run's name (from the gate): its branch is `<prefix>scheduled-<name>`, `number`
   * is the standing issue it reports on (which its pull request must not close).
   */
  scheduledName?: string
  /** Who asked; credited with a Co-authored-by trailer. */
  actor: string
  actorId: number
  /** The agent's final message, shown in the tracking comment. */
  result?: string
  runUrl?: string
  trackingCommentId?: number
  /** Host of the server, for noreply addresses (default github.com). */
  serverHost?: string
}

/**
 * Why `name` is not a branch name Airlock will write to by name: anything `git
 * check-ref-format --branch` refuses, and spellings the REST API could read as another ref
 * (`refs/heads/main` is the branch `refs/heads/refs/heads/main` to git, but a reader of the
 * API path may well take it for `main`).
 */
export function branchNameProblem(name: string): string | undefined {
  if (name === '') return 'no branch name'
  if (/^(refs|heads|remotes|tags)\//i.test(name)) return `"${name}" is spelled like a full ref`
  if (
    [...name].some(
      (c) => c.charCodeAt(0) <= 0x20 || c.charCodeAt(0) === 0x7f || '~^:?*[\\'.includes(c)
    )
  )
    return `"${name}" holds a character refs may not`
  if (
    name.startsWith('/') ||
    name.endsWith('/') ||
    name.endsWith('.') ||
    name.includes('//') ||
    name.includes('..') ||
    name.includes('@{') ||
    name === '@' ||
    name.startsWith('-') ||
    name.split('/').some((seg) => seg.startsWith('.') || seg.endsWith('.lock'))
  )
    return `"${name}" is not a valid branch name`
  return undefined
}

/** Rule types of a repository ruleset that stop a direct push. */
const BLOCKING_RULES = new Set([
  'pull_request',
  'update',
  'required_status_checks',
  'required_deployments',
  'merge_queue',
  'required_signatures'
])

/**
 * Why Airlock must not write `branch` directly, asking GitHub rather than trusting names:
 * it is the default branch, it has branch protection, or a ruleset guards it. A failed
 * lookup counts as protected. A branch that does not exist yet is not protected by a
 * branch protection rule (rulesets are still asked: they can match names not yet created).
 */
async function branchGuard(
  client: GitHubClient,
  repo: RepoRef,
  branch: string,
  defaultBranch: string
): Promise<string | undefined> {
  if (branch.toLowerCase() === defaultBranch.toLowerCase()) return `${branch} is the default branch`
  try {
    const b = await client.request<{ protected?: boolean; name?: string }>(
      'GET',
      repoPath(repo, 'branches', encodePath(branch))
    )
    if (b.protected !== false) return `${branch} is a protected branch`
    if (b.name !== undefined && b.name !== branch)
      return `GitHub resolved ${branch} to another branch (${b.name})`
  } catch (err) {
    if (!(err instanceof GitHubApiError && err.status === 404))
      return `could not tell whether ${branch} is protected (${err instanceof Error ? err.message : String(err)})`
  }
  try {
    const rules = await client.request<{ type?: string }[]>(
      'GET',
      repoPath(repo, 'rules', 'branches', encodePath(branch))
    )
    const blocking = (Array.isArray(rules) ? rules : []).filter((r) =>
      BLOCKING_RULES.has(String(r.type))
    )
    if (blocking.length > 0)
      return `rulesets guard ${branch} (${[...new Set(blocking.map((r) => r.type))].join(', ')})`
  } catch (err) {
    return `could not read the rulesets of ${branch} (${err instanceof Error ? err.message : String(err)})`
  }
  return undefined
}

/** Where {@link publishPatch} writes, as the publish job decided it. */
export interface DeliveryPlan {
  delivery: 'push' | 'pull-request' | 'comment'
  branch: string
  baseBranch: string
  /** Why the plan differs from the gate's delivery. */
  notes: string[]
}

/**
 * Decides, in the writing job and from the API, where the patch goes. The gate's delivery
 * is a request, not a fact to act on: a same-repository pull request's head can be `main`
 * (anyone who can open a pull request can open one from `main` into another branch), an
 * Airlock branch of another run, or a protected branch. The rules:
 *
 * - `push` only to the head branch of an open pull request of this repository, whose name is
 *   a plain branch name outside the Airlock prefix, which is not the default branch and has
 *   no branch protection or blocking ruleset. Anything else (or any lookup that fails) falls
 *   back to `<prefix>pr-<n>` with a pull request into the head branch; a fork gets `comment`.
 * - `pull-request` only to `<prefix>issue-<n>` or `<prefix>pr-<n>`, the name built from the
 *   number, never taken from text (a scheduled run: `<prefix>scheduled-<name>`, the name as
 *   the gate validated it, checked again here); that branch must itself be unprotected.
 */
export async function planDelivery(
  client: GitHubClient,
  repo: RepoRef,
  input: PublishPatchInput
): Promise<DeliveryPlan> {
  const prefix = input.branchPrefix ?? 'airlock/'
  if (prefix !== '' && branchNameProblem(`${prefix}x`))
    throw new PublishError('AIRLOCK_BAD_BRANCH', `branch prefix "${prefix}" makes invalid names`)
  const notes: string[] = []
  if (input.delivery === 'comment')
    return { delivery: 'comment', branch: '', baseBranch: input.baseBranch, notes }
  const own = ownBranch(input, prefix)
  let plan: DeliveryPlan = {
    delivery: 'pull-request',
    branch: own,
    baseBranch: input.baseBranch,
    notes
  }
  let defaultBranch: string | undefined
  try {
    const r = await client.request<{ default_branch?: string }>('GET', repoPath(repo))
    defaultBranch = r.default_branch
  } catch (err) {
    notes.push(
      `could not read the repository's default branch (${err instanceof Error ? err.message : String(err)})`
    )
  }
  if (input.delivery === 'push') {
    const refuse = await pushRefusal(client, repo, input, prefix, defaultBranch)
    if (refuse === 'fork')
      return { delivery: 'comment', branch: '', baseBranch: input.baseBranch, notes }
    if (refuse === undefined)
      return { delivery: 'push', branch: input.branch, baseBranch: input.baseBranch, notes }
    notes.push(`not pushing to ${JSON.stringify(input.branch)}: ${refuse}; opening a pull request`)
    plan = { ...plan, baseBranch: input.branch }
  } else if (input.branch !== own) {
    throw new PublishError(
      'AIRLOCK_BAD_BRANCH',
      `pull-request delivery writes ${own}, not ${JSON.stringify(input.branch)}`
    )
  }
  if (defaultBranch === undefined)
    throw new PublishError('AIRLOCK_BRANCH_PROTECTED', notes.join('; '))
  const guard = await branchGuard(client, repo, own, defaultBranch)
  if (guard) throw new PublishError('AIRLOCK_BRANCH_PROTECTED', `not writing ${own}: ${guard}`)
  return plan
}

/** Why push delivery may not write the pull request's head branch (`fork`: nothing may). */
export async function pushRefusal(
  client: GitHubClient,
  repo: RepoRef,
  input: PublishPatchInput,
  prefix: string,
  defaultBranch: string | undefined
): Promise<string | undefined> {
  if (!input.isPr) return 'the request is not on a pull request'
  const named = branchNameProblem(input.branch)
  if (named) return named
  if (prefix !== '' && input.branch.toLowerCase().startsWith(prefix.toLowerCase()))
    return `it is under Airlock's own prefix ${prefix}`
  if (defaultBranch === undefined) return 'the default branch is unknown'
  let pr: { state?: string; head?: { ref?: string; repo?: { full_name?: string } | null } }
  try {
    pr = await client.request('GET', repoPath(repo, 'pulls', input.number))
  } catch (err) {
    return `could not read pull request #${input.number} (${err instanceof Error ? err.message : String(err)})`
  }
  const headRepo = pr.head?.repo?.full_name
  if (!headRepo || headRepo.toLowerCase() !== `${repo.owner}/${repo.repo}`.toLowerCase())
    return 'fork'
  if (pr.state !== 'open') return `pull request #${input.number} is not open`
  if (pr.head?.ref !== input.branch)
    return `pull request #${input.number} comes from ${JSON.stringify(pr.head?.ref)}`
  return branchGuard(client, repo, input.branch, defaultBranch)
}

/** The one branch pull-request delivery may write for this request, built, never taken. */
export function ownBranch(input: PublishPatchInput, prefix: string): string {
  if (input.scheduledName) {
    const bad = scheduledNameProblem(input.scheduledName)
    if (bad) throw new PublishError('AIRLOCK_BAD_BRANCH', bad)
    if (input.isPr || input.delivery !== 'pull-request')
      throw new PublishError(
        'AIRLOCK_BAD_BRANCH',
        'a scheduled run reports on an issue and delivers a pull request'
      )
    return scheduledBranch(prefix, input.scheduledName)
  }
  return `${prefix}${input.isPr ? 'pr' : 'issue'}-${input.number}`
}
