import { execFileSync } from 'node:child_process'
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs'
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

/** git with a throw-away identity, in cwd. */
export const gitIn = (cwd: string, ...args: string[]): string =>
  execFileSync('git', ['-c', 'user.name=t', '-c', 'user.email=t@t', ...args], { cwd }).toString()

/** A checkout under parent holding `files`, committed, as actions/checkout would leave it. */
export function checkoutIn(parent: string, files: Record<string, string>): string {
  const ws = join(parent, `ws-${Math.random().toString(36).slice(2)}`)
  mkdirSync(ws)
  for (const [p, c] of Object.entries(files)) {
    mkdirSync(join(ws, p, '..'), { recursive: true })
    writeFileSync(join(ws, p), c)
  }
  gitIn(ws, 'init', '-q')
  gitIn(ws, 'add', '-A')
  gitIn(ws, 'commit', '-qm', 'base')
  return ws
}

/** The patch real git makes for `edit` applied to `files` (renames detected unless told not). */
export function patchIn(
  parent: string,
  files: Record<string, string>,
  edit: (ws: string) => void,
  opts: { renames?: boolean } = {}
): Buffer {
  const ws = checkoutIn(parent, files)
  edit(ws)
  gitIn(ws, 'add', '-A')
  const args = ['diff', '--cached', '--binary', '--full-index']
  if (opts.renames === false) args.push('--no-renames')
  return execFileSync('git', [...args, 'HEAD'], { cwd: ws })
}

/** An artifact directory under parent, as the agent job uploads it. */
export function artifactIn(parent: string, files: Record<string, string | Buffer>): string {
  const out = join(parent, `artifact-${Math.random().toString(36).slice(2)}`)
  mkdirSync(out)
  for (const [n, c] of Object.entries(files)) writeFileSync(join(out, n), c)
  return out
}

/**
 * The runner environment a workflow step sees for `event` (a recorded event's name, or the
 * path of an event file, then named `eventName`) against the GitHub-shaped server at apiUrl.
 */
export function stepEnv(
  apiUrl: string,
  runnerTemp: string,
  event: string,
  extra: Record<string, string> = {},
  eventName = event.split('.')[0]!
): Record<string, string> {
  return {
    GITHUB_EVENT_NAME: eventName,
    GITHUB_EVENT_PATH: event.startsWith('/') ? event : join(EVENTS_DIR, `${event}.json`),
    GITHUB_REPOSITORY: 'octo-org/widgets',
    GITHUB_API_URL: apiUrl,
    GITHUB_SERVER_URL: 'https://github.com',
    GITHUB_RUN_ID: '987654321',
    GITHUB_RUN_ATTEMPT: '1',
    GITHUB_ACTOR: 'mona',
    RUNNER_TEMP: runnerTemp,
    ...extra
  }
}
