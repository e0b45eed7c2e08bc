/**
 * Publishing the agent's patch: validate, commit, push or open a pull request, say what happened.
 */
import { fenceFor } from '../markdown.js'
import { filePath } from '../diff.js'
import { repoPath, type GitHubClient, type RepoRef } from '../github.js'
import {
  codeBlock,
  codeSpan,
  hasInvisible,
  revealInvisible,
  safeMarkdown,
  safeText,
  safeTitle
} from '../../markdown/safe.js'
import { assertPatchAllowed } from '../patch.js'
import {
  MAX_AGENT_TEXT,
  MAX_COMMENT,
  mentionLogin,
  PublishError,
  TRACKING_MARKER
} from './comments.js'
import { commitPatch, updateBranch } from './commit.js'
import { planDelivery, type PublishPatchInput } from './delivery.js'

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

function commitMessage(input: PublishPatchInput): string {
  const what = input.isPr ? 'pull request' : 'issue'
  const subject = input.scheduledName
    ? `Airlock: scheduled run ${input.scheduledName}`
    : `Airlock: changes for ${what} #${input.number}`
  const host = input.serverHost ?? 'github.com'
  const trailer =
    input.actor && input.actorId
      ? `\n\nCo-authored-by: ${input.actor} <${input.actorId}+${input.actor}@users.noreply.${host}>`
      : ''
  const why = input.scheduledName
    ? `Reported on #${input.number}${input.actor ? `, started by ${mentionLogin(input.actor)}` : ''}`
    : `Requested by ${mentionLogin(input.actor)} in #${input.number}`
  return `${subject}\n\n${why}${input.runUrl ? `\n${input.runUrl}` : ''}.${trailer}`
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
  const openPulls = (): Promise<{ number: number; html_url?: string }[]> =>
    client.request('GET', repoPath(repo, 'pulls'), {
      query: { head: `${repo.owner}:${branch}`, base: baseBranch, state: 'open' }
    })
  try {
    await updateBranch(client, repo, branch, commitSha, true)
  } catch (err) {
    if (
      !input.scheduledName ||
      !(err instanceof PublishError && err.code === 'AIRLOCK_BRANCH_MOVED') ||
      (await openPulls()).length > 0
    )
      throw err
    // A scheduled run continues its branch only while its pull request is open (the gate's
    // rule); with none open, the branch is what a merged or closed pull request left behind,
    // and this run, started afresh from the default branch, replaces it. (The old commits
    // stay reachable from that pull request.) Any other branch is never forced.
    await updateBranch(client, repo, branch, commitSha, true, true)
    notes.push(`${branch} restarted from ${baseBranch}: its earlier pull request is closed`)
  }
  const open = await openPulls()
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
        title: input.scheduledName
          ? `Airlock: scheduled run ${input.scheduledName}`
          : `Airlock: ${input.title ? safeTitle(input.title, 200) : `changes for ${what} #${input.number}`}`,
        head: branch,
        base: baseBranch,
        body: pullBody(input, names, commitSha),
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

/** Longest agent text in a pull request body (GitHub's limit is 65,536 characters). */
const MAX_PR_TEXT = 20_000

/**
 * The body of the pull request Airlock opens: `Closes #N` for an issue (so merging closes
 * it; not for a scheduled run's standing issue), what changed and why in the agent's words (rendered inert: its own `Closes #…`,
 * mentions and links come out as code), the files touched, and links to the run and the
 * commit. Only Airlock writes live references here.
 */
export function pullBody(input: PublishPatchInput, files: string[], commitSha: string): string {
  const what = input.isPr ? 'pull request' : 'issue'
  const lines: string[] = []
  if (input.scheduledName)
    // The standing issue outlives every pull request: a closing keyword here would close it
    // (and pause the schedule) the first time one is merged.
    lines.push(
      `Changes from Airlock's scheduled run ${codeSpan(input.scheduledName, { max: 80 })}, which reports on issue #${input.number}${input.actor ? ` (this run started by ${mentionLogin(input.actor)})` : ''}. Later runs update this pull request while it is open.`
    )
  else {
    if (!input.isPr) lines.push(`Closes #${input.number}`, '')
    lines.push(
      `Changes Airlock made for ${what} #${input.number}, requested by ${mentionLogin(input.actor)}.`
    )
  }
  const result = input.result?.trim()
  if (result)
    lines.push('', '### What changed and why', '', safeMarkdown(result, { maxChars: MAX_PR_TEXT }))
  const list = files.slice(0, 100).map((f) => `- ${codeSpan(f, { max: 300 })}`)
  if (files.length > 100) list.push(`- …and ${files.length - 100} more`)
  const title = `${files.length} file${files.length === 1 ? '' : 's'} touched`
  lines.push(
    '',
    ...(files.length > 10
      ? [`<details><summary>${title}</summary>`, '', ...list, '', '</details>']
      : [`### ${title}`, '', ...list])
  )
  const links: string[] = []
  if (input.runUrl) {
    links.push(`[run](${input.runUrl})`)
    const m = /^(https?:\/\/[^/]+\/[^/]+\/[^/]+)\/actions\/runs\//.exec(input.runUrl)
    if (m && /^[0-9a-f]{40}$/.test(commitSha))
      links.push(`commit [${commitSha.slice(0, 12)}](${m[1]}/commit/${commitSha})`)
  }
  if (links.length) lines.push('', `<sub>Made by Airlock · ${links.join(' · ')}</sub>`)
  lines.push('', TRACKING_MARKER)
  return lines.join('\n')
}

/** Body of the tracking comment once the run is over. */
export function finishedBody(opts: {
  published?: PublishedPatch
  input: Pick<PublishPatchInput, 'branch' | 'runUrl' | 'result'>
  patch?: Buffer
  error?: string
  agentFailed?: string
  /** Duration and tokens, for a footer line. */
  stats?: string
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
      codeBlock(opts.error.slice(0, 4_000), 'text'),
      // The agent did its work; how long it took still belongs in the report.
      ...(opts.stats ? ['', `<sub>${opts.stats}</sub>`] : [])
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
    if (opts.stats) lines.push('', `<sub>${opts.stats}</sub>`)
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
