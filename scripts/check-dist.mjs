// Fails when the committed dist/ differs from a fresh build of the sources.
import { execFileSync } from 'node:child_process'

execFileSync('node', ['scripts/build.mjs'], { stdio: 'inherit' })
const diff = execFileSync('git', ['status', '--porcelain', '--', 'dist'], { encoding: 'utf8' })
if (diff.trim()) {
  process.stderr.write(`dist/ is stale; run \`npm run build\` and commit the result:\n${diff}`)
  execFileSync('git', ['--no-pager', 'diff', '--stat', '--', 'dist'], { stdio: 'inherit' })
  process.exit(1)
}
process.stdout.write('dist/ matches a fresh build\n')
