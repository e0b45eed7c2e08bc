import { AirlockError, type ErrorCode } from '../errors.js'
import { fenceFor } from './markdown.js'
import { applyHunks, filePath, gitBlobSha, type FileDiff } from './diff.js'
import type { Delivery } from './gate.js'
import { GitHubApiError, encodePath, repoPath, type GitHubClient, type RepoRef } from './github.js'
import {
  codeBlock,
  codeSpan,
  hasInvisible,
  revealInvisible,
  safeMarkdown,
  safeText,
  safeTitle
} from '../markdown/safe.js'
import { assertPatchAllowed, type PatchPolicy } from './patch.js'
import { placeComments, type Review, type ReviewComment } from './review.js'

/** Hidden marker on every comment Airlock writes, so later runs (and people) can find them. */
export const TRACKING_MARKER = '<!-- airlock:tracking -->'
export const REVIEW_MARKER = '<!-- airlock:review -->'

/** Longest comment GitHub accepts is 65536 characters; stay clear of it. */
const MAX_COMMENT = 60_000

/** Room for the agent's review summary and its final message (rendered, in characters). */
const MAX_AGENT_TEXT = 40_000

/** Room for one inline review comment, or one comment listed outside the diff. */
const MAX_INLINE_COMMENT = 8_000

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

/** A review that cannot be posted under the chosen policy. */
export class PublishError extends AirlockError {
  constructor(code: ErrorCode, message: string) {
    super(code, message)
  }
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

/** Inputs of {@link publishPatch}. */
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

/** What {@link publishPatch} did. */
export interface PublishedPatch {
  outcome: 'no-changes' | 'pushed' | 'pull-request' | 'comment'
  files: string[]
  commitSha?: string
  pullNumber?: number
  pullUrl?: string
  /** Whether an existing pull request was updated rather than opened. */
  updatedPull?: boolean
  /** The branch written (after any fallback from push to a pull request). */
  branch?: string
  /** Why the delivery differs from the gate's, one line each. */
  notes?: string[]
}

interface TreeEntry {
  path: string
  mode: string
  type: 'blob'
  sha: string | null
}

const ZERO = /^0+$/

async function readBase(
  client: GitHubClient,
  repo: RepoRef,
  path: string,
  ref: string
): Promise<Buffer | null> {
  try {
    return await client.requestBytes('GET', repoPath(repo, 'contents', encodePath(path)), {
      accept: 'application/vnd.github.raw',
      query: { ref }
    })
  } catch (err) {
    if (err instanceof GitHubApiError && err.status === 404) return null
    throw err
  }
}

interface ListedEntry {
  path: string
  type: string
  sha: string
}

/**
 * What the base tree holds at each of `paths` and their parent directories: `blob`, `tree`,
 * or absent. One recursive listing; when GitHub truncates it, each directory on the way is
 * listed on its own.
 */
async function baseShape(
  client: GitHubClient,
  repo: RepoRef,
  treeSha: string,
  paths: string[]
): Promise<Map<string, string>> {
  const shape = new Map<string, string>()
  const full = await client.request<{ tree: ListedEntry[]; truncated?: boolean }>(
    'GET',
    repoPath(repo, 'git', 'trees', treeSha),
    { query: { recursive: '1' } }
  )
  if (!full.truncated) {
    for (const e of full.tree) shape.set(e.path, e.type)
    return shape
  }
  const listed = new Map<string, ListedEntry[]>()
  const list = async (dir: string, sha: string): Promise<ListedEntry[]> => {
    const known = listed.get(dir)
    if (known) return known
    const r = await client.request<{ tree: ListedEntry[] }>(
      'GET',
      repoPath(repo, 'git', 'trees', sha)
    )
    listed.set(dir, r.tree)
    for (const e of r.tree) shape.set(dir ? `${dir}/${e.path}` : e.path, e.type)
    return r.tree
  }
  for (const p of paths) {
    const segs = p.split('/')
    let dir = ''
    let sha = treeSha
    for (let i = 0; i < segs.length; i++) {
      const entry = (await list(dir, sha)).find((e) => e.path === segs[i])
      if (!entry || entry.type !== 'tree' || i === segs.length - 1) break
      dir = dir ? `${dir}/${segs[i]}` : segs[i]!
      sha = entry.sha
    }
  }
  return shape
}

/**
 * Refuses tree entries that would change the tree's shape behind the patch's back. In the
 * Git database API a blob written at a path that is a directory in `base_tree` replaces the
 * whole directory, and a null sha at a directory's path deletes it, so a patch that merely
 * "adds a file" `docs` (or "deletes" it) would remove every file under `docs/` without naming
 * one of them. Only files are deleted, files never land where a directory is, and a directory
 * is made where a file was only when the same patch deletes that file; an added file must
 * not exist yet.
 */
async function assertTreeShape(
  client: GitHubClient,
  repo: RepoRef,
  treeSha: string,
  entries: TreeEntry[],
  added: ReadonlySet<string>
): Promise<void> {
  if (entries.length === 0) return
  const shape = await baseShape(
    client,
    repo,
    treeSha,
    entries.map((e) => e.path)
  )
  const deleted = new Set(entries.filter((e) => e.sha === null).map((e) => e.path))
  for (const e of entries) {
    const at = shape.get(e.path)
    if (e.sha === null && at !== 'blob')
      throw new PublishError(
        'AIRLOCK_PATCH_CONFLICT',
        `${e.path}: the patch deletes it, but the base commit holds ${at === 'tree' ? 'a directory' : at === 'commit' ? 'a submodule' : 'nothing'} there`
      )
    if (e.sha !== null && added.has(e.path) && at === 'blob' && !deleted.has(e.path))
      throw new PublishError(
        'AIRLOCK_PATCH_CONFLICT',
        `${e.path}: the patch adds it, but the base commit already holds that file`
      )
    if (e.sha !== null && at === 'tree')
      throw new PublishError(
        'AIRLOCK_PATCH_CONFLICT',
        `${e.path}: is a directory in the base commit; a file there would replace all of it`
      )
    // A gitlink (type `commit`): a file written there would drop the submodule.
    if (e.sha !== null && at !== undefined && at !== 'blob' && at !== 'tree')
      throw new PublishError(
        'AIRLOCK_PATCH_CONFLICT',
        `${e.path}: is a ${at === 'commit' ? 'submodule' : at} in the base commit`
      )
    const segs = e.path.split('/')
    for (let i = 1; i < segs.length; i++) {
      const parent = segs.slice(0, i).join('/')
      const kind = shape.get(parent)
      if (kind !== undefined && kind !== 'tree' && !deleted.has(parent))
        throw new PublishError(
          'AIRLOCK_PATCH_CONFLICT',
          `${e.path}: ${parent} is a file in the base commit`
        )
    }
  }
}

/**
 * Makes the commit a validated patch describes, through the Git database API: no checkout and
 * no git on the writing runner, and the result is a signed commit by the token's identity.
 * Each file is read at the patch's base commit, checked against the blob id the patch names,
 * patched, and checked against the resulting blob id again before anything is written.
 */
export async function commitPatch(
  client: GitHubClient,
  repo: RepoRef,
  files: FileDiff[],
  baseSha: string,
  message: string
): Promise<string> {
  const base = await client.request<{ tree: { sha: string } }>(
    'GET',
    repoPath(repo, 'git', 'commits', baseSha)
  )
  const tree: TreeEntry[] = []
  for (const f of files) {
    const name = filePath(f)
    let original: Buffer | null = null
    if (f.oldPath !== null) {
      // Without the base blob id nothing ties the change to what the commit holds (a
      // "deletion" of a directory would pass): git's --full-index patches always name it.
      if (!f.oldIndex || ZERO.test(f.oldIndex))
        throw new PublishError(
          'AIRLOCK_PATCH_CONFLICT',
          `${f.oldPath}: the patch does not name the blob it changes`
        )
      original = await readBase(client, repo, f.oldPath, baseSha)
      if (original === null)
        throw new PublishError('AIRLOCK_PATCH_CONFLICT', `${f.oldPath}: not found at ${baseSha}`)
      if (f.oldIndex && !ZERO.test(f.oldIndex) && !gitBlobSha(original).startsWith(f.oldIndex))
        throw new PublishError(
          'AIRLOCK_PATCH_CONFLICT',
          `${f.oldPath}: the patch was made against blob ${f.oldIndex}, the base commit holds ${gitBlobSha(original).slice(0, 12)}`
        )
    }
    const text = applyHunks(original === null ? null : original.toString('latin1'), f)
    // A rename or a deletion removes the old path; a copy keeps its source.
    if (f.oldPath !== null && f.oldPath !== f.newPath && f.status !== 'copied')
      tree.push({ path: f.oldPath, mode: f.oldMode ?? '100644', type: 'blob', sha: null })
    if (text === null || f.newPath === null) continue
    const content = Buffer.from(text, 'latin1')
    if (f.newIndex && !ZERO.test(f.newIndex) && !gitBlobSha(content).startsWith(f.newIndex))
      throw new PublishError(
        'AIRLOCK_PATCH_CONFLICT',
        `${name}: applying the patch gave blob ${gitBlobSha(content).slice(0, 12)}, the patch says ${f.newIndex}`
      )
    const blob = await client.request<{ sha: string }>('POST', repoPath(repo, 'git', 'blobs'), {
      body: { content: content.toString('base64'), encoding: 'base64' }
    })
    tree.push({
      path: f.newPath,
      mode: f.newMode ?? f.oldMode ?? '100644',
      type: 'blob',
      sha: blob.sha
    })
  }
  const added = new Set(files.filter((f) => f.oldPath === null).map(filePath))
  await assertTreeShape(client, repo, base.tree.sha, tree, added)
  const newTree = await client.request<{ sha: string }>('POST', repoPath(repo, 'git', 'trees'), {
    body: { base_tree: base.tree.sha, tree }
  })
  const commit = await client.request<{ sha: string }>('POST', repoPath(repo, 'git', 'commits'), {
    body: { message, tree: newTree.sha, parents: [baseSha] }
  })
  return commit.sha
}

/**
 * Moves `branch` to `sha`, creating it when missing. Never forced: if the branch moved since
 * the agent started, GitHub refuses the non-fast-forward update and so do we.
 */
export async function updateBranch(
  client: GitHubClient,
  repo: RepoRef,
  branch: string,
  sha: string,
  create: boolean
): Promise<void> {
  const ref = `heads/${encodePath(branch)}`
  try {
    await client.request('PATCH', repoPath(repo, 'git', 'refs', ref), {
      body: { sha, force: false }
    })
    return
  } catch (err) {
    if (!(err instanceof GitHubApiError)) throw err
    const missing = err.status === 404 || /does not exist/i.test(err.message)
    if (missing && !create)
      throw new PublishError('AIRLOCK_BRANCH_GONE', `${branch} no longer exists`)
    if (!missing) {
      if (err.status === 422)
        throw new PublishError(
          'AIRLOCK_BRANCH_MOVED',
          `${branch} moved while the agent worked (not a fast-forward); ask again to work on its new head`
        )
      throw err
    }
  }
  await client.request('POST', repoPath(repo, 'git', 'refs'), {
    body: { ref: `refs/heads/${branch}`, sha }
  })
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
 *   number, never taken from text; that branch must itself be unprotected.
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
  const own = `${prefix}${input.isPr ? 'pr' : 'issue'}-${input.number}`
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
async function pushRefusal(
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

function commitMessage(input: PublishPatchInput): string {
  const what = input.isPr ? 'pull request' : 'issue'
  const subject = `Airlock: changes for ${what} #${input.number}`
  const host = input.serverHost ?? 'github.com'
  const trailer =
    input.actor && input.actorId
      ? `\n\nCo-authored-by: ${input.actor} <${input.actorId}+${input.actor}@users.noreply.${host}>`
      : ''
  return `${subject}\n\nRequested by ${mentionLogin(input.actor)} in #${input.number}${input.runUrl ? `\n${input.runUrl}` : ''}.${trailer}`
}

/**
 * Publishes the agent's patch: validated against the policy first, then committed on top of
 * the commit the agent worked on and pushed (`push`), pushed to an Airlock branch with a pull
 * request opened or updated (`pull-request`), or, for pull requests from forks where nothing
 * can be pushed, shown in the tracking comment for the author to apply (`comment`).
 */
export async function publishPatch(
  client: GitHubClient,
  repo: RepoRef,
  input: PublishPatchInput
): Promise<PublishedPatch> {
  const files = assertPatchAllowed(input.patch, input.policy)
  const names = files.map(filePath)
  if (files.length === 0) return { outcome: 'no-changes', files: names }
  if (input.delivery === 'comment') return { outcome: 'comment', files: names }
  const plan = await planDelivery(client, repo, input)
  const { branch, baseBranch, notes } = plan
  if (plan.delivery === 'comment') return { outcome: 'comment', files: names, notes }
  const commitSha = await commitPatch(client, repo, files, input.workSha, commitMessage(input))
  if (plan.delivery === 'push') {
    await updateBranch(client, repo, branch, commitSha, false)
    return { outcome: 'pushed', files: names, commitSha, branch, notes }
  }
  await updateBranch(client, repo, branch, commitSha, true)
  const open = await client.request<{ number: number; html_url?: string }[]>(
    'GET',
    repoPath(repo, 'pulls'),
    { query: { head: `${repo.owner}:${branch}`, base: baseBranch, state: 'open' } }
  )
  const existing = open[0]
  if (existing)
    return {
      outcome: 'pull-request',
      files: names,
      commitSha,
      pullNumber: existing.number,
      pullUrl: existing.html_url ?? '',
      updatedPull: true,
      branch,
      notes
    }
  const what = input.isPr ? 'pull request' : 'issue'
  const pr = await client.request<{ number: number; html_url?: string }>(
    'POST',
    repoPath(repo, 'pulls'),
    {
      body: {
        // The issue's title is anyone's text: one line, no mentions, references or links.
        title: `Airlock: ${input.title ? safeTitle(input.title, 200) : `changes for ${what} #${input.number}`}`,
        head: branch,
        base: baseBranch,
        body: `Changes Airlock made for ${what} #${input.number}, requested by ${mentionLogin(input.actor)}.${input.runUrl ? `\n\n[Run](${input.runUrl})` : ''}\n\n${TRACKING_MARKER}`,
        maintainer_can_modify: true
      }
    }
  )
  return {
    outcome: 'pull-request',
    files: names,
    commitSha,
    pullNumber: pr.number,
    pullUrl: pr.html_url ?? '',
    updatedPull: false,
    branch,
    notes
  }
}

/** Body of the tracking comment once the run is over. */
export function finishedBody(opts: {
  published?: PublishedPatch
  input: Pick<PublishPatchInput, 'branch' | 'runUrl' | 'result'>
  patch?: Buffer
  error?: string
  agentFailed?: string
}): string {
  const lines = [TRACKING_MARKER]
  const run = opts.input.runUrl ? ` — [run](${opts.input.runUrl})` : ''
  if (opts.agentFailed)
    lines.push(`**Airlock** did not finish: the agent ${safeText(opts.agentFailed)}${run}.`)
  else if (opts.error)
    // An error can quote the agent (paths of its patch, a server's message): shown as text.
    lines.push(
      `**Airlock** could not publish the changes${run}:`,
      '',
      codeBlock(opts.error.slice(0, 4_000), 'text')
    )
  else {
    const p = opts.published
    const sha = p?.commitSha?.slice(0, 12) ?? ''
    const head =
      !p || p.outcome === 'no-changes'
        ? 'finished with no changes to the files'
        : p.outcome === 'pushed'
          ? `pushed ${sha} to ${codeSpan(opts.input.branch, { max: 250 })}`
          : p.outcome === 'pull-request'
            ? `${p.updatedPull ? 'updated' : 'opened'} #${p.pullNumber} (${sha} on ${codeSpan(opts.input.branch, { max: 250 })})`
            : 'made changes; this pull request comes from a fork, so they are below to apply'
    lines.push(`**Airlock** ${head}${run}.`)
  }
  const result = opts.input.result?.trim()
  if (result) lines.push('', safeMarkdown(result, { maxChars: MAX_AGENT_TEXT }))
  if (opts.published?.outcome === 'comment' && opts.patch) {
    const text = opts.patch.toString('utf8')
    if (text.length + lines.join('\n').length > MAX_COMMENT - 1_000) {
      lines.push(
        '',
        `The patch (${text.length} characters) is too long for a comment; it is in the run's artifacts.`
      )
      return lines.join('\n')
    }
    // The patch must stay byte-exact to apply, so hidden characters in it are not revealed
    // in place; the reader is warned instead (they could make the code read differently).
    if (hasInvisible(text))
      lines.push(
        '',
        `**Warning:** the patch holds invisible or bidirectional control characters (${codeSpan(
          revealInvisible(
            [...new Set(text.match(/[^\t\n\x20-\x7e]/gu) ?? [])].filter(hasInvisible).join('')
          ),
          { max: 200 }
        )}); read it in the run's artifacts before applying it.`
      )
    const fence = fenceFor(text)
    lines.push(
      '',
      `<details><summary>Patch (${opts.published.files.length} file${opts.published.files.length === 1 ? '' : 's'}; apply with <code>git apply</code>)</summary>`,
      '',
      `${fence}diff`,
      text.replace(/\n$/, ''),
      fence,
      '',
      '</details>'
    )
  }
  return lines.join('\n')
}
