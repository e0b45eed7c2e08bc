import { run } from '../workflow/steps/gate.js'

await run()
