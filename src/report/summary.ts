import * as core from '@actions/core'
import { codeSpan, safeText } from '../markdown/safe.js'
import { humanBytes, humanCount, humanDuration } from './format.js'
import { adviceFor, blockedTotal, bodyBytes, sendsData, type NetworkSummary } from './network.js'

export interface RunOverview {
  /** What ran: an agent by name, or a command. */
  kind: 'agent' | 'command'
  /** The agent's name or the command line (shown as code). */
  what: string
  image: string
  conclusion: string
  exitCode: number
  durationMs: number
  grants: string[]
  egressPolicy: string
  auditHead: string
  /** Tokens the agent reported, when it did. */
  inputTokens?: number
  outputTokens?: number
  /** Links Airlock made (the run's review or pull request), label → URL. */
  links?: { label: string; url: string }[]
}

/**
 * A table cell holding one value nobody vetted: the agent chose the URLs it asked for, and a
 * refused request's URL, host or error is whatever the agent sent. Each is a code span that
 * nothing can close or break out of (see {@link codeSpan}), cut to `max` characters.
 */
const cell = (s: string, max = 200): string => codeSpan(s, { table: true, max })

/** A number from the log, shown only if it is one (the log is read back from disk). */
const count = (n: unknown): string => (Number.isFinite(n) ? String(n) : '?')

/** Bytes from the log, human-readable (`47.1 KiB`), only if they are a number. */
const bytes = (n: unknown): string =>
  typeof n === 'number' && Number.isSafeInteger(n) && n >= 0 ? humanBytes(n) : '?'

/** Tables longer than this are folded into a `<details>`, so the summary reads at a glance. */
const FOLD_ROWS = 10

/** Rows under a header, folded when there are many (the summary line is Airlock's text). */
function table(header: string[], rows: string[], summary: string): string[] {
  const t = [...header, ...rows]
  return rows.length > FOLD_ROWS
    ? [`<details><summary>${summary}</summary>`, '', ...t, '', '</details>']
    : t
}

const ICON: Record<string, string> = {
  success: '✅',
  failure: '❌',
  timeout: '⏱️',
  cancelled: '⏹️'
}

/**
 * The job summary: a header saying what ran and how it ended, the overview (duration, tokens,
 * grants by name, policy, links), the hosts reached (sizes human-readable), the refused
 * requests with what to do about each — never "allow it" for one that carried data to an
 * unknown host — and the audit head.
 */
export function renderSummary(run: RunOverview, net: NetworkSummary): string {
  const icon = ICON[run.conclusion] ?? '❔'
  const tokens =
    run.inputTokens !== undefined || run.outputTokens !== undefined
      ? `${humanCount(run.inputTokens ?? 0)} in, ${humanCount(run.outputTokens ?? 0)} out`
      : 'not reported'
  const lines = [
    `## Airlock ${icon} ${run.kind} ${codeSpan(run.what, { max: 200 })}: ${codeSpan(run.conclusion, { max: 40 })}`,
    '',
    `| ${run.kind} ${cell(run.what)} | |`,
    '| --- | --- |',
    `| conclusion | **${cell(run.conclusion, 40)}** (exit ${count(run.exitCode)}) |`,
    `| duration | ${humanDuration(run.durationMs)} |`,
    `| tokens | ${tokens} |`,
    `| image | ${cell(run.image)} |`,
    `| grants | ${run.grants.length > 0 ? run.grants.map((g) => cell(g, 80)).join(', ') : 'none'} |`,
    `| egress policy | ${cell(run.egressPolicy, 40)} |`,
    `| requests | ${count(net.requests)} (${count(blockedTotal(net))} blocked${net.audited ? `, ${count(net.audited)} would be blocked` : ''}) |`
  ]
  for (const l of run.links ?? [])
    if (/^https:\/\/[^\s()<>]+$/.test(l.url))
      lines.push(`| ${safeText(l.label)} | [${safeText(l.label)}](${l.url}) |`)
  lines.push('', '### Network', '')
  if (net.hosts.length === 0) lines.push('No requests left the container.')
  else {
    const rows = net.hosts.slice(0, 100).map((h) => {
      const statuses = Object.entries(h.statuses)
        .map(([s, n]) => `${s}×${n}`)
        .join(' ')
      return `| ${cell(h.host)} | ${count(h.requests)} | ${cell(statuses)} | ${bytes(h.bytesIn)} | ${bytes(h.bytesOut)} | ${h.grants.map((g) => cell(g, 80)).join(', ')} | ${h.blocked ? count(h.blocked) : ''} |`
    })
    lines.push(
      ...table(
        [
          '| host | requests | statuses | in | out | credential | blocked |',
          '| --- | ---: | --- | ---: | ---: | --- | ---: |'
        ],
        rows,
        `${net.hosts.length} hosts`
      )
    )
    if (net.hosts.length > 100)
      lines.push('', `…and ${net.hosts.length - 100} more hosts (see network.jsonl).`)
  }
  if (net.blocked.length > 0) {
    const exfil = net.blocked.filter((b) => sendsData(b.method, bodyBytes(b), b.blocked ?? ''))
    lines.push('', '### Blocked', '')
    if (exfil.length > 0)
      lines.push(
        `> [!WARNING]`,
        `> ${exfil.length} refused request${exfil.length === 1 ? '' : 's'} carried data to a host not on the allowlist. That is what an agent sending out what it read looks like: find out why before allowing any such host.`,
        ''
      )
    // summarizeNetwork lists those that carried data first.
    const rows = net.blocked.slice(0, 50).map((b) => {
      const sent = bodyBytes(b)
      const advice = adviceFor(b, b.blocked ?? '')
      return `| ${cell(`${b.method} ${b.url}`, 300)} | ${b.blocked ? cell(b.blocked, 60) : ''} | ${sent > 0 ? humanBytes(sent) : ''} | ${advice} |`
    })
    lines.push(
      ...table(
        ['| request | reason | data sent | what to do |', '| --- | --- | ---: | --- |'],
        rows,
        `${blockedTotal(net)} refused requests`
      )
    )
  }
  lines.push(
    '',
    `Audit head: ${codeSpan(run.auditHead || 'unavailable', { max: 100 })} — verify with ${codeSpan(`airlock audit verify audit.jsonl --head ${run.auditHead || '<head>'}`, { max: 200 })}`,
    ''
  )
  return lines.join('\n')
}

export async function writeSummary(markdown: string): Promise<void> {
  if (!process.env.GITHUB_STEP_SUMMARY) return
  await core.summary.addRaw(markdown).write()
}
