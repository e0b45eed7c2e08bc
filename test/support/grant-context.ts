/** Shared by the provider and grant unit tests: a grant context that records masking. */
import { expect } from 'vitest'
import { makeGrantContext, type GrantContextOptions } from '../../src/grant/index.js'
import { readGrantSettings, splitList } from '../../src/inputs.js'
import { GrantError, type GrantContext, type GrantSettings } from '../../src/provider/index.js'

/**
 * Settings read from action-style inputs by the real reader (no masking here: the tests
 * record what the providers themselves mask). `grants` is split without the registry, which
 * provider tests fill with only the providers they test.
 */
export function settingsFrom(inputs: Record<string, string>): GrantSettings {
  const read = (n: string): string => (n === 'grants' ? '' : (inputs[n] ?? ''))
  const settings = readGrantSettings(read, undefined, () => {})
  const named = splitList(inputs.grants ?? '').map((g) => g.toLowerCase())
  return { ...settings, grants: [...new Set([...named, ...settings.grants])] }
}

export interface RecordingContext extends GrantContext {
  /** Every value handed to setSecret, in order. */
  masked: string[]
}

/** A context with these inputs and no environment; everything masked is recorded. */
export function grantContext(
  inputs: Record<string, string>,
  opts: Partial<GrantContextOptions> = {}
): RecordingContext {
  const masked: string[] = []
  const ctx = makeGrantContext({
    settings: settingsFrom(inputs),
    setSecret: (v) => masked.push(v),
    env: {},
    ...opts
  })
  return Object.assign(ctx, { masked })
}

/** The GrantError p rejects with (the test fails if it resolves or rejects otherwise). */
export async function grantError(p: Promise<unknown>): Promise<GrantError> {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e
  )
  expect(err).toBeInstanceOf(GrantError)
  return err as GrantError
}
