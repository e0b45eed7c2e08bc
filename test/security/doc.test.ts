/**
 * docs/security.md shows the battery's results; this keeps it from drifting: the generated
 * block must match test/security/results/*.json, and every bypass class must have been
 * attacked at least once.
 */
import { execFileSync } from 'node:child_process'
import { readdirSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { ROOT } from '../support/runner.js'
import { RESULTS_DIR, type AttackResult } from './support/results.js'
// @ts-expect-error -- a plain ESM script without types; CLASSES is [number, string][]
import { CLASSES } from '../../scripts/gen-security-doc.mjs'

const CLASS_NUMBERS = (CLASSES as Array<[number, string]>).map(([n]) => n)

function results(): AttackResult[] {
  return readdirSync(RESULTS_DIR)
    .filter((f) => f.endsWith('.json'))
    .flatMap(
      (f) =>
        (JSON.parse(readFileSync(join(RESULTS_DIR, f), 'utf8')) as { attacks: AttackResult[] })
          .attacks
    )
}

describe('docs/security.md', () => {
  it('matches the battery results (run `node scripts/gen-security-doc.mjs` when it does not)', () => {
    const check = (): string =>
      execFileSync('node', ['scripts/gen-security-doc.mjs', '--check'], {
        cwd: ROOT,
        encoding: 'utf8',
        stdio: ['ignore', 'pipe', 'pipe']
      })
    expect(check).not.toThrow()
  })

  it('covers every class, each attack once, and no attack outside the list', () => {
    const all = results()
    const classes = new Set(all.map((a) => a.cls))
    for (const n of CLASS_NUMBERS) expect(classes.has(n), `class ${n} has no attack`).toBe(true)
    for (const n of classes) expect(CLASS_NUMBERS, `class ${n} is not in the list`).toContain(n)
    const ids = all.map((a) => a.id)
    expect(new Set(ids).size).toBe(ids.length)
    for (const a of all) {
      expect(a.cls).toBe(Number(a.id.split('.')[0]))
      expect(['pass', 'fail', 'documented', 'not-applicable']).toContain(a.verdict)
    }
  })

  it('renders one table row per class', () => {
    const page = readFileSync(join(ROOT, 'docs', 'security.md'), 'utf8')
    const block =
      /<!-- security-results:start -->([\s\S]*?)<!-- security-results:end -->/.exec(page)?.[1] ?? ''
    const rows = block.split('\n').filter((l) => /^\| \d+ \| /.test(l))
    expect(rows.map((r) => Number(r.split('|')[1]))).toEqual(CLASS_NUMBERS)
  })
})
