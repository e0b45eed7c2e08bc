import { randomUUID } from 'node:crypto'
import { appendFileSync } from 'node:fs'
import { EOL } from 'node:os'
import { commandData } from './step-commands.js'

/** Every key main hands to post. Post reads each with a fallback: main may have died anywhere. */
export enum StateKey {
  /** Set by main at its first line; post uses it to know main ran at all. */
  RunId = 'run-id',
  /** JSON array of `Resource`, in the order they came to exist. */
  Resources = 'resources',
  /** Set by main once it released everything it made: post then has nothing to do. */
  Released = 'released'
}

/** Something main created that post must release, recorded the moment it exists. */
export type Resource =
  | { kind: 'dir'; path: string }
  | { kind: 'proxy'; pid: number; dir: string }
  | {
      kind: 'container'
      runId: string
      name: string
      /** Set once `docker run --rm` returned: the daemon removed it, nothing to look for. */
      removed?: boolean
    }
  | { kind: 'hidden-git-credentials'; configPath: string; backupPath: string }
  | { kind: 'provider-cleanup'; provider: string; path: string }
  /** The git exec guard's snapshot, on the runner until main took back what the run left. */
  | { kind: 'git-exec-guard'; snapshot: string }

/**
 * What `core.saveState` does (GITHUB_STATE, which only post sees), without loading
 * `@actions/core`: it pulls in an HTTP client, and the post step, which reads this module
 * first, is on every job's clock even when it has nothing to do.
 */
function saveState(name: StateKey, value: string): void {
  const file = process.env.GITHUB_STATE
  if (!file) {
    // Outside a runner (tests, a local run) the legacy command is the only channel.
    process.stdout.write(`::save-state name=${name}::${commandData(value)}${EOL}`)
    return
  }
  const delimiter = `ghadelimiter_${randomUUID()}`
  // A value holding the delimiter could end the entry early and write another key.
  if (value.includes(delimiter)) throw new Error('state value contains its delimiter')
  appendFileSync(file, `${name}<<${delimiter}${EOL}${value}${EOL}${delimiter}${EOL}`, 'utf8')
}

/** `core.getState`: the runner hands main's state to post as STATE_<name> variables. */
function getState(name: StateKey): string {
  return process.env[`STATE_${name}`] ?? ''
}

// Main keeps its own copy of the resources; GITHUB_STATE is written whole each time.
const resources: Resource[] = []

export function saveRunId(id: string): void {
  saveState(StateKey.RunId, id)
}

export function readRunId(): string {
  return getState(StateKey.RunId)
}

/** Main released every resource it recorded (and so no container of this run can remain). */
export function saveReleased(runId: string): void {
  saveState(StateKey.Released, runId)
}

export function readReleased(): string {
  return getState(StateKey.Released)
}

/** Records a resource at once, so a crash on the next line still leaves post a way to free it. */
export function pushResource(r: Resource): void {
  resources.push(r)
  saveState(StateKey.Resources, JSON.stringify(resources))
}

/** The resources main recorded; [] when it recorded none or the state is unreadable. */
export function readResources(): Resource[] {
  const raw = getState(StateKey.Resources)
  if (!raw) return []
  try {
    const parsed: unknown = JSON.parse(raw)
    return Array.isArray(parsed) ? (parsed.filter(isResource) as Resource[]) : []
  } catch {
    return []
  }
}

function isResource(v: unknown): boolean {
  return typeof v === 'object' && v !== null && typeof (v as { kind?: unknown }).kind === 'string'
}
