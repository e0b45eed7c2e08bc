import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'

/** What a step did, as the runner would see it. */
export interface StepResult {
  outputs: Record<string, string>
  /** Whether the step called setFailed (process.exitCode 1). */
  failed: boolean
  /** `::error::` messages. */
  errors: string[]
  /** `::warning::` messages. */
  warnings: string[]
  stdout: string
}

/** Parses a `GITHUB_OUTPUT` file (`name<<delimiter` heredocs, or `name=value`). */
export function parseOutputFile(text: string): Record<string, string> {
  const out: Record<string, string> = {}
  const lines = text.split('\n')
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!
    const heredoc = /^([^=<]+)<<(.+)$/.exec(line)
    if (heredoc) {
      const [, name, delim] = heredoc
      const value: string[] = []
      for (i++; i < lines.length && lines[i] !== delim; i++) value.push(lines[i]!)
      out[name!] = value.join('\n')
    } else if (line.includes('=')) {
      out[line.slice(0, line.indexOf('='))] = line.slice(line.indexOf('=') + 1)
    }
  }
  return out
}

/** Decodes the `%0A`-style escapes of a workflow command's message. */
function unescapeCommand(s: string): string {
  return s.replace(/%0D/g, '\r').replace(/%0A/g, '\n').replace(/%25/g, '%')
}

/**
 * Runs an action step's `run()` the way the runner would: inputs as `INPUT_*` variables,
 * outputs through a `GITHUB_OUTPUT` file, workflow commands on stdout. The process
 * environment and exit code are restored afterwards.
 */
export async function runStep(
  run: () => Promise<void>,
  opts: { inputs?: Record<string, string>; env?: Record<string, string> }
): Promise<StepResult> {
  const saved = { ...process.env }
  const savedExit = process.exitCode
  const dir = mkdtempSync(join(tmpdir(), 'airlock-step-'))
  const outputFile = join(dir, 'output')
  writeFileSync(outputFile, '')
  for (const k of Object.keys(process.env)) if (k.startsWith('INPUT_')) delete process.env[k]
  for (const k of ['HTTP_PROXY', 'HTTPS_PROXY', 'http_proxy', 'https_proxy']) delete process.env[k]
  // Writes unpaced: GitHub's one-second advice would only slow the fake down.
  Object.assign(process.env, {
    NO_PROXY: '*',
    GITHUB_OUTPUT: outputFile,
    AIRLOCK_GITHUB_WRITE_INTERVAL_MS: '0',
    ...opts.env
  })
  for (const [k, v] of Object.entries(opts.inputs ?? {}))
    process.env[`INPUT_${k.replace(/ /g, '_').toUpperCase()}`] = v
  let stdout = ''
  const write = process.stdout.write.bind(process.stdout)
  process.stdout.write = (chunk: string | Uint8Array): boolean => {
    stdout += typeof chunk === 'string' ? chunk : Buffer.from(chunk).toString('utf8')
    return true
  }
  process.exitCode = 0
  try {
    await run()
  } finally {
    process.stdout.write = write
  }
  const failed = process.exitCode === 1
  process.exitCode = savedExit
  for (const k of Object.keys(process.env)) if (!(k in saved)) delete process.env[k]
  Object.assign(process.env, saved)
  const outputs = parseOutputFile(readFileSync(outputFile, 'utf8'))
  rmSync(dir, { recursive: true, force: true })
  const commands = (kind: string): string[] =>
    [...stdout.matchAll(new RegExp(`^::${kind}(?: [^:]*)?::(.*)$`, 'gm'))].map((m) =>
      unescapeCommand(m[1]!)
    )
  return { outputs, failed, errors: commands('error'), warnings: commands('warning'), stdout }
}
