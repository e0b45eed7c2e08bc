import { readFileSync } from 'node:fs'
import { AirlockError } from '../errors.js'
import { parseRepo, type RepoRef } from './github.js'

/** The parts of the run's environment the workflow steps use. */
export interface WorkflowContext {
  eventName: string
  /** The event payload GitHub wrote to `GITHUB_EVENT_PATH` (an immutable snapshot). */
  event: Record<string, unknown>
  repo: RepoRef
  serverUrl: string
  runId: string
  runAttempt: string
  actor: string
}

/** A payload or context that is not what the step needs. */
export class EventError extends AirlockError {
  constructor(message: string) {
    super('AIRLOCK_BAD_EVENT', message)
  }
}

/**
 * Reads the event from the runner's environment. In a reusable workflow these are the
 * caller's event and payload, which is what the gate must judge.
 */
export function readContext(env: NodeJS.ProcessEnv = process.env): WorkflowContext {
  const path = env.GITHUB_EVENT_PATH
  let event: Record<string, unknown> = {}
  if (path) {
    try {
      event = JSON.parse(readFileSync(path, 'utf8')) as Record<string, unknown>
    } catch (err) {
      throw new EventError(
        `cannot read the event payload ${path}: ${err instanceof Error ? err.message : String(err)}`
      )
    }
  }
  const repository = env.GITHUB_REPOSITORY
  if (!repository) throw new EventError('GITHUB_REPOSITORY is not set')
  return {
    eventName: env.GITHUB_EVENT_NAME ?? '',
    event,
    repo: parseRepo(repository),
    serverUrl: (env.GITHUB_SERVER_URL ?? 'https://github.com').replace(/\/+$/, ''),
    runId: env.GITHUB_RUN_ID ?? '',
    runAttempt: env.GITHUB_RUN_ATTEMPT ?? '1',
    actor: env.GITHUB_ACTOR ?? ''
  }
}

/** Link to this run's page, for comments. */
export function runUrl(ctx: Pick<WorkflowContext, 'serverUrl' | 'repo' | 'runId'>): string {
  return `${ctx.serverUrl}/${ctx.repo.owner}/${ctx.repo.repo}/actions/runs/${ctx.runId}`
}

/** A nested object of the payload, or undefined. */
export function obj(v: unknown): Record<string, unknown> | undefined {
  return v && typeof v === 'object' && !Array.isArray(v)
    ? (v as Record<string, unknown>)
    : undefined
}

/** A string field, or undefined. */
export function str(v: unknown): string | undefined {
  return typeof v === 'string' ? v : undefined
}

/** A number field, or undefined. */
export function num(v: unknown): number | undefined {
  return typeof v === 'number' && Number.isFinite(v) ? v : undefined
}
