import * as core from '@actions/core'
import { codeSpan } from '../markdown/safe.js'
import { remedy, type NetworkSummary } from './network.js'

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
}

/**
 * A table cell holding one value nobody vetted: the agent chose the URLs it asked for, and a
 * refused request's URL, host or error is whatever the agent sent. Each is a code span that
 * nothing can close or break out of (see {@link codeSpan}), cut to `max` characters.
 */
const cell = (s: string, max = 200): string => codeSpan(s, { table: true, max })

/** A number from the log, shown only if it is one (the log is read back from disk). */
const count = (n: unknown): string => (Number.isFinite(n) ? String(n) : '?')

/** The job summary: run overview, grants (names only), network table, blocked requests, audit head. */
export function renderSummary(run: RunOverview, net: NetworkSummary): string {
  const lines = [
    '## Airlock',
    '',
    `| ${run.kind} ${cell(run.what)} | |`,
    '| --- | --- |',
    `| conclusion | **${cell(run.conclusion, 40)}** (exit ${count(run.exitCode)}) |`,
    `| image | ${cell(run.image)} |`,
    `| duration | ${(run.durationMs / 1000).toFixed(1)} s |`,
    `| grants | ${run.grants.length > 0 ? run.grants.map((g) => cell(g, 80)).join(', ') : 'none'} |`,
    `| egress policy | ${cell(run.egressPolicy, 40)} |`,
    `| requests | ${count(net.requests)} (${net.blocked.length} blocked${net.audited ? `, ${count(net.audited)} would be blocked` : ''}) |`,
    '',
    '### Network',
    ''
  ]
  if (net.hosts.length === 0) lines.push('No requests left the container.')
  else {
    lines.push(
      '| host | requests | statuses | bytes in | bytes out | credential | blocked |',
      '| --- | ---: | --- | ---: | ---: | --- | ---: |'
    )
    for (const h of net.hosts.slice(0, 100)) {
      const statuses = Object.entries(h.statuses)
        .map(([s, n]) => `${s}×${n}`)
        .join(' ')
      lines.push(
        `| ${cell(h.host)} | ${count(h.requests)} | ${cell(statuses)} | ${count(h.bytesIn)} | ${count(h.bytesOut)} | ${h.grants.map((g) => cell(g, 80)).join(', ')} | ${h.blocked ? count(h.blocked) : ''} |`
      )
    }
    if (net.hosts.length > 100)
      lines.push('', `…and ${net.hosts.length - 100} more hosts (see network.jsonl).`)
  }
  if (net.blocked.length > 0) {
    lines.push('', '### Blocked', '', '| request | reason | to allow it |', '| --- | --- | --- |')
    for (const b of net.blocked.slice(0, 50))
      lines.push(
        `| ${cell(`${b.method} ${b.url}`, 300)} | ${b.blocked ? cell(b.blocked, 60) : ''} | ${remedy(b.blocked ?? '')} |`
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
