import { spawn } from 'node:child_process'
import { fileURLToPath } from 'node:url'

/**
 * Name of the image built by scripts/build-test-image.sh. `AIRLOCK_TEST_IMAGE=runner` runs the
 * e2e tests and the battery in runner mode instead (the machine's own tools, read-only).
 */
export const TEST_IMAGE = process.env.AIRLOCK_TEST_IMAGE || 'airlock-test:latest'

const BUILD_SCRIPT = fileURLToPath(new URL('../../scripts/build-test-image.sh', import.meta.url))
const REPO_ROOT = fileURLToPath(new URL('../../', import.meta.url))

/** Result of a finished process. */
export interface RunResult {
  code: number
  stdout: string
  stderr: string
}

/** Options for {@link dockerRun}. */
export interface DockerRunOptions {
  /** Written to the process's stdin (then closed). */
  input?: string | Buffer
  /** Kill the docker client after this many ms (default 120 000); code is then 124. */
  timeoutMs?: number
}

function run(
  cmd: string,
  args: string[],
  opts: DockerRunOptions & { cwd?: string } = {}
): Promise<RunResult> {
  return new Promise((resolve) => {
    const child = spawn(cmd, args, { cwd: opts.cwd, stdio: ['pipe', 'pipe', 'pipe'] })
    let stdout = ''
    let stderr = ''
    let timedOut = false
    const timer = setTimeout(() => {
      timedOut = true
      child.kill('SIGKILL')
    }, opts.timeoutMs ?? 120_000)
    child.stdout.on('data', (c: Buffer) => (stdout += c.toString()))
    child.stderr.on('data', (c: Buffer) => (stderr += c.toString()))
    child.stdin.on('error', () => undefined)
    child.on('error', (err) => {
      clearTimeout(timer)
      resolve({ code: 127, stdout, stderr: stderr + String(err) })
    })
    child.on('close', (code) => {
      clearTimeout(timer)
      resolve({ code: timedOut ? 124 : (code ?? 1), stdout, stderr })
    })
    child.stdin.end(opts.input)
  })
}

let dockerAvailable: Promise<boolean> | undefined

/**
 * Whether a Docker daemon answers `docker info`. In CI (`CI=true`) an unavailable daemon
 * throws instead: e2e suites must fail loudly there, never skip silently. Elsewhere callers
 * skip with `describe.skipIf(!(await requireDocker()))`.
 */
export async function requireDocker(): Promise<boolean> {
  dockerAvailable ??= run('docker', ['info', '--format', '{{.ServerVersion}}'], {
    timeoutMs: 30_000
  }).then((r) => r.code === 0 && r.stdout.trim() !== '')
  const ok = await dockerAvailable
  if (!ok && process.env.CI === 'true') {
    throw new Error(
      'Docker is required in CI: `docker info` failed. Start dockerd before running the e2e tests.'
    )
  }
  return ok
}

let imageBuilt: Promise<string> | undefined

/**
 * Builds the test image (once per process; the script itself skips the work when an image
 * with the same content hash exists) and returns its name.
 */
export function ensureTestImage(): Promise<string> {
  imageBuilt ??= run('bash', [BUILD_SCRIPT], { cwd: REPO_ROOT, timeoutMs: 300_000 }).then((r) => {
    if (r.code !== 0) {
      imageBuilt = undefined
      throw new Error(`scripts/build-test-image.sh failed (${r.code}):\n${r.stderr}${r.stdout}`)
    }
    return TEST_IMAGE
  })
  return imageBuilt
}

/** Runs `docker <args>` and collects its output; never rejects (see `code`). */
export function dockerRun(args: string[], opts: DockerRunOptions = {}): Promise<RunResult> {
  return run('docker', args, opts)
}
