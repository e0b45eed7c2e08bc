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
