import { spawn } from 'node:child_process'
import { ENV_FOR_INPUT } from '../inputs/env-inputs.js'
import { AirlockError } from '../errors.js'

export class DockerError extends AirlockError {
  constructor(message: string) {
    super('AIRLOCK_DOCKER', message)
  }
}

export interface DockerResult {
  code: number
  stdout: string
  stderr: string
}

export interface DockerOptions {
  /** Streams output as it arrives instead of (as well as) collecting it. */
  onStdout?: (chunk: Buffer) => void
  onStderr?: (chunk: Buffer) => void
  /** Collect at most this many bytes of each stream (the rest is still streamed). */
  maxCollect?: number
  signal?: AbortSignal
}

/**
 * Runs the docker CLI (not the API: the CLI honours DOCKER_HOST, contexts and credential
 * helpers, and has no native dependencies to bundle). Never rejects for a non-zero exit.
 */
export function docker(args: string[], opts: DockerOptions = {}): Promise<DockerResult> {
  return new Promise((resolve, reject) => {
    const child = spawn('docker', args, {
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...dockerEnv(process.env), DOCKER_CONTENT_TRUST: '0' }
    })
    const max = opts.maxCollect ?? 1024 * 1024
    let stdout = ''
    let stderr = ''
    child.stdout.on('data', (d: Buffer) => {
      opts.onStdout?.(d)
      if (stdout.length < max) stdout += d.toString()
    })
    child.stderr.on('data', (d: Buffer) => {
      opts.onStderr?.(d)
      if (stderr.length < max) stderr += d.toString()
    })
    const abort = (): void => void child.kill('SIGTERM')
    opts.signal?.addEventListener('abort', abort, { once: true })
    child.on('error', (err: NodeJS.ErrnoException) =>
      reject(
        new DockerError(
          err.code === 'ENOENT'
            ? 'the docker CLI is not installed on this runner'
            : `docker: ${err.message}`
        )
      )
    )
    child.on('close', (code) => {
      opts.signal?.removeEventListener('abort', abort)
      resolve({ code: code ?? 1, stdout, stderr })
    })
  })
}

/**
 * The environment of the docker CLI: the step's, without its inputs, the runner's job tokens
 * and the variables the local CLI takes credentials from. The runner hands every input to the
 * step as `INPUT_<NAME>` (the API keys, the App key, `github-token` among them), `airlock run`
 * reads `ANTHROPIC_API_KEY` and the like from its environment, and the docker CLI passes its
 * environment on to what it starts (credential helpers for pulls, CLI plugins, `ssh` for an
 * ssh:// DOCKER_HOST, a wrapper a self-hosted runner put first on PATH): none of them needs a
 * secret of the run.
 */
export function dockerEnv(env: NodeJS.ProcessEnv): NodeJS.ProcessEnv {
  const out: NodeJS.ProcessEnv = {}
  for (const [k, v] of Object.entries(env))
    if (!/^INPUT_/i.test(k) && !JOB_TOKENS.has(k.toUpperCase())) out[k] = v
  return out
}

const JOB_TOKENS = new Set([
  'ACTIONS_RUNTIME_TOKEN',
  'ACTIONS_ID_TOKEN_REQUEST_TOKEN',
  'ACTIONS_ID_TOKEN_REQUEST_URL',
  ...Object.values(ENV_FOR_INPUT).flat()
])

/** Throws a DockerError carrying docker's own message when the command failed. */
export async function dockerOk(args: string[], what: string): Promise<string> {
  const r = await docker(args)
  if (r.code !== 0) throw new DockerError(`${what} failed: ${(r.stderr || r.stdout).trim()}`)
  return r.stdout
}

export async function imageExists(image: string): Promise<boolean> {
  return (await docker(['image', 'inspect', '--format', '{{.Id}}', image])).code === 0
}

/** Answers of inspections started early, each taken by the ensureImage that follows. */
const inspected = new Map<string, Promise<boolean>>()

/**
 * Starts looking for image now (it only reads), so the answer is there when the session asks
 * (ensureImage): the inspection runs beside the preflight and the grants instead of after them.
 */
export function inspectImageEarly(image: string): void {
  if (!inspected.has(image))
    inspected.set(
      image,
      imageExists(image).catch(() => false)
    )
}

/** Pulls the image when it is not there yet. */
export async function ensureImage(image: string): Promise<void> {
  const early = inspected.get(image)
  inspected.delete(image)
  if (await (early ?? imageExists(image))) return
  const r = await docker(['pull', '--quiet', image])
  if (r.code !== 0)
    throw new DockerError(
      `image ${image} is not on this runner and could not be pulled: ${r.stderr.trim()}`
    )
}

/** Removes every container carrying the run's label; returns how many there were. */
export async function removeByLabel(runId: string): Promise<number> {
  const ids = (await docker(['ps', '-aq', '--filter', `label=airlock.run-id=${runId}`])).stdout
    .split('\n')
    .filter(Boolean)
  if (ids.length > 0) await docker(['rm', '-f', ...ids])
  return ids.length
}
