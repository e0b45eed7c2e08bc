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
    expect(md).toContain('| `api.anthropic.com` | 1 | `200×1` | 10 | 5 | `claude` |  |')
    expect(md).toContain(
      '| `GET https://evil.example/x` | `not-allowed` | add the host to `allowed-endpoints` |'
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
    expect(row.children).toHaveLength(3)
    expect(row.children[0]!.children).toEqual([
      expect.objectContaining({ type: 'inlineCode', value: `GET ${url}` })
    ])
  })
})
