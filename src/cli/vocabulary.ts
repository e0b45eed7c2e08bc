/**
 * The CLI's own words. Airlock's messages are written for the action, where users set
 * inputs; on a terminal the same setting is a flag or an environment variable. Every message
 * the CLI prints passes through `local()`, which names the flag or variable instead.
 */
import { basename, relative } from 'node:path'
import { ENV_FOR_INPUT } from '../inputs/env-inputs.js'

/** Inputs that are flags on the command line. */
const FLAG_FOR_INPUT: Record<string, string> = {
  'allowed-endpoints': '--allow',
  grants: '--grant',
  'timeout-minutes': '--timeout',
  'connect-to': '--connect-to',
  'upstream-ca': '--upstream-ca',
  image: '--image',
  workspace: '--workspace',
  'workspace-access': '--read-only',
  'egress-policy': '--audit',
  'agent-version': '--agent-version',
  'agent-args': 'the arguments after the prompt',
  model: '--model',
  'max-turns': '--max-turns',
  'max-budget-usd': '--max-budget-usd',
  prompt: '--prompt'
}

function cliName(input: string): string | undefined {
  const flag = FLAG_FOR_INPUT[input]
  if (flag) return flag
  const vars = ENV_FOR_INPUT[input]
  if (!vars) return undefined
  return vars.length > 1 ? `${vars[0]} (or ${vars.slice(1).join(', ')})` : vars[0]
}

// Longest names first, so `github-app-private-key` is not read as a shorter name plus rest.
const NAMES = [...new Set([...Object.keys(FLAG_FOR_INPUT), ...Object.keys(ENV_FOR_INPUT)])].sort(
  (a, b) => b.length - a.length
)
const alternatives = (names: string[]): string => names.map((n) => n.replace(/-/g, '\\-')).join('|')
// Hyphenated names are never English, wherever they stand; one-word names (`image`,
// `prompt`, `model`) only when quoted in backticks or leading an input error (`name: …`).
const HYPHENATED = new RegExp(
  `(?<![\\w.-])(${alternatives(NAMES.filter((n) => n.includes('-')))})(?![\\w-]|\\.\\w)`,
  'g'
)
const QUOTED = new RegExp(`\`(${alternatives(NAMES)})\``, 'g')
const LEADING = new RegExp(`^(${alternatives(NAMES)}):`)

/** A message in the CLI's vocabulary: flags and environment variables, "this machine". */
export function local(message: string): string {
  const name = (input: string): string => cliName(input) ?? input
  return (
    message
      // GitHub expressions mean nothing on a terminal.
      .replace(/\s*\(it defaults to \$\{\{ github\.token \}\}\)/g, '')
      .replace(/, and give the job `permissions: id-token: write`/g, ' (GitHub OIDC: Actions only)')
      .replace(/\bthe runner\b/g, 'this machine')
      .replace(LEADING, (_m, input: string) => `${name(input)}:`)
      .replace(QUOTED, (_m, input: string) => `\`${name(input)}\``)
      .replace(HYPHENATED, (_m, input: string) => name(input))
  )
}

/** Advice written for the job summary (Markdown), as a terminal line in the CLI's words. */
export function localAdvice(markdown: string): string {
  return local(markdown.replace(/\*\*/g, ''))
}

/**
 * How the user ran this CLI, to put in a command we suggest: `airlock` when it is on PATH
 * under that name (`npm link`, a global install), else the script as it was run.
 */
export function selfCommand(argv1 = process.argv[1] ?? '', cwd = process.cwd()): string {
  if (basename(argv1) === 'airlock') return 'airlock'
  const rel = relative(cwd, argv1)
  return `node ${rel && !rel.startsWith('..') ? rel : argv1}`
}
