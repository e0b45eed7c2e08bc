import { run } from '../workflow/steps/prepare.js'

await run()
