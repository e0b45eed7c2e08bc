/**
 * The tracking comment's stages — queued, publishing, done, failed — and what the agent job
 * reported about its run (conclusion, exit code, duration, tokens, refused requests, the end
 * of its final message), read back from the artifact and shown on the PR or issue.
 */
import { codeSpan, safeMarkdown } from '../../markdown/safe.js'
import { humanBytes, humanCount, humanDuration } from '../../report/format.js'
import { sendsData } from '../../report/network.js'
import { mentionLogin, TRACKING_MARKER } from './comments.js'

/** A request the egress policy refused, as the collect step recorded it. */
export interface BlockedRequest {
  method: string
  host: string
  reason: string
  /** Bytes the request carried (its `content-length`), 0 when it had no body. */
  bytes: number
}

/**
 * What the agent job reported. Everything here comes out of the agent job's artifact, which
 * the writing job does not trust: {@link readAgentOutcome} keeps only values of the expected
 * kind, and every text is rendered through the hostile-text rules.
 */
export interface AgentOutcome {
  /** `success`, `failure`, `timeout`, `cancelled` (the action's output). */
  conclusion: string
  exitCode?: number
  durationMs?: number
  inputTokens?: number
  outputTokens?: number
  /** Refused requests, at most {@link MAX_BLOCKED}; `blockedCount` says how many there were. */
  blocked: BlockedRequest[]
  blockedCount: number
}

export const MAX_BLOCKED = 20

/** Room for the end of the agent's final message in a failure report (characters). */
const RESULT_TAIL = 1_500

const CONCLUSIONS = ['success', 'failure', 'timeout', 'cancelled', 'skipped']

const count = (v: unknown): number | undefined =>
  typeof v === 'number' && Number.isSafeInteger(v) && v >= 0 ? v : undefined

const text = (v: unknown, max: number): string => (typeof v === 'string' ? v.slice(0, max) : '')

/** The agent job's report out of `meta.json`, only what has the right shape. */
export function readAgentOutcome(meta: unknown): AgentOutcome | undefined {
  if (!meta || typeof meta !== 'object') return undefined
  const m = meta as Record<string, unknown>
  const blocked = Array.isArray(m.blocked) ? m.blocked.slice(0, MAX_BLOCKED) : []
  return {
    conclusion: CONCLUSIONS.includes(String(m.conclusion)) ? String(m.conclusion) : '',
    exitCode:
      typeof m.exitCode === 'number' && Number.isSafeInteger(m.exitCode) ? m.exitCode : undefined,
    durationMs: count(m.durationMs),
    inputTokens: count(m.inputTokens),
    outputTokens: count(m.outputTokens),
    blocked: blocked
      .filter((b): b is Record<string, unknown> => !!b && typeof b === 'object')
      .map((b) => ({
        method: text(b.method, 16),
        host: text(b.host, 300),
        reason: text(b.reason, 60),
        bytes: count(b.bytes) ?? 0
      })),
    blockedCount: count(m.blockedCount) ?? blocked.length
  }
}

/** `duration 3 min 12 s · 12.3k tokens in, 1.2k out`, or '' when nothing is known. */
export function statsLine(
  o: Pick<AgentOutcome, 'durationMs' | 'inputTokens' | 'outputTokens'>
): string {
  const parts: string[] = []
  if (o.durationMs !== undefined) parts.push(`agent ran ${humanDuration(o.durationMs)}`)
  if (o.inputTokens !== undefined || o.outputTokens !== undefined)
    parts.push(
      `${humanCount(o.inputTokens ?? 0)} tokens in, ${humanCount(o.outputTokens ?? 0)} out`
    )
  return parts.join(' · ')
}

/** Why the agent did not succeed, in one sentence (no period). */
export function failureReason(jobResult: string, o: AgentOutcome | undefined): string {
  if (!o || !o.conclusion)
    return jobResult === 'cancelled'
      ? 'the run was cancelled'
      : `the agent job ended with ${codeSpan(jobResult || 'failure', { max: 40 })} before the agent reported anything (see the run's log)`
  switch (o.conclusion) {
    case 'timeout':
      return `the agent ran out of time${o.durationMs !== undefined ? ` after ${humanDuration(o.durationMs)}` : ''} (raise \`timeout-minutes\` if it needs longer)`
    case 'cancelled':
      return 'the run was cancelled'
    case 'success':
      return `the agent finished, but its job ended with ${codeSpan(jobResult || 'failure', { max: 40 })} (see the run's log)`
    default:
      return o.exitCode !== undefined
        ? `the agent exited with code ${o.exitCode}`
        : 'the agent failed'
  }
}

/** The refused requests as a table: host (code), method, reason, whether data was sent. */
export function blockedTable(o: AgentOutcome): string {
  if (o.blockedCount === 0) return ''
  const rows = o.blocked.map(
    (b) =>
      `| ${codeSpan(b.host, { table: true, max: 200 })} | ${codeSpan(b.method, { table: true, max: 16 })} | ${codeSpan(b.reason, { table: true, max: 60 })} | ${b.bytes > 0 ? humanBytes(b.bytes) : ''}${sendsData(b.method, b.bytes, b.reason) ? ' ⚠️' : ''} |`
  )
  const exfil = o.blocked.some((b) => sendsData(b.method, b.bytes, b.reason))
  const more =
    o.blockedCount > o.blocked.length
      ? `\n\n…and ${o.blockedCount - o.blocked.length} more (see the job summary).`
      : ''
  return [
    `The airlock refused ${o.blockedCount} request${o.blockedCount === 1 ? '' : 's'} (in a sandbox with no other network, the likeliest reason a run fails):`,
    '',
    '| host | method | reason | data sent |',
    '| --- | --- | --- | ---: |',
    ...rows
  ]
    .join('\n')
    .concat(more)
    .concat(
      exfil
        ? '\n\n⚠️ A request that carries data to a host not on the allowlist may be the agent sending out what it read: do not add such a host to `allowed-endpoints` unless you know why it sends data there.'
        : ''
    )
}

/**
 * The last part of the agent's final message, rendered inert. Cut at a line boundary, so a
 * half line does not open a construct; whatever it opens, safeMarkdown renders it as text.
 */
export function resultTail(result: string, max = RESULT_TAIL): string {
  const r = result.trim()
  if (!r) return ''
  let tail = r.length > max ? r.slice(r.length - max) : r
  if (tail.length < r.length) {
    const nl = tail.indexOf('\n')
    if (nl >= 0 && nl < tail.length / 2) tail = tail.slice(nl + 1)
  }
  const body = safeMarkdown(tail, { maxChars: max * 3 })
  return `**${tail.length < r.length ? 'The end of the' : 'The'} agent's last message:**\n\n${body
    .split('\n')
    .map((l) => (l ? `> ${l}` : '>'))
    .join('\n')}`
}

/** A stage of the tracking comment. */
export type Stage =
  | {
      stage: 'queued'
      what: 'review' | 'respond'
      actor?: string
      /** When the gate let the run start (the agent job starts right after it). */
      startedAt?: Date
      /** A scheduled run's name (validated by the gate; still shown as code). */
      scheduled?: string
    }
  | { stage: 'publishing'; what: 'review' | 'respond'; outcome?: AgentOutcome }
  | {
      stage: 'failed'
      jobResult: string
      outcome?: AgentOutcome
      result?: string
      /** Markdown Airlock wrote (an error in a code block), shown under the headline. */
      error?: string
      /** Why, when it was not the agent (the writing job failed); else from the outcome. */
      reason?: string
    }

const WHAT = { review: 'reviewing this pull request', respond: 'working on the request' }

/**
 * `at 07:20 UTC on 2026-12-07`: the runner's clock, in the one zone every reader can convert
 * (a comment cannot show each reader their own time).
 */
export function utcMinute(d: Date): string {
  const iso = d.toISOString()
  return `at ${iso.slice(11, 16)} UTC on ${iso.slice(0, 10)}`
}

/**
 * The tracking comment at one stage. The agent job holds no write permission (by design),
 * so the comment cannot change while the agent runs: "queued" is posted by the gate the
 * moment it lets the run start, right before the agent job, and says the agent is starting,
 * when, and where to follow it (the run's link); "publishing" is posted by the writing job as
 * soon as the agent job is over, with how long the agent ran and its tokens, then done or
 * failed (both with the same figures).
 */
export function progressBody(s: Stage, runUrl: string): string {
  const run = runUrl ? `[the run](${runUrl})` : 'the run'
  const lines = [TRACKING_MARKER]
  if (s.stage === 'queued') {
    const who = s.actor ? ` (requested by ${mentionLogin(s.actor)})` : ''
    const what = s.scheduled
      ? `doing the scheduled run ${codeSpan(s.scheduled, { max: 80 })}`
      : WHAT[s.what]
    const when =
      s.startedAt && !Number.isNaN(s.startedAt.getTime()) ? ` ${utcMinute(s.startedAt)}` : ''
    lines.push(
      `⏳ **Airlock** is ${what}${who}: the agent is starting${when} in a sandbox with no network but its proxy. Follow ${run}; this comment says when it is done.`
    )
  } else if (s.stage === 'publishing') {
    const stats = s.outcome ? statsLine(s.outcome) : ''
    lines.push(
      `📝 **Airlock**: the agent is done${stats ? ` (${stats})` : ''}; ${s.what === 'review' ? 'checking and posting its review' : 'checking and publishing its changes'} — ${run}.`
    )
  } else {
    lines.push(
      `❌ **Airlock** did not finish: ${s.reason ?? failureReason(s.jobResult, s.outcome)} — ${run}.`
    )
    const stats = s.outcome ? statsLine(s.outcome) : ''
    if (stats) lines.push('', `<sub>${stats}</sub>`)
    if (s.error) lines.push('', s.error)
    if (s.outcome && s.outcome.blockedCount > 0) lines.push('', blockedTable(s.outcome))
    const tail = s.result ? resultTail(s.result) : ''
    if (tail) lines.push('', tail)
  }
  return lines.join('\n')
}

/** A tracking comment's text under the job summary's own header. */
export function jobSummary(body: string): string {
  return `## Airlock\n\n${body.replace(`${TRACKING_MARKER}\n`, '')}\n`
}
