// `npm run demo`: builds what is missing, picks an image, runs `airlock demo`.
import { execFileSync, spawnSync } from 'node:child_process'
import { existsSync } from 'node:fs'

const run = (cmd, args) => execFileSync(cmd, args, { stdio: 'inherit' })
const quiet = (cmd, args) => spawnSync(cmd, args, { stdio: 'ignore' }).status === 0

if (!quiet('docker', ['info'])) {
  process.stderr.write(
    'The demo needs Docker: install it and start the daemon (on Debian: apt-get install docker.io; dockerd &)\n'
  )
  process.exit(1)
}
if (!existsSync('dist/cli/index.js')) run('node', ['scripts/build.mjs', 'cli', 'proxy'])

// Prefer a registry image; where no registry is reachable, build one from this machine's files.
let image = process.env.AIRLOCK_DEMO_IMAGE
if (!image) {
  if (
    quiet('docker', ['image', 'inspect', 'node:22-bookworm']) ||
    quiet('docker', ['pull', '--quiet', 'node:22-bookworm'])
  )
    image = 'node:22-bookworm'
  else {
    run('bash', ['scripts/build-test-image.sh'])
    image = 'airlock-test:latest'
  }
}
const result = spawnSync(process.execPath, ['dist/cli/index.js', 'demo', '--image', image], {
  stdio: 'inherit'
})
process.exit(result.status ?? 1)
