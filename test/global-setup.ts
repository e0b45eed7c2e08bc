import { execFileSync } from 'node:child_process'
import { chmodSync, existsSync, mkdtempSync, readdirSync, rmSync, statSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'

const ROOT = join(import.meta.dirname, '..')

function newest(dir: string): number {
  let latest = 0
  for (const name of readdirSync(dir)) {
    const p = join(dir, name)
    const st = statSync(p)
    latest = Math.max(latest, st.isDirectory() ? newest(p) : st.mtimeMs)
  }
  return latest
}

/**
 * End-to-end tests run the bundles the runner would run. Rebuild them first when a source
 * is newer than a bundle, so `npm test` never tests stale code.
 *
 * Every temporary file of the run (the tests', the steps', the proxies') goes under one
 * directory, TMPDIR for the workers and every process they start, removed at the end: a test
 * run leaves nothing in the machine's temp dir. 0755, so the steps' runner uid can reach in.
 */
export default function setup(): () => void {
  const runTmp = mkdtempSync(join(tmpdir(), 'airlock-tests-'))
  chmodSync(runTmp, 0o755)
  process.env.TMPDIR = runTmp
  const bundles = ['main', 'post', 'proxy', 'cli'].map((n) => join(ROOT, 'dist', n, 'index.js'))
  const oldest = Math.min(...bundles.map((b) => (existsSync(b) ? statSync(b).mtimeMs : 0)))
  if (oldest === 0 || newest(join(ROOT, 'src')) > oldest) {
    execFileSync('node', ['scripts/build.mjs'], { cwd: ROOT, stdio: 'inherit' })
  }
  return () => {
    try {
      rmSync(runTmp, { recursive: true, force: true })
    } catch (err) {
      process.stderr.write(`could not remove ${runTmp}: ${(err as Error).message}\n`)
    }
  }
}
