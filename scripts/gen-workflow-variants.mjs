// Writes the -oidc variant of each reusable workflow: the same file with `id-token: write` on
// the agent job. GitHub checks a called workflow's requested permissions against the caller's
// before any `if:` is evaluated, so one file cannot ask for id-token only when a cloud grant is
// set; two files can, and callers without cloud grants never have to grant it.
// Lines ending in `# airlock:no-oidc` are dropped; `# airlock:oidc <line>` becomes `<line>`.
// `--check` fails when a variant is out of date.
import { existsSync, readFileSync, writeFileSync } from 'node:fs'
import { pathToFileURL } from 'node:url'

export const BASES = ['agent', 'review', 'respond']

/** The -oidc variant of a reusable workflow's text. */
export function oidcVariant(text) {
  const out = []
  for (const line of text.split('\n')) {
    if (/#\s*airlock:no-oidc\s*$/.test(line)) continue
    const m = /^(\s*)#\s*airlock:oidc (.*)$/.exec(line)
    out.push(m ? `${m[1]}${m[2]}` : line)
  }
  return out
    .join('\n')
    .replace(
      /^# The -oidc variant of this file is generated from it[\s\S]*?only difference\.\n/m,
      '# Generated from the file without -oidc by scripts/gen-workflow-variants.mjs: do not edit.\n'
    )
}

function main() {
  const check = process.argv.includes('--check')
  let stale = 0
  for (const base of BASES) {
    const src = `.github/workflows/${base}.yml`
    const dst = `.github/workflows/${base}-oidc.yml`
    const want = oidcVariant(readFileSync(src, 'utf8'))
    if (!check) writeFileSync(dst, want)
    else if (!existsSync(dst) || readFileSync(dst, 'utf8') !== want) {
      process.stderr.write(`${dst} is out of date; run node scripts/gen-workflow-variants.mjs\n`)
      stale++
    }
  }
  process.exit(stale ? 1 : 0)
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) main()
