import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import type { WorkflowContext } from '../../src/workflow/context.js'

export const EVENTS_DIR = join(import.meta.dirname, '..', 'fixtures', 'events')

/** A recorded event payload from test/fixtures/events. */
export function loadEvent(name: string): Record<string, unknown> {
  return JSON.parse(readFileSync(join(EVENTS_DIR, `${name}.json`), 'utf8')) as Record<
    string,
    unknown
  >
}

/** The workflow context of a recorded event, the event name taken from the file name. */
export function contextFor(
  name: string,
  patch?: (e: Record<string, unknown>) => void
): WorkflowContext {
  const event = loadEvent(name)
  patch?.(event)
  return {
    eventName: name.split('.')[0]!,
    event,
    repo: { owner: 'octo-org', repo: 'widgets' },
    serverUrl: 'https://github.com',
    runId: '987654321',
    runAttempt: '1',
    actor: 'mona'
  }
}

export const BASE_SHA = '1111111111111111111111111111111111111111'
export const HEAD_FORK = '2222222222222222222222222222222222222222'
export const HEAD_SAME = '3333333333333333333333333333333333333333'
