import type { GitHubClient, RepoRef } from '../github.js'
import {
  applyOutputs,
  parseOutputs,
  type AppliedOutputs,
  type OutputPolicy,
  type OutputTarget
} from '../publish/outputs.js'
import { readAgentFile } from '../workspace.js'
import { info, logValue } from './io.js'

/**
 * The safe outputs of a publish step: `outputs.json` from the artifact, applied as far as the
 * step's inputs allow (`allowed-labels`, `allow-comment`, `allow-issue`, `allow-pr-update`,
 * read by the step itself).
 * Undefined when the agent asked for nothing.
 */
export async function publishOutputs(
  client: GitHubClient,
  repo: RepoRef,
  dir: string,
  target: OutputTarget,
  policy: OutputPolicy
): Promise<AppliedOutputs | undefined> {
  const raw = dir
    ? await readAgentFile(dir, 'outputs.json', 64 * 1024).catch(() => undefined)
    : undefined
  if (!raw) return undefined
  const { outputs, problems } = parseOutputs(raw.toString('utf8'))
  for (const p of problems) info(`outputs: ${logValue(p)}`)
  const applied = await applyOutputs(client, repo, target, outputs, policy)
  for (const d of applied.done) info(`outputs: wrote ${logValue(d)}`)
  for (const r of applied.refused) info(`outputs: refused ${logValue(r)}`)
  return applied
}
