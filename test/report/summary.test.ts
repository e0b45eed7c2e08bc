import { describe, expect, it } from 'vitest'
import { parseMarkdown } from '../../src/markdown/safe.js'
import type { NetworkSummary } from '../../src/report/network.js'
import { renderSummary, type RunOverview } from '../../src/report/summary.js'

const RUN: RunOverview = {
  kind: 'agent',
  what: 'claude',
  image: 'node:22',
  conclusion: 'success',
  exitCode: 0,
  durationMs: 1500,
  grants: ['claude', 'github'],
  egressPolicy: 'block',
  auditHead: 'abc123'
}

const blocked = (url: string): NetworkSummary['blocked'][number] => ({
  time: 't',
  id: 1,
  method: 'GET',
  url,
  status: 403,
  bytesIn: 0,
  bytesOut: 0,
  durationMs: 1,
  blocked: 'not-allowed'
})

describe('renderSummary', () => {
  it('renders the overview, the network table and the refused requests', () => {
    const md = renderSummary(RUN, {
      requests: 2,
      audited: 0,
      blocked: [blocked('https://evil.example/x')],
      hosts: [
        {
          host: 'api.anthropic.com',
          requests: 1,
          statuses: { '200': 1 },
          bytesIn: 10,
          bytesOut: 5,
          blocked: 0,
          grants: ['claude']
        }
      ]
    })
    expect(md).toContain('| agent `claude` | |')
    expect(md.split('\n')[0]).toBe('## Airlock ✅ agent `claude`: `success`')
    expect(md).toContain('| duration | 2 s |')
    expect(md).toContain('| tokens | not reported |')
    expect(md).toContain('| `api.anthropic.com` | 1 | `200×1` | 10 B | 5 B | `claude` |  |')
    expect(md).toContain(
      '| `GET https://evil.example/x` | `not-allowed` |  | add the host to `allowed-endpoints` |'
    )
    expect(md).toContain('Audit head: `abc123`')
  })

  it('keeps a refused URL with backticks and pipes in one code span of its cell', () => {
    const url = 'https://evil.example/`![x](https://evil.example/?d)`|x'
    const md = renderSummary(RUN, { requests: 1, audited: 0, blocked: [blocked(url)], hosts: [] })
    const table = parseMarkdown(md).children.filter((n) => n.type === 'table')[1]
    expect(table?.type).toBe('table')
    if (table?.type !== 'table') return
    const row = table.children[1]!
    expect(row.children).toHaveLength(4)
    expect(row.children[0]!.children).toEqual([
      expect.objectContaining({ type: 'inlineCode', value: `GET ${url}` })
    ])
  })
  it('shows tokens, human sizes, and folds a long host table', () => {
    const hosts = Array.from({ length: 12 }, (_, i) => ({
      host: `h${i}.example`,
      requests: 1,
      statuses: { '200': 1 },
      bytesIn: 3 * 1024 * 1024,
      bytesOut: 2048,
      blocked: 0,
      grants: []
    }))
    const md = renderSummary(
      { ...RUN, inputTokens: 123_456, outputTokens: 789 },
      { requests: 12, audited: 0, blocked: [], hosts }
    )
    expect(md).toContain('| tokens | 123k in, 789 out |')
    expect(md).toContain('<details><summary>12 hosts</summary>')
    expect(md).toContain('| `h0.example` | 1 | `200×1` | 3.0 MiB | 2.0 KiB |  |  |')
  })

  it('flags a refused POST carrying data to an unknown host as possible exfiltration, never advising to allow it', () => {
    const post = {
      ...blocked('https://paste.example/new'),
      method: 'POST',
      requestHeaders: { 'content-length': '40960' }
    }
    const md = renderSummary(RUN, {
      requests: 2,
      audited: 0,
      blocked: [post, blocked('https://registry.example/x')],
      hosts: []
    })
    expect(md).toContain('> [!WARNING]')
    expect(md).toContain(
      '| `POST https://paste.example/new` | `not-allowed` | 40.0 KiB | **possible exfiltration**: data sent to a host not on the allowlist; do not allow it unless you know why the agent sends data there |'
    )
    const postRow = md.split('\n').find((l) => l.includes('paste.example'))!
    expect(postRow).not.toContain('add the host to')
    // A read of an unknown host is still just "allow it if you meant to".
    expect(md).toContain(
      '| `GET https://registry.example/x` | `not-allowed` |  | add the host to `allowed-endpoints` |'
    )
  })
})
