import * as core from '@actions/core'
import { errorMessage } from '../errors.js'
import { registerAll } from '../providers/index.js'
import { releaseAll } from '../sandbox/cleanup.js'
import { removeByLabel } from '../sandbox/docker.js'
import type { Resource } from '../state.js'

/** The post step's second pass over what main left: warnings, never a failed job. */
export async function cleanUp(resources: Resource[], runId: string): Promise<void> {
  process.on('unhandledRejection', (err) => core.warning(`Airlock cleanup: ${errorMessage(err)}`))
  try {
    registerAll()
    await releaseAll(resources, (m) => core.warning(`Airlock cleanup: ${m}`))
    // A container may have started between main's last state write and its death.
    if (runId) await removeByLabel(runId).catch(() => 0)
    core.info(`Airlock: cleaned up ${resources.length} resource(s)`)
  } catch (err) {
    core.warning(`Airlock cleanup: ${errorMessage(err)}`)
  }
}
