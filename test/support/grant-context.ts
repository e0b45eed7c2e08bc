/** Shared by the provider and grant unit tests: a grant context that records masking. */
import { expect } from 'vitest'
import { makeGrantContext, type GrantContextOptions } from '../../src/grant/index.js'
import { GrantError, type GrantContext } from '../../src/provider/index.js'

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
    input: (n) => inputs[n] ?? '',
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
