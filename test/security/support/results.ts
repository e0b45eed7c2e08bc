/**
 * The battery's results, one JSON file per suite under test/security/results/. They hold
 * only what is stable from run to run (attack, outcome category, verdict: no times, ports or
 * addresses), so scripts/gen-security-doc.mjs can render docs/security.md from them and a
 * check can tell when the document no longer matches what the battery observed.
 */
import { mkdirSync, renameSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'

export const RESULTS_DIR = join(import.meta.dirname, '..', 'results')

/**
 * `pass`: the attack failed as it should. `fail`: it got through (a finding).
 * `documented`: a limitation Airlock does not promise to stop, shown to behave as documented.
 * `not-applicable`: the feature under attack does not exist yet (the reason says why).
 */
export type Verdict = 'pass' | 'fail' | 'documented' | 'not-applicable'

/** One attack as it goes into the results file. */
export interface AttackResult {
  /** `<class>.<n>`, unique within the battery. */
  id: string
  /** Bypass class, 1–22 (test/security README / docs/security.md). */
  cls: number
  attack: string
  /** What happened, in words that do not change between runs. */
  outcome: string
  verdict: Verdict
}

/** What a check of one attack concluded. */
export interface CheckResult {
  outcome: string
  /** Empty when the attack was stopped as it should be. */
  problems: string[]
  /** Defaults to pass/fail from `problems`. */
  verdict?: Exclude<Verdict, 'fail'>
}

/** Sorts ids numerically (`3.2` before `3.10`). */
export function compareIds(a: string, b: string): number {
  const pa = a.split('.').map(Number)
  const pb = b.split('.').map(Number)
  for (let i = 0; i < Math.max(pa.length, pb.length); i++) {
    const d = (pa[i] ?? 0) - (pb[i] ?? 0)
    if (d !== 0) return d
  }
  return 0
}

/** Writes `<suite>.json` atomically (another test may be reading it). */
export function writeSuiteResults(suite: string, attacks: AttackResult[]): void {
  mkdirSync(RESULTS_DIR, { recursive: true })
  const sorted = [...attacks].sort((a, b) => compareIds(a.id, b.id))
  const file = join(RESULTS_DIR, `${suite}.json`)
  const tmp = `${file}.${process.pid}.tmp`
  writeFileSync(tmp, `${JSON.stringify({ suite, attacks: sorted }, null, 2)}\n`)
  renameSync(tmp, file)
}

/** The verdict a check implies. */
export function verdictOf(c: CheckResult): Verdict {
  return c.problems.length > 0 ? 'fail' : (c.verdict ?? 'pass')
}
