/**
 * Safe outputs: the few writes an agent may ask for besides a review or a patch — labels, a
 * comment, a new issue, its pull request's title and body — each checked and written by the
 * publish job, which never runs the agent, and each only where the workflow opted in. The
 * agent writes them to `.airlock-run/outputs.json`; nothing there is trusted.
 */
import { codeSpan, safeMarkdown, safeTitle } from '../../markdown/safe.js'
import { repoPath, type GitHubClient, type RepoRef } from '../github.js'
import { RUN_DIR } from '../workspace.js'
import { clip, MAX_AGENT_TEXT } from './comments.js'

/** Where the agent writes its requests, relative to the workspace. */
export const OUTPUTS_FILE = `${RUN_DIR}/outputs.json`

/** Marker on comments and issues Airlock writes for an agent. */
export const OUTPUT_MARKER = '<!-- airlock:output -->'

/** What the workflow allows (all off by default). */
export interface OutputPolicy {
  /** Labels the agent may add; anything else is refused. Empty: no labels. */
  allowedLabels: string[]
  allowComment: boolean
  allowIssue: boolean
  /** Update the title and body of the pull request the run is for. */
  allowPrUpdate: boolean
}

/** What the agent asked for, after the shape was checked. */
export interface Outputs {
  labels: string[]
  comment?: string
  issue?: { title: string; body: string }
  pullRequest?: { title?: string; body?: string }
}

const MAX_LABELS = 10
const MAX_TITLE = 256

/** Reads `outputs.json`: the known fields of the right types; the rest is a problem named. */
export function parseOutputs(text: string): { outputs: Outputs; problems: string[] } {
  const problems: string[] = []
  const outputs: Outputs = { labels: [] }
  let doc: unknown
  try {
    doc = JSON.parse(text)
  } catch {
    return { outputs, problems: ['outputs.json is not JSON'] }
  }
  if (!doc || typeof doc !== 'object' || Array.isArray(doc))
    return { outputs, problems: ['outputs.json must be an object'] }
  const o = doc as Record<string, unknown>
  for (const k of Object.keys(o))
    if (!['labels', 'comment', 'issue', 'pull_request'].includes(k))
      problems.push(`unknown field "${k}" ignored`)
  if (o.labels !== undefined) {
    if (!Array.isArray(o.labels) || o.labels.some((l) => typeof l !== 'string'))
      problems.push('"labels" must be a list of strings')
    else outputs.labels = (o.labels as string[]).slice(0, MAX_LABELS)
  }
  if (o.comment !== undefined) {
    if (typeof o.comment !== 'string' || !o.comment.trim())
      problems.push('"comment" must be a non-empty string')
    else outputs.comment = o.comment
  }
  const pair = (v: unknown, name: string, need: boolean): Record<string, string> | undefined => {
    if (v === undefined) return undefined
    const r = v as Record<string, unknown>
    if (!r || typeof r !== 'object' || Array.isArray(r)) {
      problems.push(`"${name}" must be an object`)
      return undefined
    }
    const out: Record<string, string> = {}
    for (const f of ['title', 'body'])
      if (r[f] !== undefined) {
        if (typeof r[f] !== 'string') problems.push(`"${name}.${f}" must be a string`)
        else out[f] = r[f]
      }
    if (need && !out.title?.trim()) {
      problems.push(`"${name}.title" is required`)
      return undefined
    }
    return out
  }
  const issue = pair(o.issue, 'issue', true)
  if (issue) outputs.issue = { title: issue.title!, body: issue.body ?? '' }
  const pr = pair(o.pull_request, 'pull_request', false)
  if (pr && (pr.title?.trim() || pr.body?.trim())) outputs.pullRequest = pr
  return { outputs, problems }
}

/** Where the outputs go and how to say who made them. */
export interface OutputTarget {
  number: number
  isPr: boolean
  runUrl: string
}

/** What {@link applyOutputs} did and refused, one line each (Markdown, Airlock's). */
export interface AppliedOutputs {
  done: string[]
  refused: string[]
  issueUrl?: string
  commentUrl?: string
}

const footer = (t: OutputTarget): string =>
  `<sub>Written by Airlock for #${t.number}${t.runUrl ? ` · [run](${t.runUrl})` : ''}</sub>`

/**
 * Applies what the policy allows, in a fixed order (labels, comment, issue, pull request);
 * everything else is refused and said. Text goes through the hostile-text rules: titles one
 * line with mentions, references and links as code; bodies re-rendered inert.
 */
export async function applyOutputs(
  client: GitHubClient,
  repo: RepoRef,
  target: OutputTarget,
  outputs: Outputs,
  policy: OutputPolicy
): Promise<AppliedOutputs> {
  const r: AppliedOutputs = { done: [], refused: [] }
  if (outputs.labels.length > 0) {
    // The allowlist's own spelling is what gets written, matched ignoring case.
    const allowed = new Map(policy.allowedLabels.map((l) => [l.toLowerCase(), l]))
    const add: string[] = []
    for (const l of outputs.labels) {
      const ok = allowed.get(l.trim().toLowerCase())
      if (ok) {
        if (!add.includes(ok)) add.push(ok)
      } else r.refused.push(`label ${codeSpan(l, { max: 60 })} (not in \`allowed-labels\`)`)
    }
    if (add.length > 0) {
      await client.request('POST', repoPath(repo, 'issues', target.number, 'labels'), {
        body: { labels: add }
      })
      r.done.push(`labels ${add.map((l) => codeSpan(l, { max: 60 })).join(', ')}`)
    }
  }
  if (outputs.comment !== undefined) {
    if (!policy.allowComment) r.refused.push('a comment (`allow-comment` is off)')
    else {
      const c = await client.request<{ html_url?: string }>(
        'POST',
        repoPath(repo, 'issues', target.number, 'comments'),
        {
          body: {
            body: clip(
              `${safeMarkdown(outputs.comment, { maxChars: MAX_AGENT_TEXT })}\n\n${footer(target)}\n${OUTPUT_MARKER}`
            )
          }
        }
      )
      r.commentUrl = c.html_url ?? ''
      r.done.push('a comment')
    }
  }
  if (outputs.issue) {
    if (!policy.allowIssue) r.refused.push('a new issue (`allow-issue` is off)')
    else {
      const made = await client.request<{ number: number; html_url?: string }>(
        'POST',
        repoPath(repo, 'issues'),
        {
          body: {
            title: safeTitle(outputs.issue.title, MAX_TITLE),
            body: clip(
              `${safeMarkdown(outputs.issue.body, { maxChars: MAX_AGENT_TEXT })}\n\n${footer(target)}\n${OUTPUT_MARKER}`
            )
          }
        }
      )
      r.issueUrl = made.html_url ?? ''
      r.done.push(`issue #${made.number}`)
    }
  }
  if (outputs.pullRequest) {
    if (!policy.allowPrUpdate) r.refused.push('a pull request update (`allow-pr-update` is off)')
    else if (!target.isPr) r.refused.push('a pull request update (this is an issue)')
    else {
      const body: Record<string, string> = {}
      if (outputs.pullRequest.title?.trim())
        body.title = safeTitle(outputs.pullRequest.title, MAX_TITLE)
      if (outputs.pullRequest.body?.trim())
        body.body = clip(
          `${safeMarkdown(outputs.pullRequest.body, { maxChars: MAX_AGENT_TEXT })}\n\n${footer(target)}\n${OUTPUT_MARKER}`
        )
      await client.request('PATCH', repoPath(repo, 'pulls', target.number), { body })
      r.done.push(`the pull request's ${Object.keys(body).join(' and ')}`)
    }
  }
  return r
}

/** One line for the tracking comment, or ''. */
export function outputsLine(a: AppliedOutputs): string {
  const parts: string[] = []
  if (a.done.length) parts.push(`Also wrote: ${a.done.join('; ')}.`)
  if (a.refused.length) parts.push(`Refused: ${a.refused.join('; ')}.`)
  return parts.join(' ')
}
