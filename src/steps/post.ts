import { readReleased, readResources, readRunId } from '../state.js'

/**
 * The post step (always runs): releases everything main recorded, newest first, whatever
 * point main reached. Each release is idempotent. Never fails the job. Main releases what it
 * made itself when it can, so post usually has nothing to do: that answer comes from the
 * state alone, and the cleanup code (providers, docker, the Actions toolkit) is loaded only
 * when there is something to release.
 */
export async function run(): Promise<void> {
  const resources = readResources()
  const runId = readRunId()
  if ((resources.length === 0 && !runId) || (runId && readReleased() === runId)) {
    process.stdout.write('Airlock: nothing to clean up\n')
    return
  }
  const { cleanUp } = await import('./post-cleanup.js')
  await cleanUp(resources, runId)
}
