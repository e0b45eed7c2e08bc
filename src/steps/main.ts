import * as core from '@actions/core'
import { errorMessage } from '../errors.js'
import { readInputs } from '../inputs.js'
import { registerAll } from '../providers/index.js'

/** The main step: validate everything, then build the airlock and run the agent in it. */
export async function run(): Promise<void> {
  try {
    registerAll()
    const plan = readInputs()
    core.info(
      `Airlock: grants ${plan.grants.join(', ') || '(none)'}; egress policy ${plan.egressPolicy}`
    )
    await Promise.resolve()
    throw new Error('the sandbox runtime is not built yet')
  } catch (err) {
    core.setFailed(errorMessage(err))
  }
}
