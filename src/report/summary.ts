import * as core from '@actions/core'
import { remedy, type NetworkSummary } from './network.js'

export interface RunOverview {
  what: string
  image: string
  conclusion: string
  exitCode: number
  durationMs: number
  grants: string[]
  egressPolicy: string
  auditHead: string
}

const cell = (s: string): string => s.replace(/\|/g, '\\|').replace(/\n/g, ' ')

/** The job summary: run overview, grants (names only), network table, blocked requests, audit head. */
export function renderSummary(run: RunOverview, net: NetworkSummary): string {
  const lines = [
    '## Airlock',
    '',
    `| ${cell(run.what)} | |`,
    '| --- | --- |',
    `| conclusion | **${run.conclusion}** (exit ${run.exitCode}) |`,
    `| image | \`${cell(run.image)}\` |`,
    `| duration | ${(run.durationMs / 1000).toFixed(1)} s |`,
    `| grants | ${run.grants.length > 0 ? run.grants.map((g) => `\`${g}\``).join(', ') : 'none'} |`,
    `| egress policy | \`${run.egressPolicy}\` |`,
    `| requests | ${net.requests} (${net.blocked.length} blocked${net.audited ? `, ${net.audited} would be blocked` : ''}) |`,
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
        `| ${cell(h.host)} | ${h.requests} | ${cell(statuses)} | ${h.bytesIn} | ${h.bytesOut} | ${h.grants.join(', ')} | ${h.blocked || ''} |`
      )
    }
    if (net.hosts.length > 100)
      lines.push('', `…and ${net.hosts.length - 100} more hosts (see network.jsonl).`)
  }
  if (net.blocked.length > 0) {
    lines.push('', '### Blocked', '', '| request | reason | to allow it |', '| --- | --- | --- |')
    for (const b of net.blocked.slice(0, 50))
      lines.push(
        `| \`${cell(`${b.method} ${b.url}`)}\` | ${b.blocked ?? ''} | ${remedy(b.blocked ?? '')} |`
      )
  }
  lines.push(
    '',
    `Audit head: \`${run.auditHead || 'unavailable'}\` — verify with \`airlock audit verify audit.jsonl --head ${run.auditHead || '<head>'}\``,
    ''
  )
  return lines.join('\n')
}

export async function writeSummary(markdown: string): Promise<void> {
  if (!process.env.GITHUB_STEP_SUMMARY) return
  await core.summary.addRaw(markdown).write()
}
