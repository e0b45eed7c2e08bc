import * as core from '@actions/core'
import { InputError } from '../../errors.js'
import { GitHubClient } from '../github.js'

/** Reads an input, trimmed (empty when unset). */
export function input(name: string): string {
  return core.getInput(name).trim()
}

/** A `true`/`false` input; anything else is an error naming the input. */
export function boolInput(name: string, fallback: boolean): boolean {
  const v = input(name).toLowerCase()
  if (v === '') return fallback
  if (v === 'true') return true
  if (v === 'false') return false
  throw new InputError(name, `expected true or false, got "${v}"`)
}

/** An integer input within bounds. */
export function intInput(name: string, fallback: number, min: number, max: number): number {
  const v = input(name)
  if (v === '') return fallback
  if (!/^\d+$/.test(v) || Number(v) < min || Number(v) > max)
    throw new InputError(name, `expected a whole number from ${min} to ${max}, got "${v}"`)
  return Number(v)
}

/** One of a fixed set of values. */
export function choiceInput<T extends string>(name: string, choices: readonly T[], fallback: T): T {
  const v = input(name)
  if (v === '') return fallback
  if (!(choices as readonly string[]).includes(v))
    throw new InputError(name, `expected one of ${choices.join(', ')}, got "${v}"`)
  return v as T
}

/** A required input. */
export function requiredInput(name: string): string {
  const v = input(name)
  if (v === '') throw new InputError(name, 'is required')
  return v
}

/** A client for the `github-token` input, against `GITHUB_API_URL`. */
export function clientFromInputs(): GitHubClient {
  return new GitHubClient({ token: requiredInput('github-token') })
}

/** Sets every entry as a step output (booleans and numbers as strings). */
export function setOutputs(values: Record<string, string | number | boolean | undefined>): void {
  for (const [k, v] of Object.entries(values)) core.setOutput(k, v === undefined ? '' : String(v))
}

/**
 * A value someone else wrote (the agent's review keys and paths, file names from a pull
 * request, a server's error), made safe to put in a log line: line breaks and other control
 * characters are shown as escapes, so the value cannot start a line of its own, and with it a
 * workflow command (`::add-mask::`, `::stop-commands::`, `::error::`…) the runner would obey.
 */
export function logValue(value: string, max = 2_000): string {
  const v = value.length > max ? `${value.slice(0, max)}…` : value
  return v.replace(
    // C0/C1 controls (ESC starts terminal sequences), Unicode line and paragraph separators,
    // bidi controls and invisible characters.
    // eslint-disable-next-line no-control-regex
    /[\u0000-\u001F\u007F-\u009F\u061C\u200B-\u200F\u2028-\u202E\u2060-\u206F\uFEFF]/g,
    (c) =>
      c === '\n'
        ? '\\n'
        : c === '\r'
          ? '\\r'
          : c === '\t'
            ? '\\t'
            : `\\u{${c.codePointAt(0)!.toString(16).toUpperCase()}}`
  )
}

/**
 * A log line the runner cannot read as a workflow command. The runner takes a line as a
 * command when, after leading white space, it starts with `::` (v2), or when it holds `##[`
 * and a registered command name anywhere (v1: `##[add-mask]`, `##[stop-commands]`). Every
 * line of the message is checked: one starting with `::` gets a `\` in front, and `##[` is
 * written `##\[`.
 */
export function logLine(message: string): string {
  return message
    .split(/\r\n|\r|\n/)
    .map((line) => {
      const l = line.replace(/##\[/g, '##\\[')
      // .NET's TrimStart also drops U+0085 and U+180E, which JavaScript's \s does not cover.
      return /^[\s\u0085\u180e]*::/.test(l) ? `\\${l}` : l
    })
    .join('\n')
}

/** `core.info` for a message that quotes untrusted text (see {@link logLine}). */
export function info(message: string): void {
  core.info(logLine(message))
}

/** `core.warning` for a message that quotes untrusted text (see {@link logLine}). */
export function warning(message: string): void {
  core.warning(logLine(message))
}
