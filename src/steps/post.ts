import * as core from '@actions/core'
import { errorMessage } from '../errors.js'
import { registerAll } from '../providers/index.js'
import { releaseAll } from '../sandbox/cleanup.js'
import { removeByLabel } from '../sandbox/docker.js'
import { readReleased, readResources, readRunId } from '../state.js'

/**
 * The post step (always runs): releases everything main recorded, newest first, whatever
 * point main reached. Each release is idempotent. Never fails the job.
 */
export async function run(): Promise<void> {
  process.on('unhandledRejection', (err) => core.warning(`Airlock cleanup: ${errorMessage(err)}`))
  try {
    registerAll()
    const resources = readResources()
    const runId = readRunId()
    if ((resources.length === 0 && !runId) || (runId && readReleased() === runId)) {
      core.info('Airlock: nothing to clean up')
      return
    }
    await releaseAll(resources, (m) => core.warning(`Airlock cleanup: ${m}`))
    // A container may have started between main's last state write and its death.
    if (runId) await removeByLabel(runId).catch(() => 0)
    core.info(`Airlock: cleaned up ${resources.length} resource(s)`)
  } catch (err) {
    core.warning(`Airlock cleanup: ${errorMessage(err)}`)
  }
}
