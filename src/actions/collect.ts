import { run } from '../workflow/steps/collect.js'

await run()
