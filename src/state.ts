import * as core from '@actions/core'

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

// `core.saveState` writes to GITHUB_STATE, which only post sees; main keeps its own copy.
const resources: Resource[] = []

export function saveRunId(id: string): void {
  core.saveState(StateKey.RunId, id)
}

export function readRunId(): string {
  return core.getState(StateKey.RunId)
}

/** Main released every resource it recorded (and so no container of this run can remain). */
export function saveReleased(runId: string): void {
  core.saveState(StateKey.Released, runId)
}

export function readReleased(): string {
  return core.getState(StateKey.Released)
}

/** Records a resource at once, so a crash on the next line still leaves post a way to free it. */
export function pushResource(r: Resource): void {
  resources.push(r)
  core.saveState(StateKey.Resources, JSON.stringify(resources))
}

/** The resources main recorded; [] when it recorded none or the state is unreadable. */
export function readResources(): Resource[] {
  const raw = core.getState(StateKey.Resources)
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
