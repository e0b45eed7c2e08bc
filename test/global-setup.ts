import { execFileSync } from 'node:child_process'
import { existsSync, readdirSync, statSync } from 'node:fs'
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
 */
export default function setup(): void {
  const bundles = ['main', 'post', 'proxy', 'cli'].map((n) => join(ROOT, 'dist', n, 'index.js'))
  const oldest = Math.min(...bundles.map((b) => (existsSync(b) ? statSync(b).mtimeMs : 0)))
  if (oldest === 0 || newest(join(ROOT, 'src')) > oldest) {
    execFileSync('node', ['scripts/build.mjs'], { cwd: ROOT, stdio: 'inherit' })
  }
}
