import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { blockedTotal, summarizeNetwork } from '../../src/report/network.js'

describe('summarizeNetwork', () => {
  it('lists refusals that carried data first, whatever came before them', () => {
    const dir = mkdtempSync(join(tmpdir(), 'airlock-net-'))
    try {
      const file = join(dir, 'network.jsonl')
      const entry = (method: string, url: string, bytesOut: number): string =>
        JSON.stringify({ method, url, bytesOut, bytesIn: 0, blocked: 'not-allowed' })
      const plain = Array.from({ length: 30 }, (_, i) =>
        entry('CONNECT', `noise${i}.example:443`, 0)
      )
      writeFileSync(
        file,
        [...plain, entry('POST', 'http://exfil.example/up', 4096), '{"torn'].join('\n')
      )
      const net = summarizeNetwork(file)
      expect(blockedTotal(net)).toBe(31)
      // The reports cut this list (the workflow's facts at 20): the POST must be in front.
      expect(net.blocked[0]?.url).toBe('http://exfil.example/up')
      expect(net.blocked.slice(1).map((b) => b.url)).toEqual(
        plain.map((_, i) => `noise${i}.example:443`)
      )
    } finally {
      rmSync(dir, { recursive: true, force: true })
    }
  })
})
